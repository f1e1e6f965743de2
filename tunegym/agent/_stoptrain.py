"""Learning when to stop: a trained freeze-thaw agent's stop logit, under a price of cost.

With a price ``p`` (regret units per whole budget) an episode costs its regret area plus ``p``
times the share of the budget it spent (`tunegym.envs.FreezeThawEnv`'s return), so stopping
pays once the rest of the budget would remove less regret than it costs. The network's stop
logit reads its context and `tunegym.agent._candidates.STOP_INPUTS` (budget spent, price, the
incumbent's recent gain); this stage teaches it that trade-off and nothing else:

1. **Start from a trained agent** (``init``, default the shipped one). Every weight but the stop
   logit's is frozen, and the price reaches nothing else, so the candidates advanced are those
   of the agent at every price and a price of 0 changes nothing.
2. **Imitate `priced_stop`** on the agent's own episodes (meta-train tasks, a price drawn
   log-uniformly from ``prices`` per episode): the stop logit learns where the rule stops, and
   the critic, which reads the price too, the returns. This gives PPO a policy that stops at all.
3. **MaskablePPO** on the same episodes, its gradient reaching only the stop logit (and the
   critic): the return itself decides when to stop, no longer the rule.
4. **Selection** on meta-val: the geometric mean, over LCBench and meta-dataset v2 at both
   budgets and the prices `EVAL_PRICES`, of the mean cost relative to spending the whole
   budget (the criterion `STOP_WINDOW` was chosen by), for the imitation and every PPO
   evaluation; the rule's own value on the same episodes is recorded beside it.

The agent saved has ``stop`` in ``agent.json``; `FreezeThawAgent.learned_stop` then lets its
network stop instead of `priced_stop`.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.vec_env import DummyVecEnv

from tunegym.agent._candidates import STOP_INPUTS, CandidatePolicy
from tunegym.agent._ftagent import (
    DEFAULT_FT_AGENT_DIR,
    FreezeThawAgent,
    SuiteTask,
    TaskSet,
    load_ft_agent,
    task_env,
)
from tunegym.agent._fttrain import (
    FTTrainConfig,
    _make_env,
    _net,
    _Periodic,
    _policy,
    _shown,
    load_task_set,
    meta_train_rollouts,
    train_ft_agent,
)
from tunegym.envs import STOP_WINDOW, FreezeThawEnv, priced_stop

__all__ = ["EVAL_PRICES", "run_priced", "stop_costs", "train_stop"]

EVAL_PRICES = (0.003, 0.01, 0.03, 0.1)
"""The prices meta-val weighs (those `STOP_WINDOW` was chosen at)."""


def _frozen_but_stop(policy: CandidatePolicy) -> None:
    """Freeze the actor except its stop logit; the critic and value head stay trainable."""
    for p in policy.parameters():
        p.requires_grad_(False)
    for module in (policy.net.stop, policy.critic, policy.value_net):
        for p in module.parameters():
            p.requires_grad_(True)


def imitate_rule(
    policy: CandidatePolicy, tasks: Sequence[SuiteTask], config: FTTrainConfig
) -> dict[str, float]:
    """Fit the stop gate to `priced_stop` on the agent's own greedy episodes under drawn prices,
    and the critic to their returns (PPO's reward scale).

    The network's advance logits are frozen, so the gate is a logistic regression of "the rule
    stops here" on the stop logit's inputs (the context and `stop_features`), fitted by L-BFGS
    with a little L2: convex, where a few Adam passes move its weights too little for a boundary
    as sharp as the rule's. The probability it fits is the masked policy's (the gate plus the
    log-share of the advance logits that are valid), which `FreezeThawAgent.act` stops by.
    """
    net = policy.net
    agent = FreezeThawAgent(net, {})  # no "stop": it advances greedily, never stops
    rng = np.random.default_rng(config.seed + 7)

    def rule(env: FreezeThawEnv, obs: np.ndarray, mask: np.ndarray) -> int:
        return env.stop_action if priced_stop(env) else agent.act(obs, mask)

    obs_t, mask_t, act_t, ret_t = meta_train_rollouts(tasks, config, rng, rule)
    y = (act_t == mask_t.shape[1] - 1).float()  # the last action is stop
    features, offsets = [], []
    with torch.no_grad():
        for start in range(0, len(y), 1024):
            h, context, _ = net.encode(obs_t[start : start + 1024])
            advance = net.logits(h, context)[:, :-1]
            valid = mask_t[start : start + 1024, :-1]
            every = torch.logsumexp(advance, dim=1)
            features.append(context)
            offsets.append(every - torch.logsumexp(advance.masked_fill(~valid, -torch.inf), dim=1))
    x, offset = torch.cat(features), torch.cat(offsets)
    optimizer = torch.optim.LBFGS(
        net.stop.parameters(), max_iter=200, line_search_fn="strong_wolfe"
    )

    def gate_loss() -> torch.Tensor:
        optimizer.zero_grad()
        z = net.stop(x).squeeze(1) + offset
        loss = torch.nn.functional.binary_cross_entropy_with_logits(z, y)
        loss = loss + 1e-5 * net.stop.weight.pow(2).sum()
        loss.backward()
        return loss

    optimizer.step(gate_loss)
    with torch.no_grad():
        z = net.stop(x).squeeze(1) + offset
        gate = float(torch.nn.functional.binary_cross_entropy_with_logits(z, y))
        said = z > 0
    critic = [
        p for p in policy.parameters() if p.requires_grad and p not in set(net.stop.parameters())
    ]
    adam = torch.optim.Adam(critic, lr=config.bc_learning_rate)
    losses = []
    policy.set_training_mode(True)
    for _ in range(config.bc_epochs):
        order = rng.permutation(len(y))
        for start in range(0, len(order), config.batch_size):
            b = order[start : start + config.batch_size]
            values = policy.predict_values(obs_t[b]).flatten()
            loss = torch.nn.functional.mse_loss(values, ret_t[b])
            adam.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(critic, 0.5)
            adam.step()
            losses.append(float(loss.detach()))
    return {"samples": float(len(y)), "stops": float(y.sum()), "gate_loss": gate,
            "agreement": float((said == (y > 0.5)).float().mean()),
            "stops_recalled": float(said[y > 0.5].float().mean()) if y.sum() else float("nan"),
            "value_loss": float(np.mean(losses[-20:]))}  # fmt: skip


def stop_costs(
    agent: FreezeThawAgent,
    tasks: Sequence[SuiteTask],
    budgets: Callable[[str], Sequence[int]],
    seeds: int,
    prices: Sequence[float] = EVAL_PRICES,
    *,
    full: dict[tuple[str, int, int], tuple[float, float]] | None = None,
) -> dict[str, Any]:
    """The agent's priced episodes against spending the whole budget, on the episodes of
    meta-training's evaluations (`price_sweep.py`'s): ``relative``, the geometric mean over
    (suite, budget) settings and ``prices`` of the mean cost (regret area + price × budget
    share spent) over the mean cost of spending everything, with ``spent`` (the mean budget
    share) and ``final`` (the mean final regret). ``full``: the unpriced episodes' (area,
    final) by (task, budget, seed), computed when not given and returned under ``"full"``."""
    full = {} if full is None else full
    cost: dict[tuple[str, int, float], list[tuple[float, float]]] = {}
    spent, finals = [], []
    for task in tasks:
        for budget in budgets(task.suite):
            for seed in range(seeds):
                key = (task.pool.task, budget, seed)
                if key not in full:
                    curve, _ = _episode(agent, task, budget, seed, 0.0)
                    full[key] = (float(curve.mean()), float(curve[-1]))
                for price in prices:
                    curve, share = _episode(agent, task, budget, seed, price)
                    area, _ = full[key]
                    cost.setdefault((task.suite, budget, price), []).append(
                        (float(curve.mean()) + price * share, area + price)
                    )
                    spent.append(share)
                    finals.append(float(curve[-1]))
    ratios = [np.mean([c for c, _ in v]) / np.mean([f for _, f in v]) for v in cost.values()]
    return {"relative": float(np.exp(np.mean(np.log(ratios)))), "spent": float(np.mean(spent)),
            "final": float(np.mean(finals)), "full": full}  # fmt: skip


def _episode(
    agent: FreezeThawAgent, task: SuiteTask, budget: int, seed: int, price: float
) -> tuple[np.ndarray, float]:
    """The (task, budget, seed) episode of meta-training's evaluations under ``price``
    (`run_priced`)."""
    rng = np.random.default_rng([seed, budget, len(task.pool.task)])
    env = task_env(task, budget, rng, n=agent.n_candidates, k_choices=agent.k_choices,
                   meta_prior=agent.net.use_meta, price=price)  # fmt: skip
    return run_priced(agent, env, seed)


def run_priced(
    agent: FreezeThawAgent, env: FreezeThawEnv, seed: int, window: float = STOP_WINDOW
) -> tuple[np.ndarray, float]:
    """Run ``agent`` on ``env`` (its price stops it: by the network where it learned when to,
    else by `priced_stop` over ``window``); the regret curve over the whole budget (held after
    a stop) and the budget share spent."""
    obs, _ = env.reset(seed=seed)
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(agent.decide(env, obs, window=window))
        done = terminated or truncated
    curve = env.regret_curve
    full = np.concatenate([curve, np.full(env.budget - len(curve), curve[-1])])
    return full, len(curve) / env.budget


class _StopSelection(_Periodic):
    """Evaluates the learned stop on meta-val every ``eval_every`` steps; keeps the best."""

    def __init__(self, tasks: Sequence[SuiteTask], config: FTTrainConfig, spec: dict[str, Any],
                 progress: Callable[[int, dict[str, float]], None] | None) -> None:  # fmt: skip
        super().__init__(config)
        self.tasks, self.spec, self.report = tasks, spec, progress
        self.full: dict[tuple[str, int, int], tuple[float, float]] = {}
        self.rows: list[dict[str, float]] = []
        self.best: dict[str, float] = {}
        self.best_state: dict[str, torch.Tensor] | None = None

    def score(self, agent: FreezeThawAgent) -> dict[str, float]:
        out = stop_costs(agent, self.tasks, self.config.budgets_of, self.config.eval_seeds,
                         full=self.full)  # fmt: skip
        return {k: v for k, v in out.items() if k != "full"}

    def evaluate(self) -> None:
        net = _net(self.model)
        scores = self.score(FreezeThawAgent(net, self.spec))
        net.train()
        row = {"timesteps": self.num_timesteps, **scores,
               "seconds": round(time.perf_counter() - self._start, 1)}  # fmt: skip
        self.rows.append(row)
        if not self.best or scores["relative"] < self.best["relative"]:
            self.best = scores
            self.best_state = {k: v.detach().clone() for k, v in net.state_dict().items()}
            row["best"] = 1.0
        if self.report:
            self.report(self.num_timesteps, row)


def train_stop(
    config: FTTrainConfig,
    *,
    tasks: TaskSet | None = None,
    progress: Callable[[int, dict[str, float]], None] | None = None,
) -> tuple[FreezeThawAgent, list[dict[str, float]]]:
    """Teach ``config.init``'s agent (default: the shipped one) when to stop under a price
    (``config.prices``), select on meta-val, save into ``config.out``; the agent and the
    evaluations (the first row: `priced_stop` itself, at 0 steps, for reference)."""
    torch.set_num_threads(1)
    init = config.init or str(DEFAULT_FT_AGENT_DIR)
    start_agent = load_ft_agent(init)
    spec0 = start_agent.spec
    config = replace(config, init=init, n=int(spec0.get("n", config.n)),
                     hidden=int(spec0["hidden"]), use_meta=bool(spec0.get("use_meta", True)),
                     warm=bool(spec0.get("warm", True)), k_choices=start_agent.k_choices)  # fmt: skip
    if config.prices is None:
        raise ValueError("Learning when to stop needs a range of prices (FTTrainConfig.prices).")
    tasks = tasks or load_task_set(config.suites, lcbench_configs=config.lcbench_configs)
    train, val = tasks.part("meta-train"), tasks.part("meta-val")
    envs = DummyVecEnv([_make_env(train, config, config.seed * 1000 + i, None)
                        for i in range(config.n_envs)])  # fmt: skip
    model = MaskablePPO(
        CandidatePolicy, envs,
        policy_kwargs={"n_k": len(config.k_choices), "hidden": config.hidden,
                       "use_meta": config.use_meta, "stop_gate": True},
        n_steps=config.n_steps, batch_size=config.batch_size, n_epochs=config.n_epochs,
        learning_rate=config.learning_rate, gamma=config.gamma, gae_lambda=config.gae_lambda,
        clip_range=config.clip_range, ent_coef=config.ent_coef, target_kl=config.target_kl,
        seed=config.seed, device="cpu", verbose=0,
    )  # fmt: skip
    policy = _policy(model)
    policy.net.load_state_dict(start_agent.net.state_dict())
    policy.critic.load_state_dict(start_agent.net.state_dict())
    _frozen_but_stop(policy)
    spec = {**{k: v for k, v in spec0.items() if k not in ("weights_sha256", "format", "version")},
            "stop": {"init": _shown(init), "prices": list(config.prices),
                     "inputs": list(STOP_INPUTS), "train": asdict(config)}}  # fmt: skip
    selection = _StopSelection(val, config, spec, progress)
    selection.init_callback(model)
    start = time.perf_counter()
    rule = selection.score(start_agent)  # the rule on the same episodes, for reference
    selection.rows.append({"timesteps": 0.0, **rule, "rule": 1.0,
                           "seconds": round(time.perf_counter() - start, 1)})  # fmt: skip
    if progress:
        progress(0, selection.rows[-1])
    if config.bc_episodes:
        spec["stop"]["imitation"] = imitate_rule(policy, train, config)
    selection.evaluate()
    model.learn(config.timesteps, callback=selection)
    selection.evaluate()
    net = _net(model)
    if selection.best_state is not None:
        net.load_state_dict(selection.best_state)
    spec["stop"]["selected"] = {"val_relative": selection.best["relative"],
                                "val_spent": selection.best["spent"],
                                "val_final": selection.best["final"],
                                "rule_val_relative": rule["relative"]}  # fmt: skip
    spec["stop"]["train_seconds"] = round(time.perf_counter() - start, 1)
    agent = FreezeThawAgent(net, spec)
    out = Path(config.out)
    agent.save(out)
    with (out / "stop_evaluations.csv").open("w", newline="") as f:
        fields = ["timesteps", "relative", "spent", "final", "rule", "seconds", "best"]
        writer = csv.DictWriter(f, fields)
        writer.writeheader()
        writer.writerows({k: row.get(k, "") for k in fields} for row in selection.rows)
    return agent, selection.rows


SHIPPED_RECIPE: dict[str, Any] = {
    "bc_episodes": 300, "bc_epochs": 30, "bc_threads": 2, "eval_every": 20_000,
    "confirm_seeds": 10, "confirm_n": 512,
}  # fmt: skip
"""The policy stage's recipe beyond `FTTrainConfig`'s defaults: the shipped agent's cloning (the
teacher's 300 episodes, 30 passes) on two threads, which a run alone has the cores for, and PPO
evaluated every 20,000 steps (the shipped agent's runs: 40,000), so that selection weighs more
policies in a shorter PPO; PPO's pick is then checked against the clone on 10 seeds at the 512
candidates the agent ships with (104 s in stop 45's run, taken from the stop stage), since the
2-seed evaluations picked PPO over the clone where 20 seeds did not (stop 44)."""

STOP_MARGIN_MINUTES = 3.0
"""What `train_with_stop` keeps back from the second stage's minutes: the evaluation after its
last PPO step and the save."""


def train_with_stop(
    out: str | Path,
    *,
    minutes: float = 88.0,
    policy_share: float = 0.5,
    quick: bool = False,
    tasks: TaskSet | None = None,
    policy_progress: Callable[[int, dict[str, float]], None] | None = None,
    stop_progress: Callable[[int, dict[str, float]], None] | None = None,
    **changes: Any,
) -> FreezeThawAgent:
    """The freeze-thaw agent's whole recipe, its stop gate too, as one run within ``minutes`` of
    wall time (`tunegym train-agent --v2 --with-stop`).

    1. The policy (`tunegym.agent._fttrain.train_ft_agent`): the teacher cloned, then
       MaskablePPO, selected on meta-val, into ``out/policy``, for ``policy_share`` of the
       minutes (the cloning included).
    2. When to stop (`train_stop` from ``out/policy``) into ``out``, for the minutes left less
       `STOP_MARGIN_MINUTES`.

    The agent saved in ``out`` records the run in ``agent.json``'s ``recipe``.

    Args:
        out: the folder of the agent (its policy stage in ``out/policy``).
        minutes: the whole run's wall time (without ``quick``).
        policy_share: the share of ``minutes`` the policy stage may take.
        quick: the same run in seconds (`FTTrainConfig.quick`'s and ``stop(quick=True)``'s
            recipes), to check the pipeline.
        tasks: the meta-train and meta-val tasks (default: LCBench's and meta-dataset v2's).
        policy_progress, stop_progress: called with each stage's evaluations.
        **changes: `FTTrainConfig` fields of the policy stage (``seed`` of both).

    Raises:
        ValueError: a share outside (0, 1), or too few minutes left for the second stage.
    """
    if not 0 < policy_share < 1:
        raise ValueError(f"policy_share must lie in (0, 1), got {policy_share!r}.")
    start = time.perf_counter()
    out = Path(out)
    if quick:
        first = FTTrainConfig.quick(out=str(out / "policy"), **changes)
    else:
        first = FTTrainConfig(out=str(out / "policy"),
                              **{**SHIPPED_RECIPE, "max_minutes": minutes * policy_share, **changes})  # fmt: skip
    tasks = tasks or load_task_set(first.suites, lcbench_configs=first.lcbench_configs)
    train_ft_agent(first, tasks=tasks, progress=policy_progress)
    left = minutes - (time.perf_counter() - start) / 60 - STOP_MARGIN_MINUTES
    if not quick and left < 1:
        raise ValueError(
            f"The policy stage took {(time.perf_counter() - start) / 60:.1f} of {minutes:g} "
            f"minutes, leaving {max(left, 0):.1f} to learn when to stop; give more minutes or a "
            "smaller policy_share. Its agent is in "
            f"{first.out}: `tunegym train-agent --v2 --learn-stop --init {first.out}` goes on."
        )
    stop_changes: dict[str, Any] = {"seed": first.seed, "init": first.out, "suites": first.suites}
    if not quick:
        stop_changes["max_minutes"] = left
    second = FTTrainConfig.stop(out=str(out), quick=quick, **stop_changes)
    agent, _ = train_stop(second, tasks=tasks, progress=stop_progress)
    agent.spec["recipe"] = {
        "stages": {"policy": first.out, "stop": second.out}, "minutes": minutes,
        "policy_share": policy_share, "quick": quick,
        "seconds": round(time.perf_counter() - start, 1),
    }  # fmt: skip
    agent.save(out)
    return agent
