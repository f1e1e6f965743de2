"""The ``tunegym`` command.

Heavy imports (torch, scikit-learn) happen inside the commands so that ``tunegym --help``
answers at once.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

import tunegym
from tunegym._bench_cli import bench_command
from tunegym._collect_cli import collect_command
from tunegym._metastore_cli import app as metastore_app
from tunegym._serve_cli import serve_command
from tunegym._tune_cli import train_agent_command, tune_command
from tunegym._zoo_cli import app as zoo_app

if TYPE_CHECKING:
    from tunegym.data import TabularDataset
    from tunegym.training import EpochRecord

app = typer.Typer(
    # click's plain help (not rich's boxed panels): it re-wraps paragraphs to the terminal and
    # leaves option descriptions half the width at 80 columns, where the panels left a third.
    rich_markup_mode=None,
    name="tunegym",
    help=(
        "tunegym: tune the training of neural networks (learning rate, batch size, epochs).\n\n"
        "Datasets are named by a spec: sklearn:<name>, keel:<name>, openml:<did>, "
        "or a CSV/Parquet file with --target."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
datasets_app = typer.Typer(
    help="List and inspect the datasets tunegym can load.", no_args_is_help=True
)
app.add_typer(datasets_app, name="datasets")
app.add_typer(metastore_app, name="metastore")
app.add_typer(zoo_app, name="zoo")
app.command("bench")(bench_command)
app.command("collect")(collect_command)
app.command("tune")(tune_command)
app.command("train-agent")(train_agent_command)
app.command("serve")(serve_command)

console = Console()
err_console = Console(stderr=True)

DEFAULT_DATASET = "sklearn:breast_cancer"


def _version_callback(value: bool) -> None:
    if value:
        console.print(f"tunegym {tunegym.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version_callback,
            is_eager=True,
            help="Show the version and exit.",
        ),
    ] = False,
) -> None:
    """tunegym command line."""


def _fail(message: str) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def _as_data(spec: str) -> str | Path:
    """A command-line dataset argument: a file path where it names one, else a spec."""
    return Path(spec) if Path(spec).suffix.lower() in {".csv", ".tsv", ".parquet", ".pq"} else spec


def _load(spec: str, target: str | None, seed: int) -> TabularDataset:
    from tunegym.data import load_dataset

    try:
        return load_dataset(_as_data(spec), target=target, seed=seed)
    except (ValueError, TypeError, ImportError) as exc:
        raise _fail(str(exc)) from exc


# --------------------------------------------------------------------------- datasets


@datasets_app.command("list")
def datasets_list(
    source: Annotated[str | None, typer.Option(help="Only this source: sklearn or keel.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every bundled dataset with its rows, features, classes and OpenML id."""
    from tunegym.data import list_datasets

    try:
        rows = list_datasets(source)
    except ValueError as exc:
        raise _fail(str(exc)) from exc
    if as_json:
        print(json.dumps([asdict(r) for r in rows], indent=2))
        return
    table = Table(title=f"{len(rows)} datasets (load any of them with tunegym.load_dataset(spec))")
    for col, justify in [
        ("spec", "left"),
        ("collection", "left"),
        ("rows", "right"),
        ("features", "right"),
        ("classes", "right"),
        ("OpenML id", "right"),
    ]:
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for r in rows:
        table.add_row(
            r.spec,
            r.collection or "",
            f"{r.n_rows:,}",
            str(r.n_features),
            str(r.n_classes),
            "" if r.openml_id is None else str(r.openml_id),
        )
    console.print(table)
    console.print("openml:<did> loads any OpenML dataset (extra 'openml'; cached for offline use).")


