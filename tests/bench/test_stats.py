"""The benchmark protocol's statistics: hierarchical bootstrap, family weights, ranks, CD."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tunegym.bench import (
    critical_difference,
    family_weights,
    hierarchical_bootstrap,
    hierarchical_ratio,
    mean_ranks,
    paired_worse,
    plot_critical_difference,
)
from tunegym.metastore import dataset_family


def episodes(task_means: dict[str, float], seeds: int = 10, noise: float = 0.01) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    rows = [
        {"task": t, "seed": s, "regret": m + noise * rng.standard_normal()}
        for t, m in task_means.items()
        for s in range(seeds)
    ]
    return pd.DataFrame(rows)


def test_the_point_is_the_mean_of_task_means_and_the_interval_covers_it() -> None:
    frame = episodes({"a": 0.1, "b": 0.3, "c": 0.2})
    point, low, high = hierarchical_bootstrap(frame, "regret", n=500)
    assert point == pytest.approx(frame.groupby("task")["regret"].mean().mean())
    assert low < point < high


def test_tasks_not_episodes_set_the_width() -> None:
    # 4 tasks far apart, 10 tight seeds each: an episode-level bootstrap would call this
    # precise; resampling tasks shows it is not.
    frame = episodes({"a": 0.0, "b": 0.2, "c": 0.4, "d": 0.6}, noise=0.001)
    _, low, high = hierarchical_bootstrap(frame, "regret", n=1000)
    rng = np.random.default_rng(0)
    values = frame["regret"].to_numpy()
    naive = [rng.choice(values, size=len(values)).mean() for _ in range(1000)]
    naive_width = np.quantile(naive, 0.975) - np.quantile(naive, 0.025)
    assert high - low > 2.5 * naive_width


def test_family_weights_make_each_family_count_once() -> None:
    tasks = ["keel:yeast1", "keel:yeast3", "keel:yeast4", "keel:german"]
    weights = family_weights(tasks, dataset_family)
    assert weights["keel:german"] == pytest.approx(0.5)
    assert weights["keel:yeast1"] == pytest.approx(0.5 / 3)
    frame = episodes({"keel:yeast1": 0.0, "keel:yeast3": 0.0, "keel:yeast4": 0.0, "keel:german": 1.0},
                     noise=0.0)  # fmt: skip
    assert hierarchical_bootstrap(frame, "regret", weights=weights, n=50)[0] == pytest.approx(0.5)
    assert hierarchical_bootstrap(frame, "regret", n=50)[0] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="No weight for task"):
        hierarchical_bootstrap(frame, "regret", weights={"keel:german": 1.0})
    with pytest.raises(ValueError, match="lacks the column"):
        hierarchical_bootstrap(frame, "area")


def test_the_ratio_pairs_episodes_so_a_shared_task_effect_cancels() -> None:
    # The agent is 0.5x the peer on every episode, while tasks differ 10-fold: resampling the
    # same episodes for both keeps the ratio at 0.5; unpaired resampling would not.
    frame = episodes({"a": 0.01, "b": 0.1, "c": 0.05}, noise=0.001)
    frame = frame.rename(columns={"regret": "peer"}).assign(agent=lambda f: 0.5 * f["peer"])
    ratio, low, high = hierarchical_ratio(frame, "agent", "peer", n=300)
    assert ratio == pytest.approx(0.5)
    assert low == pytest.approx(0.5) and high == pytest.approx(0.5)


def test_the_ratio_interval_widens_when_the_gain_is_one_tasks() -> None:
    frame = episodes({"a": 0.1, "b": 0.1, "c": 0.1, "d": 0.1}, noise=0.0)
    frame = frame.rename(columns={"regret": "peer"})
    frame["agent"] = np.where(frame["task"] == "a", 0.0, 0.1)  # all of the gain on one task
    ratio, low, high = hierarchical_ratio(frame, "agent", "peer", n=1000)
    assert ratio == pytest.approx(0.75)
    assert low <= 0.5 and high == pytest.approx(1.0)
    with pytest.raises(ValueError, match="lacks the column"):
        hierarchical_ratio(frame, "agent", "tpe")


def test_mean_ranks_share_ties_and_use_common_episodes_only() -> None:
    frame = pd.DataFrame(
        {
            "method": ["a", "b", "c"] * 2 + ["a"],
            "task": ["t"] * 6 + ["u"],
            "seed": [0, 0, 0, 1, 1, 1, 0],
            "regret": [0.1, 0.1, 0.5, 0.3, 0.2, 0.1, 0.0],  # u/0 only ran a: left out
        }
    )
    ranks = mean_ranks(frame, "regret")
    assert ranks.to_dict() == {"a": 2.25, "b": 1.75, "c": 2.0}
    assert list(ranks.index) == ["b", "c", "a"]
    assert mean_ranks(frame, "regret", lower_is_better=False)["c"] == pytest.approx(2.0)


def test_critical_difference_matches_demsars_table_and_shrinks_with_blocks() -> None:
    # Demsar (2006), Table 5: q_0.05 = 1.960 (k = 2), 2.343 (3), 2.569 (4), 2.728 (5).
    for k, q in [(2, 1.960), (3, 2.343), (4, 2.569), (5, 2.728)]:
        expected = q * np.sqrt(k * (k + 1) / (6 * 20))
        assert critical_difference(k, 20) == pytest.approx(expected, abs=2e-3)
    assert critical_difference(4, 100) < critical_difference(4, 10)
    with pytest.raises(ValueError, match=">= 2 methods"):
        critical_difference(1, 10)


def test_the_diagram_is_written(tmp_path: Path) -> None:
    ranks = pd.Series({"agent": 1.4, "hyperband": 2.1, "tpe": 2.6, "random": 3.9})
    path = tmp_path / "cd.png"
    plot_critical_difference(ranks, critical_difference(4, 34), path, title="lcbench, 1000 epochs")
    assert path.stat().st_size > 5_000


def test_paired_worse_calls_a_tuner_worse_than_itself_on_about_five_percent_of_tasks() -> None:
    rng = np.random.default_rng(1)
    # a noisy regret with ties (coarse validation scores): two runs of one tuner, fresh seeds
    draws = rng.choice([0.0, 0.02, 0.05], p=[0.5, 0.3, 0.2], size=(400, 2, 30))
    worse = [paired_worse(a, b, seed=i)[2] for i, (a, b) in enumerate(draws)]
    strict = [a.mean() > b.mean() for a, b in draws]
    assert 0.01 <= np.mean(worse) <= 0.10
    assert np.mean(strict) > 0.35  # the strict reading: near one half


def test_paired_worse_finds_a_shift_and_pairs_by_seed() -> None:
    rng = np.random.default_rng(2)
    base = rng.uniform(0, 0.1, size=30)
    mean, low, worse = paired_worse(base + 0.01, base)
    assert worse and mean == pytest.approx(0.01) and low == pytest.approx(0.01)
    assert not paired_worse(base, base)[2]  # identical runs tie
    assert not paired_worse(base - 0.01, base)[2]
    with pytest.raises(ValueError, match="same non-zero length"):
        paired_worse(base[:3], base)
