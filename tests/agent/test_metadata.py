"""The meta-dataset and its leave-one-dataset-out warm-start prior."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tests.agent.conftest import PARTS, SPACE, tiny_curves
from tunegym.agent import MetaDataset


def test_prior_never_uses_the_targets_own_curves(meta: MetaDataset) -> None:
    target = "sklearn:iris"
    everything = meta.datasets()
    curves = meta.curves.copy()
    own = curves["dataset"] == target
    rng = np.random.default_rng(0)
    curves.loc[own, "val_accuracy"] = rng.uniform(0, 1, int(own.sum()))
    scrambled = MetaDataset.from_curves(curves, PARTS, meta.features)
    before = meta.warm_start(target, everything, SPACE, k=2)
    after = scrambled.warm_start(target, everything, SPACE, k=2)
    assert target not in [n.dataset for n in before.neighbors]
    np.testing.assert_array_equal(before.prior, after.prior)
    # ... while a neighbour's curves do move it.
    other = MetaDataset.from_curves(
        curves.assign(val_accuracy=rng.uniform(0, 1, len(curves))), PARTS, meta.features
    )
    assert not np.array_equal(other.warm_start(target, everything, SPACE, k=2).prior, before.prior)


def test_prior_leaves_out_the_targets_family() -> None:
    curves = tiny_curves()
    twin = curves[curves["dataset"] == "sklearn:iris"].assign(dataset="keel:iris")
    both = pd.concat([curves, twin], ignore_index=True)
    both.attrs = curves.attrs
    parts = {**PARTS, "keel:iris": "meta-train"}
    features = MetaDataset.from_curves(curves, PARTS).features
    features.loc["keel:iris"] = features.loc["sklearn:iris"]  # the nearest possible neighbour
    meta = MetaDataset.from_curves(both, parts, features)
    ws = meta.warm_start("sklearn:iris", meta.datasets(), SPACE, k=3)
    assert {n.dataset for n in ws.neighbors} == {"sklearn:wine", "sklearn:breast_cancer"}


def test_prior_shape_and_range(meta: MetaDataset) -> None:
    priors = meta.priors(meta.datasets(), meta.datasets("meta-train"), SPACE, k=2)
    assert set(priors) == set(PARTS)
    for prior in priors.values():
        assert prior.shape == (len(SPACE.lrs), len(SPACE.batch_sizes))
        assert prior.min() >= 0.0 and prior.max() <= 1.0
    # breast_cancer's neighbours are both meta-train datasets: a real prior.
    assert priors["sklearn:breast_cancer"].max() == pytest.approx(1.0)


def test_parts_grid_and_errors(meta: MetaDataset) -> None:
    assert meta.datasets("meta-val") == ["sklearn:breast_cancer"]
    assert meta.space == SPACE
    assert meta.seeds == (0, 1)
    with pytest.raises(ValueError, match="Did you mean"):
        meta.curves_of("sklearn:irs")
    with pytest.raises(ValueError, match="no curves"):
        MetaDataset.from_curves(meta.curves, {**PARTS, "keel:german": "meta-test"})
    with pytest.raises(ValueError, match="Unknown split parts"):
        MetaDataset.from_curves(meta.curves, {"sklearn:iris": "train"})
