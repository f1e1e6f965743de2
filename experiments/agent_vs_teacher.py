"""Where a trained agent and its teacher part: per task, their regret and their first actions.

    python experiments/agent_vs_teacher.py runs/ft-v7 --part meta-train --suite own
    python experiments/agent_vs_teacher.py runs/ft-v7 --budgets 200 --seeds 5 --first early

Runs the agent (greedy) and `curve_race` (``--first``: how it picks its first probe) on the same
episodes of every task of one part of a suite's split (meta-train tasks get the leave-one-out
warm start that training gives them), ``--seeds`` each, at the agent's N and k, and prints per
task the mean regret area and final regret of both (``<``: the agent's area is lower, ``>``:
higher, ``=``: within 0.0001) and, where they differ, the first 12 actions of seed 0 of each as
``candidate:epochs`` (candidates in the episode's order: the portfolio's picks first). This is
how stop 42 found what PPO had taught the shipped agent on meta-dataset v2: to probe the
portfolio's second pick first on some datasets. Meta-test is never read.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tunegym.agent._ftagent import load_ft_agent, run_ft_episode, task_env
from tunegym.agent._fttrain import FTTrainConfig, load_task_set
from tunegym.agent._teacher import FIRST, run_teacher_episode
from tunegym.envs import FreezeThawEnv

_CACHE: dict[str, Any] = {}


def _actions(env: FreezeThawEnv) -> list[str]:
    """The episode's actions from its step log: ``candidate:epochs``, or ``stop``."""
    return [
        e["kind"] if e["kind"] == "stop" else f"{e['candidate']}:{e['k']}" for e in env.step_log
    ]


def _task(job: tuple[str, int, int, int, str, str]) -> tuple[str, int, dict[str, Any]]:
    """One task at one budget: the teacher's and the agent's means and seed 0's actions."""
    part, index, budget, seeds, folder, first = job
    torch.set_num_threads(1)
    if not _CACHE:
        _CACHE["tasks"] = load_task_set(FTTrainConfig().suites)
        _CACHE["agent"] = load_ft_agent(folder)
    task, agent = _CACHE["tasks"].part(part)[index], _CACHE["agent"]
    out: dict[str, Any] = {}
    for name in ("teacher", "agent"):
        areas, finals, actions = [], [], []
        for seed in range(seeds):
            rng = np.random.default_rng([seed, budget, len(task.pool.task)])
            env = task_env(task, budget, rng, n=agent.n_candidates, k_choices=agent.k_choices,
                           meta_prior=agent.net.use_meta)  # fmt: skip
            if name == "teacher":
                run_teacher_episode(env, seed=seed, first=first)
            else:
                run_ft_episode(agent, env, seed=seed)
            curve = env.regret_curve  # held at its last value to the budget, as selection reads
            areas.append((curve.sum() + curve[-1] * (budget - len(curve))) / budget)
            finals.append(curve[-1])
            actions.append(_actions(env))
        out[name] = (float(np.mean(areas)), float(np.mean(finals)), actions[0])
    return task.pool.task, budget, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("agent", type=Path, help="an agent folder (weights.pt + agent.json)")
    parser.add_argument("--part", choices=("meta-train", "meta-val"), default="meta-train")
    parser.add_argument("--suite", choices=("own", "lcbench"), default="own")
    parser.add_argument("--budgets", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--seeds", type=int, default=3, help="episodes per task and budget")
    parser.add_argument("--first", choices=FIRST, default="portfolio",
                        help="the teacher's first probe (curve_race's first)")  # fmt: skip
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    tasks = load_task_set(FTTrainConfig().suites).part(args.part)
    jobs = [(args.part, i, b, args.seeds, str(args.agent), args.first)
            for i, t in enumerate(tasks) if t.suite == args.suite for b in args.budgets]  # fmt: skip
    with ProcessPoolExecutor(args.workers) as pool:
        results = list(pool.map(_task, jobs))
    for budget in args.budgets:
        rows = [(task, r) for task, b, r in results if b == budget]
        mean = {who: np.mean([r[who][:2] for _, r in rows], axis=0) for who in ("teacher", "agent")}
        print(f"\n{args.suite} {args.part}, {budget} epochs, {args.seeds} seeds: teacher area "
              f"{mean['teacher'][0]:.4f} final {mean['teacher'][1]:.4f}; agent area "
              f"{mean['agent'][0]:.4f} final {mean['agent'][1]:.4f}")  # fmt: skip
        for task, r in rows:
            (ta, tf, tact), (aa, af, aact) = r["teacher"], r["agent"]
            mark = "<" if aa < ta - 1e-4 else ">" if aa > ta + 1e-4 else "="
            print(f"{mark} {task:40s} teacher {ta:.4f} / {tf:.4f}  agent {aa:.4f} / {af:.4f}")
            if tact != aact:
                print(f"    teacher: {' '.join(tact[:12])}\n    agent:   {' '.join(aact[:12])}")


if __name__ == "__main__":
    main()
