"""Issue 15's targets, checked on the committed benchmark results (meta-test, protocol v2).

    python experiments/agent_targets.py    # after tunegym bench ... --peer agent --merge --publish

For each suite and budget: the agent's mean rank among all peers at each budget fraction from
10 % (the oracle left out: it is the limit, not a tuner), its final regret and regret area
against the best other peer's (excluding the oracle and the agent's own ablations and teacher),
and against the fixed script, its ablations and its teacher, then each task's final regret for
them (where a gap comes from). The oracle's final regret is read beside them as a reference:
one E_max trial of the configuration whose trial has the lowest expected regret (it knows the
task's curves, not the seed its trial draws), whose incumbent is still chosen by validation
on that seed, so it shows what knowing the task reaches under the protocol; and so is the
oracle's mean rank, were it ranked with the tuners.
Each gap carries a 95 % paired hierarchical bootstrap interval (tasks, then seeds, the same
episodes for both methods): for a rank, of the agent's rank minus the best method's per
episode; for a ratio, of the ratio of the two (family-weighted) means. Random search's budget
multiple comes from ``docs/benchmarks/v2/random_factor.csv``
(experiments/random_budget_factor.py). Writes ``docs/agent/targets.md`` and prints it.

``--leave-out TASK`` (repeatable) reads the same tables without a task, a diagnostic of how
much of a gap one task makes (the targets are on every task); write it elsewhere with ``--out``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd

from tunegym.bench import hierarchical_bootstrap, hierarchical_ratio, read_results, summarise
from tunegym.bench._report import _at, _auc, _weighted, _weights, rank_curves

OWN = ("agent", "agent-no-ws", "agent-no-meta", "curve-race")
FRACTIONS = (0.1, 0.25, 0.5, 0.75, 1.0)
N_BOOT = 2000
RESULTS = "docs/benchmarks/v2"
OUT = "docs/agent/targets.md"
SUITES = ("lcbench", "own")


def _interval(low: float, high: float) -> str:
    return f"[{low:.2f}, {high:.2f}]"


def _row_at(ranks: pd.DataFrame, epoch: int) -> pd.Series:
    """The mean ranks at the last checkpoint at or below ``epoch``."""
    return ranks.loc[ranks.index[ranks.index <= epoch].max()]


def _leader(row: pd.Series, who: str) -> tuple[str, bool]:
    """The best-ranked method of ``row`` but ``who``, and whether ``who`` ranks at least as well."""
    top = str(row.drop(index=who).idxmin())
    return top, bool(row[who] <= row[top] + 1e-9)


def rank_gap(part: pd.DataFrame, epoch: int, peer: str, top: str) -> str:
    """``peer``'s rank minus ``top``'s at ``epoch`` (the last checkpoint at or below it), per
    episode among every method: the mean and its paired hierarchical interval."""
    at = part[part["epochs"] <= epoch].groupby(["peer", "task", "seed"], as_index=False).last()
    ranks = at.assign(rank=at.groupby(["task", "seed"])["regret"].rank(method="average"))
    wide = ranks.pivot_table(index=["task", "seed"], columns="peer", values="rank").reset_index()
    wide["gap"] = wide[peer] - wide[top]
    mean, low, high = hierarchical_bootstrap(wide, "gap", n=N_BOOT)
    return f"{mean:+.2f} {_interval(low, high)}"


def ratio(part: pd.DataFrame, peer: str, other: str, what: str) -> tuple[float, str]:
    """``peer``'s family-weighted mean final regret (``what="final"``) or regret area over
    ``other``'s, with its paired hierarchical interval."""

    def per_episode(name: str) -> pd.DataFrame:
        episodes = part[part["peer"] == name]
        read = _at(episodes, 1.0) if what == "final" else _auc(episodes)
        return read.set_index(["task", "seed"])["regret"].rename(name)

    both = pd.concat([per_episode(peer), per_episode(other)], axis=1).dropna().reset_index()
    w = {t: v for t, v in _weights(part).items() if t in set(both["task"])}
    r, low, high = hierarchical_ratio(both, peer, other, weights=w, n=N_BOOT)
    return r, _interval(low, high)


