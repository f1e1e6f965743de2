"""Meta-training: MaskablePPO over the meta-train datasets, model selection on meta-val.

Why MaskablePPO: the env's validity of an action depends on the state (the budget left, which
slots can continue), and sb3-contrib's MaskablePPO is the SB3 algorithm that takes the env's
``action_masks()``: the policy never spends samples on invalid actions. PPO's on-policy updates
are cheap on a small MLP, and replay makes samples nearly free.

Every ``eval_every`` timesteps the deterministic masked policy tunes each meta-val dataset
(``eval_seeds`` episodes each, budget ``eval_budget``); the policy with the lowest mean final
normalised regret is the one saved (`tunegym.agent.Agent.save`). Logs go to ``OUT/logs``
(TensorBoard when installed, CSV always) and each evaluation to ``OUT/evaluations.csv``.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import importlib.metadata
import importlib.util
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import numpy as np
import torch
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.logger import configure
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnv

import tunegym
from tunegym.agent._agent import Agent, AgentSpec, load_agent
from tunegym.agent._evaluate import evaluate_policy, regret_at
from tunegym.agent._metadata import MetaDataset
from tunegym.agent._multitask import MultiTaskReplayEnv
from tunegym.baselines import RandomSearch
from tunegym.training import MLPSpec

__all__ = ["AgentTrainConfig", "Evaluation", "TrainProgress", "TrainedAgent", "train_agent"]


@dataclass(frozen=True)
class AgentTrainConfig:
    """Everything meta-training depends on (recorded in ``agent.json``).

    Attributes:
        out: folder for the agent, its logs and evaluations.
        timesteps: PPO environment steps in all.
        budgets: epoch budgets drawn per training episode.
        eval_budget: budget of the meta-val episodes (model selection).
        n_slots: trials kept open (``K``).
        net_arch: hidden layers of the policy and value networks.
        activation: ``"tanh"`` or ``"relu"``.
        n_envs: environments stepped per PPO rollout step.
        subproc: step them in subprocesses (``SubprocVecEnv``) rather than in this one.
        n_steps: rollout length per environment.
        batch_size: PPO minibatch size.
        n_epochs: PPO epochs per rollout.
        learning_rate: Adam's step size.
        gamma: discount (below 1 rewards finding good configurations early).
        gae_lambda: GAE's lambda.
        clip_range: PPO's clip range.
        ent_coef: entropy bonus.
        eval_every: timesteps between meta-val evaluations.
        eval_seeds: episodes per meta-val dataset.
        prior_k: neighbours of the warm-start prior.
        max_datasets: use at most this many datasets per part (a quick run).
        snapshot: meta-dataset snapshot folder (``None``: the one shipped with tunegym).
        seed: seeds PPO, the environments and the evaluations.
    """

    out: str = "runs/agent"
    timesteps: int = 3_000_000
    budgets: tuple[int, ...] = (32, 64, 128)
    eval_budget: int = 64
    n_slots: int = 8
    net_arch: tuple[int, ...] = (64, 64)
    activation: str = "tanh"
    n_envs: int = 8
    subproc: bool = False
    n_steps: int = 256
    batch_size: int = 512
    n_epochs: int = 10
    learning_rate: float = 3e-4
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.01
    eval_every: int = 100_000
    eval_seeds: int = 3
    prior_k: int = 5
    max_datasets: int | None = None
    snapshot: str | None = None
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("timesteps", "n_envs", "n_steps", "batch_size", "n_epochs", "eval_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"AgentTrainConfig.{name} must be an int >= 1, got {value!r}.")
        if self.eval_budget not in self.budgets:
            raise ValueError(
                f"eval_budget {self.eval_budget} must be one of the training budgets {self.budgets}."
            )

    @classmethod
    def quick(cls, out: str = "runs/agent-quick", **changes: Any) -> AgentTrainConfig:
        """A seconds-long run (64 PPO steps, a tiny network) to check the pipeline end to end."""
        tiny: dict[str, Any] = {
            "timesteps": 64,
            "budgets": (64,),
            "net_arch": (16,),
            "n_envs": 2,
            "n_steps": 32,
            "batch_size": 32,
            "n_epochs": 2,
            "eval_every": 64,
            "eval_seeds": 1,
            "max_datasets": 4,
        }
        return cls(out=out, **{**tiny, **changes})


@dataclass(frozen=True)
class Evaluation:
    """One meta-val evaluation during training.

    Attributes:
        timesteps: PPO steps done.
        val_regret: mean final normalised regret over meta-val (the selection criterion).
        val_regret_25: mean regret after 25 % of the budget.
        seconds: training wall time so far.
    """

    timesteps: int
    val_regret: float
    val_regret_25: float
    seconds: float


@dataclass(frozen=True)
class TrainProgress:
    """What meta-training reports as it goes.

    Attributes:
        timesteps: PPO steps done.
        total: PPO steps planned.
        seconds: wall time so far.
        mean_return: mean return of the last training episodes (1 - final regret), if any.
        best_val_regret: the best meta-val regret so far (``nan`` before the first evaluation).
        evaluation: the evaluation just made, if this report follows one.
    """

    timesteps: int
    total: int
    seconds: float
    mean_return: float
    best_val_regret: float
    evaluation: Evaluation | None = None


@dataclass(frozen=True)
class TrainedAgent:
    """The outcome of `train_agent`.

    Attributes:
        agent: the selected agent (as reloaded from ``path``).
        path: the folder holding it.
        evaluations: every meta-val evaluation, in order.
        best: the evaluation of the selected agent.
        random_val_regret: random search's mean final regret on the same meta-val tasks.
        timesteps: PPO steps done.
        seconds: wall time.
        train_datasets: the meta-train datasets used.
        val_datasets: the meta-val datasets used.
    """

    agent: Agent
    path: Path
    evaluations: tuple[Evaluation, ...]
    best: Evaluation
    random_val_regret: float
    timesteps: int
    seconds: float
    train_datasets: tuple[str, ...] = ()
    val_datasets: tuple[str, ...] = ()


def _versions() -> dict[str, str]:
    names = ("stable_baselines3", "sb3_contrib", "gymnasium", "numpy")
    return {
        "tunegym": tunegym.__version__,
        "torch": torch.__version__,
        **{n: importlib.metadata.version(n) for n in names},
    }


class _MetaValSelection(BaseCallback):
    """Evaluates on meta-val every ``every`` steps and saves the best agent."""

    def __init__(
        self,
        config: AgentTrainConfig,
        spec: AgentSpec,
        val_env: MultiTaskReplayEnv,
        progress: Callable[[TrainProgress], None] | None,
    ) -> None:
        super().__init__()
        self.config, self.spec, self.val_env, self.report = config, spec, val_env, progress
        self.evaluations: list[Evaluation] = []
        self.best: Evaluation | None = None
        self.started = time.perf_counter()
        self._last_eval = 0
        self._last_report = 0

    def _on_training_start(self) -> None:
        self.evaluate()  # the untrained policy: selection always has a candidate

    def _on_step(self) -> bool:
        if self.num_timesteps - self._last_eval >= self.config.eval_every:
            self.evaluate()
        elif self.report is not None and self.num_timesteps - self._last_report >= 1024:
            self._report(None)
        return True

    def _report(self, evaluation: Evaluation | None) -> None:
        self._last_report = self.num_timesteps
        if self.report is None:
            return
        returns = [e["r"] for e in self.model.ep_info_buffer or ()]
        self.report(
            TrainProgress(
                timesteps=self.num_timesteps,
                total=self.config.timesteps,
                seconds=time.perf_counter() - self.started,
                mean_return=float(np.mean(returns)) if returns else float("nan"),
                best_val_regret=self.best.val_regret if self.best else float("nan"),
                evaluation=evaluation,
            )
        )

    def evaluate(self) -> None:
        """Evaluate the current policy; save it if it is the best so far."""
        self._last_eval = self.num_timesteps
        budget = self.config.eval_budget
        agent = Agent(cast(MaskableActorCriticPolicy, self.model.policy), self.spec)
        episodes = evaluate_policy(
            self.val_env, lambda _: agent, budget=budget, seeds=range(self.config.eval_seeds)
        )
        evaluation = Evaluation(
            timesteps=self.num_timesteps,
            val_regret=float(np.mean([e.result.final_regret for e in episodes])),
            val_regret_25=float(np.mean([regret_at(e.result, budget / 4) for e in episodes])),
            seconds=time.perf_counter() - self.started,
        )
        self.evaluations.append(evaluation)
        self.logger.record("eval/val_regret", evaluation.val_regret)
        self.logger.record("eval/val_regret_25", evaluation.val_regret_25)
        if self.best is None or evaluation.val_regret < self.best.val_regret:
            self.best = evaluation
            training = {**self.spec.training, "selected": dataclasses.asdict(evaluation)}
            best = dataclasses.replace(self.spec, training=training)
            Agent(agent.policy, best).save(self.config.out)
        self._report(evaluation)


def _write_evaluations(path: Path, evaluations: list[Evaluation]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=[f.name for f in dataclasses.fields(Evaluation)])
        writer.writeheader()
        writer.writerows(dataclasses.asdict(e) for e in evaluations)


def _constant(env: gym.Env) -> Callable[[], gym.Env]:
    return lambda: env


def _vec_env(config: AgentTrainConfig, proto: MultiTaskReplayEnv) -> VecEnv:
    # Copies are far cheaper than rebuilding every replay backend from the curve table.
    factories = [_constant(Monitor(copy.deepcopy(proto))) for _ in range(config.n_envs)]
    return SubprocVecEnv(factories) if config.subproc else DummyVecEnv(factories)


def train_agent(
    config: AgentTrainConfig,
    data: MetaDataset | None = None,
    *,
    progress: Callable[[TrainProgress], None] | None = None,
) -> TrainedAgent:
    """Meta-train an agent with MaskablePPO and keep the best one on meta-val.

    PPO on this small network runs fastest on one torch thread: call
    ``torch.set_num_threads(1)`` first (``tunegym train-agent`` and the experiment script do).

    Args:
        config: the run's configuration (``AgentTrainConfig.quick()`` for a seconds-long run).
        data: the meta-dataset (default: the snapshot ``config.snapshot``, i.e. the shipped one).
        progress: called every ~1000 steps and after each evaluation.

    Returns:
        The selected agent, saved in ``config.out`` with its logs and evaluations.

    Raises:
        ValueError: when the meta-dataset has no meta-train or meta-val dataset.
    """
    started = time.perf_counter()
    data = data if data is not None else MetaDataset.from_snapshot(config.snapshot)
    train = data.datasets("meta-train")[: config.max_datasets]
    val = data.datasets("meta-val")[: config.max_datasets]
    if not train or not val:
        raise ValueError(
            f"Meta-training needs meta-train and meta-val datasets; got {len(train)} and {len(val)}."
        )
    space, seeds = data.space, data.seeds
    candidates = data.datasets("meta-train")
    priors = data.priors([*train, *val], candidates, space, k=config.prior_k)
    options: dict[str, Any] = {
        "space": space,
        "n_slots": config.n_slots,
        "trial_seeds": seeds,
        "priors": priors,
    }
    proto = MultiTaskReplayEnv(data, train, budgets=config.budgets, **options)
    val_env = MultiTaskReplayEnv(data, val, budgets=(config.eval_budget,), **options)
    model_attrs = data.curves.attrs.get("tunegym", {}).get("model")
    spec = AgentSpec(
        space=space,
        n_slots=config.n_slots,
        net_arch=config.net_arch,
        activation=config.activation,
        budgets=config.budgets,
        trial_seeds=seeds,
        prior_k=config.prior_k,
        model=MLPSpec(**model_attrs) if model_attrs else MLPSpec(),
        training={
            "config": dataclasses.asdict(config),
            "train_datasets": train,
            "val_datasets": val,
            "prior_candidates": "meta-train",
        },
        data=dict(data.provenance),
        versions=_versions(),
    )
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    random_episodes = evaluate_policy(
        val_env, lambda _: RandomSearch(), budget=config.eval_budget, seeds=range(config.eval_seeds)
    )
    vec = _vec_env(config, proto)
    model = MaskablePPO(
        "MlpPolicy",
        vec,
        learning_rate=config.learning_rate,
        n_steps=config.n_steps,
        batch_size=config.batch_size,
        n_epochs=config.n_epochs,
        gamma=config.gamma,
        gae_lambda=config.gae_lambda,
        clip_range=config.clip_range,
        ent_coef=config.ent_coef,
        policy_kwargs=spec.policy_kwargs(),
        seed=config.seed,
        device="cpu",
        verbose=0,
    )
    formats = ["csv"] + (["tensorboard"] if importlib.util.find_spec("tensorboard") else [])
    model.set_logger(configure(str(out / "logs"), formats))
    selection = _MetaValSelection(config, spec, val_env, progress)
    try:
        model.learn(total_timesteps=config.timesteps, callback=selection)
        if selection.evaluations[-1].timesteps != model.num_timesteps:
            selection.evaluate()
    finally:
        vec.close()
    _write_evaluations(out / "evaluations.csv", selection.evaluations)
    assert selection.best is not None  # evaluated at the start of training
    return TrainedAgent(
        agent=load_agent(out),
        path=out,
        evaluations=tuple(selection.evaluations),
        best=selection.best,
        random_val_regret=float(np.mean([e.result.final_regret for e in random_episodes])),
        timesteps=int(model.num_timesteps),
        seconds=time.perf_counter() - started,
        train_datasets=tuple(train),
        val_datasets=tuple(val),
    )
