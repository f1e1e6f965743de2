"""``tunegym zoo``: the model zoo of the meta-store (trained networks to fine-tune from)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tunegym._metastore_cli import StoreOption, _fail, _open

if TYPE_CHECKING:
    from tunegym.metastore import ZooEntry

app = typer.Typer(
    help=(
        "The model zoo: trained networks, weights included, kept in the meta-store to "
        "fine-tune from. A zoo file is a pair <stem>.pt (a torch state dict) + <stem>.json "
        "(its dataset, feature schema, spec, config and scores)."
    ),
    no_args_is_help=True,
)

console = Console()

NameArgument = Annotated[str, typer.Argument(help="The zoo model's name or id.")]


def _short(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _config(entry: ZooEntry, width: int = 40) -> str:
    text = " ".join(f"{k}={_short(v)}" for k, v in entry.config.items())
    return text if len(text) <= width else text[: width - 1] + "…"


def _val_score(entry: ZooEntry) -> str:
    """``val_accuracy``, else the first ``val_*`` score, as ``name value``."""
    names = sorted(entry.scores, key=lambda k: (k != "val_accuracy", not k.startswith("val")))
    if not names or not names[0].startswith("val"):
        return ""
    return f"{entry.scores[names[0]]:.4f}" + ("" if names[0] == "val_accuracy" else f" {names[0]}")


@app.command("list")
def list_cmd(
    schema: Annotated[str | None, typer.Option(help="Only models of this feature schema.")] = None,
    dataset: Annotated[
        str | None, typer.Option(help="Only models trained on this dataset (spec or name).")
    ] = None,
    store: StoreOption = None,
) -> None:
    """List the zoo's models, newest first."""
    with _open(store) as ms:
        try:
            entries = ms.zoo_models(schema=schema, dataset=dataset)
        except (ValueError, TypeError) as exc:
            raise _fail(exc) from exc
    if not entries:
        console.print("no zoo models; add one with 'tunegym zoo add' or MetaStore.zoo_add")
        return
    # No vertical rules: at 80 columns the name and config need the room.
    table = Table(
        title=f"{len(entries)} zoo model(s)",
        box=box.SIMPLE_HEAD,
        padding=(0, 1),
        collapse_padding=True,
        pad_edge=False,
    )
    table.add_column("name", no_wrap=True)
    table.add_column("dataset", overflow="fold")
    for column in ("classes", "inputs"):
        table.add_column(column, justify="right")
    table.add_column("config", overflow="fold", ratio=1)
    for column in ("val score", "epochs"):
        table.add_column(column, justify="right")
    table.add_column("created", no_wrap=True)
    for e in entries:
        table.add_row(
            escape(e.name), escape(e.dataset), str(len(e.class_names)),
            str(len(e.feature_names_out)), escape(_config(e)), _val_score(e), str(e.epochs),
            f"{e.created:%Y-%m-%d}",
        )  # fmt: skip
    console.print(table)


def _fields(entry: ZooEntry) -> list[tuple[str, str]]:
    def text(value: Any) -> str:
        if isinstance(value, dict | tuple | list):
            return json.dumps(list(value) if isinstance(value, tuple) else value)
        return "" if value is None else str(value)

    return [(name, text(getattr(entry, name))) for name in entry.__dataclass_fields__]


@app.command()
def show(name: NameArgument, store: StoreOption = None) -> None:
    """Every field of a zoo model, and the shapes of its weights."""
    with _open(store) as ms:
        try:
            entry = ms.zoo_get(name)
            table = Table(title=f"zoo model {escape(entry.name)}", show_header=False)
            table.add_column(style="bold", no_wrap=True)
            table.add_column(overflow="fold")
            for key, value in _fields(entry):
                table.add_row(key, escape(value))
            console.print(table)
            weights = ms.zoo_weights(entry)
        except (ValueError, TypeError) as exc:
            raise _fail(exc) from exc
    layers = Table(title="weights")
    for column in ("tensor", "shape", "dtype", "numbers"):
        layers.add_column(column, justify="left" if column == "tensor" else "right")
    for key, tensor in weights.items():
        shape = "x".join(map(str, tensor.shape)) or "scalar"
        layers.add_row(key, shape, str(tensor.dtype).removeprefix("torch."), f"{tensor.numel():,}")
    console.print(layers)


@app.command()
def add(
    file: Annotated[
        Path, typer.Argument(help="A zoo file: <stem>.pt, <stem>.json or the stem itself.")
    ],
    dataset: Annotated[
        str | None,
        typer.Option(help="The dataset it trained on (spec or name; default: the file's)."),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Its name (default: the file's).")] = None,
    note: Annotated[str | None, typer.Option(help="A note (default: the file's).")] = None,
    store: StoreOption = None,
) -> None:
    """Add a model saved as a zoo file ('tunegym zoo export' writes one)."""
    from tunegym.metastore import read_zoo_file

    try:
        zoo_file = read_zoo_file(file)
    except (ValueError, OSError) as exc:
        raise _fail(exc) from exc
    meta = zoo_file.metadata()
    for key, value in (("dataset", dataset), ("name", name), ("note", note)):
        if value is not None:
            meta[key] = value
    with _open(store) as ms:
        try:
            before = {e.id for e in ms.zoo_models()}
            entry = ms.zoo_add(zoo_file.weights, **meta)
        except (ValueError, TypeError) as exc:
            raise _fail(exc) from exc
    if entry.id in before:
        console.print(
            f"already in the zoo: {entry.name} (id {entry.id}), the same weights", markup=False
        )
        return
    console.print(
        f"added {entry.name} (id {entry.id}): {entry.n_parameters:,} numbers, "
        f"trained on {entry.dataset}",
        markup=False,
    )


@app.command()
def export(
    name: NameArgument,
    out: Annotated[
        Path,
        typer.Argument(help="Where: a stem (writes <stem>.pt, <stem>.json) or a folder."),
    ],
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    store: StoreOption = None,
) -> None:
    """Write a zoo model as a zoo file, which 'tunegym zoo add' reads back."""
    from tunegym.metastore import save_zoo_file
    from tunegym.metastore._zoo_file import zoo_file_paths

    with _open(store) as ms:
        try:
            entry = ms.zoo_get(name)
            weights = ms.zoo_weights(entry)
        except (ValueError, TypeError) as exc:
            raise _fail(exc) from exc
    stem = out / entry.name if out.is_dir() else out
    existing = [p for p in zoo_file_paths(stem) if p.exists()]
    if existing and not force:
        raise _fail(FileExistsError(f"{existing[0]} exists; pass --force to overwrite it."))
    try:
        pt, js = save_zoo_file(stem, weights, entry)
    except (ValueError, TypeError, OSError) as exc:
        raise _fail(exc) from exc
    console.print(f"wrote {pt} and {js}", markup=False, soft_wrap=True)


@app.command()
def remove(name: NameArgument, store: StoreOption = None) -> None:
    """Delete a zoo model and its weights from the store."""
    with _open(store) as ms:
        try:
            entry = ms.zoo_remove(name)
        except (ValueError, TypeError) as exc:
            raise _fail(exc) from exc
    console.print(f"removed {entry.name} (id {entry.id})", markup=False)
