"""``tunegym metastore``: inspect, fill, export and query the meta-store of past runs."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tunegym._cli_errors import fail

if TYPE_CHECKING:
    from tunegym.metastore import LayeredStats, MetaStore, SnapshotStats, TableCounts

app = typer.Typer(
    help=(
        "The meta-store of past runs (OpenML-shaped; SQLite by default, any SQLAlchemy URL). "
        "The default store is $TUNEGYM_METASTORE, else ~/.local/share/tunegym/metastore.sqlite."
    ),
    no_args_is_help=True,
)
import_app = typer.Typer(help="Import runs and meta-features into the store.", no_args_is_help=True)
app.add_typer(import_app, name="import")

console = Console()
err_console = Console(stderr=True)

StoreOption = Annotated[
    str | None,
    typer.Option(
        "--store",
        help="SQLAlchemy URL or SQLite file (default: $TUNEGYM_METASTORE, else "
        "~/.local/share/tunegym/metastore.sqlite).",
    ),
]


def _open(url: str | None) -> MetaStore:
    from tunegym.metastore import MetaStore

    try:
        return MetaStore(url)
    except (ValueError, ImportError) as exc:
        raise _fail(exc) from exc


def _fail(exc: Exception) -> typer.Exit:
    return fail(err_console, exc)


def _counts_table(counts: TableCounts, title: str, directory: Path | None = None) -> Table:
    """Rows per table of an export or an import; with ``directory``, each table's file."""
    table = Table(title=title)
    table.add_column("table")
    table.add_column("rows", justify="right")
    if directory is not None:
        table.add_column("file", overflow="fold")
    for field in fields(counts):
        file = [] if directory is None else [escape(str(directory / f"{field.name}.parquet"))]
        table.add_row(field.name, f"{getattr(counts, field.name):,}", *file)
    return table


def _snapshot_stats(path: Path | None) -> None:
    from tunegym.metastore import SNAPSHOT_DIR, snapshot_stats

    try:
        s = snapshot_stats(path)
    except (ValueError, OSError) as exc:
        raise _fail(exc) from exc
    table = Table(title=f"meta-dataset snapshot {path or SNAPSHOT_DIR}", show_header=False)
    table.add_column(style="bold")
    table.add_column(justify="right")
    rows = [
        ("datasets", f"{s.datasets:,}"),
        ("runs", f"{s.runs:,}"),
        ("epochs", f"{s.epochs:,}"),
        ("  runs diverged", f"{s.diverged_runs:,}"),
        ("seeds", ", ".join(map(str, s.seeds))),
        (
            ("grid", f"{len(s.lrs)} lrs x {len(s.batch_sizes)} batch sizes, E_max {s.max_epochs}")
            if s.lrs
            else ("space", f"{s.configs} configurations, E_max {s.max_epochs}")
        ),
        *([] if s.lrs else [("  hyperparameters", ", ".join(s.hyperparameters))]),
        ("size", f"{s.size_bytes / 2**20:.1f} MiB"),
        *((f"  {part}", f"{n} datasets") for part, n in s.parts.items()),
        *((f"  {twin}", f"= {kept} (OpenML twin)") for twin, kept in s.twins.items()),
    ]
    for key, value in rows:
        table.add_row(key, value)
    console.print(table)


NoSnapshotOption = Annotated[
    bool,
    typer.Option(
        "--no-snapshot",
        help="Leave out the meta-dataset shipped with tunegym (the read-only base layer under "
        "every store): query the store alone, e.g. a team store.",
    ),
]


