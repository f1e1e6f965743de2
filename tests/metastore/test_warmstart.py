"""Warm start: the right neighbour is found, its best configurations lead the portfolio."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tunegym.metastore._warmstart import (
    Neighbor,
    SearchBox,
    compute_warm_start,
    nearest_datasets,
)

LRS = (1e-3, 1e-2, 1e-1)
BATCH_SIZES = (16, 64)


def toy_curves(best: tuple[float, int], name: str, epochs: int = 3, run0: int = 0) -> pd.DataFrame:
    """Curves where ``best`` learns fastest and every other configuration lags by distance."""
    rows = []
    run_id = run0
    for lr in LRS:
        for bs in BATCH_SIZES:
            gap = abs(np.log10(lr) - np.log10(best[0])) + abs(np.log2(bs) - np.log2(best[1])) / 2
            for seed in (0, 1):
                run_id += 1
                for epoch in range(1, epochs + 1):
                    score = 0.9 - 0.1 * gap - 0.05 * (epochs - epoch) + 0.001 * seed
                    rows.append(
                        {
                            "dataset": name,
                            "lr": lr,
                            "batch_size": bs,
                            "seed": seed,
                            "epoch": epoch,
                            "val_accuracy": score,
                            "run_id": run_id,
                        }
                    )
    return pd.DataFrame(rows)


FEATURES = pd.DataFrame(
    {
        "NumberOfInstances": [100, 10_000, 1_000, 120],
        "NumberOfClasses": [2, 10, 3, 2],
        "ClassEntropy": [1.0, 3.3, 1.5, 0.9],
    },
    index=["small_binary", "big_multi", "mid", "target_twin"],
)
CURVES = {
    "small_binary": toy_curves((1e-2, 16), "small_binary", run0=0),
    "big_multi": toy_curves((1e-1, 64), "big_multi", run0=100),
    "mid": toy_curves((1e-3, 64), "mid", run0=200),
}


def test_nearest_leaves_the_target_out_and_ranks_by_l1() -> None:
    target = {"NumberOfInstances": 110, "NumberOfClasses": 2, "ClassEntropy": 0.95}
    neighbors = nearest_datasets(FEATURES, target, k=2, exclude=["target_twin"])
    assert [n.dataset for n in neighbors] == ["small_binary", "mid"]
    assert neighbors[0].distance < neighbors[1].distance
    everyone = nearest_datasets(FEATURES, target, k=10)
    assert everyone[0].dataset == "target_twin"


def test_nearest_leaves_the_openml_twin_out() -> None:
    target = {"NumberOfInstances": 120, "NumberOfClasses": 2, "ClassEntropy": 0.9}
    dids = {"target_twin": 31, "small_binary": None, "big_multi": 6, "mid": None}
    neighbors = nearest_datasets(FEATURES, target, k=4, openml_dids=dids, target_did=31)
    assert "target_twin" not in [n.dataset for n in neighbors]


def test_nearest_ignores_missing_and_rejects_disjoint_qualities() -> None:
    target = {"NumberOfInstances": 110, "NumberOfClasses": float("nan"), "Other": 1.0}
    assert (
        nearest_datasets(FEATURES, target, k=1, exclude=["target_twin"])[0].dataset
        == "small_binary"
    )
    with pytest.raises(ValueError, match="shares no finite meta-feature"):
        nearest_datasets(FEATURES, {"Other": 1.0})
    with pytest.raises(ValueError, match="k must be >= 1"):
        nearest_datasets(FEATURES, {"ClassEntropy": 1.0}, k=0)


def test_portfolio_box_and_prior_follow_the_nearest_neighbour() -> None:
    target = {"NumberOfInstances": 110, "NumberOfClasses": 2, "ClassEntropy": 0.95}
    neighbors = nearest_datasets(FEATURES, target, k=2, exclude=["target_twin"])
    ws = compute_warm_start(
        "t", neighbors, CURVES.__getitem__, LRS, BATCH_SIZES, top=2, n_portfolio=3
    )
    first = ws.portfolio[0]
    assert (first.lr, first.batch_size, first.dataset) == (1e-2, 16, "small_binary")
    # Its expected score is a prediction over both neighbours, not 1 for being one's best.
    assert 0.0 < first.expected_score < 1.0
    assert first.epochs == 3
    assert len(first.run_ids) == 2
    assert all(1 <= r <= 12 for r in first.run_ids)
    assert ws.portfolio[1].dataset == "mid"  # round robin: the second neighbour's best next
    assert len({(e.lr, e.batch_size) for e in ws.portfolio}) == len(ws.portfolio) == 3
    assert ws.box is not None
    assert ws.box.contains(1e-2, 16)
    assert ws.box.contains(1e-3, 64)
    assert ws.prior.shape == (3, 2)
    assert ws.prior.min() >= 0
    assert ws.prior.max() <= 1
    i, j = np.unravel_index(ws.prior.argmax(), ws.prior.shape)
    assert (LRS[i], BATCH_SIZES[j]) == (1e-2, 16)


def test_box_restricts_a_grid() -> None:
    box = SearchBox(1e-3, 1e-2, 32, 128)
    assert box.restrict((1e-4, 1e-3, 1e-2, 1e-1), (16, 32, 64, 128, 256)) == (
        (1e-3, 1e-2),
        (32, 64, 128),
    )
    assert not box.contains(1e-1, 64)


def test_expected_score_is_the_prior_over_every_neighbour() -> None:
    """A portfolio entry's expected score is the distance-weighted mean of its normalised score
    on every neighbour (the prior's value for it), not 1 for being its source's best."""
    neighbors = [Neighbor("small_binary", 0.05), Neighbor("mid", 0.2), Neighbor("big_multi", 0.6)]
    ws = compute_warm_start(
        "t", neighbors, CURVES.__getitem__, LRS, BATCH_SIZES, top=2, n_portfolio=6
    )
    scores = [e.expected_score for e in ws.portfolio]
    assert len(set(scores)) > 1 and all(0.0 <= v < 1.0 for v in scores)
    for entry in ws.portfolio:
        i, j = LRS.index(entry.lr), BATCH_SIZES.index(entry.batch_size)
        assert entry.expected_score == pytest.approx(float(ws.prior[i, j]), rel=1e-6)
    # By hand for the first: 1 on small_binary (its best), its normalised score elsewhere.
    first = ws.portfolio[0]
    normalised = {
        name: _normalised_final(CURVES[name], first.lr, first.batch_size) for name in CURVES
    }
    weights = {n.dataset: 1 / (n.distance + 1e-3) for n in neighbors}
    assert normalised["small_binary"] == 1.0 and normalised["big_multi"] < 1.0
    expected = sum(weights[d] * normalised[d] for d in weights) / sum(weights.values())
    assert first.expected_score == pytest.approx(expected)


def test_expected_score_off_the_grid_matches_configurations_across_neighbours() -> None:
    """Off the grid (whole configurations), a configuration is matched by all its values: A's
    best is B's worst, so its expected score mixes 1 and 0 by the distances."""

    def curves(name: str, best_momentum: float) -> pd.DataFrame:
        rows = [
            {"dataset": name, "lr": 0.01, "batch_size": 32, "momentum": m, "seed": 0,
             "epoch": 1, "val_accuracy": 0.9 if m == best_momentum else 0.6}
            for m in (0.5, 0.9)
        ]  # fmt: skip
        return pd.DataFrame(rows)

    tables = {"a": curves("a", 0.9), "b": curves("b", 0.5)}
    neighbors = [Neighbor("a", 0.1), Neighbor("b", 0.3)]
    ws = compute_warm_start("t", neighbors, tables.__getitem__, LRS, BATCH_SIZES, top=1)
    first, second = ws.portfolio
    assert first.config == {"lr": 0.01, "batch_size": 32, "momentum": 0.9}
    w_a, w_b = 1 / (0.1 + 1e-3), 1 / (0.3 + 1e-3)
    assert first.expected_score == pytest.approx(w_a / (w_a + w_b))
    assert second.expected_score == pytest.approx(w_b / (w_a + w_b))


def _normalised_final(curves: pd.DataFrame, lr: float, batch_size: int) -> float:
    """A configuration's mean final score scaled between the dataset's worst and best ones."""
    last = curves[curves["epoch"] == curves["epoch"].max()]
    final = last.groupby(["lr", "batch_size"])["val_accuracy"].mean()
    return float((final[(lr, batch_size)] - final.min()) / (final.max() - final.min()))
