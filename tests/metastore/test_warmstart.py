"""Warm start: the right neighbour is found, its best configurations lead the portfolio."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tunegym.metastore._warmstart import SearchBox, compute_warm_start, nearest_datasets

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
    assert first.expected_score == pytest.approx(1.0)
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