def _layered_stats(ms: MetaStore, s: LayeredStats, snap: SnapshotStats) -> None:
    """Each layer's counts side by side (``snap``: the snapshot's, ``s.snapshot``), the total."""
    table = Table(title=f"meta-store {ms.url}, over the shipped snapshot")
    table.add_column("", style="bold")
    for column in ("snapshot (read-only)", "your store", "total"):
        table.add_column(column, justify="right")

    def row(key: str, store: int, snapshot: int | None = None, total: int | None = None) -> None:
        cells = ("" if v is None else f"{v:,}" for v in (snapshot, store, total))
        table.add_row(key, *cells)

    row("datasets", s.store.datasets, snap.datasets, s.datasets)
    row("runs", s.store.runs, snap.runs, s.runs)
    row("epochs", s.store.epochs, snap.epochs, s.epochs)
    for key in ("tasks", "flows", "setups", "evaluations"):
        row(key, getattr(s.store, key))
    for source, n in sorted(s.store.runs_by_source.items()):
        row(f"  runs from {source}", n)
    for status, n in sorted(s.store.runs_by_status.items()):
        row(f"  runs {status}", n)
    console.print(table)
    console.print(
        "datasets in both layers (same spec or OpenML id) count once in the total; "
        "--no-snapshot reports the store alone, --snapshot the snapshot in detail."
    )


@app.command()
def stats(
    store: StoreOption = None,
    snapshot: Annotated[
        bool,
        typer.Option("--snapshot", help="Report the meta-dataset snapshot alone, in detail."),
    ] = False,
    no_snapshot: NoSnapshotOption = False,
    snapshot_dir: Annotated[
        Path | None,
        typer.Option(
            help="A snapshot folder (default: the shipped one; meta-dataset v2 with --v2)."
        ),
    ] = None,
    v2: Annotated[
        bool,
        typer.Option(
            "--v2", help="With --snapshot: meta-dataset v2 (LCBench's space) instead of v1."
        ),
    ] = False,
) -> None:
    """Count datasets, runs and epochs of the shipped snapshot and of the store, and the total.

    The store's own tasks, flows, setups, evaluations and runs by source and status follow.
    """
    from tunegym.metastore import layered_stats

    if snapshot and no_snapshot:
        raise _fail(ValueError("--snapshot and --no-snapshot exclude each other; pick one."))
    if snapshot:
        if v2 and snapshot_dir is None:
            from tunegym.metastore import LCBENCH_SNAPSHOT_DIR

            snapshot_dir = LCBENCH_SNAPSHOT_DIR
        _snapshot_stats(snapshot_dir)
        return
    with _open(store) as ms:
        try:
            s = layered_stats(ms, include_snapshot=not no_snapshot, snapshot_path=snapshot_dir)
        except (ValueError, OSError) as exc:
            raise _fail(exc) from exc
        if s.snapshot is not None:
            _layered_stats(ms, s, s.snapshot)
            return
        table = Table(
            title=f"meta-store {ms.url}", caption="the snapshot left out", show_header=False
        )
        table.add_column(style="bold")
        table.add_column(justify="right")
        for key in ("datasets", "tasks", "flows", "setups", "runs", "evaluations", "epochs"):
            table.add_row(key, f"{getattr(s.store, key):,}")
        for source, n in sorted(s.store.runs_by_source.items()):
            table.add_row(f"  runs from {source}", f"{n:,}")
        for status, n in sorted(s.store.runs_by_status.items()):
            table.add_row(f"  runs {status}", f"{n:,}")
        console.print(table)


@import_app.command("openml")
def import_openml_cmd(
    did: Annotated[
        list[int] | None, typer.Option(help="Dataset ids whose qualities to import.")
    ] = None,
    flow: Annotated[
        list[int] | None, typer.Option(help="MLP flow ids (default: every MLPClassifier flow).")
    ] = None,
    task: Annotated[list[int] | None, typer.Option(help="Only runs on these OpenML tasks.")] = None,
    max_runs: Annotated[int | None, typer.Option(help="Stop after this many runs.")] = None,
    store: StoreOption = None,
) -> None:
    """Import OpenML qualities and past runs of MLP flows (needs the 'openml' extra; cached)."""
    from tunegym.metastore import import_openml

    with _open(store) as ms:
        try:
            with console.status("asking OpenML (answers are cached for offline use) ..."):
                summary = import_openml(
                    ms, dids=did or (), flows=flow, tasks=task, max_runs=max_runs
                )
        except (ValueError, ImportError, OSError) as exc:
            raise _fail(exc) from exc
    console.print(
        f"imported {summary.runs:,} runs ({summary.skipped_runs:,} already stored) and "
        f"{summary.qualities:,} qualities of {summary.datasets:,} datasets"
    )


