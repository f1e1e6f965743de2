"""Seeded stratified splits: disjoint parts covering the data, k folds, subsampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tunegym.data import TabularDataset, iter_folds, load_dataset


def _parts(ds: TabularDataset) -> list[np.ndarray]:
    return [ds.indices_train, ds.indices_val, ds.indices_test]


def test_parts_are_disjoint_and_cover_every_row() -> None:
    ds = load_dataset("keel:vehicle", seed=7)

    rows = np.concatenate(_parts(ds))
    assert len(rows) == len(set(rows.tolist())) == ds.info.n_rows == 846
    assert set(rows.tolist()) == set(range(846))


def test_sizes_follow_the_shares() -> None:
    ds = load_dataset("keel:german", val_size=0.1, test_size=0.3)

    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (600, 100, 300)


def test_split_is_stratified() -> None:
    ds = load_dataset("keel:yeast4")  # 51 positives in 1484 rows

    shares = [
        np.bincount(y.numpy(), minlength=2)[1] / len(y) for y in (ds.y_train, ds.y_val, ds.y_test)
    ]
    assert max(shares) - min(shares) < 0.01


def test_same_seed_same_split() -> None:
    a = load_dataset("keel:wine", seed=11)
    b = load_dataset("keel:wine", seed=11)

    for x, y in zip(_parts(a), _parts(b), strict=True):
        np.testing.assert_array_equal(x, y)
    assert torch.equal(a.X_train, b.X_train)


def test_different_seed_different_split() -> None:
    a = load_dataset("keel:wine", seed=11)
    b = load_dataset("keel:wine", seed=12)

    assert not np.array_equal(a.indices_test, b.indices_test)


def test_labels_follow_indices() -> None:
    ds = load_dataset("keel:iris", seed=2)
    names = np.array(ds.info.class_names)

    import pandas as pd

    from tunegym.data._keel import keel_path

    raw = pd.read_csv(keel_path("balanced", "iris"), header=None, skipinitialspace=True)
    np.testing.assert_array_equal(
        names[ds.y_test.numpy()], raw.iloc[ds.indices_test, -1].to_numpy()
    )


def test_k_folds_partition_the_data() -> None:
    folds = list(iter_folds("keel:australian", n_folds=5, seed=3))

    assert [ds.fold for ds in folds] == [0, 1, 2, 3, 4]
    assert all(ds.n_folds == 5 for ds in folds)
    tests = np.concatenate([ds.indices_test for ds in folds])
    assert sorted(tests.tolist()) == list(range(690))
    for ds in folds:
        rows = np.concatenate(_parts(ds))
        assert sorted(rows.tolist()) == list(range(690))
        assert len(ds.y_test) in (138, 139)


def test_fold_matches_iter_folds() -> None:
    third = list(iter_folds("keel:australian", n_folds=5, seed=3))[2]
    direct = load_dataset("keel:australian", n_folds=5, fold=2, seed=3)

    for x, y in zip(_parts(third), _parts(direct), strict=True):
        np.testing.assert_array_equal(x, y)
    assert torch.equal(third.X_val, direct.X_val)


def test_k_fold_val_share_is_of_all_rows() -> None:
    ds = load_dataset("keel:german", n_folds=5, fold=0, val_size=0.2)

    assert (len(ds.y_train), len(ds.y_val), len(ds.y_test)) == (600, 200, 200)


def test_max_rows_subsamples_stratified_with_seed() -> None:
    ds = load_dataset("keel:magic", max_rows=2000, seed=4)
    again = load_dataset("keel:magic", max_rows=2000, seed=4)

    rows = np.concatenate(_parts(ds))
    assert len(rows) == ds.info.n_rows == 2000
    assert ds.info.extra["subsampled_from"] == "19020"
    assert rows.max() < 19020
    np.testing.assert_array_equal(ds.indices_train, again.indices_train)
    share = np.bincount(torch.cat([ds.y_train, ds.y_val, ds.y_test]).numpy())[1] / 2000
    assert share == pytest.approx(6688 / 19020, abs=0.002)


def test_max_rows_above_size_changes_nothing() -> None:
    ds = load_dataset("keel:wine", max_rows=10_000)

    assert ds.info.n_rows == 178
    assert "subsampled_from" not in ds.info.extra


def test_max_rows_just_below_size() -> None:
    ds = load_dataset("keel:iris", max_rows=149)

    assert ds.info.n_rows == 149
    assert len(np.unique(np.concatenate(_parts(ds)))) == 149