def per_task(part: pd.DataFrame, peers: list[str]) -> list[str]:
    """A Markdown table of each task's seed-mean final regret for ``peers`` (the first is the
    agent), in bold where a peer ends below the agent: where the gaps above come from."""
    last = part.sort_values("epochs").groupby(["peer", "task", "seed"]).tail(1)
    table = last[last["peer"].isin(peers)].groupby(["task", "peer"])["regret"].mean().unstack()
    lines = ["Final regret per task (seed mean; **bold**: below the agent's):", "",
             "| task | " + " | ".join(peers) + " |", "|---" * (len(peers) + 1) + "|"]  # fmt: skip
    for task, row in table.iterrows():
        cells = [f"**{row[p]:.4f}**" if row[p] < row[peers[0]] - 5e-5 else f"{row[p]:.4f}"
                 for p in peers]  # fmt: skip
        lines.append(f"| {task} | " + " | ".join(cells) + " |")
    return lines


def meta_test(frame: pd.DataFrame, leave_out: list[str], *, oracle: bool = False) -> pd.DataFrame:
    """The meta-test episodes of every tuner (not the oracle; with ``oracle``, the oracle's
    alone), without the tasks ``leave_out``."""
    keep = (frame["part"] == "meta-test") & ((frame["peer"] == "oracle") == oracle)
    return frame[keep & ~frame["task"].isin(leave_out)]


def oracle_ranks(part: pd.DataFrame, limit: pd.DataFrame, marks: dict[float, int]) -> list[str]:
    """The oracle's mean rank at each of ``marks`` (fraction: epoch) were it ranked with the
    methods of ``part``, and the best other method's (a reference for the rank target)."""
    if limit.empty:
        return []
    ranks = rank_curves(pd.concat([part, limit]))
    cells = []
    for f, e in marks.items():
        row = _row_at(ranks, e)
        top, best = _leader(row, "oracle")
        cells.append(f"{f:.0%} {row['oracle']:.2f}" + ("" if best else f" ({top} {row[top]:.2f})"))
    return ["", "Reference: ranked with these methods, the oracle's mean rank would be "
                f"{'; '.join(cells)} (in brackets: a method ranked above it)."]  # fmt: skip


