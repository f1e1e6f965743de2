"""``tunegym train``: train one configuration, durably.

After every epoch the run is kept, in this order, so that a run killed at any moment loses at
most the epoch in progress:

1. the trial's checkpoint beside the report (``R.trial.pt``: `Trial.save`'s tensors and plain
   containers, read back with ``weights_only=True``), written atomically;
2. the report, written atomically, with ``"status": "running"``;
3. the meta-store's run (``--store``), with status ``partial`` until the run ends.

``--resume R`` continues from the checkpoint to the recorded epochs; the trainer is
deterministic per epoch counter, so the epochs are those of an uninterrupted run. At the end
the report (``"finished"``) and the plot are written before the store is logged to, so a store
that fails (read-only, full, locked, unreachable) loses nothing: the command says so in one
line and exits with code 1, and ``--resume R --store S`` logs the run once the store works.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tunegym._cli_errors import fail

if TYPE_CHECKING:
    from tunegym.data import TabularDataset
    from tunegym.metastore import MetaStore
    from tunegym.training import EpochRecord, MLPSpec, TrainConfig, Trial

__all__ = ["TrainArgs", "as_data", "checkpoint_of", "train_command"]

console = Console()
err_console = Console(stderr=True)

DEFAULT_DATASET = "sklearn:breast_cancer"
REPORT_FORMAT = "tunegym.train-report"
# Exit codes: bad input (as every command), a store that failed, Ctrl-C.
_USAGE, _STORE_FAILED, _INTERRUPTED = 2, 1, 130


def _fail(message: object, code: int = _USAGE) -> typer.Exit:
    return fail(err_console, message, code)


def as_data(spec: str) -> str | Path:
    """A command-line dataset argument: a file path where it names one, else a spec."""
    return Path(spec) if Path(spec).suffix.lower() in {".csv", ".tsv", ".parquet", ".pq"} else spec


@dataclass(frozen=True)
class TrainArgs:
    """The options that determine a training run: what its report records to resume it.

    The field names are those of the command's options (``spec`` is its argument).
    """

    spec: str
    target: str | None
    lr: float
    batch_size: int
    epochs: int
    depth: int
    width: int
    dropout: float
    weight_decay: float
    seed: int

    def config(self) -> TrainConfig:
        from tunegym.training import TrainConfig

        return TrainConfig(
            lr=self.lr,
            batch_size=self.batch_size,
            max_epochs=self.epochs,
            seed=self.seed,
            weight_decay=self.weight_decay,
        )

    def mlp(self) -> MLPSpec:
        from tunegym.training import MLPSpec

        return MLPSpec(depth=self.depth, width=self.width, dropout=self.dropout)

    @classmethod
    def from_report(cls, path: Path) -> tuple[TrainArgs, dict[str, Any]]:
        """The arguments a report recorded, and the report.

        Raises:
            typer.Exit: (after a one-line message) for a missing, unreadable or foreign file.
        """
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise _fail(f"No report to resume at {path}.") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise _fail(f"{path} is not a tunegym train report ({error}).") from None
        if not isinstance(payload, dict) or payload.get("format") != REPORT_FORMAT:
            raise _fail(
                f"{path} is not a resumable `tunegym train` report (reports of tunegym tune "
                "resume with `tunegym tune --resume`; train reports written before tunegym "
                "could resume them lack their arguments): train the run again."
            )
        try:
            return cls(**payload["arguments"]), payload
        except (TypeError, KeyError) as error:
            raise _fail(f"{path} has no valid 'arguments' ({error}).") from None


def checkpoint_of(report: Path) -> Path:
    """Where a run with this report keeps its trial checkpoint: beside it."""
    return report.with_name(report.name.removesuffix(".json") + ".trial.pt")


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def _write_atomically(path: Path, write: Callable[[Path], object]) -> None:
    # Complete or absent: a run killed while writing leaves the previous file whole.
    path.parent.mkdir(parents=True, exist_ok=True)
    write(_partial(path))
    os.replace(_partial(path), path)


def _save_checkpoint(trial: Trial, path: Path) -> None:
    _write_atomically(path, trial.save)


def _write_report(path: Path, payload: dict[str, Any]) -> None:
    _write_atomically(path, lambda p: p.write_text(json.dumps(payload, indent=2), encoding="utf-8"))


def _shown(url: str) -> str:
    """A store as messages name it: a URL without its password, a path as given."""
    if "://" not in url:
        return url
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except ArgumentError:
        return url
    return url if parsed.password is None else parsed.render_as_string(hide_password=True)


def _store_errors() -> tuple[type[BaseException], ...]:
    """What a store that cannot be opened or written raises: `MetaStoreError`, and the
    database's own errors wherever the store lets one through."""
    import sqlite3

    from alembic.util.exc import CommandError
    from sqlalchemy.exc import SQLAlchemyError

    from tunegym.errors import MetaStoreError

    return (MetaStoreError, SQLAlchemyError, sqlite3.Error, CommandError, OSError, ValueError,
            ImportError)  # fmt: skip


