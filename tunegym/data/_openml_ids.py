"""The table of OpenML ids of the bundled datasets (``openml_ids.csv`` beside this module)."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from importlib.resources import files

__all__ = ["OpenMLIdRow", "openml_id_for", "openml_id_rows", "openml_id_table_markdown"]


@dataclass(frozen=True)
class OpenMLIdRow:
    """One row of the mapping: a tunegym spec, its OpenML ``did`` and OpenML's name for it."""

    spec: str
    openml_id: int
    openml_name: str
    note: str


@cache
def openml_id_rows() -> tuple[OpenMLIdRow, ...]:
    """Rows of ``openml_ids.csv``, in file order."""
    text = files("tunegym.data").joinpath("openml_ids.csv").read_text(encoding="utf-8")
    return tuple(
        OpenMLIdRow(row["spec"], int(row["openml_id"]), row["openml_name"], row["note"])
        for row in csv.DictReader(text.splitlines())
    )


def openml_id_for(spec: str) -> int | None:
    """The OpenML id of a bundled dataset's canonical spec, or ``None`` if it has none."""
    return {row.spec: row.openml_id for row in openml_id_rows()}.get(spec)


def openml_id_table_markdown() -> str:
    """The mapping as the Markdown table shown in ``docs/DATASETS.md``."""
    lines = ["| spec | OpenML id | OpenML name | note |", "| --- | ---: | --- | --- |"]
    lines += [
        f"| `{r.spec}` | [{r.openml_id}](https://www.openml.org/d/{r.openml_id}) "
        f"| {r.openml_name} | {r.note} |"
        for r in openml_id_rows()
    ]
    return "\n".join(lines)
