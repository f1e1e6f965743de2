"""Issue 15's targets, checked on the committed benchmark results (meta-test, protocol v2).

    python experiments/agent_targets.py    # after tunegym bench ... --peer agent --merge --publish

For each suite and budget: the agent's mean rank among all peers at each budget fraction from
10 % (the oracle left out: it is the limit, not a tuner), its final regret and regret area
against the best other peer's (excluding the oracle and the agent's own ablations and teacher),
and against the fixed script, its ablations and its teacher. Random search's budget multiple
comes from ``docs/benchmarks/v2/random_factor.csv`` (experiments/random_budget_factor.py).
Writes ``docs/agent/targets.md`` and prints it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from tunegym.bench import read_results, summarise
from tunegym.bench._report import rank_curves

OWN = ("agent", "agent-no-ws", "agent-no-meta", "curve-race")
FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default="docs/benchmarks/v2")
    parser.add_argument("--out", default="docs/agent/targets.md")
    parser.add_argument("--peer", default="agent")
    args = parser.parse_args()
    lines = ["# Issue 15's targets on meta-test (protocol v2)", "",
             "Command: `python experiments/agent_targets.py`, from the committed results of "
             "`tunegym bench` (docs/benchmarks/v2).", ""]  # fmt: skip
    factor_file = Path(args.results) / "random_factor.csv"
    factors = pd.read_csv(factor_file) if factor_file.is_file() else pd.DataFrame()
    for suite in ("lcbench", "own"):
        frame = read_results(args.results, suite)
        test = frame[(frame["part"] == "meta-test") & (frame["peer"] != "oracle")]
        summary = summarise(test, n_boot=200)
        for budget in sorted(test["budget"].unique(), reverse=True):
            part = test[test["budget"] == budget]
            ranks = rank_curves(part)
            marks = {f: max(1, int(f * budget)) for f in FRACTIONS}
            s = summary[summary["budget"] == budget].set_index("peer")
            me = s.loc[args.peer]
            others = s.drop(index=[p for p in OWN if p in s.index])
            best_final = others["regret@100"].idxmin()
            best_auc = others["auc"].idxmin()
            lines += [f"## {suite}, {budget} epochs ({part['task'].nunique()} tasks x "
                      f"{part['seed'].nunique()} seeds, {s.shape[0]} methods)", ""]  # fmt: skip
            lines += ["| fraction | agent's mean rank | best mean rank (peer) | agent best? |",
                      "|---|---|---|---|"]  # fmt: skip
            for f, e in marks.items():
                row = ranks.loc[ranks.index[ranks.index <= e].max()]
                top = row.idxmin()
                lines.append(f"| {f:.0%} | {row[args.peer]:.2f} | {row[top]:.2f} ({top}) | "
                             f"{'yes' if row[args.peer] <= row[top] + 1e-9 else 'no'} |")  # fmt: skip
            ratio_final = me["regret@100"] / max(others.loc[best_final, "regret@100"], 1e-12)
            ratio_auc = me["auc"] / max(others.loc[best_auc, "auc"], 1e-12)
            lines += ["", "| | agent | best other peer | ratio (target <= 0.7) |", "|---|---|---|---|",
                      f"| final regret | {me['regret@100']:.4f} | "
                      f"{others.loc[best_final, 'regret@100']:.4f} ({best_final}) | {ratio_final:.2f} |",
                      f"| regret area | {me['auc']:.4f} | {others.loc[best_auc, 'auc']:.4f} "
                      f"({best_auc}) | {ratio_auc:.2f} |", ""]  # fmt: skip
            lines += ["| against | its final regret | its regret area | agent at least as good on both? |",
                      "|---|---|---|---|"]  # fmt: skip
            for name in ("fixed-script", "curve-race", "agent-no-ws", "agent-no-meta"):
                if name in s.index:
                    r = s.loc[name]
                    both = me["regret@100"] <= r["regret@100"] and me["auc"] <= r["auc"]
                    lines.append(f"| {name} | {r['regret@100']:.4f} | {r['auc']:.4f} | "
                                 f"{'yes' if both else 'no'} |")  # fmt: skip
            if not factors.empty:
                hit = factors[(factors["suite"] == suite) & (factors["budget"] == budget)
                              & (factors["peer"] == args.peer)]  # fmt: skip
                if not hit.empty:
                    lines += ["", f"Random search needs {hit['factor'].iloc[0]}x the budget to "
                              f"match the agent's final regret (target >= 10x)."]  # fmt: skip
            lines.append("")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
