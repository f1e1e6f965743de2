"""Preprocessing is fitted on the training part only: impute, pool rare levels, one-hot, scale."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from tunegym.data import load_dataset
from tunegym.data._preprocess import fit_preprocessor, type_columns


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(42)
    n = 300
    x = rng.normal(loc=10.0, scale=3.0, size=n)
    x[rng.choice(n, size=30, replace=False)] = np.nan
    levels = rng.choice(["a", "b", "c"], size=n, p=[0.5, 0.3, 0.2]).astype(object)
    levels[:4] = ["rare1", "rare1", "rare2", "rare3"]  # seen fewer than 5 times
    levels[10] = np.nan
    return pd.DataFrame({"x": x, "level": levels, "label": np.tile(["p", "q", "r"], n // 3)})


def test_numeric_scaled_and_imputed_with_training_statistics(frame: pd.DataFrame) -> None:
    ds = load_dataset(frame, "label", seed=5)
    column = ds.feature_names_out.index("x")

    train = frame["x"].to_numpy()[ds.indices_train]
    median = np.nanmedian(train)
    imputed = np.where(np.isnan(train), median, train)
    mean, std = imputed.mean(), imputed.std()
    for rows, X in (
        (ds.indices_train, ds.X_train),
        (ds.indices_val, ds.X_val),
        (ds.indices_test, ds.X_test),
    ):
        raw = frame["x"].to_numpy()[rows]
        expected = (np.where(np.isnan(raw), median, raw) - mean) / std
        np.testing.assert_allclose(X[:, column].numpy(), expected, rtol=1e-5, atol=1e-5)

    assert abs(float(ds.X_train[:, column].mean())) < 1e-5
    assert abs(float(ds.X_train[:, column].std(unbiased=False)) - 1) < 1e-4
    assert abs(float(ds.X_val[:, column].mean())) > 1e-3  # val was not used to fit


def test_rare_levels_pooled_into_other(frame: pd.DataFrame) -> None:
    ds = load_dataset(frame, "label", seed=5)

    level_columns = [n for n in ds.feature_names_out if n.startswith("level_")]
    assert level_columns == ["level_a", "level_b", "level_c", "level_other"]
    X = torch.cat([ds.X_train, ds.X_val, ds.X_test])
    rows = np.concatenate([ds.indices_train, ds.indices_val, ds.indices_test])
    other = X[:, ds.feature_names_out.index("level_other")].numpy()
    assert set(rows[other == 1]) == {0, 1, 2, 3}
    # one-hot: exactly one level per row
    block = X[:, [ds.feature_names_out.index(c) for c in level_columns]]
    assert torch.equal(block.sum(dim=1), torch.ones(len(X)))


def test_max_categories_bounds_the_one_hot_width() -> None:
    n = 400
    frame = pd.DataFrame(
        {"city": [f"c{i % 40}" for i in range(n)], "label": np.tile([0, 1], n // 2)}
    )

    ds = load_dataset(frame, "label", max_categories=8, min_frequency=1)

    assert ds.n_features == 8
    assert ds.feature_names_out[-1] == "city_other"


def test_unknown_levels_go_to_other() -> None:
    train = pd.DataFrame({"level": ["a"] * 10 + ["b"] * 10 + ["rare"]})
    test = pd.DataFrame({"level": ["a", "never-seen"]})
    typed = type_columns(train, "train")

    transformer, names = fit_preprocessor(train, typed, min_frequency=2, max_categories=None)

    assert names == ("level_a", "level_b", "level_other")
    np.testing.assert_array_equal(transformer.transform(test), [[1, 0, 0], [0, 0, 1]])


def test_column_typing() -> None:
    features = pd.DataFrame(
        {
            "numbers_as_text": ["1.5", " 2", "3e2", None] * 5,
            "labels": ["x", "y", "1", "2"] * 5,
            "int_category": pd.Categorical([1, 2, 3, 1] * 5),
            "flag": [True, False] * 10,
            "with_inf": [1.0, np.inf, -np.inf, 2.0] * 5,
        }
    )

    typed = type_columns(features, "test table")

    assert typed.numeric == ("numbers_as_text", "with_inf")
    assert typed.categorical == ("labels", "int_category", "flag")
    assert typed.frame["numbers_as_text"].tolist()[:3] == [1.5, 2.0, 300.0]
    assert typed.frame["with_inf"].isna().sum() == 10  # inf counts as missing
    assert typed.frame["int_category"].iloc[0] == "1"


def test_infinite_features_are_imputed() -> None:
    X = np.tile(np.array([[1.0, 2.0], [np.inf, 1.0], [3.0, -np.inf]]), (20, 1))
    y = np.repeat([0, 1], 30)

    ds = load_dataset(X, y)

    assert torch.isfinite(ds.X_train).all()
    assert torch.isfinite(ds.X_test).all()
