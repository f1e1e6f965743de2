"""``split="rows"``: each row's part is a seeded hash of its feature values, the same in every
dataset of a family, so fine-tuning on a sibling never trains on the target's test rows."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tunegym.data import (
    TabularDataset,
    cv_folds,
    iter_folds,
    list_datasets,
    load_dataset,
    read_table,
    schema_fingerprint,
)
from tunegym.data._rows import row_draws, row_keys
from tunegym.errors import DatasetError
from tunegym.metastore import dataset_family

Row = tuple[float, ...]


def family(name: str) -> list[str]:
    return [d.spec for d in list_datasets("keel") if dataset_family(d.spec) == name]


def raw_rows(spec: str) -> np.ndarray:
    return read_table(spec).features.to_numpy(dtype=np.float64)


def as_set(X: np.ndarray, rows: np.ndarray) -> set[Row]:
    return {tuple(r) for r in X[rows].tolist()}


def leaks(specs: list[str], split: str) -> dict[str, dict[tuple[str, str], int]]:
    """Per schema fingerprint: (a, b) -> test rows of ``a`` in the train/val part of ``b``."""
    seen: dict[str, list[tuple[str, set[Row], set[Row]]]] = defaultdict(list)
    for spec in specs:
        ds = load_dataset(spec, split=split, seed=0)
        X = raw_rows(spec)
        fit = as_set(X, np.concatenate([ds.indices_train, ds.indices_val]))
        seen[schema_fingerprint(ds.info)].append((spec, as_set(X, ds.indices_test), fit))
    found: dict[str, dict[tuple[str, str], int]] = {}
    for fingerprint, members in seen.items():
        found[fingerprint] = {
            (a, b): len(test_a & fit_b)
            for a, test_a, _ in members
            for b, _, fit_b in members
            if a != b
        }
    return found


@pytest.mark.parametrize("name", ["yeast", "ecoli"])
def test_no_test_row_of_a_sibling_is_trained_on_in_another(name: str) -> None:
    specs = family(name)
    assert len(specs) >= 14

    found = leaks(specs, "rows")

    # Raw rows compare only within one schema (as many columns, same names); the groups are
    # large, so the check is not vacuous.
    assert max(len(pairs) for pairs in found.values()) >= 10 * 9
    assert all(n == 0 for pairs in found.values() for n in pairs.values())


def test_stratified_splits_leak_between_siblings() -> None:
    found = leaks(family("yeast"), "stratified")

    leaked = {pair: n for pairs in found.values() for pair, n in pairs.items() if n}
    assert leaked[("keel:yeast1", "keel:yeast3")] > 100  # of 297 test rows
    assert leaked[("keel:yeast-2_vs_4", "keel:yeast1")] > 10


def test_siblings_share_rows_and_the_rows_share_parts() -> None:
    small, big = (load_dataset(s, split="rows") for s in ("keel:yeast-2_vs_4", "keel:yeast1"))
    Xs, Xb = raw_rows("keel:yeast-2_vs_4"), raw_rows("keel:yeast1")

    part_of = {}
    for part in ("train", "val", "test"):
        part_of.update(dict.fromkeys(as_set(Xb, getattr(big, f"indices_{part}")), part))
    shared = 0
    for part in ("train", "val", "test"):
        for row in as_set(Xs, getattr(small, f"indices_{part}")):
            if row in part_of:
                shared += 1
                assert part_of[row] == part
    assert shared > 400  # of 514


def test_a_sibling_with_a_column_dropped_is_a_known_limit() -> None:
    # keel:yeast-1_vs_7 is yeast without column f5 ("pox"): its rows hash differently, so the
    # row split cannot keep it apart from its 8-column siblings. Its fingerprint differs, which
    # is how transfer code must tell (and refuse) it.
    small, big = (load_dataset(s, split="rows") for s in ("keel:yeast-1_vs_7", "keel:yeast1"))
    Xs, Xb = raw_rows("keel:yeast-1_vs_7"), np.delete(raw_rows("keel:yeast1"), 5, axis=1)

    assert as_set(Xs, np.arange(len(Xs))) <= as_set(Xb, np.arange(len(Xb)))
    fit = as_set(Xb, np.concatenate([big.indices_train, big.indices_val]))
    assert as_set(Xs, small.indices_test) & fit
    assert schema_fingerprint(small.info) != schema_fingerprint(big.info)


def test_same_seed_same_parts_other_seed_other_parts() -> None:
    a, b = (load_dataset("keel:yeast1", split="rows", seed=3) for _ in range(2))
    c = load_dataset("keel:yeast1", split="rows", seed=4)

    for part in ("train", "val", "test"):
        np.testing.assert_array_equal(getattr(a, f"indices_{part}"), getattr(b, f"indices_{part}"))
    assert not np.array_equal(a.indices_test, c.indices_test)
    assert (a.split, c.split) == ("rows", "rows")
    assert load_dataset("keel:yeast1").split == "stratified"


def test_shares_are_roughly_as_asked() -> None:
    ds = load_dataset("keel:yeast1", split="rows", val_size=0.15, test_size=0.25)

    n = ds.info.n_rows
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == n == 1484
    assert len(ds.y_test) / n == pytest.approx(0.25, abs=0.03)
    assert len(ds.y_val) / n == pytest.approx(0.15, abs=0.03)


def test_row_order_does_not_matter() -> None:
    table = read_table("keel:yeast1")
    frame = table.features.assign(label=table.target.to_numpy())
    shuffled = frame.sample(frac=1.0, random_state=5).reset_index(drop=True)

    parts = []
    for data in (frame, shuffled):
        ds = load_dataset(data, "label", split="rows")
        X = data.drop(columns="label").to_numpy(dtype=np.float64)
        parts.append([as_set(X, getattr(ds, f"indices_{p}")) for p in ("train", "val", "test")])
    assert parts[0] == parts[1]


def test_duplicate_rows_share_a_part() -> None:
    rng = np.random.default_rng(0)
    X = np.repeat(rng.normal(size=(100, 3)), 3, axis=0)  # each row three times
    y = rng.integers(0, 2, size=300)  # duplicates with other labels too

    ds = load_dataset((X, y), split="rows")

    part = np.empty(300, dtype=object)
    for name in ("train", "val", "test"):
        part[getattr(ds, f"indices_{name}")] = name
    assert (part.reshape(100, 3) == part[::3, None]).all()


def test_numbers_hash_alike_whatever_their_type() -> None:
    as_int = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    as_float = pd.DataFrame({"a": [1.0, 2.0], "b": ["x", "y"]})
    as_text = pd.DataFrame({"a": ["1", "2.0"], "b": ["x", "y"]})

    draws = [row_draws(frame, seed=0) for frame in (as_int, as_float, as_text)]
    np.testing.assert_array_equal(draws[0], draws[1])
    np.testing.assert_array_equal(draws[0], draws[2])
    assert row_keys(pd.DataFrame({"a": [-0.0, np.nan], "b": ["1e0", None]})) == [
        "0.0,1.0",
        "null,null",
    ]


def test_missing_values_hash_stably() -> None:
    frame = pd.DataFrame({"a": [np.nan, np.nan, 1.0], "b": ["x", "x", None]})

    draws = row_draws(frame, seed=0)
    np.testing.assert_array_equal(draws, row_draws(frame.copy(), seed=0))
    np.testing.assert_array_equal(draws[0], draws[1])
    assert not np.array_equal(draws[0], draws[2])


@pytest.mark.parametrize("bad", ["random", "Rows", "", None])
def test_unknown_split_is_refused_with_the_allowed_values(bad: object) -> None:
    for load in (load_dataset, iter_folds, cv_folds):
        with pytest.raises(ValueError, match=r"\['stratified', 'rows'\]"):
            load("sklearn:iris", split=bad)  # type: ignore[operator]


def test_a_class_missing_from_a_part_is_an_error() -> None:
    # The rare class's rows are one row three times: they share a part, whatever the seed.
    X = np.concatenate([np.arange(200.0), [-1.0] * 3]).reshape(-1, 1)
    y = np.array(["common"] * 200 + ["rare"] * 3)

    for seed in (0, 1):
        with pytest.raises(DatasetError, match=r"class 'rare'.*split='stratified'"):
            load_dataset((X, y), split="rows", seed=seed)
    assert len(load_dataset((X, y), seed=0).y_test) == 41  # stratified manages


def test_folds_are_row_consistent_and_partition_the_rows() -> None:
    folds = list(iter_folds("keel:yeast1", n_folds=5, split="rows", seed=2))
    sibling = list(iter_folds("keel:yeast5", n_folds=5, split="rows", seed=2))
    X, Xs = raw_rows("keel:yeast1"), raw_rows("keel:yeast5")

    tests = np.concatenate([ds.indices_test for ds in folds])
    assert sorted(tests.tolist()) == list(range(1484))
    for i, (ds, other) in enumerate(zip(folds, sibling, strict=True)):
        assert len(ds.y_test) / 1484 == pytest.approx(0.2, abs=0.03)
        assert len(ds.y_val) / 1484 == pytest.approx(0.2, abs=0.03)
        assert not set(ds.indices_val) & set(ds.indices_train)
        assert as_set(X, ds.indices_test) == as_set(Xs, other.indices_test)
        assert as_set(X, ds.indices_val) == as_set(Xs, other.indices_val)
        direct = load_dataset("keel:yeast1", n_folds=5, fold=i, split="rows", seed=2)
        np.testing.assert_array_equal(ds.indices_train, direct.indices_train)
        assert ds.split == "rows"


def test_cv_folds_keep_the_row_consistent_test_part() -> None:
    folds = cv_folds("keel:yeast1", n_folds=4, split="rows", seed=1)
    holdout = load_dataset("keel:yeast1", split="rows", seed=1)
    sibling = load_dataset("keel:yeast3", split="rows", seed=1)  # its rows in another order

    X, Xs = raw_rows("keel:yeast1"), raw_rows("keel:yeast3")
    for ds in folds:
        np.testing.assert_array_equal(ds.indices_test, holdout.indices_test)
        assert as_set(X, ds.indices_test) == as_set(Xs, sibling.indices_test)
        assert ds.fold_part == "val" and ds.split == "rows"
    vals = np.sort(np.concatenate([ds.indices_val for ds in folds]))
    rest = np.sort(np.concatenate([holdout.indices_train, holdout.indices_val]))
    np.testing.assert_array_equal(vals, rest)


def test_max_rows_keeps_the_same_rows_in_siblings() -> None:
    a, b = (load_dataset(s, split="rows", max_rows=500) for s in ("keel:yeast1", "keel:yeast4"))
    full = load_dataset("keel:yeast1", split="rows")

    X, Xb = raw_rows("keel:yeast1"), raw_rows("keel:yeast4")  # rows in another order
    kept = np.sort(np.concatenate([a.indices_train, a.indices_val, a.indices_test]))
    assert len(kept) == a.info.n_rows == 500
    for part in ("train", "val", "test"):
        rows_a, rows_b = getattr(a, f"indices_{part}"), getattr(b, f"indices_{part}")
        assert as_set(X, rows_a) == as_set(Xb, rows_b)
        # A kept row is in the part it has without subsampling.
        assert set(getattr(a, f"indices_{part}")) <= set(getattr(full, f"indices_{part}"))
    stratified = load_dataset("keel:yeast1", max_rows=500)
    assert not np.array_equal(np.sort(np.concatenate(_parts(stratified))), kept)


def _parts(ds: TabularDataset) -> list[np.ndarray]:
    return [ds.indices_train, ds.indices_val, ds.indices_test]


def test_folds_of_a_rows_split_are_logged_as_their_own_procedure(tmp_path: Path) -> None:
    from tunegym.metastore import MetaStore, Procedure, SplitSpec

    test_folds = list(iter_folds("keel:yeast1", n_folds=5, split="rows", seed=2))
    val_folds = cv_folds("keel:yeast1", n_folds=4, split="rows", seed=1)
    spec = SplitSpec.of_dataset(test_folds[3])
    assert (spec.procedure, spec.n_folds, spec.fold, spec.test_size) == (
        Procedure.CV_ROWS, 5, 3, None,
    )  # fmt: skip
    inner = SplitSpec.of_dataset(val_folds[1], test_size=0.2)
    assert (inner.procedure, inner.fold, inner.val_size, inner.test_size) == (
        Procedure.CV_ROWS, 1, None, 0.2,
    )  # fmt: skip
    assert inner.key.startswith("cv-rows|seed=1|folds=4|fold=1")
    with MetaStore(str(tmp_path / "ms.sqlite")) as store:  # stored, and found again
        dataset = store.get_or_create_dataset("yeast1", spec="keel:yeast1")
        task = store.get_or_create_task(dataset, inner)
        assert task.split == inner
        assert store.get_or_create_task(dataset, inner).id == task.id
        assert store.get_or_create_task(dataset, spec).id != task.id
