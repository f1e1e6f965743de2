"""Recorded learning curves: one row per (dataset, lr, batch size, seed, epoch).

The replay backend serves these. They are recorded by the live trainer (`record_curves`) and kept
as Parquet with a small JSON header in the file's schema metadata (the format, the model, each
dataset's meta-features). The meta-store will become their home; the column names stay.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from tunegym.data import TabularDataset
from tunegym.envs._features import META_FEATURE_NAMES, task_meta_features
from tunegym.envs._task import SearchSpace
from tunegym.training import BatchedTrial, EpochRecord, MLPSpec, TrainConfig, Trial

__all__ = [
    "CURVE_COLUMNS",
    "OPTIONAL_CURVE_COLUMNS",
    "read_curves",
    "record_curves",
    "write_curves",
]

_FORMAT = "tunegym.curves"
_VERSION = 1
_META_KEY = b"tunegym"

# Columns that tables recorded before tunegym computed them lack (the shipped snapshot's, for
# one): they come last, so an older table's columns are the first ones of CURVE_COLUMNS.
OPTIONAL_CURVE_COLUMNS: tuple[str, ...] = (
    "val_f1_macro",
    "val_precision_macro",
    "val_recall_macro",
    "test_f1_macro",
    "test_precision_macro",
    "test_recall_macro",
)
CURVE_COLUMNS: tuple[str, ...] = (
    "dataset",
    "lr",
    "batch_size",
    "seed",
    "epoch",
    "train_loss",
    "val_loss",
    "val_accuracy",
    "val_balanced_accuracy",
    "test_loss",
    "test_accuracy",
    "test_balanced_accuracy",
    "seconds",
    "diverged",
    *OPTIONAL_CURVE_COLUMNS,
)


def _rows(
    name: str, lr: float, batch_size: int, seed: int, records: Sequence[EpochRecord]
) -> list[dict]:
    return [
        {"dataset": name, "lr": lr, "batch_size": batch_size, "seed": seed, **asdict(r)}
        for r in records
    ]


ProgressCallback = Callable[[int, int], None]


@contextmanager
def _progress_display(
    progress: ProgressCallback | Literal["auto"] | None, title: str
) -> Iterator[ProgressCallback | None]:
    """The ``progress(done, total)`` to call: ``progress`` itself, or with ``"auto"`` a rich bar on
    stderr when stderr is a terminal (in the main process only: a worker of ``tunegym collect``
    drawing its own bar would garble its parent's), else none."""
    if progress != "auto":
        yield progress
        return
    if multiprocessing.parent_process() is not None or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TimeRemainingColumn())  # fmt: skip
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        job = bar.add_task(title, total=None)
        yield lambda done, total: bar.update(job, completed=done, total=total)


