"""The policy protocol every baseline speaks, and the loop that runs one episode.

A policy sees what the agent sees (the observation and the action mask) plus the step's ``info``
after each step, so that it learns the outcome of its own actions (the validation score of the
trial it trained, the slot the env put it in). `run_episode` times the policy's own calls apart
from training: that is the tuner's overhead, reported separately (``BENCHMARK_PROTOCOL.md``).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from tunegym.envs import TuningEnv

__all__ = ["EpisodeResult", "Incumbent", "Policy", "run_episode"]


@runtime_checkable
class Policy(Protocol):
    """A tuner over the env's actions.

    ``reset`` is called once per episode, after ``env.reset``; then ``act`` and ``observe``
    alternate until the episode ends.
    """

    def reset(self, env: TuningEnv, seed: int) -> None:
        """Start an episode on ``env`` (read its task and action codec); seed all randomness."""
        ...

    def act(self, obs: np.ndarray, mask: np.ndarray) -> int:
        """The next action's index; ``mask`` marks the valid ones (``env.action_masks()``)."""
        ...

    def observe(self, info: dict[str, Any]) -> None:
        """Learn the outcome of the last action: ``info`` as returned by ``env.step``."""
        ...


@dataclass(frozen=True)
class Incumbent:
    """The best epoch found in an episode (``lr`` etc. are ``None`` when nothing was trained).

    Attributes:
        lr: its learning rate (``None`` also for a search without an ``lr``).
        batch_size: its batch size (``None`` also for a search without a ``batch_size``).
        epoch: the epoch of its trial that scored best.
        val_score: that epoch's validation score (the task's metric).
        test_score: that epoch's test score.
        config: its configuration, by the search's names (`tunegym.envs.SearchSpace.names`;
            on the grid ``{"lr", "batch_size"}``).
    """

    lr: float | None
    batch_size: int | None
    epoch: int | None
    val_score: float
    test_score: float | None
    config: dict[str, Any] | None = field(default=None, hash=False)


@dataclass(frozen=True, eq=False)
class EpisodeResult:
    """One episode of one policy: the anytime curve (one entry per step) and the outcome.

    Attributes:
        actions: the action taken at each step.
        epochs_used: epochs spent after each step.
        seconds_used: training seconds spent after each step (measured live, recorded in replay).
        incumbent_val: validation score of the incumbent after each step.
        regret: normalised regret after each step (``nan`` when the task's bounds are unknown).
        incumbent: the final incumbent.
        decision_seconds: wall time spent inside the policy's ``act`` and ``observe`` (its own
            overhead; training is not included).
        n_trials: trials started.
        stopped: the policy chose to stop (rather than spending the whole budget).
        truncated: the env's safety cap on steps ended the episode.
    """

    actions: np.ndarray
    epochs_used: np.ndarray
    seconds_used: np.ndarray
    incumbent_val: np.ndarray
    regret: np.ndarray
    incumbent: Incumbent
    decision_seconds: float
    n_trials: int
    stopped: bool
    truncated: bool

    @property
    def n_decisions(self) -> int:
        """Actions the policy chose (one per step)."""
        return len(self.actions)

    @property
    def final_regret(self) -> float:
        """Normalised regret at the end of the episode."""
        return float(self.regret[-1]) if len(self.regret) else math.nan


def _incumbent(info: dict[str, Any], names: tuple[str, ...]) -> Incumbent:
    best = info["incumbent"]
    trained = best.get("trial") is not None
    return Incumbent(
        lr=best.get("lr"),
        batch_size=best.get("batch_size"),
        epoch=best.get("epoch"),
        val_score=float(best["val_score"]),
        test_score=best.get("test_score"),
        config={name: best[name] for name in names} if trained else None,
    )


def run_episode(env: TuningEnv, policy: Policy, seed: int) -> EpisodeResult:
    """Run ``policy`` on ``env`` for one episode.

    The env is reset with ``seed`` (which fixes the trials' seeds) and so is the policy.

    Args:
        env: the tuning env (live or replay).
        policy: the tuner.
        seed: seed of the env and the policy.

    Returns:
        The episode's anytime curve, final incumbent and the policy's decision time.
    """
    obs, info = env.reset(seed=seed)
    policy.reset(env, seed)
    actions: list[int] = []
    epochs: list[int] = []
    seconds: list[float] = []
    incumbent: list[float] = []
    regret: list[float] = []
    decision = 0.0
    terminated = truncated = False
    while not (terminated or truncated):
        mask = env.action_masks()
        start = time.perf_counter()
        action = policy.act(obs, mask)
        decision += time.perf_counter() - start
        obs, _, terminated, truncated, info = env.step(action)
        start = time.perf_counter()
        policy.observe(info)
        decision += time.perf_counter() - start
        actions.append(int(action))
        epochs.append(int(info["epochs_used"]))
        seconds.append(float(info["seconds_used"]))
        incumbent.append(float(info["incumbent"]["val_score"]))
        regret.append(env.regret)
    return EpisodeResult(
        actions=np.asarray(actions, dtype=np.int64),
        epochs_used=np.asarray(epochs, dtype=np.int64),
        seconds_used=np.asarray(seconds, dtype=np.float64),
        incumbent_val=np.asarray(incumbent, dtype=np.float64),
        regret=np.asarray(regret, dtype=np.float64),
        incumbent=_incumbent(info, env.task.space.names),
        decision_seconds=decision,
        n_trials=int(info["n_trials"]),
        stopped=info["step"]["kind"] == "stop",
        truncated=bool(truncated),
    )