def oracle_line(part: pd.DataFrame, limit: pd.DataFrame, best: str) -> list[str]:
    """The oracle's final regret against the best other peer's ``best``, on the episodes of
    ``part`` (a reference: whether the final-regret target is within the protocol's reach)."""
    if limit.empty:
        return []
    r, ci = ratio(pd.concat([part, limit]), "oracle", best, "final")
    regret = _weighted(_at(limit, 1.0), "regret", _weights(limit))
    verdict = (
        "within the target"
        if r <= 0.7
        else "above the target: knowing the task's curves does not reach it either, "
        "as the incumbent is chosen by validation on the trial's seed"
    )
    return ["", "Reference: the oracle (one E_max trial of the configuration it knows is best) "
                f"ends at final regret {regret:.4f}, {r:.2f} {ci} times {best}'s, {verdict}."]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", default=RESULTS, help="a folder of `tunegym bench` results")
    parser.add_argument("--out", default=OUT, help="the Markdown file to write")
    parser.add_argument("--peer", default="agent")
    parser.add_argument("--suite", action="append", choices=SUITES,
                        help="a suite to read (repeatable; default: both)")  # fmt: skip
    parser.add_argument("--leave-out", action="append", default=[], metavar="TASK",
                        help="read the tables without this task (repeatable; a diagnostic)")  # fmt: skip
    args = parser.parse_args()
    if args.leave_out and args.out == OUT:
        parser.error("--leave-out writes a diagnostic, not the targets: give it an --out")
    given = "".join(f" {shlex.quote(a)}" for a in sys.argv[1:])
    source = (
        "the committed results of `tunegym bench` (docs/benchmarks/v2)"
        if args.results == RESULTS
        else f"the `tunegym bench` results in {args.results}"
    )
    lines = ["# Issue 15's targets on meta-test (protocol v2)", "",
             f"Command: `python experiments/agent_targets.py{given}`, from {source}.", ""]  # fmt: skip
    if args.leave_out:
        lines += [f"**Without {', '.join(args.leave_out)}**: a diagnostic of what that task makes "
                  "of the gaps; the targets are read on every task.", ""]  # fmt: skip
    factor_file = Path(args.results) / "random_factor.csv"
    factors = pd.read_csv(factor_file) if factor_file.is_file() else pd.DataFrame()
    frames = {suite: read_results(args.results, suite) for suite in args.suite or SUITES}
    unknown = set(args.leave_out).difference(*(set(f["task"]) for f in frames.values()))
    if unknown:
        parser.error(f"--leave-out: no task {', '.join(sorted(unknown))} in {args.results}")
    for suite, frame in frames.items():
        test = meta_test(frame, args.leave_out)
        limits = meta_test(frame, args.leave_out, oracle=True)
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
            lines += ["| fraction | agent's mean rank | best mean rank (peer) | agent best? | "
                      "agent minus best, per episode [95 %] |", "|---|---|---|---|---|"]  # fmt: skip
            for f, e in marks.items():
                row = _row_at(ranks, e)
                top, best = _leader(row, args.peer)
                lines.append(f"| {f:.0%} | {row[args.peer]:.2f} | "
                             f"{min(row[top], row[args.peer]):.2f} ({args.peer if best else top}) | "
                             f"{'yes' if best else 'no'} | vs {top}: "
                             f"{rank_gap(part, e, args.peer, top)} |")  # fmt: skip
            limit = limits[limits["budget"] == budget]
            lines += oracle_ranks(part, limit, marks)
            ratio_final, ci_final = ratio(part, args.peer, best_final, "final")
            ratio_auc, ci_auc = ratio(part, args.peer, best_auc, "area")
            lines += ["", "| | agent | best other peer | ratio (target <= 0.7) [95 %] |",
                      "|---|---|---|---|",
                      f"| final regret | {me['regret@100']:.4f} | "
                      f"{others.loc[best_final, 'regret@100']:.4f} ({best_final}) | "
                      f"{ratio_final:.2f} {ci_final} |",
                      f"| regret area | {me['auc']:.4f} | {others.loc[best_auc, 'auc']:.4f} "
                      f"({best_auc}) | {ratio_auc:.2f} {ci_auc} |", ""]  # fmt: skip
            lines += ["| against | its final regret | its regret area | agent at least as good on "
                      "both? | agent / it: final, area [95 %] |", "|---|---|---|---|---|"]  # fmt: skip
            for name in ("fixed-script", "curve-race", "agent-no-ws", "agent-no-meta"):
                if name in s.index:
                    r = s.loc[name]
                    both = me["regret@100"] <= r["regret@100"] and me["auc"] <= r["auc"]
                    rf, cf = ratio(part, args.peer, name, "final")
                    ra, ca = ratio(part, args.peer, name, "area")
                    lines.append(f"| {name} | {r['regret@100']:.4f} | {r['auc']:.4f} | "
                                 f"{'yes' if both else 'no'} | {rf:.2f} {cf}, {ra:.2f} {ca} |")  # fmt: skip
            lines += oracle_line(part, limit, best_final)
            shown = [args.peer, *(n for n in OWN[1:] if n in s.index), best_final]
            lines += ["", *per_task(pd.concat([part, limit]),
                                    shown + (["oracle"] if not limit.empty else []))]  # fmt: skip
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
