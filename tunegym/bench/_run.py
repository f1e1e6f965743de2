"""Run the peers on a suite (protocol v2): episodes, per-epoch traces, results as one table.

A suite is a list of `CurvePool` tasks with a split. Every (peer, task, seed) episode draws its
own seed from (suite seed, task, seed) — never the same tuner seed on every task — and the same
draw serves every peer on that episode (common random numbers). Cold peers run on every task of
the suite; warm-started ones on its meta-test tasks, from the portfolio of its meta-train tasks.
Work units (one peer on one task, every seed) run in parallel: in worker processes or as Ray tasks
(`tunegym.parallel`).
"""

from __future__ import annotations

import contextlib
import math
import os
import platform
import sys
import time
import zlib
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import pandas as pd

from tunegym.bench._episode import Episode, portfolio
from tunegym.bench._ledger import BudgetSpent, EpisodeTrace, Ledger
from tunegym.bench._registry import PEERS, get_peer
from tunegym.envs._pool import CurvePool, config_prior, load_suite
from tunegym.parallel import Workers, as_completed_results, executor

__all__ = [
    "SUITE_BUDGETS",
    "BenchPlan",
    "checkpoints",
    "episode_seed",
    "load_suite",
    "run_episode",
    "run_suite",
]

SUITE_BUDGETS: dict[str, tuple[int, ...]] = {"lcbench": (1000, 200), "own": (1000, 200)}
"""Budgets (epochs) of each named suite; a curve table gets ``own``'s."""
FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
"""Budget fractions the tables report."""


def episode_seed(base: int, task: str, seed: int) -> int:
    """The tuner's (and the trials' seed draws') seed of one (task, seed) episode."""
    state = np.random.SeedSequence([base, zlib.crc32(task.encode()), seed]).generate_state(1)
    return int(state[0])


def checkpoints(budget: int, points: int = 40) -> list[int]:
    """Epochs at which the results table reads each episode: ``points`` even steps, the first
    epochs and each of `FRACTIONS`."""
    even = {max(1, round(budget * i / points)) for i in range(1, points + 1)}
    first = {e for e in (1, 2, 3, 5, 8, 13) if e <= budget}
    return sorted(even | first | {max(1, math.floor(f * budget)) for f in FRACTIONS})


def run_episode(
    peer: Callable[[Episode], None],
    pool: CurvePool,
    budget: int,
    seed: int,
    portfolio: Sequence[int] = (),
    *,
    budget_seconds: float | None = None,
    prior: np.ndarray | None = None,
    warm_tasks: Sequence[CurvePool] = (),
) -> EpisodeTrace:
    """One peer on one task: its trace per epoch of cost (the tuner's own time apart)."""
    ledger = Ledger(pool, budget, seed, budget_seconds=budget_seconds)
    start = time.perf_counter()
    with contextlib.suppress(BudgetSpent):
        peer(Episode(ledger, seed, tuple(portfolio), prior=prior, warm_tasks=tuple(warm_tasks)))
    return ledger.trace(time.perf_counter() - start)


@dataclass(frozen=True)
class BenchPlan:
    """What to run.

    Attributes:
        suite: ``lcbench``, ``own`` or a curve table's path.
        peers: peer names (default: every peer whose library is installed).
        budgets: epochs (default: the suite's, `SUITE_BUDGETS`).
        seeds: episodes per task.
        tasks: restrict to these tasks (default: all).
        split: a split file (default: the suite's).
        budget_seconds: also end episodes after this many training seconds.
        workers: workers (1: in this process; more: a local Ray of that many CPUs, or spawned
            processes where Ray is not installed).
        ray_address: run the episodes on this Ray cluster instead (``ray://HOST:10001``,
            ``HOST:6379``, ``auto``), or ``local`` (a local Ray of ``workers`` CPUs).
        base_seed: seeds every episode's seed (`episode_seed`).
        portfolio_size: configurations of the warm start's portfolio.
        lcbench_configs: configurations per LCBench pool.
        max_tasks: run only the first this many meta-test tasks (0: every task; ``--quick``).
    """

    suite: str = "lcbench"
    peers: tuple[str, ...] = ()
    budgets: tuple[int, ...] = ()
    seeds: int = 10
    tasks: tuple[str, ...] = ()
    split: str | None = None
    budget_seconds: float | None = None
    workers: int = field(default_factory=lambda: min(2, os.cpu_count() or 1))
    ray_address: str | None = None
    base_seed: int = 0
    portfolio_size: int = 8
    lcbench_configs: int = 2000
    max_tasks: int = 0

    def __post_init__(self) -> None:
        for name in self.peers:
            get_peer(name)
        if self.seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {self.seeds}.")
        self.where()  # checks workers and ray_address
        if any(b < 1 for b in self.budgets):
            raise ValueError(f"budgets must be >= 1 epoch, got {self.budgets}.")

    def where(self) -> Workers:
        """Where the episodes run."""
        return Workers(self.workers, self.ray_address)

    def budget_list(self) -> tuple[int, ...]:
        """The budgets to run."""
        return self.budgets or SUITE_BUDGETS.get(self.suite, SUITE_BUDGETS["own"])

    def peer_list(self) -> tuple[str, ...]:
        """The peers to run."""
        if self.peers:
            return self.peers
        from tunegym.bench._registry import unavailable_peers

        missing = unavailable_peers()
        return tuple(n for n in PEERS if n not in missing)


