"""Benchmark the meta-store: bulk-insert 1,000,000 evaluations, then read one dataset's curves.

(1) Synthetic curves of ``datasets`` datasets (a grid of ``lrs`` × ``batch_sizes`` × ``seeds``
    runs per dataset, ``epochs`` epochs each, 7 measures per epoch plus the 7 final values) go
    through the real API, ``MetaStore.add_runs`` with tunegym ``EpochRecord``s, one transaction
    per dataset, into a fresh SQLite file. Reported: seconds spent in ``add_runs`` and rows/s.
(2) ``MetaStore.curves`` of one dataset among them (the middle one): seconds, first call and
    the median of ``reads`` calls.
(3) ``export_parquet`` of the whole store, and ``import_parquet`` of it into a fresh SQLite file.

Run (the command that produced the figures in docs/METASTORE.md):
    .venv/bin/python experiments/bench_metastore.py
"""

from __future__ import annotations

import dataclasses
import json
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy

from tunegym._args import parse_dataclass_args
from tunegym.metastore import (
    EPOCH_MEASURES,
    MetaStore,
    RunRecord,
    RunStatus,
    SearchGrid,
    detect_hardware,
)
from tunegym.training import EpochRecord


@dataclass
class Args:
    """Benchmark settings (each is a ``--flag`` of the same name with dashes)."""

    datasets: int = 150
    lrs: int = 13
    batch_sizes: int = 3
    seeds: int = 2
    epochs: int = 13
    reads: int = 5
    """Calls of ``curves`` timed in part (2) (at least 1)."""
    quick: bool = False
    """Smoke test: 3 datasets, 3 epochs, 2 reads."""
    db: Path | None = None
    """SQLite file to create (must not exist); default: a temporary one, deleted afterwards."""
    out_dir: Path = Path("experiments/results")


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line."""
    args = parse_dataclass_args(Args, argv, __doc__, types={"db": Path})
    if args.quick:
        args = dataclasses.replace(args, datasets=3, epochs=3, reads=2)
    return args


def synthetic_history(rng: np.random.Generator, epochs: int, diverges: bool) -> list[EpochRecord]:
    """A decreasing loss / increasing accuracy curve; a diverging one stops at epoch 2."""
    loss = np.exp(-np.arange(1, epochs + 1) * rng.uniform(0.05, 0.3)) + rng.uniform(0.1, 0.5)
    accuracy = 1.0 - loss / 2.0
    records = []
    for e in range(epochs):
        if diverges and e == 1:
            records.append(
                EpochRecord(e + 1, np.inf, np.inf, 0.0, 0.0, np.inf, 0.0, 0.0, 0.01, True)
            )
            break
        records.append(
            EpochRecord(
                e + 1, float(loss[e]), float(loss[e]) * 1.1, float(accuracy[e]),
                float(accuracy[e]) - 0.05, float(loss[e]) * 1.2, float(accuracy[e]) - 0.01,
                float(accuracy[e]) - 0.06, float(rng.uniform(0.01, 0.1)), False,
            )
        )  # fmt: skip
    return records


def fill(store: MetaStore, args: Args) -> tuple[float, int, list[str]]:
    """Insert every dataset's runs; return (seconds in add_runs, evaluation rows, labels)."""
    rng = np.random.default_rng(0)
    lrs = np.geomspace(1e-5, 10, args.lrs).round(8).tolist()
    batch_sizes = [16 * 2**i for i in range(args.batch_sizes)]
    flow = store.get_or_create_flow(
        "tunegym.mlp(activation=relu,depth=2,dropout=0.0,width=64)",
        model_spec={"depth": 2, "width": 64, "dropout": 0.0, "activation": "relu"},
        search_space=SearchGrid(tuple(lrs), tuple(batch_sizes), args.epochs),
    )
    setups = {
        (lr, bs): store.get_or_create_setup(
            flow, {"lr": lr, "batch_size": bs, "max_epochs": args.epochs, "weight_decay": 0.0}
        )
        for lr in lrs
        for bs in batch_sizes
    }
    seconds, labels = 0.0, []
    for d in range(args.datasets):
        dataset = store.get_or_create_dataset(f"synthetic{d:03d}", spec=f"bench:synthetic{d:03d}")
        task = store.get_or_create_task(dataset)
        labels.append(dataset.label)
        records = []
        for (lr, _), setup in setups.items():
            for seed in range(args.seeds):
                history = synthetic_history(rng, args.epochs, diverges=lr >= 1.0 and seed == 0)
                status = RunStatus.DIVERGED if history[-1].diverged else RunStatus.OK
                records.append(RunRecord(task, setup, seed, status, history, hardware="bench"))
        start = time.perf_counter()
        store.add_runs(records)
        seconds += time.perf_counter() - start
    return seconds, store.stats().evaluations, labels


