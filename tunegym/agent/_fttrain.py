"""Meta-training the freeze-thaw agent: MaskablePPO over the suites' meta-train tasks.

Each training episode draws a meta-train task (the suites in turn, so that each counts alike),
a budget, and ``n`` candidates (the task's leave-one-out portfolio, then a random sample of its
configurations); the env is `tunegym.envs.FreezeThawEnv` over the task's `PoolBackend`, so the
reward is minus the area under the regret curve on seed-mean truth. Every ``eval_every`` steps
the greedy policy runs a fixed set of meta-val episodes; the policy with the lowest regret area
relative to the teacher's on the same episodes (geometric mean over the suites and budgets;
ties: final regret) is the one kept. ``OUT/evaluations.csv`` records each evaluation.

Why MaskablePPO: the valid actions change every step (the budget left, which candidates can
still advance), and sb3-contrib's MaskablePPO is the SB3 algorithm that takes the env's masks.
The policy is `CandidatePolicy`, permutation-equivariant over the candidates.
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

from tunegym.agent._candidates import CandidateNet, CandidatePolicy
from tunegym.agent._ftagent import (
    DEFAULT_FT_AGENT_DIR,
    FreezeThawAgent,
    SuiteTask,
    TaskSet,
    load_ft_agent,
    run_ft_episode,
    task_env,
)
from tunegym.agent._teacher import FIRST, curve_race, run_teacher_episode
from tunegym.envs import (
    DEFAULT_K,
    META_GAMMA,
    CurvePool,
    FreezeThawEnv,
    finetune_kinds,
)
from tunegym.training._threads import torch_threads

__all__ = [
    "SELECT_BY",
    "SUITES",
    "FTTrainConfig",
    "MetaTrainEnv",
    "evaluate_tasks",
    "load_task_set",
    "scratch_better",
    "scratch_reference",
    "train_ft_agent",
]

SUITES = ("lcbench", "own", "finetune")
"""The suites an agent can learn from (`tunegym.envs.load_suite`)."""

SELECT_BY = ("relative", "area", "area+final", "return")
"""What meta-val selection can minimise (`FTTrainConfig.select_by`)."""

REFERENCE_SEEDS = 3
"""Greedy episodes per task and budget that `scratch_reference` averages."""


@dataclass(frozen=True)
class FTTrainConfig:
    """Everything meta-training depends on (recorded in ``agent.json``).

    Attributes:
        out: folder for the agent and its evaluations.
        suites: the suites to learn from (``lcbench``, ``own``, ``finetune``).
        timesteps: PPO environment steps in all.
        budgets: epoch budgets drawn per training episode.
        suite_budgets: (suite, budgets) pairs that replace ``budgets`` for a suite: the
            fine-tuning meta-dataset's targets hold 32 candidates × 25 epochs, so budgets of
            thousands of epochs would mean nothing there.
        suite_weights: how often each suite's tasks are drawn, in ``suites``' order (default:
            alike).
        select_on: the suites whose meta-val tasks select the policy (default: all of
            ``suites``).
        select_parts: the parts of the split whose tasks (of ``select_on``'s suites) select
            the policy: meta-val, or meta-train and meta-val where meta-val is too small to
            tell policies apart (the fine-tuning meta-val holds one target where scratch is
            better). Never meta-test.
        select_by: what the selection minimises on meta-val: ``relative`` (the geometric mean,
            over the (suite, budget) settings, of the regret area relative to the teacher's on
            the same episodes, so that every setting counts alike: the plain mean area is
            dominated by the setting of the largest areas, LCBench at 200 epochs), ``area``
            (the mean area under the regret curve, ties broken by the final regret),
            ``area+final`` (their sum: a policy that ends on a better model at a slightly
            higher area may win) or
            ``return`` (what training's return charges: the area, ``final_weight`` × the
            final regret and ``worse_weight`` × the excess over scratch).
        init: an agent folder (``weights.pt`` + ``agent.json``) whose network PPO starts from,
            instead of cloning the teacher: to teach a trained agent a new suite.
        n: candidates per episode.
        hidden: the network's width.
        use_meta: show the task's meta-features (off: the ablation).
        warm: warm start (portfolio + prior; off: the ablation).
        n_envs, n_steps, batch_size, n_epochs, learning_rate, gamma, gae_lambda, clip_range,
            ent_coef, target_kl: MaskablePPO's (``target_kl`` ends a rollout's epochs early
            when the policy moved too far: it keeps PPO from undoing the cloned policy).
        reward_scale: rewards are multiplied by it for PPO (the return is at most 1 in size).
        final_weight: training's return also pays minus this times the regret the episode
            ends on (0: the env's return alone, minus the area under the regret curve). The
            area rewards a fast start; a weight on the end rewards ending on the best model,
            which is what a run that may fine-tune must not lose.
        scratch_better_weight: how many times as often as another of its suite a meta-train
            task is drawn where some candidates fine-tune a model and scratch is better (its
            best scratch candidate ends above its best fine-tuning one, `scratch_better`): 8 of
            the fine-tuning meta-dataset's 39, which the policy must learn to tell apart.
        worse_weight: on tasks where some candidates fine-tune a model, training's return
            also pays minus this times how far the final regret exceeds a scratch-only run's
            of the same budget (`scratch_reference`: the shipped agent, greedy, on the task's
            scratch candidates). It is the benchmark's "no worse than scratch" as a hinge: it
            charges nothing where fine-tuning paid, and ending below what scratch alone finds
            where it did not.
        bc_episodes: episodes of the teacher (`curve_race`) on meta-train that the policy
            clones before PPO (0: PPO from scratch).
        bc_epochs: passes over them; the value head learns their returns at the same time.
        bc_learning_rate: Adam's step size while cloning.
        bc_threads: torch threads while cloning. Its passes are batches of ``batch_size``
            whole episodes' states, where a second thread pays (0.49 s a batch against 0.84 s
            on 2 cores), unlike PPO's small steps; 1 where several runs share the cores.
        teacher_first: how the cloned teacher picks its first probe (`curve_race`'s ``first``):
            ``early`` (the recipe's since stop 42) or ``portfolio`` (the teacher the shipped
            agent was cloned from, and the benchmark's curve race).
        eval_every: steps between meta-val evaluations.
        eval_seeds: episodes per meta-val task and budget.
        confirm_seeds: when above ``eval_seeds``, selection's pick is checked at the end
            against the first policy evaluated (the clone, or ``init``'s) on this many episodes
            per meta-val task and budget, and the better by ``select_by`` is kept (0: no check).
            At 2 seeds selection picks noise: stop 44's PPO pick, 1.040 against the clone's
            1.133 on 2 seeds at 256 candidates, was 0.905 against 0.807 on 20 at 512.
        confirm_n: candidates per episode of that check (default ``n``): the count the agent
            ships with.
        lcbench_configs: configurations per LCBench pool.
        max_minutes: PPO stops after this many minutes of wall time (the evaluations and the
            cloning included), however many ``timesteps`` are left.
        prices: ``(low, high)``: every training episode draws a price of cost log-uniformly
            between them (learning when to stop, `tunegym.agent._stoptrain`); ``None``: no
            price, as the agent's own training.
        seed: seeds PPO, the envs and the evaluations.
    """

    out: str = "runs/ft-agent"
    suites: tuple[str, ...] = ("lcbench", "own")
    timesteps: int = 1_500_000
    budgets: tuple[int, ...] = (200, 1000)
    suite_budgets: tuple[tuple[str, tuple[int, ...]], ...] = (("finetune", (50, 100)),)
    suite_weights: tuple[float, ...] | None = None
    select_on: tuple[str, ...] | None = None
    select_parts: tuple[str, ...] = ("meta-val",)
    select_by: str = "relative"
    init: str | None = None
    n: int = 256
    hidden: int = 64
    use_meta: bool = True
    warm: bool = True
    k_choices: tuple[int, ...] = DEFAULT_K
    n_envs: int = 8
    n_steps: int = 256
    batch_size: int = 512
    n_epochs: int = 4
    learning_rate: float = 1e-4
    gamma: float = 1.0
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.001
    target_kl: float | None = 0.02
    reward_scale: float = 10.0
    final_weight: float = 0.0
    worse_weight: float = 0.0
    scratch_better_weight: float = 1.0
    eval_every: int = 100_000
    eval_seeds: int = 2
    confirm_seeds: int = 0
    confirm_n: int | None = None
    bc_episodes: int = 200
    bc_epochs: int = 10
    bc_learning_rate: float = 1e-3
    bc_threads: int = 1
    teacher_first: str = "early"
    lcbench_configs: int = 2000
    max_minutes: float = 80.0
    prices: tuple[float, float] | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        ints = (
            "timesteps",
            "n",
            "n_envs",
            "n_steps",
            "batch_size",
            "eval_every",
            "eval_seeds",
            "bc_threads",
        )
        for name in ints:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"FTTrainConfig.{name} must be an int >= 1, got {value!r}.")
        for name, least in (("confirm_seeds", 0), ("confirm_n", 1)):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < least):  # fmt: skip
                raise ValueError(f"FTTrainConfig.{name} must be an int >= {least}, got {value!r}.")
        if not self.suites or any(s not in SUITES for s in self.suites):
            raise ValueError(f"suites must be among {', '.join(SUITES)}, got {self.suites}.")
        if self.suite_weights is not None and (
            len(self.suite_weights) != len(self.suites)
            or any(not w >= 0 for w in self.suite_weights)
            or not sum(self.suite_weights) > 0
        ):
            raise ValueError(
                f"suite_weights must give each of the suites {self.suites} a weight >= 0 "
                f"(not all 0), got {self.suite_weights}."
            )
        # a step size of 0 keeps the policy it starts from; a weight of 0 drops its term
        for name in ("learning_rate", "bc_learning_rate", "final_weight", "worse_weight"):
            if not 0 <= getattr(self, name) < math.inf:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}.")
        if not self.scratch_better_weight > 0:
            raise ValueError(
                f"scratch_better_weight must be > 0, got {self.scratch_better_weight!r}."
            )
        if self.prices is not None and not (
            len(self.prices) == 2 and 0 < self.prices[0] <= self.prices[1] < math.inf
        ):
            raise ValueError(
                f"prices must be (low, high) with 0 < low <= high, got {self.prices!r}."
            )
        if self.teacher_first not in FIRST:
            raise ValueError(f"teacher_first must be one of {FIRST}, got {self.teacher_first!r}.")
        if self.select_by not in SELECT_BY:
            raise ValueError(f"select_by must be one of {SELECT_BY}, got {self.select_by!r}.")
        if not self.select_parts or not set(self.select_parts) <= {"meta-train", "meta-val"}:
            raise ValueError(
                f"select_parts must be meta-val and/or meta-train (meta-test stays held out), "
                f"got {self.select_parts}."
            )
        if self.select_on is not None and not set(self.select_on) <= set(self.suites):
            raise ValueError(
                f"select_on {self.select_on} names suites not learnt from ({self.suites})."
            )

    def budgets_of(self, suite: str) -> tuple[int, ...]:
        """The epoch budgets of ``suite``'s training and meta-val episodes."""
        return dict(self.suite_budgets).get(suite, self.budgets)

    @classmethod
    def transfer(
        cls, out: str = "runs/ft-transfer", *, quick: bool = False, **changes: Any
    ) -> FTTrainConfig:
        """The transfer agent's recipe (issue 16), which `tunegym.tune` runs, once installed, when
        some candidates fine-tune a pre-trained model. PPO starts from the shipped freeze-thaw
        agent and learns on the fine-tuning meta-dataset's meta-train targets (drawn 10 times as
        often as a task of either other suite, which it keeps learning on so as not to forget
        tuning from scratch on hundreds of candidates). Its return charges the final regret once
        more (``final_weight=1``) and 4 times its excess over a scratch-only run's
        (``worse_weight=4``). It is selected by that return on the fine-tuning meta-train and
        meta-val targets, 10 episodes per target and budget: meta-val holds one target where
        scratch is better. ``quick``: the same in seconds."""
        recipe: dict[str, Any] = {
            "suites": ("lcbench", "own", "finetune"), "suite_weights": (1.0, 1.0, 10.0),
            "select_on": ("finetune",), "select_by": "return",
            "select_parts": ("meta-train", "meta-val"),
            "init": str(DEFAULT_FT_AGENT_DIR), "bc_episodes": 0, "eval_seeds": 10,
            "learning_rate": 3e-4, "eval_every": 25_000, "max_minutes": 32.0,
            "final_weight": 1.0, "worse_weight": 4.0,
        }  # fmt: skip
        if quick:
            # the recipe's suites; the width of the agent it starts from, so no teacher to clone
            kept = ("suites", "hidden", "bc_episodes", "bc_epochs")
            recipe |= {k: v for k, v in _TINY.items() if k not in kept}
        return cls(out=out, **{**recipe, **changes})

    @classmethod
    def stop(
        cls, out: str = "runs/ft-stop", *, quick: bool = False, **changes: Any
    ) -> FTTrainConfig:
        """The recipe that teaches a trained agent (``init``, default the shipped one) when to
        stop under a price of cost (`tunegym.agent._stoptrain.train_stop`): prices drawn
        log-uniformly from 0.001 to 0.3 per episode, 200 episodes imitating `priced_stop` (10
        passes, Adam 3e-3), then MaskablePPO at 3e-4 on the stop logit alone for 45 minutes,
        evaluated every 20,000 steps. ``quick``: the same in seconds, on the own suite."""
        recipe: dict[str, Any] = {
            "prices": (0.001, 0.3), "bc_episodes": 200, "bc_epochs": 10,
            "bc_learning_rate": 3e-3, "learning_rate": 3e-4, "eval_every": 20_000,
            "max_minutes": 45.0,
        }  # fmt: skip
        if quick:
            kept = ("hidden", "n")  # the agent it starts from sets them
            recipe |= {k: v for k, v in _TINY.items() if k not in kept}
        return cls(out=out, **{**recipe, **changes})

    @classmethod
    def quick(cls, out: str = "runs/ft-agent-quick", **changes: Any) -> FTTrainConfig:
        """A seconds-long run on the own suite to check the pipeline end to end."""
        return cls(out=out, **{**_TINY, **changes})


_TINY: dict[str, Any] = {
    "suites": ("own",), "timesteps": 256, "budgets": (60,), "n": 16, "hidden": 16,
    "n_envs": 2, "n_steps": 64, "batch_size": 64, "n_epochs": 1, "eval_every": 128,
    "eval_seeds": 1, "bc_episodes": 2, "bc_epochs": 1,
}  # fmt: skip


def load_task_set(
    suites: Sequence[str], *, lcbench_configs: int = 2000, gamma: float = META_GAMMA
) -> TaskSet:
    """The tasks of ``suites`` with their warm starts and meta-features.

    The policy observes the meta-dataset's tasks' meta-features (LCBench's show zeros, as the
    shipped agent was trained); the warm start's prior weighs a task's meta-train tasks by
    their meta-features on both suites (LCBench's from OpenML's qualities, `lcbench_meta_features`;
    ``gamma``: `TaskSet`'s).
    """
    from tunegym.envs._pool import load_suite, prior_meta_features, snapshot_meta_features

    pools = {s: load_suite(s, lcbench_configs=lcbench_configs) for s in suites}
    meta: dict[str, Any] = (
        dict(snapshot_meta_features()) if {"own", "finetune"} & set(suites) else {}
    )
    return TaskSet(pools, meta=meta, prior_meta=prior_meta_features(), gamma=gamma)


class MetaTrainEnv(gym.Env[np.ndarray, np.int64]):
    """A new meta-train task, budget and candidate set at every reset (fixed spaces).

    Args:
        tasks: the meta-train tasks.
        config: the training configuration (budgets, ``n``, warm start, reward scale).
        seed: seeds the draws.
        reference: (task, budget) → a scratch-only run's final regret (`scratch_reference`),
            which ``config.worse_weight`` charges an episode's excess over.
    """

    def __init__(
        self,
        tasks: Sequence[SuiteTask],
        config: FTTrainConfig,
        seed: int = 0,
        reference: Mapping[tuple[str, int], float] | None = None,
    ) -> None:
        if not tasks:
            raise ValueError("Meta-training needs at least one meta-train task.")
        self.tasks, self.config = list(tasks), config
        self.reference = dict(reference or {})
        self._drawn: tuple[str, int] = ("", 0)
        self._suites = sorted({t.suite for t in tasks})
        weights = dict(zip(config.suites, config.suite_weights or (), strict=False))
        w = np.array([weights.get(s, 1.0) for s in self._suites])
        self._weights = None if config.suite_weights is None else w / w.sum()
        self._own: dict[str, tuple[list[SuiteTask], npt.NDArray[np.float64] | None]] = {}
        for suite in self._suites:
            own = [t for t in self.tasks if t.suite == suite]
            w = np.array([config.scratch_better_weight if scratch_better(t.pool) else 1.0
                          for t in own])  # fmt: skip
            self._own[suite] = (own, None if (w == 1.0).all() else w / w.sum())
        self._rng = np.random.default_rng(seed)
        self.env = self._draw()
        self.observation_space = self.env.observation_space
        self.action_space = self.env.action_space

    def _draw(self) -> FreezeThawEnv:
        if self._weights is None:  # alike (the shipped agent's draws)
            suite = self._suites[int(self._rng.integers(len(self._suites)))]
        else:
            suite = self._suites[int(self._rng.choice(len(self._suites), p=self._weights))]
        own, p = self._own[suite]
        pick = self._rng.integers(len(own)) if p is None else self._rng.choice(len(own), p=p)
        task = own[int(pick)]
        budget = int(self._rng.choice(self.config.budgets_of(suite)))
        self._drawn = (task.pool.task, budget)
        return task_env(
            task, budget, self._rng, n=self.config.n, rows=self.config.n,
            warm=self.config.warm, k_choices=self.config.k_choices,
            meta_prior=self.config.use_meta, price=self._price(),
        )  # fmt: skip

    def _price(self) -> float:
        """The episode's price of cost: log-uniform in ``config.prices``, else 0."""
        if self.config.prices is None:
            return 0.0
        low, high = self.config.prices
        return float(math.exp(self._rng.uniform(math.log(low), math.log(high))))

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        if seed is not None:
            self._rng = np.random.default_rng(seed)
        self.env.close()
        self.env = self._draw()
        return self.env.reset(seed=int(self._rng.integers(2**31)))

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if terminated or truncated:
            reward -= self.config.final_weight * info["regret"]
            scratch = self.reference.get(self._drawn)
            if scratch is not None:
                reward -= self.config.worse_weight * max(info["regret"] - scratch, 0.0)
        return obs, reward * self.config.reward_scale, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """The current episode's valid actions."""
        return self.env.action_masks()


def scratch_better(pool: CurvePool) -> bool:
    """Whether ``pool`` holds fine-tuning candidates and its best scratch candidate ends above
    its best fine-tuning one (seed-mean final scores)."""
    kinds = finetune_kinds(pool.configs)
    if not kinds.any() or kinds.all():
        return False
    final = pool.truth[:, -1]
    return bool(final[kinds == 0].max() > final[kinds == 1].max() + 1e-12)


def _regret_curve(
    agent: FreezeThawAgent,
    task: SuiteTask,
    budget: int,
    seed: int,
    *,
    teacher: Mapping[str, Any] | None = None,
    **env_kwargs: Any,
) -> npt.NDArray[np.float64]:
    """A greedy episode's regret after each epoch of ``budget`` (the last one held to the end);
    ``teacher``: `curve_race`'s settings, and it acts instead, on the same episode (``agent``'s
    N and k)."""
    rng = np.random.default_rng([seed, budget, len(task.pool.task)])
    meta_prior = teacher is not None or agent.net.use_meta  # the ablation has none in its prior
    env = task_env(task, budget, rng, n=agent.n_candidates, k_choices=agent.k_choices,
                   meta_prior=meta_prior, **env_kwargs)  # fmt: skip
    if teacher is not None:
        run_teacher_episode(env, seed=seed, **teacher)
    else:
        run_ft_episode(agent, env, seed=seed)
    curve = env.regret_curve
    return np.concatenate([curve, np.full(budget - len(curve), curve[-1])])


def scratch_reference(
    tasks: Sequence[SuiteTask],
    budgets: Callable[[str], Sequence[int]],
    *,
    agent: FreezeThawAgent | None = None,
    seeds: int = REFERENCE_SEEDS,
    warm: bool = True,
) -> dict[tuple[str, int], float]:
    """(task, budget) → the mean final regret of ``agent``'s (default: the shipped agent's)
    greedy runs on the task's scratch candidates alone: what a run without a pre-trained model
    ends on. Tasks with no fine-tuning candidate are left out."""
    agent = agent or load_ft_agent(DEFAULT_FT_AGENT_DIR)
    out = {}
    for task in tasks:
        if not finetune_kinds(task.pool.configs).any():
            continue
        for budget in budgets(task.suite):
            finals = [_regret_curve(agent, task, budget, s, warm=warm, scratch_only=True)[-1]
                      for s in range(seeds)]  # fmt: skip
            out[(task.pool.task, int(budget))] = float(np.mean(finals))
    return out


def evaluate_tasks(
    agent: FreezeThawAgent,
    tasks: Sequence[SuiteTask],
    budgets: Sequence[int] | Callable[[str], Sequence[int]],
    seeds: int,
    *,
    warm: bool = True,
    reference: Mapping[tuple[str, int], float] | None = None,
    teacher: Mapping[str, Any] | None = None,
) -> dict[str, float]:
    """Mean area under the regret curve and final regret of greedy episodes on ``tasks``.

    ``budgets``: the epoch budgets, or a suite's budgets by its name. ``teacher``: `curve_race`'s
    settings (``{}``: its defaults); it acts instead of ``agent`` on the same episodes. Also the
    mean area of each (suite, budget) setting, under the key ``"area SUITE BUDGET"``. With a
    ``reference``
    (`scratch_reference`) also ``worse``, the mean excess of an episode's final regret over
    scratch's (0 where there is no reference), and ``no_worse``, the share of the referenced
    (task, budget) pairs whose seed-mean final regret is no higher than scratch's.
    """
    areas, finals, worse, pairs = [], [], [], []
    settings: dict[str, list[float]] = {}
    for task in tasks:
        for budget in budgets(task.suite) if callable(budgets) else budgets:
            curves = [_regret_curve(agent, task, budget, s, warm=warm, teacher=teacher)
                      for s in range(seeds)]  # fmt: skip
            areas += [float(c.mean()) for c in curves]
            settings.setdefault(f"area {task.suite} {budget}", []).extend(areas[-seeds:])
            finals += [float(c[-1]) for c in curves]
            scratch = (reference or {}).get((task.pool.task, int(budget)))
            worse += [max(float(c[-1]) - (scratch or 0.0), 0.0) * (scratch is not None)
                      for c in curves]  # fmt: skip
            if scratch is not None:
                pairs.append(np.mean([c[-1] for c in curves]) <= scratch + 1e-9)
    scores = {"area": float(np.mean(areas)), "final": float(np.mean(finals))}
    scores |= {key: float(np.mean(values)) for key, values in settings.items()}
    if reference is not None:
        scores |= {"worse": float(np.mean(worse)),
                   "no_worse": float(np.mean(pairs)) if pairs else float("nan")}  # fmt: skip
    return scores


def relative_area(scores: Mapping[str, float], teacher: Mapping[str, float]) -> float:
    """The geometric mean, over the settings (``"area SUITE BUDGET"`` keys of `evaluate_tasks`)
    of ``teacher``, of ``scores``' area relative to the teacher's (1: as good as the teacher)."""
    keys = [k for k in teacher if k.startswith("area ")]
    ratios = [scores[k] / max(teacher[k], 1e-9) for k in keys]
    return float(np.exp(np.mean(np.log(np.maximum(ratios, 1e-9)))))


def meta_train_rollouts(
    tasks: Sequence[SuiteTask],
    config: FTTrainConfig,
    rng: np.random.Generator,
    choose: Callable[[FreezeThawEnv, npt.NDArray[np.float32], npt.NDArray[np.bool_]], int],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """``config.bc_episodes`` meta-train episodes (`MetaTrainEnv`) acted by ``choose(env, obs,
    mask)``: every state's observation, mask, action and return-to-go (PPO's reward scale),
    as tensors for supervised fitting."""
    env = MetaTrainEnv(tasks, config, seed=config.seed + 11)
    observations, masks, actions, returns = [], [], [], []
    for _ in range(config.bc_episodes):
        obs, _ = env.reset(seed=int(rng.integers(2**31)))
        rewards, done = [], False
        while not done:
            mask = env.action_masks()
            action = choose(env.env, obs, mask)
            observations.append(obs)
            masks.append(mask)
            actions.append(action)
            obs, reward, terminated, truncated, _ = env.step(action)
            rewards.append(reward)
            done = terminated or truncated
        returns += np.cumsum(rewards[::-1])[::-1].tolist()
    return (torch.as_tensor(np.asarray(observations), dtype=torch.float32),
            torch.as_tensor(np.asarray(masks)), torch.as_tensor(np.asarray(actions)),
            torch.as_tensor(np.asarray(returns), dtype=torch.float32))  # fmt: skip


def clone_teacher(
    policy: CandidatePolicy, tasks: Sequence[SuiteTask], config: FTTrainConfig
) -> dict[str, float]:
    """Behaviour cloning: fit ``policy`` to `curve_race`'s actions on meta-train episodes.

    The actor learns the teacher's action (cross-entropy over the valid actions), the critic
    the teacher's return-to-go (in PPO's reward scale), so that PPO starts from a sensible
    policy with a value function that already knows its returns.
    """
    rng = np.random.default_rng(config.seed + 7)
    obs_t, mask_t, act_t, ret_t = meta_train_rollouts(
        tasks, config, rng, lambda env, obs, mask: curve_race(env, obs, first=config.teacher_first)
    )
    policy.set_training_mode(True)
    for group in policy.optimizer.param_groups:  # supervised: a larger step than PPO's
        group["lr"] = config.bc_learning_rate
    losses: list[float] = []
    with torch_threads(config.bc_threads):
        _fit(policy, (obs_t, mask_t, act_t, ret_t), config, rng, losses)
    return {"samples": float(len(act_t)), "loss": float(np.mean(losses[-20:]))}


def _fit(
    policy: CandidatePolicy,
    data: tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor],
    config: FTTrainConfig,
    rng: np.random.Generator,
    losses: list[float],
) -> None:
    """``config.bc_epochs`` passes of cloning over ``data`` (observations, masks, actions,
    returns-to-go); each batch's loss is appended to ``losses``."""
    obs_t, mask_t, act_t, ret_t = data
    for _ in range(config.bc_epochs):
        order = rng.permutation(len(act_t))
        for start in range(0, len(order), config.batch_size):
            b = order[start : start + config.batch_size]
            values, log_prob, _ = policy.evaluate_actions(
                obs_t[b], act_t[b], action_masks=mask_t[b]
            )
            loss = -log_prob.mean() + 0.5 * torch.nn.functional.mse_loss(values.flatten(), ret_t[b])
            policy.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(policy.parameters(), 0.5)
            policy.optimizer.step()
            losses.append(float(loss.detach()))


def _policy(model: Any) -> CandidatePolicy:
    policy = model.policy
    assert isinstance(policy, CandidatePolicy)
    return policy


def _net(model: Any) -> CandidateNet:
    return _policy(model).net


def _start_from(net: CandidateNet, config: FTTrainConfig) -> dict[str, Any]:
    """Load ``config.init``'s weights into ``net`` (it must have the same shape); where they came
    from (the folder, relative to the package's when inside it, and the weights' checksum)."""
    assert config.init is not None
    start = load_ft_agent(config.init)
    spec = start.spec
    if (spec.get("hidden"), list(spec.get("k_choices", DEFAULT_K)), spec.get("use_meta")) != (
        config.hidden,
        list(config.k_choices),
        config.use_meta,
    ):
        raise ValueError(
            f"The agent in {config.init} has hidden={spec.get('hidden')}, "
            f"k_choices={spec.get('k_choices')}, use_meta={spec.get('use_meta')}; train with "
            "the same to start from it."
        )
    net.load_state_dict(start.net.state_dict())
    return {"agent": _shown(config.init), "weights_sha256": spec.get("weights_sha256")}


def _shown(folder: str | Path) -> str:
    """An agent folder as ``agent.json`` records it: relative to the repository when inside it."""
    path = Path(folder).resolve()
    package = Path(__file__).resolve().parents[2]
    return str(path.relative_to(package) if path.is_relative_to(package) else path)


def _make_env(
    tasks: Sequence[SuiteTask],
    config: FTTrainConfig,
    seed: int,
    reference: Mapping[tuple[str, int], float] | None,
) -> Callable[[], gym.Env[np.ndarray, np.int64]]:
    return lambda: MetaTrainEnv(tasks, config, seed=seed, reference=reference)


class _Periodic(BaseCallback):
    """Calls `evaluate` every ``config.eval_every`` steps and ends training once
    ``config.max_minutes`` have passed since it was made."""

    def __init__(self, config: FTTrainConfig) -> None:
        super().__init__()
        self.config = config
        self._next = config.eval_every
        self._start = time.perf_counter()

    def evaluate(self) -> None:
        raise NotImplementedError

    def _on_step(self) -> bool:
        if self.num_timesteps >= self._next:
            self._next += self.config.eval_every
            self.evaluate()
        return time.perf_counter() - self._start < 60 * self.config.max_minutes


class _Selection(_Periodic):
    """Evaluates on meta-val every ``eval_every`` steps and keeps the best network."""

    def __init__(
        self,
        tasks: Sequence[SuiteTask],
        config: FTTrainConfig,
        spec: dict[str, Any],
        progress: Callable[[int, dict[str, float]], None] | None,
        reference: Mapping[tuple[str, int], float] | None = None,
    ) -> None:
        super().__init__(config)
        self.tasks, self.spec, self.report = tasks, spec, progress
        self.reference = reference
        self.best_scores: dict[str, float] = {}
        self.best_state: dict[str, torch.Tensor] | None = None
        self.first_state: dict[str, torch.Tensor] | None = None
        self.first_scores: dict[str, float] = {}
        self.teacher: dict[str, float] = {}
        self.rows: list[dict[str, float]] = []

    def evaluate(self) -> None:
        net = _net(self.model)
        agent = FreezeThawAgent(net, self.spec)
        evaluate = partial(evaluate_tasks, agent, self.tasks, self.config.budgets_of,
                           self.config.eval_seeds, warm=self.config.warm)  # fmt: skip
        scores = evaluate(reference=self.reference)
        if self.config.select_by == "relative":
            self.teacher = self.teacher or evaluate(teacher={})
            scores["relative"] = relative_area(scores, self.teacher)
        net.train()
        row = {"timesteps": self.num_timesteps,
               **{k: v for k, v in scores.items() if not k.startswith("area ")},
               "seconds": round(time.perf_counter() - self._start, 1)}  # fmt: skip
        self.rows.append(row)
        if not self.best_scores or self._key(scores) < self._key(self.best_scores):
            self.best_scores = scores
            self.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            if self.first_state is None:
                self.first_state, self.first_scores = self.best_state, scores
            row["best"] = 1.0
        if self.report:
            self.report(self.num_timesteps, row)

    def confirm(self) -> dict[str, Any] | None:
        """Check selection's pick against the first policy evaluated on
        ``config.confirm_seeds`` episodes (`FTTrainConfig.confirm_seeds`) and keep the better;
        what was compared, or ``None`` where there was nothing to check."""
        c = self.config
        if (c.confirm_seeds <= c.eval_seeds or self.first_state is None
                or self.best_state is None or self.best_state is self.first_state):  # fmt: skip
            return None
        net, n = _net(self.model), c.confirm_n or c.n
        agent = FreezeThawAgent(net, {**self.spec, "n": n})
        scores = {}
        for name, state in (("first", self.first_state), ("selected", self.best_state)):
            net.load_state_dict(state)
            scores[name] = evaluate_tasks(agent, self.tasks, c.budgets_of, c.confirm_seeds,
                                          warm=c.warm, reference=self.reference)  # fmt: skip
        net.train()
        first, selected = scores["first"], scores["selected"]
        if c.select_by == "relative":  # the teacher's areas cancel between the two
            ratio = relative_area(selected, first)
            better = (ratio, selected["final"]) < (1.0, first["final"])
        else:
            ratio = None
            better = self._key(selected) < self._key(first)
        if not better:
            self.best_state, self.best_scores = self.first_state, self.first_scores
        return {"seeds": c.confirm_seeds, "n": n,
                "kept": "selected" if better else "first",
                "selected_relative_to_first": ratio,
                **{f"{name}_{k}": v for name, sc in scores.items()
                   for k, v in sc.items() if not k.startswith("area ")}}  # fmt: skip

    def _key(self, scores: dict[str, float]) -> tuple[float, float]:
        """What selection minimises (`FTTrainConfig.select_by`), ties broken by the final."""
        c = self.config
        if c.select_by == "relative":
            return scores["relative"], scores["final"]
        if c.select_by == "area+final":
            return scores["area"] + scores["final"], scores["final"]
        if c.select_by == "return":
            charged = c.final_weight * scores["final"] + c.worse_weight * scores.get("worse", 0.0)
            return scores["area"] + charged, scores["final"]
        return scores["area"], scores["final"]


def train_ft_agent(
    config: FTTrainConfig,
    *,
    tasks: TaskSet | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[FreezeThawAgent, list[dict[str, float]]]:
    """Meta-train, select on meta-val, save into ``config.out``; the agent and evaluations."""
    torch.set_num_threads(1)
    tasks = tasks or load_task_set(config.suites, lcbench_configs=config.lcbench_configs)
    train = tasks.part("meta-train")
    val = [t for part in config.select_parts for t in tasks.part(part)]
    if config.select_on is not None:
        val = [t for t in val if t.suite in config.select_on]
    if not val:
        raise ValueError(
            f"Model selection needs {' or '.join(config.select_parts)} tasks; the suites' "
            "split has none."
        )
    reference = None
    if config.worse_weight > 0:
        referenced = list({id(t): t for t in [*train, *val]}.values())
        reference = scratch_reference(referenced, config.budgets_of, warm=config.warm)
    envs = DummyVecEnv([_make_env(train, config, config.seed * 1000 + i, reference)
                        for i in range(config.n_envs)])  # fmt: skip
    model = MaskablePPO(
        CandidatePolicy,
        envs,
        policy_kwargs={
            "n_k": len(config.k_choices),
            "hidden": config.hidden,
            "use_meta": config.use_meta,
        },
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        learning_rate=config.learning_rate,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
        target_kl=config.target_kl,
        seed=config.seed,
        device="cpu",
        verbose=0,
    )
    spec = {
        "n_k": len(config.k_choices), "hidden": config.hidden, "use_meta": config.use_meta,
        "k_choices": list(config.k_choices), "n": config.n, "warm": config.warm,
        "train": asdict(config),
    }  # fmt: skip
    if reference is not None:
        spec["scratch_reference"] = {"agent": _shown(DEFAULT_FT_AGENT_DIR), "seeds": REFERENCE_SEEDS,
                                     "pairs": len(reference)}  # fmt: skip
    selection = _Selection(val, config, spec, progress, reference)
    start = time.perf_counter()
    if config.init is not None:
        spec["init"] = _start_from(_net(model), config)
    elif config.bc_episodes:
        clone_teacher(_policy(model), train, config)
        spec["behaviour_cloning"] = {"teacher": "curve_race", "first": config.teacher_first,
                                     "episodes": config.bc_episodes,
                                     "epochs": config.bc_epochs}  # fmt: skip
    selection.init_callback(model)
    selection.evaluate()  # the cloned (or untrained) policy is a candidate too
    model.learn(config.timesteps, callback=selection)
    selection.evaluate()
    confirmed = selection.confirm()
    net = _net(model)
    if selection.best_state is not None:
        net.load_state_dict(selection.best_state)
    selected: dict[str, Any] = {"val_area": selection.best_scores["area"],
                                "val_final": selection.best_scores["final"],
                                "by": config.select_by, "on": sorted({t.suite for t in val}),
                                "parts": list(config.select_parts)}  # fmt: skip
    if "relative" in selection.best_scores:
        selected["val_relative"] = selection.best_scores["relative"]
        selected["teacher_val_area"] = selection.teacher["area"]
    if "no_worse" in selection.best_scores:
        selected["val_no_worse"] = selection.best_scores["no_worse"]
    if confirmed is not None:
        selected["confirmed"] = confirmed
    spec["selected"] = selected
    spec["train_seconds"] = round(time.perf_counter() - start, 1)
    spec["tasks"] = {
        "meta-train": [t.pool.task for t in train], "meta-val": [t.pool.task for t in val],
    }  # fmt: skip
    agent = FreezeThawAgent(net, spec)
    out = Path(config.out)
    agent.save(out)
    with (out / "evaluations.csv").open("w", newline="") as f:
        fields = ["timesteps", "area", "final", "relative", "worse", "no_worse", "seconds", "best"]
        writer = csv.DictWriter(f, [k for k in fields if any(k in row for row in selection.rows)])
        writer.writeheader()
        writer.writerows(selection.rows)
    return agent, selection.rows
