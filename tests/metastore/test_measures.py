"""The macro scores in the meta-store: stored per epoch, read back, NaN for older runs."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from tests.metastore.conftest import TINY_SEEDS, TINY_SPACE
from tunegym.data import TabularDataset
from tunegym.envs import OPTIONAL_CURVE_COLUMNS as ENV_OPTIONAL_COLUMNS
from tunegym.envs import ReplayBackend
from tunegym.metastore import CURVE_COLUMNS, EPOCH_MEASURES, DataSplit, MetaStore
from tunegym.metastore._values import OPTIONAL_CURVE_COLUMNS
from tunegym.training import MLPSpec, TrainConfig, Trial

MACRO = {
    "f1_macro": "macro_f_measure",
    "precision_macro": "macro_precision",
    "recall_macro": "macro_recall",
}
OLD_MEASURES = len(EPOCH_MEASURES) - len(OPTIONAL_CURVE_COLUMNS)  # 7: before the macro scores


@pytest.fixture
def store() -> Iterator[MetaStore]:
    with MetaStore(":memory:") as opened:
        yield opened


def test_macro_measure_names() -> None:
    for field, measure in MACRO.items():
        assert EPOCH_MEASURES[f"val_{field}"] == (measure, DataSplit.VAL)
        assert EPOCH_MEASURES[f"test_{field}"] == (measure, DataSplit.TEST)
    # Macro recall counts classes only predicted; balanced accuracy (OpenML's name) does not.
    assert EPOCH_MEASURES["val_balanced_accuracy"][0] == "unweighted_recall"
    assert OPTIONAL_CURVE_COLUMNS == ENV_OPTIONAL_COLUMNS
    assert CURVE_COLUMNS[-len(OPTIONAL_CURVE_COLUMNS) :] == OPTIONAL_CURVE_COLUMNS


def test_log_trial_stores_the_macro_scores_per_epoch(
    store: MetaStore, iris: TabularDataset
) -> None:
    config, spec = TrainConfig(1e-2, 16, 4, seed=3), MLPSpec(depth=1, width=8)
    history = Trial(iris, config, spec, eval_test=True).train(3)
    store.log_trial(iris, config, spec, history)
    # Every measure per epoch, and the last epoch's again as the run's final values.
    assert store.stats().evaluations == len(EPOCH_MEASURES) * (len(history) + 1)
    curves = store.curves("sklearn:iris")
    for name in OPTIONAL_CURVE_COLUMNS:
        assert curves[name].tolist() == [getattr(r, name) for r in history], name


def test_log_trial_without_test_or_older_records(store: MetaStore, iris: TabularDataset) -> None:
    config, spec = TrainConfig(1e-2, 16, 4, seed=3), MLPSpec(depth=1, width=8)
    no_test = Trial(iris, config, spec).train(2)
    store.log_trial(iris, config, spec, no_test)
    # Records of an older tunegym (a checkpoint's history) lack the macro scores.
    old_config = dataclasses.replace(config, seed=4)
    older = [
        dataclasses.replace(r, **{c: None for c in OPTIONAL_CURVE_COLUMNS})
        for r in Trial(iris, old_config, spec).train(2)
    ]
    store.log_trial(iris, old_config, spec, older)
    curves = store.curves("sklearn:iris").set_index("seed")
    assert curves.loc[3, "val_f1_macro"].tolist() == [r.val_f1_macro for r in no_test]
    assert curves.loc[3, "test_f1_macro"].isna().all()
    assert curves.loc[4, list(OPTIONAL_CURVE_COLUMNS)].isna().all().all()
    assert curves.loc[4, "val_accuracy"].tolist() == [r.val_accuracy for r in older]


def test_log_curves_of_an_older_table(store: MetaStore, iris_curves: pd.DataFrame) -> None:
    old = iris_curves.drop(columns=list(OPTIONAL_CURVE_COLUMNS))
    old.attrs = iris_curves.attrs
    ids = store.log_curves(old)
    # No NULL rows for the measures the table lacks.
    assert store.stats().evaluations == OLD_MEASURES * (len(old) + len(ids))
    back = store.curves("sklearn:iris")
    assert list(back.columns) == list(CURVE_COLUMNS)
    assert back[list(OPTIONAL_CURVE_COLUMNS)].isna().all().all()
    old_columns = [c for c in CURVE_COLUMNS if c not in OPTIONAL_CURVE_COLUMNS]
    expected = old.sort_values(["lr", "batch_size", "seed", "epoch"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back[old_columns], expected[old_columns], check_exact=True)
    with pytest.raises(ValueError, match="only missing values in the column 'val_f1_macro'"):
        ReplayBackend(back, metric="val_f1_macro")
    ReplayBackend(back, metric="val_loss", space=TINY_SPACE, seeds=TINY_SEEDS)


def test_curves_mix_older_and_newer_runs(store: MetaStore, iris_curves: pd.DataFrame) -> None:
    mixed = iris_curves.copy()
    mixed.attrs = iris_curves.attrs
    older = mixed["seed"] == TINY_SEEDS[0]
    mixed.loc[older, list(OPTIONAL_CURVE_COLUMNS)] = np.nan
    store.log_curves(mixed)
    n_runs = mixed.groupby(["lr", "batch_size", "seed"]).ngroups
    n_older_runs = mixed[older].groupby(["lr", "batch_size"]).ngroups
    assert store.stats().evaluations == (
        len(EPOCH_MEASURES) * (len(mixed) + n_runs)
        - len(OPTIONAL_CURVE_COLUMNS) * (int(older.sum()) + n_older_runs)
    )
    back = store.curves("sklearn:iris")
    expected = mixed.sort_values(["lr", "batch_size", "seed", "epoch"]).reset_index(drop=True)
    pd.testing.assert_frame_equal(back, expected, check_exact=True)
    assert back.loc[back["seed"] != TINY_SEEDS[0], "val_f1_macro"].notna().all()


def test_log_curves_still_requires_the_other_columns(
    store: MetaStore, iris_curves: pd.DataFrame
) -> None:
    with pytest.raises(ValueError, match=r"lacks the columns \['val_accuracy'\].*optional"):
        store.log_curves(iris_curves.drop(columns="val_accuracy"))
