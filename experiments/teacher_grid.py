"""The curve race's probes (``probes`` × ``probe_k``) on meta-val: how its defaults were chosen.

    python experiments/teacher_grid.py                      # the grid the defaults came from
    python experiments/teacher_grid.py --grid 3x8 3x4 --seeds 5
    python experiments/teacher_grid.py --grid 3x8 3x8:early   # the first probe (``first``)

Runs `curve_race` with each setting on the meta-val tasks of LCBench and meta-dataset v2
(budgets 200 and 1000, ``--seeds`` episodes each, 256 candidates: the episodes meta-training's
selection runs) and prints each setting's regret area and final regret per suite and budget,
and the geometric mean over those four settings of its area relative to no probing (``0x0``).
A setting ``PROBESxK:FIRST`` also sets how the first probe is picked (`curve_race`'s ``first``).
``--part meta-train`` runs the meta-train tasks instead. Meta-test is never read.
"""

from __future__ import annotations

import argparse

from tunegym.agent._ftagent import load_ft_agent
from tunegym.agent._fttrain import FTTrainConfig, evaluate_tasks, load_task_set, relative_area

GRID = ("0x0", "2x8", "3x2", "3x4", "3x8", "4x4", "5x4")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--grid", nargs="+", default=list(GRID), help="PROBESxK or PROBESxK:FIRST settings"
    )
    parser.add_argument("--seeds", type=int, default=10, help="episodes per task and budget")
    parser.add_argument(
        "--part",
        choices=("meta-val", "meta-train"),
        default="meta-val",
        help="the tasks (meta-train: each with the leave-one-out warm start training gives it)",
    )
    args = parser.parse_args()
    config = FTTrainConfig()
    val = load_task_set(config.suites).part(args.part)
    grid = ["0x0", *[g for g in args.grid if g != "0x0"]]
    shape = load_ft_agent()  # its N (256) and k: the episodes meta-training's selection runs
    scores: dict[str, dict[str, float]] = {g: {} for g in grid}  # "area SUITE BUDGET", finals
    for suite in config.suites:
        for budget in config.budgets_of(suite):
            of_suite = [t for t in val if t.suite == suite]
            for g in grid:
                size, _, first = g.partition(":")
                probes, probe_k = (int(v) for v in size.split("x"))
                teacher = {
                    "probes": probes,
                    "probe_k": max(probe_k, 1),
                    "first": first or "portfolio",
                }
                s = evaluate_tasks(shape, of_suite, [budget], args.seeds, teacher=teacher)
                scores[g] |= {
                    f"area {suite} {budget}": s["area"],
                    f"final {suite} {budget}": s["final"],
                }
    settings = [k[5:] for k in scores["0x0"] if k.startswith("area ")]
    print("| probes x epochs | relative area | " + " | ".join(settings) + " |")
    print("|---" * (2 + len(settings)) + "|")
    for g, row in scores.items():
        cells = [f"{row['area ' + k]:.4f} / {row['final ' + k]:.4f}" for k in settings]
        relative = relative_area(row, scores["0x0"])
        print(f"| {g} | {relative:.3f} | " + " | ".join(cells) + " |")
    print("\ncells: regret area / final regret; relative area: geometric mean of area / 0x0's")


if __name__ == "__main__":
    main()
