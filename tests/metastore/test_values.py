"""Value objects and constants: the curve format and measure mapping agree with the other parts."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from tunegym.envs import CURVE_COLUMNS as ENV_CURVE_COLUMNS
from tunegym.envs import META_FEATURE_NAMES
from tunegym.metastore import (
    CURVE_COLUMNS,
    ENV_FEATURE_NAMES,
    EPOCH_MEASURES,
    DataSplit,
    Procedure,
    RunRecord,
    RunStatus,
    SearchGrid,
    SplitSpec,
    mlp_flow_name,
)
from tunegym.metastore._values import canonical_params, params_hash
from tunegym.training import EpochRecord
from tunegym.training._records import METRICS


def test_curve_columns_are_the_envs_format() -> None:
    assert CURVE_COLUMNS == ENV_CURVE_COLUMNS
    assert ENV_FEATURE_NAMES == META_FEATURE_NAMES


def test_every_epoch_record_metric_has_one_measure() -> None:
    assert set(EPOCH_MEASURES) == set(METRICS)
    assert len(set(EPOCH_MEASURES.values())) == len(EPOCH_MEASURES)
    record_fields = {f.name for f in dataclasses.fields(EpochRecord)}
    assert record_fields - set(EPOCH_MEASURES) == {"epoch", "seconds", "diverged"}
    assert EPOCH_MEASURES["val_balanced_accuracy"] == ("unweighted_recall", DataSplit.VAL)
    assert EPOCH_MEASURES["test_accuracy"] == ("predictive_accuracy", DataSplit.TEST)


def test_the_metastore_does_not_import_the_layers_above_it() -> None:
    code = "import sys, tunegym.metastore; print('tunegym.envs' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.strip() == "False", result.stderr


def test_canonical_params() -> None:
    params = {"lr": np.float64(0.1) + 0.2, "batch_size": np.int64(16), "tags": ("a", None)}
    assert canonical_params(params) == {"batch_size": 16, "lr": 0.3, "tags": ["a", None]}
    assert params_hash(params) == params_hash({"tags": ["a", None], "lr": 0.3, "batch_size": 16})
    assert params_hash({"lr": 1e-3}) != params_hash({"lr": 1.0001e-3})
    with pytest.raises(ValueError, match="lr must be finite"):
        canonical_params({"lr": float("nan")})
    with pytest.raises(TypeError, match="unsupported type"):
        canonical_params({"f": object()})


def test_split_spec() -> None:
    assert SplitSpec().key == "holdout|seed=0|val=0.2|test=0.2"
    fold = SplitSpec(Procedure.CV, seed=1, val_size=0.1 + 0.2, test_size=None, n_folds=5, fold=4)
    assert fold.key == "cv|seed=1|folds=5|fold=4|val=0.3|test=None"
    assert SplitSpec(Procedure.CV, None, None, None, 10).key == "cv|seed=None|folds=10|fold=None|val=None|test=None"  # fmt: skip
    with pytest.raises(ValueError, match="hold-out SplitSpec takes no n_folds"):
        SplitSpec(n_folds=5)
    with pytest.raises(ValueError, match="fold must be < n_folds"):
        SplitSpec(Procedure.CV, n_folds=5, fold=5)
    with pytest.raises(ValueError, match=r"share in \(0, 1\)"):
        SplitSpec(val_size=1.5)
    with pytest.raises(ValueError, match=r"Invalid procedure 'holdot'.*'holdout'"):
        SplitSpec("holdot")  # type: ignore[arg-type]


def test_search_grid_and_run_record() -> None:
    grid = SearchGrid((1e-2, 1e-3, 1e-2), (64, 16), 4)
    assert grid == SearchGrid((1e-3, 1e-2), (16, 64), 4)
    assert grid.union(SearchGrid((1.0,), (16,), 8)).to_json() == {
        "lrs": [1e-3, 1e-2, 1.0],
        "batch_sizes": [16, 64],
        "max_epochs": 8,
    }
    assert RunRecord(1, 2, 0, "diverged").status is RunStatus.DIVERGED  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be an int >= 0"):
        RunRecord(1, 2, -1, RunStatus.OK)


def test_mlp_flow_name_is_openml_style() -> None:
    name = mlp_flow_name({"width": 64, "depth": 2, "dropout": 0.0, "activation": "relu"})
    assert name == "tunegym.mlp(activation=relu,depth=2,dropout=0.0,width=64)"
