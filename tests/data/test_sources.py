"""Every bundled dataset loads, and files, DataFrames and arrays load like specs do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tunegym.data import TabularDataset, list_datasets, load_dataset

KEEL_SPECS = [d.spec for d in list_datasets("keel")]


def _check_dataset(ds: TabularDataset) -> None:
    n = ds.info.n_rows
    parts = [(ds.X_train, ds.y_train), (ds.X_val, ds.y_val), (ds.X_test, ds.y_test)]
    for X, y in parts:
        assert X.dtype == torch.float32
        assert y.dtype == torch.int64
        assert X.shape == (len(y), ds.n_features)
        assert torch.isfinite(X).all()
    assert sum(len(y) for _, y in parts) == n
    assert ds.n_classes >= 2
    assert len(ds.info.class_names) == ds.n_classes
    assert len(ds.feature_names_out) == ds.n_features
    # stratified: every class is in the training part
    assert set(ds.y_train.tolist()) == set(range(ds.n_classes))


@pytest.mark.parametrize("name", ["breast_cancer", "digits", "iris", "wine"])
def test_sklearn_datasets_load(name: str) -> None:
    ds = load_dataset(f"sklearn:{name}")

    _check_dataset(ds)
    assert ds.info.source == "sklearn"
    assert ds.info.spec == f"sklearn:{name}"


def test_sklearn_class_order_is_sklearns() -> None:
    ds = load_dataset("sklearn:breast_cancer")

    assert ds.info.class_names == ("malignant", "benign")
    assert ds.info.openml_id == 1510


def test_every_keel_table_is_listed() -> None:
    assert len(KEEL_SPECS) == 143
    assert len(set(KEEL_SPECS)) == 143
    assert {
        "keel:pima",
        "keel:imbalanced/pima",
        "keel:wisconsin",
        "keel:imbalanced/wisconsin",
    } <= set(KEEL_SPECS)


@pytest.mark.parametrize("spec", [*KEEL_SPECS, "keel:balanced/pima", "keel:balanced/wisconsin"])
def test_keel_dataset_loads(spec: str) -> None:
    ds = load_dataset(spec)

    _check_dataset(ds)
    assert ds.info.source == "keel"
    assert ds.info.n_raw_features == len(ds.info.feature_names)
    assert ds.info.n_numeric + ds.info.n_categorical == ds.info.n_raw_features


def test_keel_duplicates_are_different_tables() -> None:
    balanced = load_dataset("keel:pima")
    imbalanced = load_dataset("keel:imbalanced/pima")

    assert balanced.info.extra["collection"] == "balanced"
    assert imbalanced.info.extra["collection"] == "imbalanced"
    assert balanced.info.class_names == ("tested_negative", "tested_positive")
    assert imbalanced.info.class_names == ("negative", "positive")
    assert load_dataset("keel:balanced/pima").info.spec == "keel:pima"
    assert balanced.info.openml_id == 37
    assert imbalanced.info.openml_id is None


def test_keel_raw_table_contents() -> None:
    ds = load_dataset("keel:german")

    assert ds.info.n_rows == 1000
    assert ds.info.feature_names == tuple(f"f{i}" for i in range(20))
    assert (ds.info.n_numeric, ds.info.n_categorical) == (7, 13)
    assert ds.info.openml_id == 31


def test_keel_missing_marker_is_missing() -> None:
    # cleveland-0_vs_4 writes missing values as "<null>" in two numeric columns
    ds = load_dataset("keel:cleveland-0_vs_4")

    assert ds.info.n_categorical == 0


@pytest.fixture
def table() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 120
    return pd.DataFrame(
        {
            "x": rng.normal(size=n),
            "colour": rng.choice(["red", "green", "blue"], size=n),
            "label": np.repeat(["a", "b", "c"], n // 3),
        }
    )


def _same_data(a: TabularDataset, b: TabularDataset) -> None:
    assert torch.equal(a.X_train, b.X_train)
    assert torch.equal(a.y_test, b.y_test)
    assert a.info.class_names == b.info.class_names


def test_csv_file(table: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    table.to_csv(path, index=False)

    ds = load_dataset(path, "label")

    assert ds.info.source == "file"
    assert ds.info.name == "table"
    assert ds.info.spec == str(path)
    assert ds.info.feature_names == ("x", "colour")
    assert (ds.info.n_numeric, ds.info.n_categorical) == (1, 1)
    _same_data(ds, load_dataset(str(path), target="label"))
    _same_data(ds, load_dataset(table, "label"))


def test_csv_question_marks_are_missing(table: pd.DataFrame, tmp_path: Path) -> None:
    table = table.astype({"x": object})
    table.loc[[3, 50], "x"] = "?"
    path = tmp_path / "with_missing.csv"
    table.to_csv(path, index=False)

    ds = load_dataset(path, "label")

    assert ds.info.n_numeric == 1
    assert torch.isfinite(ds.X_train).all()


def test_parquet_file(table: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"
    table.to_parquet(path)

    ds = load_dataset(path, "label")

    assert ds.info.source == "file"
    _same_data(ds, load_dataset(table, "label"))


def test_dataframe_with_label_series(table: pd.DataFrame) -> None:
    ds = load_dataset(table.drop(columns="label"), table["label"])

    assert ds.info.source == "dataframe"
    assert ds.info.spec is None
    _same_data(ds, load_dataset(table, "label"))


def test_arrays() -> None:
    rng = np.random.default_rng(1)
    X = rng.normal(size=(60, 3))
    y = np.repeat([0, 1], 30)

    ds = load_dataset(X, y)

    assert ds.info.source == "array"
    assert ds.info.feature_names == ("f0", "f1", "f2")
    assert ds.info.class_names == ("0", "1")
    _same_data(ds, load_dataset((X, y)))
    _same_data(ds, load_dataset(X, y.tolist()))


def test_float_labels_named_as_integers() -> None:
    X = np.arange(60, dtype=float).reshape(30, 2)
    y = np.repeat([-1.0, 1.0], 15)

    assert load_dataset(X, y).info.class_names == ("-1", "1")
