"""The ``tunegym`` command.

Heavy imports (torch, scikit-learn) happen inside the commands so that ``tunegym --help``
answers at once.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any, Final

import typer
import typer.core
from rich import box
from rich.console import Console
from rich.table import Table

import tunegym
from tunegym._bench_cli import bench_command
from tunegym._cli_errors import fail
from tunegym._collect_cli import collect_command
from tunegym._metastore_cli import app as metastore_app
from tunegym._serve_cli import serve_command
from tunegym._train_agent_cli import train_agent_command
from tunegym._train_cli import as_data, train_command
from tunegym._tune_cli import tune_command
from tunegym._zoo_cli import app as zoo_app

# What an option's value is, by its name where that says more than its type.
_NAMED_METAVARS: Final = {"store": "STORE", "dataset": "SPEC", "data": "FILE", "target": "COLUMN"}
_TYPE_METAVARS: Final = {int: "INTEGER", float: "FLOAT", str: "TEXT", Path: "PATH", bool: "BOOLEAN"}


class _BareArgument(typer.core.TyperArgument):
    """An argument shown as its metavar alone (``SPEC``), as click shows it, without the
    ``<str>`` typer adds after it."""

    def display_type_rich(self, ctx: Any) -> str | None:  # ctx: the click typer bundles
        return None

    def _usage_display_name(self) -> str:
        # click's usage: DIRECTORY, [SPEC] (typer's own writes a required one {DIRECTORY}).
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")


def _metavar(param: typer.core.TyperOption) -> str:
    """An option's conventional metavar: a name that says what to give (``STORE``), the
    choices (``[lr-bs|lcbench]``), else the type in click's words (``INTEGER``, ``PATH``)."""
    described = param.type_descriptor
    if param.name in _NAMED_METAVARS:
        return _NAMED_METAVARS[param.name]
    if described.is_choice and described.choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in described.choices) + "]"
    annotation: Any = described.annotation
    if described.is_list:
        annotation = getattr(annotation, "__args__", (str,))[0]
    return _TYPE_METAVARS.get(annotation, "TEXT")


def conventional_metavars(command: object) -> None:
    """Give every parameter under ``command`` the metavar its ``--help`` shows, the way click's
    own commands do: ``--store STORE``, ``--epochs INTEGER``, ``SPEC`` (not typer's ``<str>``,
    ``<list[str]>``); a metavar a command sets itself is kept."""
    for param in getattr(command, "params", []):
        if isinstance(param, typer.core.TyperArgument):
            param.metavar = param.metavar or (param.name or "").upper()
            param.__class__ = _BareArgument  # typer has no setting for it
        elif isinstance(param, typer.core.TyperOption) and not (param.is_flag or param.count):
            param.metavar = param.metavar or _metavar(param)
    for sub in getattr(command, "commands", {}).values():
        conventional_metavars(sub)


class _Group(typer.core.TyperGroup):
    """The ``tunegym`` group: its commands' ``--help`` show conventional metavars."""

    def __init__(self, **attrs: Any) -> None:
        super().__init__(**attrs)
        conventional_metavars(self)


app = typer.Typer(
    cls=_Group,
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
app.command("train")(train_command)
app.command("tune")(tune_command)
app.command("train-agent")(train_agent_command)
app.command("serve")(serve_command)

console = Console()
err_console = Console(stderr=True)


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
    return fail(err_console, message)


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
    # The spec is what a user copies: never cut. Below 90 columns the KEEL collection (which
    # `datasets show` gives) makes way for it.
    columns = ["spec", "rows", "features", "classes", "OpenML id"]
    if console.width >= 90:
        columns.insert(1, "collection")
    table = Table(
        title=f"{len(rows)} datasets (load any of them with tunegym.load_dataset(spec))",
        box=box.SIMPLE_HEAD,
    )
    for col in columns:
        table.add_column(col, justify="left" if col in ("spec", "collection") else "right",
                         no_wrap=col == "spec")  # fmt: skip
    for r in rows:
        cells = {
            "spec": r.spec,
            "collection": r.collection or "",
            "rows": f"{r.n_rows:,}",
            "features": str(r.n_features),
            "classes": str(r.n_classes),
            "OpenML id": "" if r.openml_id is None else str(r.openml_id),
        }
        table.add_row(*(cells[c] for c in columns))
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
        d = describe_dataset(as_data(spec), target=target, seed=seed)
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


def main() -> None:
    """Entry point of the ``tunegym`` console script: errors tunegym explains (a store that
    cannot be written, a missing extra, bad data) end in one line, not a traceback."""
    from tunegym._cli_errors import run_cli

    run_cli(app)


if __name__ == "__main__":
    main()
