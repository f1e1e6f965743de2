"""The observation's meta-features from OpenML's qualities, and LCBench's data file of them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunegym.data import load_dataset
from tunegym.envs import (
    META_FEATURE_NAMES,
    lcbench_meta_features,
    qualities_meta_features,
    task_meta_features,
)

# OpenML's published qualities of credit-g (did 31), as LCDB ships them.
CREDIT_G = {
    "NumberOfInstances": 1000.0, "NumberOfFeatures": 21.0, "NumberOfClasses": 2.0,
    "MajorityClassSize": 700.0, "MinorityClassSize": 300.0, "ClassEntropy": 0.8812908992306927,
    "NumberOfSymbolicFeatures": 14.0,
}  # fmt: skip


def test_qualities_give_the_features_the_data_gives() -> None:
    got = qualities_meta_features(CREDIT_G)
    assert got.shape == (len(META_FEATURE_NAMES),) and got.dtype == np.float32
    expected = [3 / 6, math.log10(20) / 4, 2 / 50, 0.7, 0.8812908992306927, 13 / 20]
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    # the same dataset, read and preprocessed: size, classes and balance agree
    data = task_meta_features(load_dataset("keel:german", seed=0))
    np.testing.assert_allclose(data[[0, 2, 3, 4]], got[[0, 2, 3, 4]], atol=1e-3)


def test_an_empty_class_entropy_is_had_from_the_class_sizes() -> None:
    three = {**CREDIT_G, "NumberOfClasses": 3.0, "MajorityClassSize": 500.0,
             "MinorityClassSize": 200.0, "ClassEntropy": float("nan")}  # fmt: skip
    p = np.array([0.5, 0.2, 0.3])
    entropy = -(p * np.log2(p)).sum() / math.log2(3)
    assert qualities_meta_features(three)[4] == pytest.approx(entropy, rel=1e-6)
    with pytest.raises(KeyError, match="NumberOfSymbolicFeatures"):
        qualities_meta_features({k: v for k, v in CREDIT_G.items()
                                 if k != "NumberOfSymbolicFeatures"})  # fmt: skip


def test_lcbench_tasks_have_meta_features_from_openml() -> None:
    meta = lcbench_meta_features()
    assert len(meta) == 33 and "lcbench:airlines" not in meta  # LCDB lacks airlines
    values = np.stack(list(meta.values()))
    assert values.shape == (33, len(META_FEATURE_NAMES))
    assert ((values >= 0) & (values <= 1)).all() and (values.std(axis=0) > 0).all()
    np.testing.assert_allclose(
        meta["lcbench:credit-g"], qualities_meta_features(CREDIT_G), atol=1e-6
    )
