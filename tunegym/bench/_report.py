"""Tables and figures of a suite's results (protocol v2), and its section of docs/BENCHMARKS.md.

Every mean is over tasks of the seed-mean (family-weighted where the suite's families are
unequal), with a hierarchical bootstrap interval (tasks, then seeds). Ranks are per episode
(task, seed), ties shared; the critical-difference diagram ranks the seed-mean final regret per
task (Demšar's blocks are tasks).
"""

from __future__ import annotations

import datetime
import json
import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunegym.bench._registry import PEERS
from tunegym.bench._run import FRACTIONS
from tunegym.bench._stats import (
    critical_difference,
    family_weights,
    hierarchical_bootstrap,
    mean_ranks,
    plot_critical_difference,
)

__all__ = ["rank_curves", "read_results", "summarise", "write_report"]


def _weights(frame: pd.DataFrame) -> dict[str, float]:
    pairs = frame[["task", "family"]].drop_duplicates()
    family = {str(k): str(v) for k, v in zip(pairs["task"], pairs["family"], strict=True)}
    return family_weights(sorted(family), family.__getitem__)


def _at(frame: pd.DataFrame, fraction: float) -> pd.DataFrame:
    """Each episode read at ``fraction`` of its budget (the last checkpoint at or below it)."""
    limit = np.floor(frame["budget"] * fraction).clip(lower=1)
    return (
        frame[frame["epochs"] <= limit]
        .groupby(["budget", "peer", "task", "seed"], as_index=False)
        .last()
    )


def summarise(frame: pd.DataFrame, *, n_boot: int = 1000) -> pd.DataFrame:
    """One row per (budget, peer) on the tasks in ``frame``.

    Columns: regret at each of `FRACTIONS` (family-weighted mean over tasks; at 100 % with a
    95 % hierarchical bootstrap interval), ``test`` at 100 %, ``rank`` (mean rank of the final
    regret per episode among the peers in ``frame``), ``auc`` (mean regret over the budget, the
    area under the per-epoch curve read at the checkpoints), ``seconds`` (training seconds the
    budget bought), ``configs`` tried and ``decision_s`` (the tuner's own seconds per episode).
    """
    weights = _weights(frame)
    out = []
    for budget, part in frame.groupby("budget"):
        final = _at(part, 1.0)
        ranks = mean_ranks(final.rename(columns={"peer": "method"}), "regret")
        for peer, episodes in part.groupby("peer"):
            row: dict[str, Any] = {"budget": budget, "peer": peer,
                                   "library": PEERS[str(peer)].library}  # fmt: skip
            w = {t: weights[t] for t in episodes["task"].unique()}
            for f in FRACTIONS:
                read = _at(episodes, f)
                if f == 1.0:
                    mean, low, high = hierarchical_bootstrap(read, "regret", weights=w, n=n_boot)
                    row.update({"regret@100": mean, "ci_low": low, "ci_high": high})
                    row["test"] = _weighted(read, "test", w)
                    row["seconds"] = _weighted(read, "seconds", w)
                    row["configs"] = float(read["configs"].mean())
                    row["decision_s"] = float(read["decision_seconds"].mean())
                else:
                    row[f"regret@{round(f * 100)}"] = _weighted(read, "regret", w)
            row["auc"] = _weighted(_auc(episodes), "regret", w)
            row["rank"] = float(ranks.get(peer, np.nan))
            out.append(row)
    return pd.DataFrame(out).sort_values(["budget", "regret@100"]).reset_index(drop=True)


def _weighted(frame: pd.DataFrame, value: str, weights: dict[str, float]) -> float:
    per_task = frame.groupby("task")[value].mean()
    w = np.array([weights[t] for t in per_task.index])
    return float(np.sum(per_task.to_numpy() * w) / w.sum())


def _auc(episodes: pd.DataFrame) -> pd.DataFrame:
    """Per episode, the mean regret over the budget (trapezoids between checkpoints)."""
    rows = []
    for (task, seed), e in episodes.groupby(["task", "seed"]):
        x = np.concatenate([[0.0], e["epochs"].to_numpy(float)])
        y = np.concatenate([[1.0], e["regret"].to_numpy(float)])
        rows.append({"task": task, "seed": seed,
                     "regret": float(np.trapezoid(y, x) / x[-1])})  # fmt: skip
    return pd.DataFrame(rows)