def run(args: Args) -> dict[str, Any]:
    """Run the measurements; write JSON to ``args.out_dir``; return the results."""
    sizes = {
        k: getattr(args, k) for k in ("datasets", "lrs", "batch_sizes", "seeds", "epochs", "reads")
    }
    if min(sizes.values()) < 1:
        raise ValueError(f"Every size must be >= 1, got {sizes}.")
    with tempfile.TemporaryDirectory() as tmp:
        path = args.db or Path(tmp) / "bench.sqlite"
        if path.exists():
            raise FileExistsError(f"{path} exists; the benchmark needs a fresh database file.")
        with MetaStore(path) as store:
            insert_s, rows, labels = fill(store, args)
            label = labels[len(labels) // 2]
            times, curve_rows = [], 0
            for _ in range(args.reads):
                start = time.perf_counter()
                curve_rows = len(store.curves(label))
                times.append(time.perf_counter() - start)
            stats = store.stats()
            start = time.perf_counter()
            store.export_parquet(Path(tmp) / "export")
            export_s = time.perf_counter() - start
        size_mb = path.stat().st_size / 1e6
        export_mb = sum(f.stat().st_size for f in (Path(tmp) / "export").iterdir()) / 1e6
        with MetaStore(Path(tmp) / "imported.sqlite") as fresh:
            start = time.perf_counter()
            imported = fresh.import_parquet(Path(tmp) / "export")
            import_s = time.perf_counter() - start
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": f"{detect_hardware()}, Python {platform.python_version()}",
        "sqlalchemy": sqlalchemy.__version__,
        "datasets": stats.datasets,
        "runs": stats.runs,
        "evaluation_rows": rows,
        "measures_per_epoch": len(EPOCH_MEASURES),
        "insert_seconds": insert_s,
        "insert_rows_per_second": rows / insert_s,
        "db_megabytes": size_mb,
        "curves_dataset": label,
        "curves_rows": curve_rows,
        "curves_first_seconds": times[0],
        "curves_median_seconds": statistics.median(times),
        "export_seconds": export_s,
        "export_megabytes": export_mb,
        "import_seconds": import_s,
        "imported_evaluation_rows": imported.evaluations,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    (args.out_dir / "bench_metastore.json").write_text(json.dumps(result, indent=2))
    return result


def format_table(result: dict[str, Any]) -> str:
    lines = [
        "measurement                          value",
        "-----------------------------------  ---------------",
        f"evaluation rows inserted             {result['evaluation_rows']:>15,}",
        f"  runs / datasets                    {result['runs']:>7,} / {result['datasets']:>5}",
        f"  seconds in add_runs                {result['insert_seconds']:>15.2f}",
        f"  rows/s                             {result['insert_rows_per_second']:>15,.0f}",
        f"  database size (MB)                 {result['db_megabytes']:>15.1f}",
        f"curves() of {result['curves_dataset']:<24} {result['curves_rows']:>9,} rows",
        f"  first call (s)                     {result['curves_first_seconds']:>15.4f}",
        f"  median (s)                         {result['curves_median_seconds']:>15.4f}",
        f"export_parquet, whole store (s)      {result['export_seconds']:>15.2f}",
        f"  Parquet size (MB)                  {result['export_megabytes']:>15.1f}",
        f"import_parquet into a new file (s)   {result['import_seconds']:>15.2f}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(run(parse_args())))