@datasets_app.command("show")
def datasets_show(
    spec: Annotated[str, typer.Argument(help="Dataset spec, e.g. keel:german or a CSV path.")],
    target: Annotated[str | None, typer.Option(help="Target column (files only).")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the train/val/test split.")] = 0,
) -> None:
    """Show one dataset: provenance, raw columns, class balance and the split tunegym makes."""
    from tunegym.data import describe_dataset

    try:
        d = describe_dataset(_as_data(spec), target=target, seed=seed)
    except (ValueError, TypeError, ImportError) as exc:
        raise _fail(str(exc)) from exc
    table = Table(show_header=False, title=d.spec or d.name)
    table.add_column(style="bold")
    table.add_column()
    fields: list[tuple[str, str]] = [
        ("source", d.source + (f" ({d.collection})" if d.collection else "")),
        ("OpenML id", "—" if d.openml_id is None else str(d.openml_id)),
        ("rows", f"{d.n_rows:,}"),
        (
            "raw features",
            f"{d.n_raw_features} ({d.n_numeric} numeric, {d.n_categorical} categorical)",
        ),
        ("missing values", f"{d.n_missing:,}"),
        ("features after preprocessing", str(d.n_features)),
        ("classes", ", ".join(f"{label}: {count}" for label, count in d.classes)),
        (f"split (seed {seed})", f"train {d.n_train}, val {d.n_val}, test {d.n_test}"),
    ]
    for key, value in fields:
        table.add_row(key, value)
    console.print(table)


# --------------------------------------------------------------------------- train


def _records_table(records: list[EpochRecord], title: str) -> Table:
    table = Table(title=title)
    for col in [
        "epoch",
        "train loss",
        "val loss",
        "val acc",
        "val bal. acc",
        "test acc",
        "seconds",
    ]:
        table.add_column(col, justify="right")
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


@app.command()
def train(
    spec: Annotated[
        str,
        typer.Argument(
            help="Dataset spec (sklearn:iris, keel:magic, openml:31) or a CSV/Parquet path."
        ),
    ] = DEFAULT_DATASET,
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
        Path | None, typer.Option(help="Write the per-epoch records as JSON here.")
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Also log the run to this meta-store (URL or SQLite file).")
    ] = None,
) -> None:
    """Train one configuration of the MLP and show its per-epoch metrics."""
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from tunegym.training import MLPSpec, TrainConfig, Trial

    try:
        config = TrainConfig(
            lr=lr, batch_size=batch_size, max_epochs=epochs, seed=seed, weight_decay=weight_decay
        )
        mlp = MLPSpec(depth=depth, width=width, dropout=dropout)
    except (ValueError, TypeError) as exc:
        raise _fail(str(exc)) from exc
    ds = _load(spec, target, seed)
    console.print(
        f"[bold]{ds.name}[/]: {len(ds.y_train)} train / {len(ds.y_val)} val / {len(ds.y_test)} test rows, "
        f"{ds.n_features} features, {ds.n_classes} classes"
    )
    try:
        trial = Trial(ds, config, mlp, device=device, eval_test=True)
    except (ValueError, TypeError) as exc:
        raise _fail(str(exc)) from exc

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
        task = progress.add_task(f"lr={lr:g} bs={batch_size}", total=epochs, metrics="")

        def on_epoch(r: EpochRecord) -> None:
            progress.update(
                task,
                advance=1,
                metrics=f"val acc {r.val_accuracy:.3f} loss {r.val_loss:.3f}",
            )

        records = trial.train(epochs, on_epoch=on_epoch)

    console.print(_records_table(records, f"{ds.name} — lr={lr:g}, batch size={batch_size}"))
    best = max(records, key=lambda r: r.val_accuracy)
    if trial.diverged:
        console.print(
            f"[red]diverged at epoch {records[-1].epoch}[/] (recorded with the worst scores)."
        )
    console.print(
        f"best epoch {best.epoch}: val accuracy {best.val_accuracy:.4f}, "
        f"test accuracy {best.test_accuracy:.4f}; last epoch test accuracy "
        f"{records[-1].test_accuracy:.4f}; {sum(r.seconds for r in records):.2f} s"
    )
    if store is not None:
        from tunegym.metastore import MetaStore

        with MetaStore(store) as meta:
            run_id = meta.log_trial(ds, config, mlp, records, device=device)
        console.print(f"logged as run {run_id} in {store}")
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "dataset": ds.name,
            "config": asdict(config),
            "mlp": asdict(mlp),
            "diverged": trial.diverged,
            "history": [asdict(r) for r in records],
        }
        report.write_text(json.dumps(payload, indent=2))
        console.print(f"report written to {report}")
    if plot is not None:
        from tunegym.plots import plot_learning_curves

        plot_learning_curves(records, plot, title=f"{ds.name} — lr={lr:g}, batch size={batch_size}")
        console.print(f"plot written to {plot}")


def main() -> None:
    """Entry point of the ``tunegym`` console script."""
    app()


if __name__ == "__main__":
    main()
