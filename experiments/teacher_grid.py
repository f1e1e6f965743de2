"""The curve race's probes (``probes`` × ``probe_k``) on meta-val: how its defaults were chosen.

    python experiments/teacher_grid.py                      # the grid the defaults came from
    python experiments/teacher_grid.py --grid 3x8 3x4 --seeds 5

Runs `curve_race` with each setting on the meta-val tasks of LCBench and meta-dataset v2
(budgets 200 and 1000, ``--seeds`` episodes each, 256 candidates: the episodes meta-training's
selection runs) and prints each setting's regret area and final regret per suite and budget,
and the geometric mean over those four settings of its area relative to no probing (``0x0``).
Meta-test is never read.
"""

from __future__ import annotations

import argparse

import numpy as np

from tunegym.agent._ftagent import task_env
from tunegym.agent._fttrain import FTTrainConfig, load_task_set
from tunegym.agent._teacher import run_teacher_episode

GRID = ("0x0", "2x8", "3x2", "3x4", "3x8", "4x4", "5x4")


def scores(task, budget: int, seeds: int, probes: int, probe_k: int) -> tuple[list, list]:
    """Regret areas and finals of the teacher's episodes on ``task``."""
    areas, finals = [], []
    for s in range(seeds):
        rng = np.random.default_rng([s, budget, len(task.pool.task)])
        env = task_env(task, budget, rng, n=256)
        run_teacher_episode(env, seed=s, probes=probes, probe_k=max(probe_k, 1))
        curve = env.regret_curve
        curve = np.concatenate([curve, np.full(budget - len(curve), curve[-1])])
        areas.append(curve.mean())
        finals.append(curve[-1])
    return areas, finals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--grid", nargs="+", default=list(GRID), help="PROBESxK settings")
    parser.add_argument("--seeds", type=int, default=10, help="episodes per task and budget")
    args = parser.parse_args()
    config = FTTrainConfig()
    val = load_task_set(config.suites).part("meta-val")
    grid = ["0x0", *[g for g in args.grid if g != "0x0"]]
    table: dict[str, dict[str, tuple[float, float]]] = {g: {} for g in grid}
    for suite in config.suites:
        for budget in config.budgets_of(suite):
            for g in grid:
                probes, probe_k = (int(v) for v in g.split("x"))
                areas, finals = [], []
                for task in (t for t in val if t.suite == suite):
                    a, f = scores(task, budget, args.seeds, probes, probe_k)
                    areas += a
                    finals += f
                table[g][f"{suite} {budget}"] = (float(np.mean(areas)), float(np.mean(finals)))
    settings = list(table["0x0"])
    print("| probes x epochs | relative area | " + " | ".join(settings) + " |")
    print("|---" * (2 + len(settings)) + "|")
    for g, row in table.items():
        ratios = [row[s][0] / table["0x0"][s][0] for s in settings]
        cells = [f"{row[s][0]:.4f} / {row[s][1]:.4f}" for s in settings]
        relative = float(np.exp(np.mean(np.log(ratios))))
        print(f"| {g} | {relative:.3f} | " + " | ".join(cells) + " |")
    print("\ncells: regret area / final regret; relative area: geometric mean of area / 0x0's")


if __name__ == "__main__":
    main()
