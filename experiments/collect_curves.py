"""Collect the meta-dataset: learning curves of the tuning grid on every bundled dataset.

Every (learning rate, batch size) of the grid (default 13 × 6, E_max 16) is trained with the
batched trainer on each dataset (large ones subsampled to ``max_rows``, stratified, seed 0) for
each trial seed, and stored as local runs in a meta-store (SQLite file by default), with each
dataset's meta-features. Resumable: run it again after an interruption and finished
(dataset, seed) units are skipped. Optionally writes the snapshot shipped with the package and
the family split kept in the repository. ``tunegym collect`` is the same as a command.

Run (what produced tunegym/metastore/snapshot and docs/METADATASET.md; the first command did
the training, the second found every unit stored and wrote the snapshot and the split file):
    .venv/bin/tunegym collect --datasets all --seeds 0,1,2 --max-rows 10000 --workers 2 \
        --store experiments/results/metadataset.sqlite
    .venv/bin/python experiments/collect_curves.py --workers 2 \
        --snapshot tunegym/metastore/snapshot
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import tunegym
from tunegym._args import parse_dataclass_args
from tunegym.envs import DEFAULT_MAX_ROWS, CollectProgress, SearchSpace, collect, resolve_datasets
from tunegym.metastore import MetaStore, detect_hardware, write_snapshot

RESULTS = Path("experiments/results")


@dataclass
class Args:
    """Collection settings (each is a ``--flag`` of the same name with dashes)."""

    datasets: list[str] = field(default_factory=lambda: ["all"])
    """all, keel, sklearn, dataset specs or files (with --target)."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Trial seeds."""
    max_rows: int = DEFAULT_MAX_ROWS
    """Subsample larger datasets to this many rows (0: keep all)."""
    max_epochs: int = 16
    """E_max of the grid (its lrs and batch sizes are SearchSpace's defaults)."""
    workers: int = 2
    """Processes training in parallel (one torch thread each)."""
    store: str = str(RESULTS / "metadataset.sqlite")
    """Meta-store URL or SQLite file."""
    target: str = ""
    """Class column of file datasets."""
    snapshot: str = ""
    """If set, write the snapshot folder here afterwards (the package's: tunegym/metastore/snapshot)."""
    split_file: str = "experiments/splits/metadataset_split.json"
    """Where the family split is kept in the repository (written with the snapshot)."""
    record: str = str(RESULTS / "collect_curves.json")
    """JSON file recording the command, hardware, versions, times and counts."""


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line."""
    return parse_dataclass_args(Args, argv, __doc__)


def print_progress(p: CollectProgress) -> None:
    """One line per finished unit (readable in a log file, unlike a live bar)."""
    eta = "?" if p.eta_seconds is None else f"{p.eta_seconds / 60:.1f} min"
    unit = "resume check" if p.unit is None else f"{p.unit.dataset} seed {p.unit.seed}"
    print(
        f"[{p.seconds:7.1f} s] units {p.units_done}/{p.units_total} "
        f"(skipped {p.units_skipped}) datasets {p.datasets_done}/{p.datasets_total} "
        f"{p.configs_per_second:6.1f} configs/s ETA {eta}  {unit}",
        flush=True,
    )


def run(args: Args) -> dict[str, Any]:
    """Collect into ``args.store``, optionally write the snapshot; return the record."""
    space = SearchSpace(max_epochs=args.max_epochs)
    specs = resolve_datasets(args.datasets)
    started = time.time()
    with MetaStore(args.store) as store:
        summary = collect(
            specs, space, args.seeds, store=store, max_rows=args.max_rows or None,
            target=args.target or None, workers=args.workers, progress=print_progress,
        )  # fmt: skip
        stats = store.stats()
        snapshot = None
        if args.snapshot:
            written = write_snapshot(
                store, args.snapshot, datasets=specs, max_rows=args.max_rows or None,
                split_file=args.split_file or None,
            )  # fmt: skip
            snapshot = dataclasses.asdict(written)
    record = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "args": dataclasses.asdict(args),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "hardware": detect_hardware(),
        "versions": {
            "tunegym": tunegym.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "summary": dataclasses.asdict(summary),
        "store": dataclasses.asdict(stats),
        "snapshot": snapshot,
    }
    if args.record:
        Path(args.record).parent.mkdir(parents=True, exist_ok=True)
        Path(args.record).write_text(json.dumps(record, indent=2) + "\n")
    return record


if __name__ == "__main__":
    torch.set_num_threads(1)  # tiny models run fastest on one thread per process
    result = run(parse_args())
    s = result["summary"]
    print(
        f"trained {s['units_trained']} units, skipped {s['units_skipped']}, "
        f"{len(s['failures'])} failed; wall {s['wall_seconds'] / 60:.1f} min, "
        f"CPU {s['cpu_seconds'] / 60:.1f} min"
    )