def rank_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean rank of each peer at each checkpoint (rows: epochs; columns: peers)."""
    ranked = frame.assign(
        rank=frame.groupby(["budget", "task", "seed", "epochs"])["regret"].rank(method="average")
    )
    return ranked.pivot_table(index="epochs", columns="peer", values="rank", aggfunc="mean")


def _mean_curves(frame: pd.DataFrame, x: str) -> pd.DataFrame:
    """Family-weighted mean over tasks of the seed-mean regret and ``x`` at each checkpoint."""
    w = _weights(frame)
    values = frame.assign(x=frame[x])[["peer", "epochs", "task", "x", "regret"]]
    per_task = values.groupby(["peer", "epochs", "task"]).mean().reset_index()
    per_task["w"] = per_task["task"].map(w)
    for column in ("x", "regret"):
        per_task[column] = per_task[column] * per_task["w"]
    sums = per_task.groupby(["peer", "epochs"])[["x", "regret", "w"]].sum()
    return sums[["x", "regret"]].div(sums["w"], axis=0).reset_index()


def plot_suite(frame: pd.DataFrame, budget: int, title: str, stem: Path) -> list[Path]:
    """Regret per epoch and per training second, mean rank per epoch and the CD diagram."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    part = frame[frame["budget"] == budget]
    peers = sorted(part["peer"].unique())
    colors = {p: plt.get_cmap("tab20")(i % 20) for i, p in enumerate(peers)}
    fig, axes = plt.subplots(1, 3, figsize=(17, 5))
    for x, ax in zip(("epochs", "seconds"), axes[:2], strict=True):
        curves = _mean_curves(part, x)
        for peer, c in curves.groupby("peer"):
            style = "--" if PEERS[str(peer)].warm else "-"
            ax.plot(c["x"], c["regret"].clip(lower=1e-4), style, color=colors[peer], label=peer)
        ax.set(xscale="log", yscale="log", ylabel="normalised regret (family-weighted mean)",
               xlabel="epochs charged" if x == "epochs" else "training seconds (mean)")  # fmt: skip
    ranks = rank_curves(part)
    for peer in ranks.columns:
        style = "--" if PEERS[str(peer)].warm else "-"
        axes[2].plot(ranks.index, ranks[peer], style, color=colors[peer], label=peer)
    axes[2].set(xscale="log", xlabel="epochs charged", ylabel="mean rank per epoch (1 = best)")
    axes[2].invert_yaxis()
    axes[2].legend(fontsize=7, ncol=2, loc="lower left")
    fig.suptitle(title)
    fig.tight_layout()
    curves_png = stem.with_name(stem.name + "_curves.png")
    fig.savefig(curves_png, dpi=110)
    plt.close(fig)
    final = _at(part, 1.0).groupby(["peer", "task"], as_index=False)["regret"].mean()
    ranks_final = mean_ranks(final.assign(seed=0).rename(columns={"peer": "method"}), "regret")
    if len(ranks_final) < 2:
        return [curves_png]  # one peer: no ranks to compare
    cd = critical_difference(len(ranks_final), final["task"].nunique())
    cd_png = stem.with_name(stem.name + "_cd.png")
    plot_critical_difference(ranks_final, cd, cd_png,
                             title=f"{title}: final regret, CD = {cd:.2f}")  # fmt: skip
    return [curves_png, cd_png]


def _table(summary: pd.DataFrame) -> str:
    head = ("| peer | library | regret @10 % | @25 % | @50 % | @100 % [95 % CI] | test | rank | "
            "AUC | configs | train s | tuner s/episode |")  # fmt: skip
    lines = [head, "|" + " --- |" * 12]
    for r in summary.to_dict("records"):
        lines.append(
            f"| {r['peer']} | {r['library']} | {r['regret@10']:.4f} | {r['regret@25']:.4f} | "
            f"{r['regret@50']:.4f} | {r['regret@100']:.4f} [{r['ci_low']:.4f}, "
            f"{r['ci_high']:.4f}] | {r['test']:.4f} | {r['rank']:.2f} | {r['auc']:.4f} | "
            f"{r['configs']:.0f} | {r['seconds']:.0f} | {r['decision_s']:.2f} |"
        )
    return "\n".join(lines)