def _one_line(error: BaseException, url: str) -> str:
    from tunegym.errors import MetaStoreError

    if isinstance(error, MetaStoreError):
        return str(error)  # one line: the store, what is wrong, what to do
    reason = str(getattr(error, "orig", None) or error).strip().splitlines()
    return f"the meta-store {_shown(url)} failed: {reason[0] if reason else type(error).__name__}."


class _StoreLog:
    """The run's meta-store. After its first failure it keeps the message and is not written
    again (training goes on: the report keeps the epochs)."""

    def __init__(self, url: str) -> None:
        from tunegym.metastore import MetaStore

        self.url = url
        self.error: str | None = None
        self.run_id: int | None = None
        self.meta: MetaStore = MetaStore(url)

    def log(
        self,
        dataset: TabularDataset,
        args: TrainArgs,
        records: list[EpochRecord],
        device: str,
        *,
        finished: bool,
    ) -> None:
        """Log the run's ``records`` (``partial`` unless ``finished``), unless it failed before."""
        if self.error is not None or not records:
            return
        try:
            self.run_id = self.meta.log_trial(
                dataset, args.config(), args.mlp(), records, device=device, finished=finished
            )
        except _store_errors() as error:
            self.error = _one_line(error, self.url)

    def close(self) -> None:
        self.meta.close()


def _open_store(url: str) -> _StoreLog:
    try:
        return _StoreLog(url)
    except _store_errors() as error:
        raise _fail(f"{_one_line(error, url)} Nothing was trained.", _STORE_FAILED) from None


def _records_table(records: list[EpochRecord], title: str) -> Table:
    table = Table(title=title)
    for col in ("epoch", "train loss", "val loss", "val acc", "val bal. acc", "test acc"):
        table.add_column(col, justify="right")
    table.add_column("seconds", justify="right")
    for r in records:
        table.add_row(
            str(r.epoch),
            f"{r.train_loss:.4f}",
            f"{r.val_loss:.4f}",
            f"{r.val_accuracy:.4f}",
            f"{r.val_balanced_accuracy:.4f}",
            "" if r.test_accuracy is None else f"{r.test_accuracy:.4f}",
            f"{r.seconds:.3f}",
            style="red" if r.diverged else None,
        )
    return table


# The parameters that give the dataset (``TrainArgs.spec``), by how the command line names them.
_DATA_PARAMS = {"spec": "SPEC", "dataset": "--dataset", "data": "--data"}


def _data_spec(spec: str | None, dataset: str | None, data: Path | None) -> str:
    """The dataset of the run: the SPEC argument, --dataset or --data (at most one of them)."""
    values = zip(_DATA_PARAMS.values(), (spec, dataset, data), strict=True)
    given = [(option, str(value)) for option, value in values if value is not None]
    if len(given) > 1:
        shown = " and ".join(f"{option} {value}" for option, value in given)
        raise _fail(
            f"{shown} each name the dataset: give one (SPEC, --dataset SPEC or --data FILE)."
        )
    return given[0][1] if given else DEFAULT_DATASET


