"""The freeze-thaw agent (issue 15) as a benchmark peer.

The agent acts on its own view, a `tunegym.envs.FreezeThawEnv` of ``n`` candidates of the pool
(the portfolio first, then the prior's best half, then a random sample drawn with the episode's
seed; the prior re-weights the meta-train tasks as scores come in), and the env's epochs
come from the episode's `Ledger` through `LedgerBackend`: the ledger charges them, draws the
trials' seeds and records the incumbent per epoch exactly as for every other peer. The agent
never sees the pool's seed-mean truth (the backend has no ``truth``).

Peers: ``agent`` (the shipped agent, warm-started), and its ablations trained without a warm
start (``agent-no-ws``, cold) and without meta-features (``agent-no-meta``).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from tunegym.bench._episode import Episode
from tunegym.envs import (
    META_FEATURE_NAMES,
    FreezeThawEnv,
    RankWeightedPrior,
    Segment,
    meta_log_weights,
)
from tunegym.envs._pool import prior_meta_features, snapshot_meta_features

__all__ = [
    "LedgerBackend",
    "agent",
    "agent_folder",
    "agent_no_meta",
    "agent_no_ws",
    "curve_race",
    "run_agent",
]

_PRETRAINED = Path(__file__).resolve().parents[1] / "agent" / "pretrained"


class LedgerBackend:
    """An episode's ledger served through the env's `Backend` protocol.

    ``start`` opens the pool's configuration (exact key); ``advance`` trains it through
    ``ledger.train``, epoch by epoch, and returns the scores the ledger's seed shows. When the
    budget ends mid-advance the ledger raises `BudgetSpent`, which ends the peer.
    """

    def __init__(self, episode: Episode, meta_features: np.ndarray | None = None) -> None:
        self.episode = episode
        pool = episode.pool
        self._index = {pool.space.key(c): i for i, c in enumerate(pool.configs)}
        self._meta = (
            np.zeros(len(META_FEATURE_NAMES), dtype=np.float32)
            if meta_features is None
            else np.asarray(meta_features, dtype=np.float32)
        )

    @property
    def meta_features(self) -> np.ndarray:
        return self._meta

    @property
    def score_bounds(self) -> tuple[float, float] | None:
        return None  # the agent reads no truth of the task

    def start(self, config: Mapping[str, Any], seed: int) -> int:
        return self._index[self.episode.pool.space.key(config)]  # the handle is the index

    def advance(self, handle: int, k: int) -> Segment:
        ledger = self.episode.ledger
        done = int(ledger.trained[handle])
        end = min(done + int(k), self.episode.max_epochs)
        scores = []
        for epoch in range(done + 1, end + 1):
            scores.append(ledger.train(handle, epoch))  # BudgetSpent ends the episode here
        seconds = np.zeros(len(scores))
        return Segment(np.asarray(scores), np.full(len(scores), np.nan), seconds, False)

    def release(self, handle: int) -> None:
        """Nothing to free: the ledger keeps what each configuration trained."""


@functools.cache
def _load(folder: str) -> Any:
    import torch

    from tunegym.agent._ftagent import load_ft_agent

    torch.set_num_threads(1)
    return load_ft_agent(folder)


def _episode_env(
    episode: Episode, n: int, k_choices: tuple[int, ...], *, meta_prior: bool = True
) -> FreezeThawEnv:
    """The freeze-thaw view of ``episode``: ``n`` candidates (the portfolio, the prior's best, a
    random sample) and, warm, the prior re-weighted as scores come in (`RankWeightedPrior`),
    starting from the meta-train tasks' likeness to this one by meta-features (``meta_prior``;
    off for the "no meta-features" ablation)."""
    from tunegym.agent._ftagent import episode_candidates

    pool, ledger = episode.pool, episode.ledger
    warm = bool(episode.portfolio) and episode.prior is not None
    index = episode_candidates(pool.n, n, episode.portfolio, episode.rng(),
                               prior=episode.prior if warm else None)  # fmt: skip
    configs = [pool.configs[i] for i in index]
    prior: np.ndarray | RankWeightedPrior | None = None
    if warm:
        prior = np.asarray(episode.prior)[index]
        if episode.warm_tasks:
            logw = None
            if meta_prior:
                meta = prior_meta_features()
                logw = meta_log_weights(meta.get(pool.task),
                                        [meta.get(t.task) for t in episode.warm_tasks])  # fmt: skip
            prior = RankWeightedPrior.from_pools(episode.warm_tasks, configs, pool.space,
                                                 log_weights=logw)  # fmt: skip
    return FreezeThawEnv(
        pool.space,
        configs,
        LedgerBackend(episode, snapshot_meta_features().get(pool.task)),
        budget=ledger.budget,
        max_epochs=pool.max_epochs,
        prior=prior,
        k_choices=k_choices,
        trial_seeds=tuple(range(pool.n_seeds)),
        portfolio=range(min(len(episode.portfolio), len(index))) if warm else (),
    )


def run_agent(episode: Episode, folder: str | Path, n: int | None = None) -> None:
    """Run the agent saved in ``folder`` on ``episode`` (until the ledger's budget ends), on
    ``n`` candidates (default: its ``agent.json``'s)."""
    from tunegym.agent._ftagent import run_ft_episode

    model = _load(str(folder))
    env = _episode_env(episode, n or model.n_candidates, model.k_choices,
                       meta_prior=model.net.use_meta)  # fmt: skip
    run_ft_episode(model, env, seed=episode.seed)


def curve_race(episode: Episode, n: int = 128) -> None:
    """The agent's teacher (`tunegym.agent._teacher.curve_race`) on ``n`` candidates."""
    from tunegym.agent._teacher import run_teacher_episode
    from tunegym.envs import DEFAULT_K

    run_teacher_episode(_episode_env(episode, n, DEFAULT_K), seed=episode.seed)


def _folder(name: str) -> str:
    return os.environ.get(f"TUNEGYM_{name.upper()}_DIR", str(_PRETRAINED / name))


_FOLDERS = {"agent": "freeze_thaw", "agent_no_ws": "freeze_thaw_no_ws",
            "agent_no_meta": "freeze_thaw_no_meta"}  # fmt: skip


def agent_folder(target: str) -> Path | None:
    """The folder a peer's ``module:function`` target loads its agent from (``None``: not an
    agent peer)."""
    module, _, function = target.partition(":")
    if module != __name__ or function not in _FOLDERS:
        return None
    return Path(_folder(_FOLDERS[function]))


def agent(episode: Episode) -> None:
    """The shipped freeze-thaw agent (``$TUNEGYM_FREEZE_THAW_DIR`` overrides its folder)."""
    run_agent(episode, _folder("freeze_thaw"))


def agent_no_ws(episode: Episode) -> None:
    """The ablation trained without a warm start (no portfolio, no prior)."""
    run_agent(episode, _folder("freeze_thaw_no_ws"))


def agent_no_meta(episode: Episode) -> None:
    """The ablation trained with the meta-features zeroed."""
    run_agent(episode, _folder("freeze_thaw_no_meta"))