_STORED = "%.6g"  # the results CSV's precision


def as_stored(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its float columns at the results CSV's precision (6 significant digits).

    The report reads the frame as `read_results` will: a merged run's fresh rows would otherwise
    break, by a last digit, the ties that ranks share with the rows read back from the CSV.
    """
    out = frame.copy()
    for column in out.select_dtypes("float").columns:
        out[column] = np.char.mod(_STORED, out[column].to_numpy()).astype(np.float64)
    out.attrs = dict(frame.attrs)
    return out


def write_report(
    frame: pd.DataFrame,
    *,
    out_dir: str | Path,
    doc: str | Path | None,
    command: str,
    figures_dir: str | Path = "docs/figures",
) -> dict[str, Any]:
    """Write the suite's results CSV, summary CSV, figures and its section of ``doc``.

    Returns:
        The summary tables by scope (``meta-test``, ``all``) as records, and the figures.
    """
    info = dict(frame.attrs.get("bench", {}))
    suite = Path(str(info.get("suite", "suite"))).stem
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    frame = as_stored(frame)
    frame.to_csv(out / f"{suite}_results.csv.gz", index=False, float_format=_STORED)
    scopes = {"meta-test": frame[frame["part"] == "meta-test"]}
    cold = frame[~frame["peer"].map(lambda p: PEERS[p].warm)]
    if cold["task"].nunique() > scopes["meta-test"]["task"].nunique():
        scopes["all"] = cold
    sections: list[str] = []
    figures: list[str] = []
    result: dict[str, Any] = {}
    for scope, part in scopes.items():
        if part.empty:
            continue
        summary = summarise(part)
        summary.to_csv(out / f"{suite}_{scope}_summary.csv", index=False, float_format=_STORED)
        result[scope] = summary.to_dict("records")
        for budget in sorted(summary["budget"].unique(), reverse=True):
            tasks = part["task"].nunique()
            name = f"{scope}, {tasks} tasks x {part['seed'].nunique()} seeds, {budget} epochs"
            stem = Path(figures_dir) / f"bench2_{suite}_{scope}_{budget}"
            stem.parent.mkdir(parents=True, exist_ok=True)
            pngs = plot_suite(part, int(budget), f"{suite} {name}", stem)
            figures += [str(p) for p in pngs]
            where = Path(doc).parent if doc is not None else Path(".")
            links = [f"![{p.stem}]({os.path.relpath(p, where)})" for p in pngs]
            table = _table(summary[summary["budget"] == budget])
            sections.append(f"### {name}\n\n{table}\n\n" + "\n".join(links))
    result["figures"] = figures
    if doc is not None:
        results = (out / f"{suite}_results.csv.gz").as_posix()
        _write_section(Path(doc), suite, info, command, sections, results)
    (out / f"{suite}_run.json").write_text(json.dumps({**info, "command": command}, indent=1))
    return result


def read_results(out_dir: str | Path, suite: str) -> pd.DataFrame:
    """A suite's results as `write_report` kept them (the CSV and its run's JSON).

    Raises:
        FileNotFoundError: no results of ``suite`` in ``out_dir``.
    """
    name = Path(suite).stem
    path = Path(out_dir) / f"{name}_results.csv.gz"
    if not path.is_file():
        raise FileNotFoundError(
            f"No results of suite {suite!r} at {path}; run 'tunegym bench --suite {suite}' first."
        )
    frame = pd.read_csv(path)
    run = Path(out_dir) / f"{name}_run.json"
    frame.attrs["bench"] = json.loads(run.read_text()) if run.is_file() else {"suite": suite}
    return frame


def merge_results(old: pd.DataFrame, new: pd.DataFrame, command: str) -> pd.DataFrame:
    """``old``'s rows with ``new``'s peers replaced by ``new``'s rows (``tunegym bench --merge``).

    The run's record keeps ``old``'s plan and lists each merge (its peers, command, wall time),
    so the report says which rows came from which run.

    Raises:
        ValueError: the two runs differ in their budgets or seeds.
    """
    a, b = old.attrs.get("bench", {}), new.attrs.get("bench", {})
    for key in ("budgets", "seeds"):
        if key in a and key in b and a[key] != b[key]:
            raise ValueError(
                f"Cannot merge runs of different {key} ({a[key]} and {b[key]}); rerun the "
                "whole suite or give the same --budget / --seeds."
            )
    peers = sorted(set(new["peer"]))
    kept = old[~old["peer"].isin(peers)]
    frame = pd.concat([kept, new], ignore_index=True)
    frame = frame.sort_values(["budget", "peer", "task", "seed", "epochs"]).reset_index(drop=True)
    info = dict(a)
    earlier = [m for m in a.get("merged", []) if not set(m["peers"]) <= set(peers)]  # replaced
    info["merged"] = [*earlier, {"peers": peers, "command": command,
                      "wall_seconds": b.get("wall_seconds"), "versions": b.get("versions")}]  # fmt: skip
    frame.attrs["bench"] = info
    return frame


_DOC_HEAD = """# Benchmarks (protocol v2)