@import_app.command("lcdb")
def import_lcdb_cmd(
    did: Annotated[list[int] | None, typer.Option(help="Only these OpenML dataset ids.")] = None,
    curves: Annotated[bool, typer.Option(help="Also import the MLP learning curves.")] = True,
    metric: Annotated[str, typer.Option(help="accuracy, auc or f1.")] = "accuracy",
    store: StoreOption = None,
) -> None:
    """Import LCDB's published OpenML qualities (219 datasets) and MLP learning curves."""
    from tunegym.metastore import import_lcdb

    with _open(store) as ms:
        try:
            with console.status("reading LCDB ..."):
                summary = import_lcdb(ms, datasets=did, curves=curves, metric=metric)
        except (ValueError, ImportError, OSError) as exc:
            raise _fail(exc) from exc
    console.print(
        f"imported {summary.qualities:,} qualities of {summary.datasets:,} datasets and "
        f"{summary.runs:,} learning-curve points"
    )


@import_app.command("lcbench")
def import_lcbench_cmd(
    task: Annotated[
        list[str] | None,
        typer.Option(help="OpenML task id or dataset name of an LCBench task (default: all 34)."),
    ] = None,
    n_configs: Annotated[
        int, typer.Option(min=1, help="Random configurations to predict on every task.")
    ] = 100,
    seed: Annotated[int, typer.Option(min=0, help="Seed of the configurations' draw.")] = 0,
    lcbench: Annotated[
        Path | None,
        typer.Option(
            help="The surrogate's folder (default: $TUNEGYM_LCBENCH, else ../shared/lcbench "
            "beside a clone of tunegym's repository)."
        ),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Import YAHPO Gym's LCBench surrogate curves as runs (needs the 'lcbench' extra; idempotent)."""
    from tunegym.metastore import import_lcbench
    from tunegym.surrogates import LCBench

    try:
        surrogate = LCBench.open(lcbench)
    except (ValueError, ImportError, OSError) as exc:
        raise _fail(exc) from exc
    with _open(store) as ms:
        try:
            with console.status("predicting LCBench curves ..."):
                summary = import_lcbench(
                    ms, surrogate, tasks=task or None, n_configs=n_configs, seed=seed
                )
        except (ValueError, TypeError) as exc:
            raise _fail(exc) from exc
    console.print(
        f"imported {summary.runs:,} surrogate runs ({summary.skipped_runs:,} already stored, "
        f"{summary.evaluations:,} evaluations) on {summary.tasks} LCBench tasks"
    )


@import_app.command("parquet")
def import_parquet_cmd(
    directory: Annotated[
        Path, typer.Argument(help="A folder written by 'tunegym metastore export'.")
    ],
    store: StoreOption = None,
) -> None:
    """Merge an exported store (Parquet folder) into this one, without duplicates."""
    with _open(store) as ms:
        try:
            counts = ms.import_parquet(directory)
        except (ValueError, OSError) as exc:
            raise _fail(exc) from exc
    console.print(_counts_table(counts, f"rows added from {escape(str(directory))}"))
    console.print(f"imported {sum(getattr(counts, f.name) for f in fields(counts)):,} rows")


@import_app.command("curves")
def import_curves_cmd(
    path: Annotated[Path, typer.Argument(help="A curve file (tunegym.envs.write_curves).")],
    meta_features: Annotated[
        bool, typer.Option(help="Also compute and store each dataset's meta-features.")
    ] = True,
    store: StoreOption = None,
) -> None:
    """Store recorded learning curves as local runs (idempotent) for replay and warm start."""
    from tunegym.envs import read_curves
    from tunegym.metastore import store_meta_features

    with _open(store) as ms:
        try:
            frame = read_curves(path)
            runs = ms.log_curves(frame)
            if meta_features:
                for spec in sorted(frame["dataset"].unique()):
                    store_meta_features(ms, str(spec))
        except (ValueError, OSError) as exc:
            raise _fail(exc) from exc
    console.print(
        f"stored {len(runs):,} runs of {frame['dataset'].nunique()} dataset(s)", markup=False
    )


@app.command()
def export(
    directory: Annotated[
        Path, typer.Argument(help="Folder to write (one Parquet file per table).")
    ],
    dataset: Annotated[
        list[str] | None, typer.Option(help="Only these datasets (spec or name).")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Export the whole store, or some datasets with all their runs, to Parquet."""
    with _open(store) as ms:
        try:
            counts = ms.export_parquet(directory, dataset)
        except (ValueError, OSError) as exc:
            raise _fail(exc) from exc
    console.print(_counts_table(counts, "exported", directory))
    console.print(
        f"exported {sum(getattr(counts, f.name) for f in fields(counts)):,} rows to {directory} "
        f"(read it back with: tunegym metastore import parquet {directory})",
        markup=False,
    )


@app.command()
def neighbors(
    spec: Annotated[str, typer.Argument(help="The target dataset (spec or CSV/Parquet path).")],
    k: Annotated[int, typer.Option(help="Neighbours.")] = 5,
    portfolio: Annotated[int, typer.Option(help="Portfolio length.")] = 8,
    store: StoreOption = None,
    no_snapshot: NoSnapshotOption = False,
) -> None:
    """Nearest datasets by meta-features, with the warm-start portfolio and search box.

    Candidates are the shipped snapshot's datasets with the store's layered on top: a dataset
    the store holds (same spec or OpenML id) is served from the store's runs.
    """
    from tunegym.envs import SearchSpace
    from tunegym.metastore import Layer, warm_start

    space = SearchSpace()
    with _open(store) as ms:
        try:
            ws = warm_start(
                ms, spec, space.lrs, space.batch_sizes, k=k, n_portfolio=portfolio,
                include_snapshot=not no_snapshot,
            )  # fmt: skip
        except (ValueError, TypeError, OSError) as exc:
            raise _fail(exc) from exc
    table = Table(
        title=f"{len(ws.neighbors)} nearest datasets to {escape(spec)} (L1, scaled meta-features)"
    )
    for col in ("dataset", "distance", "OpenML id", "from"):
        table.add_column(col, justify="left" if col in ("dataset", "from") else "right")
    for n in ws.neighbors:
        did = "" if n.openml_did is None else str(n.openml_did)
        layer = "your store" if n.layer is Layer.STORE else "snapshot"
        table.add_row(escape(n.dataset), f"{n.distance:.4f}", did, layer)
    console.print(table)
    table = Table(
        title="portfolio (try these first)",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )
    for col in ("lr", "batch size", "best epoch", "score there", "expected"):
        table.add_column(col, justify="right")
    # The dataset names what to look up: never cut; run ids fold onto more lines.
    widest = max((len(e.dataset) for e in ws.portfolio), default=4)
    table.add_column("from", no_wrap=True, min_width=widest)
    table.add_column("runs", overflow="fold")
    for e in ws.portfolio:
        table.add_row(
            f"{e.lr:.3g}", str(e.batch_size), str(e.epochs), f"{e.score:.4f}",
            f"{e.expected_score:.3f}", escape(e.dataset), ",".join(map(str, e.run_ids)),
        )  # fmt: skip
    console.print(table)
    if ws.box is not None:
        console.print(
            f"search box: lr in [{ws.box.lr_min:g}, {ws.box.lr_max:g}], "
            f"batch size in [{ws.box.batch_size_min}, {ws.box.batch_size_max}]"
        )
