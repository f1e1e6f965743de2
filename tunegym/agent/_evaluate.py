"""Running a tuner over many replayed tasks and reading its regret at a budget."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tunegym.agent._multitask import MultiTaskReplayEnv
from tunegym.baselines import (
    WARM_STARTED,
    EpisodeResult,
    Policy,
    make_baseline,
    run_episode,
)
from tunegym.metastore import WarmStart

__all__ = [
    "ReplayEpisode",
    "baseline_maker",
    "bootstrap_ci",
    "evaluate_policy",
    "regret_at",
    "step_at",
]


@dataclass(frozen=True)
class ReplayEpisode:
    """One episode of a tuner on one replayed task.

    Attributes:
        dataset: the task's dataset.
        seed: the episode's seed.
        budget_epochs: the task's budget.
        result: the episode (anytime curve, incumbent, decision time).
    """

    dataset: str
    seed: int
    budget_epochs: int
    result: EpisodeResult


def step_at(result: EpisodeResult, epochs: float) -> int | None:
    """Index of the last step whose cumulative epochs do not exceed ``epochs`` (None: none).

    A tuner learns the outcome of a step when it ends, so a step that buys 16 epochs counts at
    its end; an episode that stopped early keeps its last step.
    """
    spent = np.flatnonzero(result.epochs_used <= epochs)
    return int(spent[-1]) if len(spent) else None


def regret_at(result: EpisodeResult, epochs: float) -> float:
    """Normalised regret once ``epochs`` epochs were spent (1 before the first step ends).

    The regret after the step `step_at` picks; an episode that stopped early keeps its final
    regret.
    """
    step = step_at(result, epochs)
    return 1.0 if step is None else float(result.regret[step])


def bootstrap_ci(values: np.ndarray, seed: int = 0, n: int = 2000) -> tuple[float, float]:
    """95 % percentile bootstrap interval of the mean of ``values`` (``n`` resamples)."""
    rng = np.random.default_rng(seed)
    means = rng.choice(values, size=(n, len(values)), replace=True).mean(axis=1)
    return float(np.quantile(means, 0.025)), float(np.quantile(means, 0.975))


def baseline_maker(name: str, warm: Mapping[str, WarmStart]) -> Callable[[str], Policy]:
    """A baseline per dataset; the warm-started ones get that dataset's warm start."""
    if name in WARM_STARTED:
        return lambda dataset: make_baseline(name, warm_start=warm[dataset])
    return lambda _: make_baseline(name)


def evaluate_policy(
    env: MultiTaskReplayEnv,
    make_policy: Callable[[str], Policy],
    *,
    budget: int,
    seeds: Sequence[int],
    datasets: Sequence[str] | None = None,
) -> list[ReplayEpisode]:
    """Run a tuner on every (dataset, seed) task of ``env`` at ``budget``.

    Args:
        env: the replay tasks.
        make_policy: the tuner for a dataset (e.g. ``lambda d: agent``, or a warm-started
            baseline built from that dataset's warm start).
        budget: the epoch budget (one of ``env.budgets``).
        seeds: episode seeds.
        datasets: the datasets to run (default: all of ``env``).
    """
    episodes = []
    for dataset in datasets if datasets is not None else env.datasets:
        task_env = env.task_env(dataset, budget)
        policy = make_policy(dataset)
        for seed in seeds:
            result = run_episode(task_env, policy, int(seed))
            episodes.append(ReplayEpisode(dataset, int(seed), budget, result))
    return episodes