@cache
def _suite(suite: str, split: str | None, lcbench_configs: int) -> tuple[CurvePool, ...]:
    return tuple(load_suite(suite, split=split, lcbench_configs=lcbench_configs))


@dataclass(frozen=True)
class _Unit:
    plan: BenchPlan
    peer: str
    task: str
    budget: int
    portfolio: tuple[int, ...]
    prior: np.ndarray | None = None


def _run_unit(unit: _Unit) -> list[dict[str, Any]]:
    plan = unit.plan
    pools = {p.task: p for p in _suite(plan.suite, plan.split, plan.lcbench_configs)}
    pool = pools[unit.task]
    info = get_peer(unit.peer)
    peer = info.load()
    warm = [p for p in pools.values() if p.part == "meta-train"] if info.warm else []
    marks = checkpoints(unit.budget)
    rows = []
    for seed in range(plan.seeds):
        tuner_seed = episode_seed(plan.base_seed, unit.task, seed)
        trace = run_episode(peer, pool, unit.budget, tuner_seed, unit.portfolio,
                            budget_seconds=plan.budget_seconds, prior=unit.prior,
                            warm_tasks=warm)  # fmt: skip
        for c in marks:
            rows.append(
                {
                    "peer": unit.peer,
                    "task": unit.task,
                    "family": pool.family,
                    "part": pool.part,
                    "budget": unit.budget,
                    "seed": seed,
                    "tuner_seed": tuner_seed,
                    "epochs": c,
                    "seconds": float(trace.seconds[c - 1]),
                    "regret": float(trace.regret[c - 1]),
                    "test": float(trace.test[c - 1]),
                    "val": float(trace.val[c - 1]),
                    "configs": trace.configs,
                    "decision_seconds": trace.decision_seconds,
                }
            )
    return rows


def run_suite(
    plan: BenchPlan, *, progress: Callable[[int, int], None] | None = None
) -> pd.DataFrame:
    """Run ``plan``; one row per (budget, peer, task, seed, checkpoint).

    Cold peers run on every task; warm-started peers on the meta-test tasks (and need
    meta-train tasks for their portfolio). ``attrs["bench"]`` records the plan, versions and
    machine.
    """
    pools = _suite(plan.suite, plan.split, plan.lcbench_configs)
    if plan.tasks:
        known = {p.task for p in pools}
        if unknown := [t for t in plan.tasks if t not in known]:
            from tunegym.errors import did_you_mean

            raise ValueError(
                f"No task {unknown[0]!r} in the suite." + did_you_mean(unknown[0], known)
            )
    chosen = [p for p in pools if not plan.tasks or p.task in plan.tasks]
    if plan.max_tasks:
        chosen = [p for p in chosen if p.part == "meta-test"][: plan.max_tasks]
    train = [p for p in pools if p.part == "meta-train"]
    units = []
    for name in plan.peer_list():
        info = get_peer(name)
        if info.warm and not train and not plan.peers:
            continue  # by default the warm-started peers run where a split gives them a start
        if info.warm and not train:
            raise ValueError(
                f"{name!r} is warm-started from the suite's meta-train tasks, and the suite has "
                "none; give a split (--split) or leave the warm-started peers out."
            )
        folio = portfolio(train, plan.portfolio_size) if info.warm else ()
        for pool in chosen:
            if info.warm and pool.part != "meta-test":
                continue
            prior = config_prior(train, pool.configs, pool.space) if info.warm else None
            units += [_Unit(plan, name, pool.task, b, folio, prior) for b in plan.budget_list()]
    # Slow peers first, so that the pool's tail is short.
    units.sort(key=lambda u: (-u.budget, u.peer not in ("smac-hyperband", "bohb", "bohb-ws")))
    rows: list[dict[str, Any]] = []
    start = time.perf_counter()
    where = plan.where() if units else Workers()
    # SMAC's choices depend on string hashing (its local search starts from a set): workers get a
    # fixed hash seed so that an episode is the same in every run.
    env = {"PYTHONHASHSEED": os.environ.get("PYTHONHASHSEED", "0")}
    with (
        executor(where, env=env) as ex,
        closing(as_completed_results(ex, _run_unit, units)) as results,
    ):
        for done, (_, result) in enumerate(results, 1):
            if isinstance(result, BaseException):
                raise result
            rows += result
            if progress:
                progress(done, len(units))
    frame = pd.DataFrame(rows).sort_values(["budget", "peer", "task", "seed", "epochs"])
    frame = frame.reset_index(drop=True)
    frame.attrs["bench"] = {
        "suite": plan.suite,
        "budgets": list(plan.budget_list()),
        "seeds": plan.seeds,
        "workers": plan.workers,
        "where": where.describe(),
        "tasks": len(chosen),
        "wall_seconds": round(time.perf_counter() - start, 1),
        "python": sys.version.split()[0],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "versions": _versions(),
    }
    return frame


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for package in ("tunegym", "numpy", "optuna", "syne-tune", "smac", "dehb", "ConfigSpace"):
        try:
            out[package] = version(package)
        except PackageNotFoundError:
            out[package] = "missing"
    return out