def _explicit_conflicts(ctx: typer.Context, args: TrainArgs, report: Path) -> None:
    """Refuse options given on the command line that differ from the run being resumed."""
    for field in fields(TrainArgs):
        option_of = {field.name: "--" + field.name.replace("_", "-")}
        names = _DATA_PARAMS if field.name == "spec" else option_of
        for name, option in names.items():
            source = ctx.get_parameter_source(name)  # typer's own click: compared by name
            if source is None or source.name != "COMMANDLINE":
                continue
            given, recorded = ctx.params[name], getattr(args, field.name)
            if (str(given) if isinstance(given, Path) else given) == recorded:
                continue
            raise _fail(
                f"{option} {given} differs from the run in {report} ({recorded}): a resumed run "
                f"keeps its arguments. Drop {option}, or start a new run without --resume."
            )


def _resumed_trial(
    report: Path, dataset: TabularDataset, args: TrainArgs, device: str
) -> Trial | None:
    """The trial of the checkpoint beside ``report``, ``None`` when there is none to use."""
    from tunegym.training import Trial, spec_to_dict

    path = checkpoint_of(report)
    if not path.is_file():
        console.print(
            f"no checkpoint at {path}: training from epoch 1", markup=False, soft_wrap=True
        )
        return None
    try:
        trial = Trial.load(path, dataset, device=device)
    except (ValueError, RuntimeError, OSError, KeyError, TypeError) as error:
        console.print(
            f"cannot read the checkpoint {path} ({error}): training from epoch 1", markup=False
        )
        return None
    if asdict(trial.config) != asdict(args.config()) or spec_to_dict(trial.spec) != spec_to_dict(
        args.mlp()
    ):
        console.print(
            f"the checkpoint {path} is of another run: training from epoch 1", markup=False
        )
        return None
    return trial


def _fallback_report(dataset: TabularDataset) -> Path:
    """Where the records go when the store failed and no --report was given."""
    name = re.sub(r"[^\w.-]+", "-", dataset.name).strip("-") or "run"
    return Path(f"tunegym-train-{name}-{time.strftime('%Y%m%d-%H%M%S')}.json")


def train_command(
    ctx: typer.Context,
    spec: Annotated[
        str | None,
        typer.Argument(
            help="Dataset spec (sklearn:iris, keel:magic, openml:31) or a CSV/Parquet file "
            f"(with --target); default {DEFAULT_DATASET}.",
            show_default=False,
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset", help="Dataset spec, as the SPEC argument gives it (one or the other)."
        ),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(
            "--data", help="A CSV/Parquet file to train on (with --target), as SPEC gives it."
        ),
    ] = None,
    lr: Annotated[float, typer.Option(help="Peak learning rate of Adam (cosine-annealed).")] = 3e-3,
    batch_size: Annotated[int, typer.Option(help="Minibatch size.")] = 32,
    epochs: Annotated[
        int, typer.Option(help="Epochs to train (the cosine schedule spans them).")
    ] = 20,
    depth: Annotated[int, typer.Option(help="Hidden layers of the MLP.")] = 2,
    width: Annotated[int, typer.Option(help="Units per hidden layer.")] = 64,
    dropout: Annotated[float, typer.Option(help="Dropout after each hidden layer.")] = 0.0,
    weight_decay: Annotated[float, typer.Option(help="L2 weight decay.")] = 0.0,
    seed: Annotated[
        int, typer.Option(help="Seed of the split, the initial weights and the batch order.")
    ] = 0,
    target: Annotated[
        str | None, typer.Option(help="Target column (CSV/Parquet files only).")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG of the learning curves here.")
    ] = None,
    report: Annotated[
        Path | None,
        typer.Option(
            help="Write the per-epoch records as JSON here, after every epoch (with the trial's "
            "checkpoint beside it, REPORT.trial.pt, until the run ends)."
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            help="Also log the run to this meta-store (URL or SQLite file), after every epoch "
            "(as a partial run until it ends)."
        ),
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            help="Continue an interrupted run from its REPORT.json (which holds its arguments) "
            "and the checkpoint beside it; give --store again to log it. A finished run's "
            "report is logged to --store without training."
        ),
    ] = None,
) -> None:
    """Train one configuration of the MLP and show its per-epoch metrics.

    With --report, a run killed or interrupted (Ctrl-C) keeps every finished epoch in the
    report and in a checkpoint beside it; --resume REPORT continues it to exactly the epochs
    of an uninterrupted run.
    """
    payload: dict[str, Any] = {}
    if resume is not None:
        args, payload = TrainArgs.from_report(resume)
        _explicit_conflicts(ctx, args, resume)
        if report is not None and report.resolve() != resume.resolve():
            raise _fail(f"--resume {resume} rewrites its own report; drop --report {report}.")
        report = resume
    else:
        args = TrainArgs(_data_spec(spec, dataset, data), target, lr, batch_size, epochs, depth,
                         width, dropout, weight_decay, seed)  # fmt: skip
    try:
        config, mlp = args.config(), args.mlp()
    except (ValueError, TypeError) as exc:
        raise _fail(exc) from exc
    ds = _load(args.spec, args.target, args.seed)
    console.print(
        f"[bold]{escape(ds.name)}[/]: {len(ds.y_train)} train / {len(ds.y_val)} val / {len(ds.y_test)} test rows, "
        f"{ds.n_features} features, {ds.n_classes} classes",
        soft_wrap=True,  # a dataset named by its path stays one piece (to copy)
    )
    meta = None if store is None else _open_store(store)
    try:
        _run(ds, args, config, mlp, device, report, plot, meta, payload)
    finally:
        if meta is not None:
            meta.close()


