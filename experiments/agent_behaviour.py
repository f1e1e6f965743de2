"""How the freeze-thaw agent behaves on held-out tasks, and how fast it decides (issue 15).

    python experiments/agent_behaviour.py                 # the shipped agent, meta-test of both suites
    python experiments/agent_behaviour.py --agent runs/ft-agent --seeds 10

For every meta-test task of LCBench's surrogate and meta-dataset v2, at budgets 1000 and 200,
``--seeds`` greedy episodes on the task's pool (the portfolio and prior from the meta-train
tasks) record: the share of actions that start a trial, continue one or stop; the distinct
configurations trained; epochs per trial; whether any (configuration, seed) is trained twice;
the epochs spent per learning-rate decade; the final regret and the area under the regret
curve. Then the decision time per step at N = 64, 128, 256 and 512 candidates (p50, p95),
alone and with the prior's update that precedes it.
Writes ``docs/agent/behaviour.json`` and ``docs/agent/behaviour.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from tunegym.agent._ftagent import load_ft_agent, run_ft_episode, task_env
from tunegym.agent._fttrain import load_task_set


def behaviour(agent_dir: str | None, seeds: int, budgets: tuple[int, ...]) -> dict:
    agent = load_ft_agent(agent_dir)
    tasks = load_task_set(("lcbench", "own")).part("meta-test")
    out: dict = {}
    for budget in budgets:
        kinds: Counter[str] = Counter()
        epochs_by_lr: Counter[str] = Counter()
        distinct, per_trial, at_max, finals, areas, repeats = [], [], [], [], [], 0
        for task in tasks:
            for s in range(seeds):
                rng = np.random.default_rng([s, budget, len(task.pool.task), 7])
                env = task_env(task, budget, rng, n=agent.n_candidates, k_choices=agent.k_choices)
                run_ft_episode(agent, env, seed=s)
                log = env.step_log
                kinds.update(e["kind"] for e in log)
                trained = [e for e in log if e["kind"] in ("new", "continue")]
                starts = [(e["candidate"], e["seed"]) for e in log if e["kind"] == "new"]
                repeats += len(starts) - len(set(starts))
                distinct.append(len(set(starts)))
                done = env.epochs_done
                per_trial += done[done > 0].tolist()
                at_max += (done[done > 0] >= env.max_epochs).tolist()
                for e in trained:
                    lr = env.candidates[e["candidate"]].get(
                        "learning_rate", env.candidates[e["candidate"]].get("lr")
                    )
                    if lr is not None:
                        epochs_by_lr[f"1e{math.floor(math.log10(float(lr)))}"] += e["epochs"]
                curve = env.regret_curve
                curve = np.concatenate([curve, np.full(budget - len(curve), curve[-1])])
                finals.append(float(curve[-1]))
                areas.append(float(curve.mean()))
        total = sum(kinds.values())
        lr_total = sum(epochs_by_lr.values()) or 1
        out[str(budget)] = {
            "episodes": len(finals),
            "share": {k: round(kinds[k] / total, 4) for k in ("new", "continue", "stop")},
            "distinct_configs_mean": round(float(np.mean(distinct)), 2),
            "epochs_per_trial_median": float(np.median(per_trial)),
            "epochs_per_trial_mean": round(float(np.mean(per_trial)), 2),
            "trials_at_max_share": round(float(np.mean(at_max)), 4),
            "repeated_config_seed": repeats,
            "epochs_by_lr_decade": {
                k: round(v / lr_total, 4) for k, v in sorted(epochs_by_lr.items())
            },
            "final_regret_mean": round(float(np.mean(finals)), 5),
            "area_mean": round(float(np.mean(areas)), 5),
        }
    return out


def decision_times(agent_dir: str | None, sizes: tuple[int, ...] = (64, 128, 256, 512)) -> dict:
    torch.set_num_threads(1)
    agent = load_ft_agent(agent_dir)
    task = load_task_set(("lcbench",)).part("meta-test")[0]
    out = {}
    for n in sizes:
        env = task_env(task, 1000, np.random.default_rng(0), n=n, k_choices=agent.k_choices)
        updates: list[float] = []
        model = env.prior_model
        if model is not None:  # the prior's update after each step is the tuner's work too
            predict = model.predict

            def timed(*args: object, predict=predict, updates=updates) -> np.ndarray:  # type: ignore[no-untyped-def]
                start = time.perf_counter()
                out = predict(*args)
                updates.append(time.perf_counter() - start)
                return out

            model.predict = timed  # type: ignore[method-assign]
        info = run_ft_episode(agent, env, seed=0)
        d = np.asarray(info["decisions"][5:]) * 1000  # ms, after warm-up
        u = np.asarray(updates[6:] or [0.0]) * 1000  # the update before each of those steps
        both = d + u[: len(d)] if len(u) >= len(d) else d
        out[str(n)] = {
            "steps": len(d),
            "p50_ms": round(float(np.percentile(d, 50)), 3),
            "p95_ms": round(float(np.percentile(d, 95)), 3),
            "prior_update_p95_ms": round(float(np.percentile(u, 95)), 3),
            "with_prior_p95_ms": round(float(np.percentile(both, 95)), 3),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agent", default=None, help="agent folder (default: the shipped one)")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", default="docs/agent")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    result = {
        "behaviour": behaviour(args.agent, args.seeds, (1000, 200)),
        "decision": decision_times(args.agent),
        "command": "python experiments/agent_behaviour.py"
        + (f" --agent {args.agent}" if args.agent else "")
        + (f" --seeds {args.seeds}" if args.seeds != 10 else ""),
    }
    result["wall_seconds"] = round(time.perf_counter() - start, 1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "behaviour.json").write_text(json.dumps(result, indent=1) + "\n")
    lines = [
        "# The freeze-thaw agent's behaviour on meta-test",
        "",
        f"Command: `{result['command']}` ({result['wall_seconds']} s). Meta-test tasks of LCBench's "
        "surrogate and meta-dataset v2, greedy episodes, the portfolio and prior from meta-train.",
        "",
        "| budget | new | continue | stop | distinct configs | epochs/trial (median) | "
        "trials at E_max | repeated (config, seed) | final regret | regret area |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for budget, b in result["behaviour"].items():
        s = b["share"]
        lines.append(
            f"| {budget} | {s['new']:.1%} | {s['continue']:.1%} | {s['stop']:.1%} | "
            f"{b['distinct_configs_mean']} | {b['epochs_per_trial_median']:g} | "
            f"{b['trials_at_max_share']:.1%} | {b['repeated_config_seed']} | "
            f"{b['final_regret_mean']:.4f} | {b['area_mean']:.4f} |"
        )
    lines += ["", "Epochs per learning-rate decade (share of all epochs):", ""]
    for budget, b in result["behaviour"].items():
        parts = ", ".join(f"{k}: {v:.1%}" for k, v in b["epochs_by_lr_decade"].items())
        lines.append(f"- budget {budget}: {parts}")
    lines += [
        "",
        "Decision time per step (1 thread): the policy's forward pass, and the prior's update",
        "(`RankWeightedPrior`, after each step) added to it.",
        "",
        "| N | p50 ms | p95 ms | prior update p95 ms | both p95 ms |",
        "|---|---|---|---|---|",
    ]
    for n, d in result["decision"].items():
        lines.append(
            f"| {n} | {d['p50_ms']} | {d['p95_ms']} | {d['prior_update_p95_ms']} | "
            f"{d['with_prior_p95_ms']} |"
        )
    (out / "behaviour.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
