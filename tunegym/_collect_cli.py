"""``tunegym collect``: record the learning curves of a search space into a meta-store."""

from __future__ import annotations

import datetime
import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from tunegym._cli_errors import fail, print_error

if TYPE_CHECKING:
    from tunegym.envs import CollectProgress

console = Console()
err_console = Console(stderr=True)


def _items(values: list[str]) -> list[str]:
    """Comma- or space-separated values of a repeatable option, flattened."""
    return [part for value in values for part in value.replace(",", " ").split()]


def _numbers(values: list[str], kind: type[int] | type[float], name: str) -> tuple:
    try:
        return tuple(kind(v) for v in _items(values))
    except ValueError as exc:
        raise typer.BadParameter(f"{name} takes numbers, got {values!r}.") from exc


def _duration(seconds: float | None) -> str:
    return "?" if seconds is None else str(datetime.timedelta(seconds=round(seconds)))


class SpaceName(enum.StrEnum):
    """The search spaces ``tunegym collect`` records."""

    LR_BS = "lr-bs"
    LCBENCH = "lcbench"


# E_max of each space when --max-epochs is not given (LCBench trained 50 epochs).
_DEFAULT_EPOCHS = {SpaceName.LR_BS: 16, SpaceName.LCBENCH: 50}


def collect_command(
    datasets: Annotated[
        list[str] | None,
        typer.Option(
            "--datasets",
            help="all, keel, sklearn, dataset specs (keel:german) or CSV/Parquet files; "
            "repeat the option or separate with commas.",
        ),
    ] = None,
    seeds: Annotated[
        list[str] | None, typer.Option(help="Trial seeds, e.g. --seeds 0,1,2 (default 0,1,2).")
    ] = None,
    max_rows: Annotated[
        int,
        typer.Option(
            help="Subsample larger datasets to this many rows (stratified, seed 0); 0 keeps all."
        ),
    ] = 10_000,
    workers: Annotated[
        int,
        typer.Option(
            help="Workers training in parallel: with Ray installed (extra 'ray') a local Ray of "
            "this many CPUs is started, else spawned processes.",
            min=1,
        ),
    ] = 1,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="Train on a Ray cluster: its address (ray://HOST:10001, or HOST:6379 on a node "
            "of it), 'auto' (the cluster this machine belongs to, or $RAY_ADDRESS), or 'local' "
            "(a local Ray of --workers CPUs). This process stays the only writer of the store.",
        ),
    ] = None,
    threads: Annotated[int, typer.Option(help="torch threads per worker.", min=1)] = 1,
    store: Annotated[
        str | None,
        typer.Option(help="Meta-store URL or SQLite file (default: $TUNEGYM_METASTORE, else ~)."),
    ] = None,
    snapshot: Annotated[
        Path | None,
        typer.Option(help="Afterwards, write a snapshot of the collected datasets to this folder."),
    ] = None,
    lrs: Annotated[
        list[str] | None, typer.Option(help="Learning rates of the grid (default 1e-5 .. 10).")
    ] = None,
    batch_sizes: Annotated[
        list[str] | None, typer.Option(help="Batch sizes of the grid (default 16 .. 512).")
    ] = None,
    space_name: Annotated[
        SpaceName,
        typer.Option(
            "--space",
            help="lr-bs: the (learning rate, batch size) grid of Adam MLPs; lcbench: Sobol "
            "candidates of LCBench's 7 hyperparameters (funnel MLPs with SGD).",
        ),
    ] = SpaceName.LR_BS,
    n_configs: Annotated[
        int, typer.Option(help="Candidates sampled from the lcbench space.", min=1)
    ] = 100,
    space_seed: Annotated[
        int, typer.Option(help="Sobol seed of the lcbench candidates.", min=0)
    ] = 0,
    max_epochs: Annotated[
        int | None,
        typer.Option(help="E_max: epochs of every configuration (default 16 lr-bs, 50 lcbench)."),
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Class column of CSV/Parquet datasets.")
    ] = None,
    meta_features: Annotated[
        bool, typer.Option(help="Also compute and store each dataset's meta-features.")
    ] = True,
) -> None:
    """Train every candidate of the search space on each dataset and store the curves.

    The space is the (learning rate, batch size) grid, or --n-configs candidates of LCBench's
    space. Resumable: stop it at any time (Ctrl-C) and run the same command again; finished
    (dataset, seed) units are skipped (off the grid: every stored trial), nothing is stored twice.
    Several collections on one store share its work: each unit (trial) is trained once.
    """
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from tunegym.envs import SearchSpace, collect, resolve_datasets
    from tunegym.metastore import MetaStore
    from tunegym.parallel import Workers

    try:
        defaults = SearchSpace()
        epochs = _DEFAULT_EPOCHS[space_name] if max_epochs is None else max_epochs
        k_choices = tuple(k for k in defaults.k_choices if k <= epochs) or (1,)
        if space_name is SpaceName.LCBENCH:
            from tunegym.space import LCBENCH_SPACE

            if lrs or batch_sizes:
                raise ValueError(
                    "--lrs and --batch-sizes set the lr-bs grid; the lcbench space takes "
                    "--n-configs and --space-seed."
                )
            space = SearchSpace.sampled(
                LCBENCH_SPACE, n_configs, seed=space_seed, max_epochs=epochs, k_choices=k_choices
            )
        else:
            space = SearchSpace(
                lrs=_numbers(lrs, float, "--lrs") if lrs else defaults.lrs,
                batch_sizes=_numbers(batch_sizes, int, "--batch-sizes")
                if batch_sizes
                else defaults.batch_sizes,
                max_epochs=epochs,
                k_choices=k_choices,
            )
        specs = resolve_datasets(_items(datasets or ["all"]))
        trial_seeds = _numbers(seeds, int, "--seeds") if seeds else (0, 1, 2)
        where = Workers(workers, ray_address, threads)
        ms = MetaStore(store)
    except (ValueError, ImportError) as exc:
        raise fail(err_console, exc) from exc
    torch.set_num_threads(threads)
    console.print(
        f"collecting {len(specs)} datasets x {len(trial_seeds)} seeds x {space.n_configs} "
        f"{space_name.value} configurations x {space.max_epochs} epochs into {ms.url} "
        f"{where.describe()}",
        markup=False,
    )
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with ms, Progress(*columns, console=console) as bar:
        task = bar.add_task(
            "units (dataset x seed)", total=len(specs) * len(trial_seeds), status=""
        )

        def show(p: CollectProgress) -> None:
            bar.update(
                task,
                completed=p.units_done,
                status=f"datasets {p.datasets_done}/{p.datasets_total} · "
                f"{p.configs_per_second:.1f} configs/s · ETA {_duration(p.eta_seconds)}"
                + (f" · [red]{len(p.failures)} failed[/]" if p.failures else ""),
            )

        try:
            summary = collect(
                specs, space, trial_seeds, store=ms, max_rows=max_rows or None, target=target,
                workers=where, meta_features=meta_features, progress=show,
            )  # fmt: skip
        except (ValueError, ImportError, ConnectionError) as exc:
            raise fail(err_console, exc) from exc
        elsewhere = summary.units_elsewhere
        console.print(
            f"trained {summary.units_trained} units ({summary.runs_logged:,} runs), skipped "
            f"{summary.units_skipped} already stored"
            + (f", {elsewhere} finished by another collector" if elsewhere else "")
            + f"; wall {_duration(summary.wall_seconds)}, CPU {_duration(summary.cpu_seconds)}, "
            f"{where.describe()}"
        )
        for spec, twin in summary.twins:
            console.print(
                f"not collected: {spec} is the OpenML dataset stored as {twin}", markup=False
            )
        for spec, seed, message in summary.failures:
            print_error(err_console, f"{spec} seed {seed}: {message}", "failed")
        if snapshot is not None:
            from tunegym.metastore import write_snapshot

            info = write_snapshot(ms, snapshot, datasets=specs, max_rows=max_rows or None)
            console.print(
                f"snapshot of {info.datasets} datasets, {info.runs:,} runs written to {snapshot} "
                f"({info.size_bytes / 2**20:.1f} MiB)",
                markup=False,
            )
    if summary.failures:
        raise typer.Exit(1)