Generated by `tunegym bench --suite ... --publish` following `BENCHMARK_PROTOCOL.md` v2 (without
`--publish`, a run writes into `runs/bench/SUITE/`); each suite's section is rewritten by its own
command, do not edit by hand. The v1 harness's tables (13 x 6 grid, step-end reading) are in
[BENCHMARKS_V1.md](BENCHMARKS_V1.md).

How to read the tables. Cost is epochs charged (continuing a trial costs its new epochs only);
each epoch updates the incumbent at its own cost (per-epoch reading). Regret of an episode =
(best - truth(incumbent)) / (best - worst), where the incumbent is chosen by the validation
score the tuner saw and `truth` is the seed-mean validation curve of its configuration at its
epoch; best and worst are over the task's seed-mean curves. Means are over tasks of the
seed-mean, each family weighing the same; the interval is a 95 % hierarchical bootstrap (tasks,
then seeds). Every (task, seed) episode draws its own tuner seed. Rank: mean rank of the final
regret per episode among the peers of the table (1 = best). AUC: mean regret over the budget.
Test: the incumbent's test score. Train s: training seconds the budget bought (recorded or the
surrogate's). Tuner s/episode: the tuner's own time, outside the budget. Warm-started peers
(dashed in the figures) start from the greedy portfolio of the suite's meta-train tasks and are
reported on meta-test only; a library peer's new point of the space is a new trial on the
nearest configuration of the task's pool not yet trained. The critical-difference diagrams rank
each task's seed-mean final regret (Demšar's blocks are tasks, not episodes, so five meta-test
tasks separate little).
"""


def _write_section(doc: Path, suite: str, info: dict[str, Any], command: str,
                   sections: list[str], results: str) -> None:  # fmt: skip
    text = doc.read_text() if doc.is_file() else _DOC_HEAD
    if "protocol v2" not in text.splitlines()[0]:
        text = _DOC_HEAD
    first = text.find("<!-- ")
    text = _DOC_HEAD + ("\n" + text[first:] if first >= 0 else "")  # the head as written now
    versions = ", ".join(f"{k} {v}" for k, v in info.get("versions", {}).items())
    body = (
        f"<!-- suite:{suite} -->\n## Suite `{suite}`\n\n"
        f"Command: `{command}`\n\n"
        f"Date {datetime.date.today()}; {versions}; Python {info.get('python')}; "
        f"{info.get('machine')}; {info.get('wall_seconds')} s with {info.get('workers')} "
        f"worker processes. Results: `{results}`.\n\n"
        + "".join(
            f"Merged in: {', '.join(m['peers'])} by `{m['command']}` ({m.get('wall_seconds')} s); "
            "the other peers' rows are the run above's.\n\n"
            for m in info.get("merged", [])
        )
        + "\n\n".join(sections)
        + f"\n<!-- /suite:{suite} -->\n"
    )
    pattern = re.compile(rf"<!-- suite:{re.escape(suite)} -->.*?<!-- /suite:{re.escape(suite)} -->\n",
                         re.S)  # fmt: skip
    text = (
        pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip() + "\n\n" + body
    )
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(text)
