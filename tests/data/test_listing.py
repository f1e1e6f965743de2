"""list_datasets, describe_dataset and the OpenML id table (file and docs agree)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegym.data import describe_dataset, list_datasets, load_dataset
from tunegym.data._keel import KEEL_COLLECTIONS, keel_names
from tunegym.data._openml_ids import openml_id_rows, openml_id_table_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs" / "DATASETS.md"


def test_lists_sklearn_and_every_keel_file() -> None:
    summaries = list_datasets()

    assert len(summaries) == 4 + 143
    assert len({s.spec for s in summaries}) == len(summaries)
    keel = {(s.collection, s.name) for s in summaries if s.source == "keel"}
    assert keel == {(c, n) for c in KEEL_COLLECTIONS for n in keel_names(c)}
    assert len(keel_names("balanced")) == 43
    assert len(keel_names("imbalanced")) == 100


def test_source_filter() -> None:
    assert [s.source for s in list_datasets("sklearn")] == ["sklearn"] * 4
    assert {s.source for s in list_datasets("keel")} == {"keel"}


@pytest.mark.parametrize(
    "spec",
    ["sklearn:digits", "keel:german", "keel:imbalanced/wisconsin", "keel:splice", "keel:zoo-3"],
)
def test_summary_matches_loaded_dataset(spec: str) -> None:
    summary = next(s for s in list_datasets() if s.spec == spec)
    info = load_dataset(spec).info

    assert (summary.n_rows, summary.n_features, summary.n_classes) == (
        info.n_rows,
        info.n_raw_features,
        info.n_classes,
    )
    assert summary.openml_id == info.openml_id
    assert summary.collection == info.extra.get("collection")


def test_openml_id_table_names_real_datasets() -> None:
    specs = {s.spec: s for s in list_datasets()}
    rows = openml_id_rows()

    assert len({r.spec for r in rows}) == len(rows)
    for row in rows:
        assert row.spec in specs, row.spec
        assert specs[row.spec].openml_id == row.openml_id
        assert specs[row.spec].collection in (None, "balanced")  # imbalanced sets are derived
    assert specs["keel:german"].openml_id == 31
    assert specs["keel:magic"].openml_id == 1120


def test_docs_show_the_openml_id_table() -> None:
    assert openml_id_table_markdown() in DOCS.read_text(encoding="utf-8")


def test_describe_dataset() -> None:
    description = describe_dataset("keel:crx", seed=1)

    assert description.spec == "keel:crx"
    assert description.source == "keel"
    assert description.collection == "balanced"
    assert description.name == "crx"
    assert description.n_rows == 653
    assert (description.n_raw_features, description.n_numeric, description.n_categorical) == (
        15,
        6,
        9,
    )
    assert sum(n for _, n in description.classes) == 653
    assert [name for name, _ in description.classes] == ["negative", "positive"]
    assert description.openml_id == 29
    assert description.n_missing == 0
    assert description.n_train + description.n_val + description.n_test == 653
    assert description.n_features == load_dataset("keel:crx", seed=1).n_features


def test_describe_counts_missing_values() -> None:
    description = describe_dataset("keel:cleveland-0_vs_4")

    assert description.n_missing == 4  # the "<null>" cells of the raw table
