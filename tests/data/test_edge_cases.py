"""Tables that used to load wrongly or fail with a raw library message (issue 18, "Data").

A copy of the target among the features, numbers with stray text, files in another encoding
than UTF-8, and files that are not what their suffix says.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tunegym.data import describe_dataset, load_dataset
from tunegym.errors import DatasetError

N = 60


@pytest.fixture
def frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame(
        {"x": np.round(rng.normal(size=N), 3), "label": np.repeat(["cat", "dog"], N // 2)}
    )


def write_lines(path: Path, lines: list[str], encoding: str = "utf-8") -> Path:
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


# A copy of the target among the features ----------------------------------------------------


def test_a_target_named_twice_in_a_csv_header_is_refused(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    rows = [f"{x},{y},{y}" for x, y in zip(frame["x"], frame["label"], strict=True)]
    path = write_lines(tmp_path / "twice.csv", ["x,label,label", *rows])

    with pytest.raises(
        DatasetError,
        match=r"Column 'label.1' of '.*twice.csv' is a copy of the target 'label' \(the same "
        r"value on every row\).*drop that column before loading \(a CSV header naming 'label' "
        r"twice is read as 'label' and 'label.1'\)",
    ):
        load_dataset(path, "label")


def test_a_renamed_copy_of_the_target_is_refused(frame: pd.DataFrame) -> None:
    frame["outcome"] = frame["label"]

    with pytest.raises(DatasetError, match=r"Column 'outcome' of the DataFrame is a copy of"):
        load_dataset(frame, "label")


def test_the_target_in_another_encoding_is_refused(frame: pd.DataFrame) -> None:
    frame["label_id"] = frame["label"].map({"cat": 7, "dog": 3})

    with pytest.raises(
        DatasetError,
        match=r"Column 'label_id' .* copy of the target 'label' \(each class has one value of "
        r"it, e.g. 7 for 'cat'\)",
    ):
        load_dataset(frame, "label")


def test_a_feature_that_only_predicts_the_target_is_kept(frame: pd.DataFrame) -> None:
    # Two values per class: informative, not a relabelling; one value for both: constant.
    frame["size"] = np.tile(["s", "m", "l", "xl"], N // 4)
    frame["size"] = np.where(frame["label"] == "cat", frame["size"].str[0], frame["size"] + "!")
    frame["constant"] = 1.0

    ds = load_dataset(frame, "label", min_frequency=1)

    assert set(ds.info.feature_names) == {"x", "size", "constant"}


@pytest.mark.parametrize(("differs_at", "refused"), [(None, True), (1500, False)])
def test_a_copy_is_judged_on_every_row(differs_at: int | None, refused: bool) -> None:
    labels = np.tile(["cat", "dog", "eel"], 600)
    copy = labels.copy()
    if differs_at is not None:
        copy[differs_at] = "dog" if labels[differs_at] != "dog" else "cat"
    frame = pd.DataFrame({"x": np.arange(len(labels)) % 7, "copy": copy, "label": labels})

    if refused:
        with pytest.raises(DatasetError, match=r"Column 'copy' .* copy of the target 'label'"):
            load_dataset(frame, "label")
    else:
        assert load_dataset(frame, "label").info.feature_names == ("x", "copy")


def test_labels_given_apart_from_the_features_are_not_compared() -> None:
    # With (X, y) the caller separated features and labels; scikit-learn's estimator checks fit
    # such X, so a column equal to y is the caller's to keep.
    y = np.repeat([0, 1], N // 2)
    X = np.column_stack([np.arange(N, dtype=float), y])

    assert load_dataset(X, y).info.n_raw_features == 2


# Numbers with stray text -----------------------------------------------------------------------


def test_numbers_with_a_third_of_text_are_refused_with_examples(
    frame: pd.DataFrame, tmp_path: Path
) -> None:
    x = frame["x"].astype(object)
    x[::3] = np.tile(["abc", "n.a.", "--", "unknown"], N // 12 + 1)[: len(x[::3])]
    path = tmp_path / "stray.csv"
    frame.assign(x=x).to_csv(path, index=False)

    with pytest.raises(
        DatasetError,
        match=r"Column 'x' of '.*stray.csv' holds numbers but 20 of its values are not numbers, "
        r"e.g. 'abc' \(row 0\), 'n.a.' \(row 3\), '--' \(row 6\) and 1 other distinct values\. "
        r"Fix or blank those values .* dtype 'category'",
    ):
        load_dataset(path, "label")


def test_missing_value_markers_in_a_dataframe_are_missing_numbers(frame: pd.DataFrame) -> None:
    x = frame["x"].astype(str).astype(object)
    x[::3] = np.tile(["?", "n/a", " NA "], N // 9 + 1)[: len(x[::3])]

    description = describe_dataset(frame.assign(x=x), "label")

    assert (description.n_numeric, description.n_categorical) == (1, 0)
    assert description.n_missing == N // 3  # imputed with the training median


def test_labels_that_look_like_numbers_stay_categorical(frame: pd.DataFrame) -> None:
    # KEEL's car tables: doors are "2", "3", "4" or "5more".
    frame["doors"] = np.tile(["2", "3", "4", "5more"], N // 4)

    ds = load_dataset(frame, "label")

    assert ds.info.categorical_features == ("doors",)
    assert ds.info.numeric_features == ("x",)


# Text encodings -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "labels", "read_as"),
    [
        ("latin-1", ("café", "thé"), "cp1252"),
        ("cp1252", ("5 €", "10 €"), "cp1252"),
        ("latin-1", ("a\x81", "b\x81"), "latin-1"),  # undefined in cp1252
    ],
)
def test_a_csv_file_that_is_not_utf8_is_read_with_a_warning(
    tmp_path: Path, encoding: str, labels: tuple[str, str], read_as: str
) -> None:
    lines = ["x,label", *(f"{i},{labels[i % 2]}" for i in range(N))]
    path = write_lines(tmp_path / "western.csv", lines, encoding)

    with pytest.warns(UserWarning, match=rf"'.*western.csv' is not UTF-8 text; .* as {read_as}"):
        ds = load_dataset(path, "label")

    assert ds.info.class_names == tuple(sorted(labels))
    assert ds.info.extra["encoding"] == read_as


def test_a_utf16_csv_file_is_read(tmp_path: Path) -> None:
    lines = ["x,label", *(f"{i},{('ja', 'nein')[i % 2]}" for i in range(N))]
    path = write_lines(tmp_path / "excel_unicode.csv", lines, "utf-16")

    ds = load_dataset(path, "label")

    assert ds.info.class_names == ("ja", "nein")


def test_a_binary_file_named_csv_is_refused(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    frame.to_parquet(path)

    with pytest.raises(
        DatasetError, match=r"'.*table.csv' is not a CSV text file: it holds NUL bytes"
    ):
        load_dataset(path, "label")


def test_a_ragged_csv_file_names_the_file_and_the_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "ragged.csv", ["x,label", "1,a", "2,b,extra", "3,a"])

    with pytest.raises(
        DatasetError,
        match=r"Cannot read '.*ragged.csv' as CSV: .*Expected 2 fields in line 3, saw 3",
    ):
        load_dataset(path, "label")


# Files that are not Parquet -------------------------------------------------------------------


def test_csv_text_named_parquet_is_refused(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "table.parquet"
    frame.to_csv(path, index=False)

    with pytest.raises(
        DatasetError,
        match=r"'.*table.parquet' is not a Parquet file \(it lacks Parquet's 'PAR1' marker; it "
        r"looks like text, e.g. CSV\)",
    ):
        load_dataset(path, "label")


@pytest.mark.parametrize(
    ("content", "detail"),
    [(bytes(range(256)) * 4, r"marker\)"), (b"", r"marker; it is empty\)")],
)
def test_garbage_named_parquet_is_refused(tmp_path: Path, content: bytes, detail: str) -> None:
    path = tmp_path / "garbage.pq"
    path.write_bytes(content)

    with pytest.raises(DatasetError, match=rf"'.*garbage.pq' is not a Parquet file .*{detail}"):
        load_dataset(path, "label")


def test_a_damaged_parquet_file_is_refused(frame: pd.DataFrame, tmp_path: Path) -> None:
    path = tmp_path / "damaged.parquet"
    frame.to_parquet(path)
    data = path.read_bytes()
    path.write_bytes(data[:4] + b"\x00" * (len(data) - 8) + data[-4:])

    with pytest.raises(DatasetError, match=r"Cannot read '.*damaged.parquet' as Parquet \("):
        load_dataset(path, "label")
