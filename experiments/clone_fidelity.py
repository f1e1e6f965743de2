"""How closely a behaviour-cloned policy follows its teacher, with and without a row field.

    python experiments/clone_fidelity.py                       # 60 teacher episodes, 15 passes
    python experiments/clone_fidelity.py --episodes 300 --epochs 30
    python experiments/clone_fidelity.py --hide vs_finished    # the clone without that field

Clones `curve_race` (`tunegym.agent._fttrain.clone_teacher`) on the meta-train tasks of LCBench
and meta-dataset v2 exactly as `tunegym train-agent --v2` does before PPO, then runs the greedy
clone and the teacher on the meta-val tasks (budgets 200 and 1000, ``--seeds`` episodes each)
and prints their mean regret area and final regret per suite and budget. ``--hide FIELD`` keeps
one of the env's row fields at 0 throughout, so the clone never sees it: the difference is what
the field is worth to the clone. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from sb3_contrib import MaskablePPO
from stable_baselines3.common.vec_env import DummyVecEnv

from tunegym.agent._candidates import CandidatePolicy
from tunegym.agent._ftagent import FreezeThawAgent
from tunegym.agent._fttrain import (
    FTTrainConfig,
    MetaTrainEnv,
    clone_teacher,
    evaluate_tasks,
    load_task_set,
)
from tunegym.envs import ROW_FIELDS, FreezeThawEnv


def hide(field: str) -> None:
    """Keep ``field`` at 0 in every row of every `FreezeThawEnv` from now on."""
    column = ROW_FIELDS.index(field)
    update = FreezeThawEnv._update

    def hidden(self: FreezeThawEnv) -> None:
        update(self)
        self._rows[:, column] = 0.0

    FreezeThawEnv._update = hidden  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=60, help="teacher episodes cloned")
    parser.add_argument("--epochs", type=int, default=15, help="passes over them")
    parser.add_argument("--seeds", type=int, default=3, help="meta-val episodes per task/budget")
    parser.add_argument("--hide", choices=ROW_FIELDS, help="a row field the clone never sees")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.hide:
        hide(args.hide)
    config = FTTrainConfig(bc_episodes=args.episodes, bc_epochs=args.epochs)
    tasks = load_task_set(config.suites)
    train, val = tasks.part("meta-train"), tasks.part("meta-val")
    envs = DummyVecEnv([lambda: MetaTrainEnv(train, config, seed=0)])
    model = MaskablePPO(CandidatePolicy, envs, n_steps=config.n_steps,
                        batch_size=config.batch_size, seed=config.seed, device="cpu",
                        policy_kwargs={"n_k": len(config.k_choices), "hidden": config.hidden,
                                       "use_meta": True})  # fmt: skip
    start = time.perf_counter()
    cloned = clone_teacher(model.policy, train, config)
    seconds = time.perf_counter() - start
    agent = FreezeThawAgent(model.policy.net, {"n": config.n, "k_choices": config.k_choices})
    rows = {}
    for suite in config.suites:
        for budget in config.budgets:
            of_suite = [t for t in val if t.suite == suite]
            rows[f"{suite} {budget}"] = {
                "clone": evaluate_tasks(agent, of_suite, [budget], args.seeds),
                "teacher": evaluate_tasks(agent, of_suite, [budget], args.seeds, teacher={}),
            }
    out = {"episodes": args.episodes, "epochs": args.epochs, "hidden": args.hide,
           "cloning": cloned, "clone_seconds": round(seconds, 1), "meta-val": rows}  # fmt: skip
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
