"""Choose between trained freeze-thaw agents on meta-val, by the recipe's criterion.

    python experiments/select_agent.py runs/ft-v5 tunegym/agent/pretrained/freeze_thaw
    python experiments/select_agent.py runs/a runs/b --seeds 10 --json out.json

Each agent folder (``weights.pt`` + ``agent.json``) and the teacher (`curve_race`) run the same
greedy episodes on the meta-val tasks of LCBench and meta-dataset v2 (budgets 200 and 1000,
``--seeds`` each). Printed per agent: the mean regret area and final regret, the area of every
(suite, budget) setting, and the selection criterion of `tunegym train-agent --v2`
(``relative``: the geometric mean over the settings of the area relative to the teacher's).
The agent with the lowest ``relative`` is the one to ship; meta-test is never read.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from tunegym.agent._ftagent import load_ft_agent
from tunegym.agent._fttrain import FTTrainConfig, evaluate_tasks, load_task_set, relative_area


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("agents", nargs="+", type=Path, help="agent folders to compare")
    parser.add_argument("--seeds", type=int, default=10, help="episodes per task and budget")
    parser.add_argument("--json", type=Path, help="also write the scores here")
    args = parser.parse_args()
    torch.set_num_threads(1)
    config = FTTrainConfig()
    val = load_task_set(config.suites).part("meta-val")
    agents = {str(folder): load_ft_agent(folder) for folder in args.agents}
    first = next(iter(agents.values()))
    out: dict[str, dict[str, float]] = {
        "teacher": evaluate_tasks(first, val, config.budgets_of, args.seeds, teacher={})
    }
    for name, agent in agents.items():
        warm = bool(agent.spec.get("warm", True))
        scores = evaluate_tasks(agent, val, config.budgets_of, args.seeds, warm=warm)
        out[name] = scores | {"relative": relative_area(scores, out["teacher"])}
    settings = sorted(k for k in out["teacher"] if k.startswith("area "))
    print("| | relative | area | final | " + " | ".join(s[5:] for s in settings) + " |")
    print("|---" * (4 + len(settings)) + "|")
    for name, s in out.items():
        cells = [f"{s.get('relative', 1.0):.3f}", f"{s['area']:.4f}", f"{s['final']:.4f}"]
        print(f"| {name} | " + " | ".join(cells + [f"{s[k]:.4f}" for k in settings]) + " |")
    best = min((n for n in out if n != "teacher"), key=lambda n: out[n]["relative"])
    print(f"\nlowest relative area: {best}")
    if args.json:
        args.json.write_text(json.dumps({"seeds": args.seeds, "scores": out}, indent=1))


if __name__ == "__main__":
    main()