def _load(spec: str, target: str | None, seed: int) -> TabularDataset:
    from tunegym.data import load_dataset

    try:
        return load_dataset(as_data(spec), target=target, seed=seed)
    except (ValueError, TypeError, ImportError) as exc:
        raise _fail(str(exc)) from exc


def _run(
    ds: TabularDataset,
    args: TrainArgs,
    config: TrainConfig,
    mlp: MLPSpec,
    device: str,
    report: Path | None,
    plot: Path | None,
    meta: _StoreLog | None,
    resumed: dict[str, Any],
) -> None:
    """Train (or take a finished report's records), then keep them: report, plot, store."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from tunegym.training import EpochRecord, Trial

    title = f"{ds.name} — lr={config.lr:g}, batch size={config.batch_size}"
    checkpoint = None if report is None else checkpoint_of(report)
    trial: Trial | None = None
    if resumed.get("status") == "finished":
        records = [EpochRecord(**r) for r in resumed["history"]]
        diverged = bool(resumed.get("diverged"))
        console.print(
            f"the run in {report} finished ({len(records)} epochs): nothing to train", markup=False
        )
    else:
        if resumed:
            assert report is not None
            trial = _resumed_trial(report, ds, args, device)
        if trial is None:
            try:
                trial = Trial(ds, config, mlp, device=device, eval_test=True)
            except (ValueError, TypeError) as exc:
                raise _fail(exc) from exc
        elif trial.epochs_done:
            console.print(f"resuming at epoch {trial.epochs_done + 1} of {config.max_epochs}")
        running = trial

        def on_epoch(r: EpochRecord) -> None:
            progress.update(
                task, advance=1, metrics=f"val acc {r.val_accuracy:.3f} loss {r.val_loss:.3f}"
            )
            if running.finished:
                return  # the report and the plot are written before the store's last log
            if report is not None and checkpoint is not None:
                _save_checkpoint(running, checkpoint)
                _write_report(report, _running_report(ds, args, device, running, "running", report))
            if meta is not None:
                meta.log(ds, args, running.history, device, finished=False)

        try:
            with Progress(
                TextColumn("[progress.description]{task.description}"),
                BarColumn(),
                TextColumn("epoch {task.completed}/{task.total}"),
                TextColumn("{task.fields[metrics]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=console,
                transient=False,
            ) as progress:
                task = progress.add_task(
                    f"lr={config.lr:g} bs={config.batch_size}",
                    total=config.max_epochs,
                    completed=trial.epochs_done,
                    metrics="",
                )
                if not trial.finished:
                    trial.train(config.max_epochs - trial.epochs_done, on_epoch=on_epoch)
        except KeyboardInterrupt:
            _interrupted(ds, args, device, trial, report, meta)
        records, diverged = trial.history, trial.diverged

    console.print(_records_table(records, title))
    best = max(records, key=lambda r: r.val_accuracy)
    if diverged:
        console.print(
            f"[red]diverged at epoch {records[-1].epoch}[/] (recorded with the worst scores)."
        )
    console.print(
        f"best epoch {best.epoch}: val accuracy {best.val_accuracy:.4f}, "
        f"test accuracy {best.test_accuracy:.4f}; last epoch test accuracy "
        f"{records[-1].test_accuracy:.4f}; {sum(r.seconds for r in records):.2f} s"
    )
    # Kept elsewhere first: the report and the plot are written before the store is touched.
    finished = _report(ds, args, device, records, diverged)
    if report is not None and checkpoint is not None:
        _write_report(report, finished)
        for leftover in (checkpoint, _partial(checkpoint), _partial(report)):
            leftover.unlink(missing_ok=True)  # the last two: of a run killed while writing
        console.print(f"report written to {report}", markup=False, soft_wrap=True)
    if plot is not None:
        from tunegym.plots import plot_learning_curves

        plot_learning_curves(records, plot, title=title)
        console.print(f"plot written to {plot}", markup=False, soft_wrap=True)
    if meta is None:
        return
    meta.log(ds, args, records, device, finished=True)
    if meta.error is None:
        console.print(
            f"logged as run {meta.run_id} in {_shown(meta.url)}", markup=False, soft_wrap=True
        )
        return
    kept = report
    if kept is None:
        kept = _fallback_report(ds)
        _write_report(kept, finished)
    raise _fail(
        f"{meta.error} The run's {len(records)} epochs are safe in {kept}; once the store "
        f"works, log them with: tunegym train --resume {kept} --store {_shown(meta.url)}",
        _STORE_FAILED,
    )


def _report(
    ds: TabularDataset,
    args: TrainArgs,
    device: str,
    records: list[EpochRecord],
    diverged: bool,
    status: str = "finished",
    checkpoint: Path | None = None,
) -> dict[str, Any]:
    """The report: ``status`` is ``running``, ``interrupted`` or ``finished``; ``checkpoint``
    the name of the trial's checkpoint beside it (until the run is finished)."""
    return {
        "format": REPORT_FORMAT,
        "status": status,
        "dataset": ds.name,
        "arguments": asdict(args),
        "config": asdict(args.config()),
        "mlp": asdict(args.mlp()),
        "device": device,
        "diverged": diverged,
        "epochs_done": len(records),
        "checkpoint": None if checkpoint is None else checkpoint.name,
        "history": [asdict(r) for r in records],
    }


