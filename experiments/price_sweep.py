"""What a price of cost buys: the freeze-thaw agent stopping early, on held-out tasks.

    python experiments/price_sweep.py --part meta-val --windows 0.1 0.2 0.3   # the window
    python experiments/price_sweep.py --rule                                  # meta-test, the rule
    python experiments/price_sweep.py --csv L.csv --against docs/agent/price_sweep.csv  # learned

With a price ``p`` (regret units per whole budget) an episode costs its regret area plus ``p``
times the share of the budget it spent (minus `FreezeThawEnv`'s return), and the agent stops by
`tunegym.envs.priced_stop`: once the last ``window`` of the budget raised the incumbent's
validation score by less than that window's price. The shipped agent runs each (task, budget,
seed) episode of LCBench and meta-dataset v2 (its ``n`` candidates, the episodes of
meta-training's evaluations) with and without the rule; the network never reads the price, so
a stopped episode is the prefix of the unstopped one and the two are compared pair by pair.

Prints, per suite, budget and price, the budget spent, the final regret and the priced cost
with the rule and without it (spending the whole budget), and the share of episodes where the
rule cost less; writes the rows to ``--csv`` and a figure (budget spent and cost relative to
spending everything, against the price) to ``--png`` (``--replot``: again from ``--csv``). ``--windows`` with several values prints the mean cost
relative to spending everything per window: the window of `STOP_WINDOW` was chosen that way on
meta-val.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

from tunegym.agent._ftagent import FreezeThawAgent, SuiteTask, load_ft_agent, task_env
from tunegym.agent._fttrain import FTTrainConfig, load_task_set
from tunegym.agent._stoptrain import run_priced as episode
from tunegym.envs import STOP_WINDOW

PRICES = (0.0, 0.003, 0.01, 0.03, 0.1)
OUT = Path("docs/agent")


def run(
    agent: FreezeThawAgent, task: SuiteTask, budget: int, seed: int, price: float, window: float
) -> tuple[np.ndarray, float]:
    """The (task, budget, seed) episode of meta-training's evaluations, under ``price``."""
    rng = np.random.default_rng([seed, budget, len(task.pool.task)])
    env = task_env(task, budget, rng, n=agent.n_candidates, k_choices=agent.k_choices,
                   price=price)  # fmt: skip
    return episode(agent, env, seed, window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", default="meta-test", choices=("meta-val", "meta-test"))
    parser.add_argument("--prices", nargs="+", type=float, default=list(PRICES))
    parser.add_argument("--windows", nargs="+", type=float, default=[STOP_WINDOW])
    parser.add_argument("--seeds", type=int, default=10, help="episodes per task and budget")
    parser.add_argument("--csv", type=Path, default=OUT / "price_sweep.csv")
    parser.add_argument("--png", type=Path, default=OUT / "price_sweep.png")
    parser.add_argument("--replot", action="store_true", help="report --csv's rows again")
    parser.add_argument("--agent", type=Path, help="an agent folder (default: the shipped one); "
                        "one that learned when to stop stops by its network, not the rule")  # fmt: skip
    parser.add_argument("--against", type=Path, help="another run's --csv (the same episodes, "
                        "e.g. the rule's): also print the cost of each against it")  # fmt: skip
    parser.add_argument("--rule", action="store_true", help="stop by the rule even where the "
                        "agent learned when to stop (the rest of its network as it is)")  # fmt: skip
    args = parser.parse_args()
    if args.replot:
        with args.csv.open() as f:
            kinds = {"suite": str, "task": str, "budget": _int, "seed": _int}
            rows = [{k: kinds.get(k, float)(v) for k, v in r.items()} for r in csv.DictReader(f)]
        args.windows = sorted({r["window"] for r in rows})
        report(rows, args)
        return
    torch.set_num_threads(1)
    config = FTTrainConfig()
    tasks = load_task_set(config.suites).part(args.part)
    agent = load_ft_agent(args.agent)
    if args.rule:
        agent.spec.pop("stop", None)  # `FreezeThawAgent.learned_stop` off: the rule stops it
    prices = [p for p in args.prices if p > 0]
    rows = []
    for task in tasks:
        for budget in config.budgets_of(task.suite):
            for seed in range(args.seeds):
                full, _ = run(
                    agent, task, budget, seed, 0.0, STOP_WINDOW
                )  # no price: the whole budget
                for window in args.windows:
                    for price in prices:
                        curve, spent = run(agent, task, budget, seed, price, window)
                        rows.append({
                            "suite": task.suite, "task": task.pool.task, "budget": budget,
                            "seed": seed, "window": window, "price": price, "spent": spent,
                            "final": float(curve[-1]), "full_final": float(full[-1]),
                            "cost": float(curve.mean()) + price * spent,
                            "full_cost": float(full.mean()) + price,
                        })  # fmt: skip
        print(f"{task.suite} {task.pool.task} done", flush=True)
    report(rows, args)


def _int(text: str) -> int:
    return int(float(text))


def report(rows: list[dict], args: argparse.Namespace) -> None:
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with args.csv.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    keys = sorted({(r["suite"], r["budget"]) for r in rows})
    if len(args.windows) > 1:
        print("\n| window | cost / cost of spending everything (mean over settings and prices) |")
        print("|---|---|")
        for w in args.windows:
            ratios = [np.mean([r["cost"] for r in sel]) / np.mean([r["full_cost"] for r in sel])
                      for k in keys for p in {r["price"] for r in rows}
                      if (sel := [r for r in rows if (r["suite"], r["budget"]) == k
                                  and r["price"] == p and r["window"] == w])]  # fmt: skip
            print(f"| {w:g} | {np.exp(np.mean(np.log(ratios))):.3f} |")
    window = args.windows[0] if len(args.windows) == 1 else None
    print(f"\n{args.part}, window {window if window is not None else 'each'}:\n")
    print("| suite | budget | price | budget spent | final regret (all budget) | "
          "cost (all budget) | episodes cheaper |")  # fmt: skip
    print("|---" * 7 + "|")
    for suite, budget in keys:
        for p in sorted({r["price"] for r in rows}):
            sel = [r for r in rows if (r["suite"], r["budget"], r["price"]) == (suite, budget, p)
                   and (window is None or r["window"] == window)]  # fmt: skip
            m = {k: float(np.mean([r[k] for r in sel])) for k in
                 ("spent", "final", "full_final", "cost", "full_cost")}  # fmt: skip
            cheaper = np.mean([r["cost"] <= r["full_cost"] + 1e-12 for r in sel])
            print(f"| {suite} | {budget} | {p:g} | {m['spent']:.0%} | {m['final']:.4f} "
                  f"({m['full_final']:.4f}) | {m['cost']:.4f} ({m['full_cost']:.4f}) | "
                  f"{cheaper:.0%} |")  # fmt: skip
    if window is not None:
        plot(rows, keys, args.png)
    if getattr(args, "against", None):
        against(rows, args.against)


def against(rows: list[dict], path: Path) -> None:
    """Each setting and price's mean cost against ``path``'s rows for the same episodes."""
    with path.open() as f:
        other = {(r["task"], _int(r["budget"]), _int(r["seed"]), float(r["price"])): r
                 for r in csv.DictReader(f)}  # fmt: skip
    pairs: dict[tuple[str, int, float], list[tuple[dict, dict]]] = {}
    for r in rows:
        o = other.get((r["task"], r["budget"], r["seed"], r["price"]))
        if o is not None:
            pairs.setdefault((r["suite"], r["budget"], r["price"]), []).append((r, o))
    print(f"\nagainst {path} (the same episodes):\n")
    print("| suite | budget | price | budget spent (other) | final regret (other) | "
          "cost (other) | cost ratio | episodes cheaper or equal |")  # fmt: skip
    print("|---" * 8 + "|")
    ratios = []
    for (suite, budget, price), sel in sorted(pairs.items()):
        mine = {k: np.mean([float(r[k]) for r, _ in sel]) for k in ("spent", "final", "cost")}
        theirs = {k: np.mean([float(o[k]) for _, o in sel]) for k in ("spent", "final", "cost")}
        ratios.append(mine["cost"] / theirs["cost"])
        cheaper = np.mean([float(r["cost"]) <= float(o["cost"]) + 1e-12 for r, o in sel])
        print(f"| {suite} | {budget} | {price:g} | {mine['spent']:.0%} ({theirs['spent']:.0%}) | "
              f"{mine['final']:.4f} ({theirs['final']:.4f}) | {mine['cost']:.4f} "
              f"({theirs['cost']:.4f}) | {ratios[-1]:.3f} | {cheaper:.0%} |")  # fmt: skip
    if ratios:
        print(f"\ngeometric mean cost ratio: {np.exp(np.mean(np.log(ratios))):.3f}")


def plot(rows: list[dict], keys: list[tuple[str, int]], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (spent_ax, cost_ax) = plt.subplots(1, 2, figsize=(9, 3.6))
    prices = sorted({r["price"] for r in rows})
    for suite, budget in keys:
        sel = [[r for r in rows if (r["suite"], r["budget"], r["price"]) == (suite, budget, p)]
               for p in prices]  # fmt: skip
        spent = [100 * np.mean([r["spent"] for r in s]) for s in sel]
        ratio = [np.mean([r["cost"] for r in s]) / np.mean([r["full_cost"] for r in s])
                 for s in sel]  # fmt: skip
        label = f"{suite}, {budget} epochs"
        spent_ax.plot(prices, spent, marker="o", label=label)
        cost_ax.plot(prices, ratio, marker="o", label=label)
    for ax in (spent_ax, cost_ax):
        ax.set_xscale("log")
        ax.set_xlabel("price of a whole budget (regret units)")
        ax.grid(alpha=0.3)
    spent_ax.set_ylabel("budget spent (%)")
    cost_ax.set_ylabel("cost / cost of spending everything")
    cost_ax.axhline(1.0, color="grey", lw=0.8, ls="--")
    spent_ax.legend(fontsize=8)
    fig.suptitle("The agent under a price of cost (cost: regret area + price x budget spent)",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)
    print(f"wrote {png}")


if __name__ == "__main__":
    main()
