"""How much more budget random search needs to match a peer's final regret (issue 15's target).

    python experiments/random_budget_factor.py                       # the agent, both suites
    python experiments/random_budget_factor.py --peer tpe-ws --suite lcbench

Reads the peer's final regret on each suite's meta-test tasks from the committed benchmark
results (``docs/benchmarks/v2/<suite>_results.csv.gz``, the same tasks and seeds), runs random
search (the benchmark's own peer, same ledger, same episode seeds) on those tasks with up to
``--factor`` times the budget, and reports the first budget at which random search's mean
regret (family-weighted like the report's) is at most the peer's. Writes
``docs/benchmarks/v2/random_factor.csv``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from tunegym.bench import episode_seed, get_peer, load_suite, read_results, run_episode


def family_mean(per_task: pd.Series, families: dict[str, str]) -> float:
    """Mean over families of the mean over their tasks (the report's weighting)."""
    frame = per_task.rename("v").to_frame().assign(family=[families[t] for t in per_task.index])
    return float(frame.groupby("family")["v"].mean().mean())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--peer", default="agent")
    parser.add_argument("--suite", action="append", help="lcbench / own (default: both)")
    parser.add_argument("--factor", type=int, default=20, help="largest budget multiple tried")
    parser.add_argument("--out", default="docs/benchmarks/v2")
    args = parser.parse_args()
    random = get_peer("random").load()
    rows = []
    for suite in args.suite or ["lcbench", "own"]:
        results = read_results(args.out, suite)
        seeds = int(results.attrs["bench"].get("seeds", 10))
        pools = {p.task: p for p in load_suite(suite) if p.part == "meta-test"}
        families = {t: p.family for t, p in pools.items()}
        for budget in sorted(results["budget"].unique()):
            mine = results[(results["peer"] == args.peer) & (results["budget"] == budget)
                           & (results["part"] == "meta-test")]  # fmt: skip
            if mine.empty:
                raise SystemExit(f"No {args.peer!r} rows at {budget} epochs in {suite}'s results.")
            final = mine[mine["epochs"] == budget].groupby("task")["regret"].mean()
            target = family_mean(final, families)
            long = int(budget) * args.factor
            curves = {}
            for task, pool in pools.items():
                runs = [run_episode(random, pool, long, episode_seed(0, task, s)).regret
                        for s in range(seeds)]  # fmt: skip
                curves[task] = np.mean(runs, axis=0)
            mean_curve = np.array([
                family_mean(pd.Series({t: c[e] for t, c in curves.items()}), families)
                for e in range(long)
            ])  # fmt: skip
            hit = np.flatnonzero(mean_curve <= target)
            needed = int(hit[0]) + 1 if len(hit) else None
            rows.append({
                "suite": suite, "budget": int(budget), "peer": args.peer,
                "peer_final_regret": round(target, 5),
                "random_final_regret": round(float(mean_curve[int(budget) - 1]), 5),
                "random_epochs_to_match": needed,
                "factor": round(needed / int(budget), 2) if needed else f"> {args.factor}",
            })  # fmt: skip
            print(rows[-1], flush=True)
    out = Path(args.out) / "random_factor.csv"
    pd.DataFrame(rows).to_csv(out, index=False)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
