"""Bad input raises DatasetError (a ValueError) or TypeError naming the problem and the value."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tunegym.data import iter_folds, list_datasets, load_dataset
from tunegym.errors import DatasetError, DatasetNotFoundError


@pytest.fixture
def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {"x": np.arange(30, dtype=float), "z": np.ones(30), "label": np.repeat(["a", "b", "c"], 10)}
    )


def test_unknown_keel_name_suggests() -> None:
    with pytest.raises(DatasetNotFoundError, match=r"'keel:germna'.*Did you mean 'german'"):
        load_dataset("keel:germna")


def test_unknown_sklearn_name_suggests() -> None:
    with pytest.raises(DatasetNotFoundError, match=r"'sklearn:iriss'.*Did you mean 'iris'"):
        load_dataset("sklearn:iriss")


def test_unknown_source_suggests() -> None:
    with pytest.raises(DatasetError, match=r"Unknown dataset source 'kell'.*Did you mean 'keel'"):
        load_dataset("kell:german")


def test_bare_name_suggests_spec() -> None:
    with pytest.raises(DatasetNotFoundError, match=r"'german' is neither.*'keel:german'"):
        load_dataset("german")


def test_unknown_keel_collection() -> None:
    with pytest.raises(DatasetError, match=r"collection 'imbalance'.*Did you mean 'imbalanced'"):
        load_dataset("keel:imbalance/pima")


def test_name_in_other_collection_only() -> None:
    with pytest.raises(DatasetNotFoundError, match=r"'keel:balanced/yeast4'"):
        load_dataset("keel:balanced/yeast4")


def test_missing_target_column_lists_columns(frame: pd.DataFrame) -> None:
    with pytest.raises(
        DatasetError, match=r"'lable' not found.*'x', 'z', 'label'.*Did you mean 'label'"
    ):
        load_dataset(frame, "lable")


def test_missing_target_argument_lists_columns(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "t.csv"
    frame.to_csv(path, index=False)

    with pytest.raises(DatasetError, match=r"needs target=.*'x', 'z', 'label'"):
        load_dataset(path)


def test_target_not_allowed_for_bundled_specs() -> None:
    with pytest.raises(DatasetError, match=r"'keel:german' defines its own target.*'class'"):
        load_dataset("keel:german", "class")


def test_single_class(frame: pd.DataFrame) -> None:
    frame["label"] = "only"

    with pytest.raises(DatasetError, match=r"single class \('only', 30 rows\).*at least 2"):
        load_dataset(frame, "label")


def test_class_too_rare_to_split(frame: pd.DataFrame) -> None:
    frame.loc[[0, 1], "label"] = "tiny"

    with pytest.raises(
        DatasetError, match=r"Class 'tiny'.*only 2 row\(s\).*at least 3.*Drop or merge"
    ):
        load_dataset(frame, "label")


def test_class_too_rare_for_folds(frame: pd.DataFrame) -> None:
    frame["label"] = np.repeat(["a", "b", "few"], [12, 12, 6])

    with pytest.raises(
        DatasetError, match=r"Class 'few'.*only 6 row\(s\).*at least 10.*fewer folds"
    ):
        load_dataset(frame, "label", n_folds=10, fold=0)


def test_class_vanishing_in_subsample(frame: pd.DataFrame) -> None:
    frame = pd.concat([frame] * 10, ignore_index=True)
    frame.loc[range(5), "label"] = "rare"

    with pytest.raises(
        DatasetError, match=r"Class 'rare' of the dataframe with max_rows=30.*Raise max_rows"
    ):
        load_dataset(frame, "label", max_rows=30)


def test_nan_in_target(frame: pd.DataFrame) -> None:
    frame.loc[[4, 7], "label"] = np.nan

    with pytest.raises(DatasetError, match=r"target 'label'.*2 missing value\(s\).*first at row 4"):
        load_dataset(frame, "label")


def test_inf_in_target() -> None:
    X = np.zeros((30, 2))
    y = np.repeat([0.0, 1.0, 2.0], 10)
    y[12] = np.inf

    with pytest.raises(DatasetError, match=r"1 infinite value\(s\).*row 12"):
        load_dataset(X, y)


def test_empty_csv(tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")

    with pytest.raises(DatasetError, match=r"empty"):
        load_dataset(path, "label")


def test_empty_table(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "header_only.csv"
    frame.iloc[:0].to_csv(path, index=False)

    with pytest.raises(DatasetError, match=r"header_only.csv' is empty: it has no rows"):
        load_dataset(path, "label")


def test_no_feature_columns(frame: pd.DataFrame) -> None:
    with pytest.raises(DatasetError, match=r"no feature columns"):
        load_dataset(frame[["label"]], "label")


def test_garbage_in_numeric_column(frame: pd.DataFrame, tmp_path: Path) -> None:
    frame = pd.concat([frame] * 2, ignore_index=True).astype({"x": object})
    frame.loc[17, "x"] = "12,5"
    path = tmp_path / "garbage.csv"
    frame.to_csv(path, index=False)

    with pytest.raises(
        DatasetError, match=r"Column 'x' of .*garbage.csv.*1 of its values.*'12,5' \(row 17\)"
    ):
        load_dataset(path, "label")


@pytest.mark.parametrize("data", [{"x": [1, 2]}, [[1, 2], [3, 4]], 42, None])
def test_wrong_data_type(data: object) -> None:
    with pytest.raises(TypeError, match=rf"got {type(data).__name__}"):
        load_dataset(data, "x")  # type: ignore[arg-type]


def test_tuple_and_target_together() -> None:
    X, y = np.zeros((30, 2)), np.repeat([0, 1, 2], 10)

    with pytest.raises(TypeError, match=r"not both"):
        load_dataset((X, y), y)


def test_array_without_labels() -> None:
    with pytest.raises(DatasetError, match=r"needs its labels"):
        load_dataset(np.zeros((30, 2)))


def test_array_not_2d() -> None:
    with pytest.raises(DatasetError, match=r"2-D.*\(30,\)"):
        load_dataset(np.zeros(30), np.zeros(30))


def test_label_count_mismatch() -> None:
    with pytest.raises(DatasetError, match=r"29 labels but the features have 30 rows"):
        load_dataset(np.zeros((30, 2)), np.zeros(29))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(DatasetNotFoundError, match=r"No such file.*nothere.csv"):
        load_dataset(tmp_path / "nothere.csv", "label")


def test_unsupported_file_type(tmp_path: Path) -> None:
    path = tmp_path / "table.xlsx"
    path.write_bytes(b"")

    with pytest.raises(DatasetError, match=r"Unsupported file type '.xlsx'"):
        load_dataset(path, "label")


def test_duplicated_columns() -> None:
    frame = pd.DataFrame([[1, 2, 0]] * 30, columns=["a", "a", "label"])

    with pytest.raises(DatasetError, match=r"duplicated column names: \['a'\]"):
        load_dataset(frame, "label")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"val_size": 0.0}, r"val_size .* \(0, 1\); got 0.0"),
        ({"test_size": 1.5}, r"test_size .* \(0, 1\); got 1.5"),
        ({"val_size": 0.5, "test_size": 0.5}, r"val_size \+ test_size must be < 1"),
        ({"n_folds": 5}, r"n_folds and fold together"),
        ({"n_folds": 1, "fold": 0}, r"n_folds must be an int >= 2; got 1"),
        ({"n_folds": 5, "fold": 5}, r"fold must be an int in \[0, 4\]; got 5"),
        ({"seed": -1}, r"seed must be in \[0, 2\*\*32\); got -1"),
        ({"max_rows": 0}, r"max_rows must be a positive int"),
        ({"max_categories": 1}, r"max_categories must be an int >= 2"),
    ],
)
def test_bad_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_dataset("sklearn:iris", **kwargs)  # type: ignore[arg-type]


def test_seed_type() -> None:
    with pytest.raises(TypeError, match=r"seed must be an int; got float 1.5"):
        load_dataset("sklearn:iris", seed=1.5)  # type: ignore[arg-type]


def test_part_too_small_for_every_class() -> None:
    X = np.arange(60, dtype=float).reshape(30, 2)
    y = np.repeat(np.arange(10), 3)  # 10 classes, test part of 3 rows

    with pytest.raises(DatasetError, match=r"Cannot split the array \(30 rows, 10 classes\)"):
        load_dataset(X, y, test_size=0.1)


def test_list_unknown_source() -> None:
    with pytest.raises(DatasetError, match=r"Cannot list source 'kel'.*Did you mean 'keel'"):
        list_datasets("kel")
    with pytest.raises(DatasetError, match=r"not listed.*'openml:31'"):
        list_datasets("openml")


def test_iter_folds_checks_arguments_when_called() -> None:
    with pytest.raises(ValueError, match=r"n_folds must be an int >= 2; got 1"):
        iter_folds("sklearn:iris", n_folds=1)