def record_curves(
    dataset: TabularDataset,
    space: SearchSpace,
    seeds: Sequence[int] = (0, 1, 2),
    *,
    model: MLPSpec | None = None,
    device: str = "cpu",
    batched: bool = True,
    progress: ProgressCallback | Literal["auto"] | None = "auto",
    on_config: ProgressCallback | None = None,
) -> pd.DataFrame:
    """Train every grid configuration for ``E_max`` epochs per seed and return the curves.

    Args:
        dataset: the task's data (its split is the one the env will use).
        space: the grid; each (lr, batch size, seed) is trained ``space.max_epochs`` epochs.
        seeds: trial seeds to record (the env's ``TaskSpec.trial_seeds``).
        model: the network (default ``MLPSpec()``).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        batched: train all learning rates of a batch size as one stacked model
            (``BatchedTrial``; equal to separate training within float tolerance), or each
            configuration as its own ``Trial`` (bitwise what the live env trains).
        progress: called with (configurations done, total) after each batch size (batched) or
            configuration; ``"auto"`` (the default) draws a progress bar on stderr when it is a
            terminal, as the whole grid takes tens of seconds; ``None`` shows nothing.
        on_config: the former name of a ``progress`` callable, still called when given.

    Returns:
        A DataFrame with ``CURVE_COLUMNS``, one row per epoch trained; a diverged run stops at
        its diverged epoch (recorded with the worst scores).
    """
    if isinstance(progress, str) and progress != "auto":
        raise ValueError(
            f"record_curves' progress is a callable(done, total), 'auto' or None, got {progress!r}."
        )
    if on_config is not None:
        if progress != "auto":
            raise TypeError(
                "record_curves got both progress and on_config (its former name); give progress."
            )
        progress = on_config
    model = model or MLPSpec()
    title = f"record_curves {dataset.name}"
    with _progress_display(progress, title) as report:
        rows = _train_grid(dataset, space, seeds, model, device, batched, report)
    frame = pd.DataFrame(rows, columns=list(CURVE_COLUMNS))
    frame.attrs["tunegym"] = {
        "model": asdict(model),
        "datasets": {dataset.name: {"meta_features": task_meta_features(dataset).tolist()}},
        "recorded": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return frame


def _train_grid(
    dataset: TabularDataset,
    space: SearchSpace,
    seeds: Sequence[int],
    model: MLPSpec,
    device: str,
    batched: bool,
    report: ProgressCallback | None,
) -> list[dict]:
    """The curve rows of every (seed, batch size, lr), reporting (done, total) as it goes."""
    rows: list[dict] = []
    total, done = len(space.lrs) * len(space.batch_sizes) * len(seeds), 0
    if report is not None:
        report(0, total)
    for seed in seeds:
        for batch_size in space.batch_sizes:
            if batched:
                group = BatchedTrial(
                    dataset,
                    space.lrs,
                    batch_size,
                    space.max_epochs,
                    seed=seed,
                    spec=model,
                    device=device,
                    eval_test=True,
                )
                group.train(space.max_epochs)
                for lr, history in zip(space.lrs, group.members_history, strict=True):
                    rows += _rows(dataset.name, lr, batch_size, seed, history)
                done += len(space.lrs)
                if report is not None:
                    report(done, total)
                continue
            for lr in space.lrs:
                config = TrainConfig(
                    lr=lr, batch_size=batch_size, max_epochs=space.max_epochs, seed=seed
                )
                trial = Trial(dataset, config, model, device=device, eval_test=True)
                rows += _rows(dataset.name, lr, batch_size, seed, trial.train(space.max_epochs))
                done += 1
                if report is not None:
                    report(done, total)
    return rows


def write_curves(frame: pd.DataFrame, path: str | Path) -> Path:
    """Write curves (with their ``attrs["tunegym"]`` header) to a Parquet file.

    The columns written are ``CURVE_COLUMNS``; those of ``OPTIONAL_CURVE_COLUMNS`` may be
    absent (a table recorded before tunegym computed them is written as it is).

    Raises:
        ValueError: if the table lacks a required column.
    """
    missing = [
        c for c in CURVE_COLUMNS if c not in frame.columns and c not in OPTIONAL_CURVE_COLUMNS
    ]
    if missing:
        raise ValueError(
            f"Curve table lacks the columns {missing}; expected {list(CURVE_COLUMNS)} (the "
            f"last {len(OPTIONAL_CURVE_COLUMNS)} optional)."
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = [c for c in CURVE_COLUMNS if c in frame.columns]
    table = pa.Table.from_pandas(frame[columns], preserve_index=False)
    header = {"format": _FORMAT, "version": _VERSION, **frame.attrs.get("tunegym", {})}
    metadata = {**(table.schema.metadata or {}), _META_KEY: json.dumps(header).encode()}
    pq.write_table(table.replace_schema_metadata(metadata), path)
    return path


def read_curves(path: str | Path) -> pd.DataFrame:
    """Read a curve file written by `write_curves` (header restored into ``attrs``).

    A file written before tunegym recorded the ``OPTIONAL_CURVE_COLUMNS`` is read without them;
    `ReplayBackend` names the missing column if a task's metric needs one.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(
            f"No curve file at {path}; record one with tunegym.envs.record_curves."
        )
    table = pq.read_table(path)
    raw = (table.schema.metadata or {}).get(_META_KEY)
    header = json.loads(raw) if raw else {}
    if header and header.get("format") != _FORMAT:
        raise ValueError(f"{path} is not a tunegym curve file (format {header.get('format')!r}).")
    frame = table.to_pandas()
    frame.attrs["tunegym"] = header
    return frame


def meta_features_of(frame: pd.DataFrame, dataset: str) -> np.ndarray:
    """Meta-features stored with the curves of ``dataset``, or zeros when none were stored."""
    entry = frame.attrs.get("tunegym", {}).get("datasets", {}).get(dataset, {})
    values = entry.get("meta_features")
    if values is None or len(values) != len(META_FEATURE_NAMES):
        return np.zeros(len(META_FEATURE_NAMES), dtype=np.float32)
    return np.asarray(values, dtype=np.float32)
