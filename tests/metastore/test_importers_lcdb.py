"""LCDB reader: qualities and MLP learning curves from LCDB's CSV files."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import pytest

from tunegym.errors import MissingExtraError
from tunegym.metastore.importers import (
    MLP_LEARNER,
    LcdbCurvePoint,
    lcdb_dir,
    read_lcdb_curves,
    read_lcdb_qualities,
)

SAMPLE = Path(__file__).parent / "data" / "lcdb"
HAS_LCDB = importlib.util.find_spec("lcdb") is not None


def test_qualities_long_rows() -> None:
    rows = list(read_lcdb_qualities(SAMPLE))

    assert {r.openml_did for r in rows} == {3, 6, 31}
    by_key = {(r.openml_did, r.quality): r for r in rows}
    assert by_key[3, "NumberOfInstances"].value == 3196
    assert by_key[3, "NumberOfInstances"].dataset_name == "kr-vs-kp"
    assert by_key[31, "ClassEntropy"].value == pytest.approx(0.8812908992306927, rel=1e-12)
    # kr-vs-kp has no numeric attribute: OpenML left its skewness empty, so there is no row
    assert (3, "MeanSkewnessOfNumericAtts") not in by_key
    assert (6, "MeanSkewnessOfNumericAtts") in by_key
    # LCDB's own column is not an OpenML quality
    assert not any(r.quality == "NumberOfFeaturesAfterBinarization" for r in rows)
    assert all(math.isfinite(r.value) for r in rows)


def test_qualities_of_chosen_datasets() -> None:
    assert {r.openml_did for r in read_lcdb_qualities(SAMPLE, datasets=[6])} == {6}


def test_mlp_curves_only() -> None:
    points = list(read_lcdb_curves(SAMPLE))

    assert len(points) == 12  # 2 datasets x 2 inner seeds x 3 anchors
    assert {p.learner for p in points} == {MLP_LEARNER}
    assert {p.openml_did for p in points} == {3, 31}
    assert sorted({p.anchor for p in points}) == [16, 23, 32]
    first = points[0]
    assert first == LcdbCurvePoint(
        openml_did=3,
        learner=MLP_LEARNER,
        metric="accuracy",
        anchor=16,
        size_test=320,
        outer_seed=0,
        inner_seed=0,
        train_time_s=first.train_time_s,
        score_train=first.score_train,
        score_valid=first.score_valid,
        score_test=first.score_test,
    )
    assert 0 <= first.score_valid <= 1


def test_curves_read_in_chunks_give_the_same_rows() -> None:
    assert list(read_lcdb_curves(SAMPLE, chunksize=5)) == list(read_lcdb_curves(SAMPLE))


def test_curves_of_other_learner_metric_and_datasets() -> None:
    svc = list(read_lcdb_curves(SAMPLE, learner="SVC_linear", datasets=[31]))
    assert len(svc) == 6
    assert {(p.learner, p.openml_did) for p in svc} == {("SVC_linear", 31)}

    auc = list(read_lcdb_curves(SAMPLE, metric="auc"))
    assert {p.metric for p in auc} == {"auc"}
    missing = [p for p in auc if p.openml_did == 299]
    assert len(missing) == 1
    assert math.isnan(missing[0].score_test)  # LCDB has no AUC for that point


def test_unknown_learner_lists_the_learners() -> None:
    with pytest.raises(ValueError, match=r"no learner 'sklearn.neural_network.MLPClassifer'") as e:
        list(read_lcdb_curves(SAMPLE, learner="sklearn.neural_network.MLPClassifer"))
    assert "Did you mean 'sklearn.neural_network.MLPClassifier'" in str(e.value)


def test_bad_metric_and_chunksize() -> None:
    with pytest.raises(ValueError, match="Did you mean 'accuracy'"):
        list(read_lcdb_curves(SAMPLE, metric="acuracy"))
    with pytest.raises(ValueError, match="chunksize"):
        list(read_lcdb_curves(SAMPLE, chunksize=0))


def test_missing_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"datasets\.csv"):
        list(read_lcdb_qualities(tmp_path))
    with pytest.raises(FileNotFoundError, match=r"database-f1\.csv"):
        list(read_lcdb_curves(SAMPLE, metric="f1"))


def test_lcdb_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)

    with pytest.raises(MissingExtraError, match=r"pip install -e '.*\[lcdb\]'"):
        lcdb_dir()


@pytest.mark.skipif(not HAS_LCDB, reason="the lcdb package is not installed")
def test_installed_package_files() -> None:
    qualities = {(r.openml_did, r.quality): r.value for r in read_lcdb_qualities(datasets=[31])}
    assert qualities[31, "NumberOfInstances"] == 1000
    assert qualities[31, "NumberOfSymbolicFeatures"] == 14

    # A single dataset's MLP curve out of the 150 MB file; one pass over it takes ~1 s.
    points = list(read_lcdb_curves(datasets=[31]))
    assert points
    assert {p.openml_did for p in points} == {31}
    assert max(p.anchor for p in points) < 1000
    assert {p.outer_seed for p in points} == set(range(5))