def _running_report(
    ds: TabularDataset, args: TrainArgs, device: str, trial: Trial, status: str, report: Path
) -> dict[str, Any]:
    """The report of a run not finished, with its checkpoint."""
    return _report(ds, args, device, trial.history, trial.diverged, status, checkpoint_of(report))


def _interrupted(
    ds: TabularDataset,
    args: TrainArgs,
    device: str,
    trial: Trial,
    report: Path | None,
    meta: _StoreLog | None,
) -> NoReturn:
    """Ctrl-C: keep what was trained, say how to go on, exit with 130."""
    done = trial.epochs_done  # whole epochs only: a record is added when its epoch ends
    if report is not None:
        _write_report(report, _running_report(ds, args, device, trial, "interrupted", report))
    if meta is not None:
        meta.log(ds, args, trial.history, device, finished=False)
    kept = [f"partial report in {report}"] if report is not None else []
    if meta is not None and meta.error is None and done:
        kept.append(f"logged to {_shown(meta.url)} as a partial run")
    err_console.print(
        (f"interrupted after epoch {done} of {args.epochs}" if done else "interrupted in epoch 1")
        + (f"; {', '.join(kept)}" if kept else "; nothing kept (no --report)"),
        soft_wrap=True,
        markup=False,
    )
    if report is not None:
        again = f"tunegym train --resume {report}"
        if meta is not None:
            again += f" --store {_shown(meta.url)}"
        err_console.print(f"continue with: {again}", soft_wrap=True, markup=False)
    raise typer.Exit(code=_INTERRUPTED)
