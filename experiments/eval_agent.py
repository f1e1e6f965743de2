"""Evaluate the agent on the held-out meta-test datasets: replay regret, live tuning, decision time.

(a) Replay: every meta-test dataset of the snapshot, ``seeds`` seeds, budget ``budget`` epochs.
    The agent (deterministic, masked; warm-start prior from its ``prior_k`` nearest meta-train or
    meta-val datasets, never from meta-test) and every baseline of ``baselines`` tune the same
    tasks through the same env. Per method: mean normalised regret at 10/25/50/100 % of the
    budget with a bootstrap 95 % CI over (dataset, seed) tasks, the area under the regret curve
    (mean regret over epochs 1..budget), the average rank of the final regret, and the tuner's
    decision time. Random search also runs with ``match_budget`` epochs: the smallest budget
    (a multiple of E_max) at which its mean regret reaches the agent's final regret is reported.
(b) Live: ``tunegym.tune`` with the agent and with random search on three meta-test datasets
    (the 25th, 50th and 75th percentile of rows, unless ``live_datasets`` is given), same epoch
    budget, ``live_seeds`` seeds: test score of the selected epoch, training and wall seconds.
(c) Decision time of the agent per step (p50/p95), in replay and live.

Writes ``agent_eval_replay.csv``, ``agent_eval_live.csv`` and ``agent_eval.json`` to ``out``
and the Markdown summary between the result markers of ``doc``.

Run (what produced the results in docs/AGENT.md; about 30 seconds on 2 CPU cores):
    .venv/bin/python experiments/eval_agent.py
"""

from __future__ import annotations

import csv
import dataclasses
import json
import platform
import re
import shlex
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

import tunegym
from tunegym._args import parse_dataclass_args
from tunegym.agent import (
    Agent,
    MetaDataset,
    MultiTaskReplayEnv,
    ReplayEpisode,
    baseline_maker,
    bootstrap_ci,
    evaluate_policy,
    load_agent,
    regret_at,
    tune,
)
from tunegym.baselines import Policy, make_baseline
from tunegym.metastore import WarmStart, detect_hardware

RESULTS = Path("experiments/results")
FRACTIONS = (0.1, 0.25, 0.5, 1.0)
START, END = "<!-- eval_agent:start -->", "<!-- eval_agent:end -->"
ALL_BASELINES = [
    "random",
    "grid",
    "sh",
    "hyperband",
    "tpe",
    "tpe-hyperband",
    "tpe-median",
    "ws-random",
    "box-random",
    "oracle",
]


@dataclass
class Args:
    """Evaluation settings (each is a ``--flag`` of the same name with dashes)."""

    agent: str = ""
    """Agent folder (empty: the one shipped with tunegym)."""
    snapshot: str = ""
    """Meta-dataset snapshot folder (empty: the shipped one)."""
    budget: int = 64
    """Epoch budget of every run."""
    seeds: int = 10
    """Replay seeds per meta-test dataset."""
    baselines: list[str] = field(default_factory=lambda: list(ALL_BASELINES))
    """Baselines run in replay."""
    match_budget: int = 1024
    """Largest budget random search gets to match the agent's final regret."""
    live_datasets: list[str] = field(default_factory=list)
    """Datasets tuned live (default: three meta-test datasets, by rows)."""
    live_seeds: int = 3
    """Live seeds per dataset."""
    live_max_rows: int = 10_000
    """Subsample live datasets as the snapshot's curves were (0: all rows)."""
    quick: bool = False
    """A seconds-long run: 2 datasets, 2 seeds, random and hyperband, one small live run."""
    out: str = str(RESULTS)
    """Folder for the CSV and JSON results."""
    doc: str = "docs/AGENT.md"
    """Markdown file whose result section is rewritten (empty: none)."""


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line."""
    return parse_dataclass_args(Args, argv, __doc__)


class TimedAgent:
    """The agent, with the wall time of each of its decisions recorded."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.seconds: list[float] = []

    def reset(self, env: Any, seed: int) -> None:
        self.agent.reset(env, seed)

    def act(self, obs: np.ndarray, mask: np.ndarray) -> int:
        start = time.perf_counter()
        action = self.agent.act(obs, mask)
        self.seconds.append(time.perf_counter() - start)
        return action

    def observe(self, info: dict[str, Any]) -> None:
        self.agent.observe(info)


def episode_rows(method: str, episodes: list[ReplayEpisode], budget: int) -> list[dict[str, Any]]:
    rows = []
    for e in episodes:
        r = e.result
        row: dict[str, Any] = {"method": method, "dataset": e.dataset, "seed": e.seed}
        row |= {f"regret_{round(f * 100)}": regret_at(r, f * budget) for f in FRACTIONS}
        row["auc"] = float(np.mean([regret_at(r, b) for b in range(1, budget + 1)]))
        row |= {"n_trials": r.n_trials, "n_decisions": r.n_decisions}
        row["decision_seconds"] = r.decision_seconds
        rows.append(row)
    return rows


def replay_part(args: Args, agent: Agent, data: MetaDataset) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Part (a), with the agent's decision times for part (c)."""
    test = data.datasets("meta-test")[: 2 if args.quick else None]
    known = data.datasets("meta-train", "meta-val")
    space = agent.spec.space
    warm: dict[str, WarmStart] = {
        d: data.warm_start(d, known, space, k=agent.spec.prior_k) for d in test
    }
    env = MultiTaskReplayEnv(
        data,
        test,
        space=space,
        budgets=(args.budget, args.match_budget),
        n_slots=agent.spec.n_slots,
        trial_seeds=data.seeds,
        priors={d: w.prior for d, w in warm.items()},
    )
    seeds = range(args.seeds)
    timed = TimedAgent(agent)
    makers: dict[str, Callable[[str], Policy]] = {"agent": lambda _: timed}
    for name in args.baselines:
        makers[name] = baseline_maker(name, warm)
    rows: list[dict[str, Any]] = []
    for method, make in makers.items():
        print(f"replay: {method}", flush=True)
        episodes = evaluate_policy(env, make, budget=args.budget, seeds=seeds)
        rows += episode_rows(method, episodes, args.budget)
    table = pd.DataFrame(rows)
    agent_final = float(table.loc[table["method"] == "agent", "regret_100"].mean())
    long = evaluate_policy(
        env, lambda _: make_baseline("random"), budget=args.match_budget, seeds=seeds
    )
    e_max = space.max_epochs
    budgets = list(range(e_max, args.match_budget + 1, e_max))
    curve = [float(np.mean([regret_at(e.result, b) for e in long])) for b in budgets]
    match = next((b for b, r in zip(budgets, curve, strict=True) if r <= agent_final), None)
    times = np.asarray(timed.seconds) * 1e3
    extra = {
        "test_datasets": test,
        "random_curve": dict(zip(budgets, curve, strict=True)),
        "random_budget_to_match_agent": match,
        "agent_final_regret": agent_final,
        "decision_ms_replay": {
            "p50": float(np.median(times)),
            "p95": float(np.quantile(times, 0.95)),
            "n": len(times),
        },
    }
    return table, extra


def summarise(table: pd.DataFrame) -> list[dict[str, Any]]:
    """Per method: mean regret at each fraction with a CI, AUC, rank, decision time per step."""
    ranks = table.assign(
        rank=table.groupby(["dataset", "seed"])["regret_100"].rank(method="average")
    )
    out = []
    for method, part in ranks.groupby("method", sort=False):
        entry: dict[str, Any] = {"method": method, "tasks": len(part)}
        for f in FRACTIONS:
            column = f"regret_{round(f * 100)}"
            values = part[column].to_numpy()
            entry[column] = float(values.mean())
            entry[column + "_ci"] = bootstrap_ci(values)
        entry["auc"] = float(part["auc"].mean())
        entry["rank"] = float(part["rank"].mean())
        entry["decision_ms_per_step"] = float(
            1e3 * part["decision_seconds"].sum() / part["n_decisions"].sum()
        )
        out.append(entry)
    return out


def pick_live(args: Args, data: MetaDataset) -> list[str]:
    if args.live_datasets:
        return list(args.live_datasets)
    test = data.datasets("meta-test")
    rows = data.features.loc[test, "NumberOfInstances"].sort_values()
    if args.quick:
        return [str(rows.index[0])]
    picks = [rows.index[int(q * (len(rows) - 1))] for q in (0.25, 0.5, 0.75)]
    return [str(p) for p in dict.fromkeys(picks)]


def live_part(args: Args, agent: Agent, datasets: list[str]) -> pd.DataFrame:
    """Part (b): tune() with the agent and with random search, same budget and seeds."""
    budget = 8 if args.quick else args.budget
    rows = []
    for dataset in datasets:
        for seed in range(1 if args.quick else args.live_seeds):
            for method in ("agent", "random"):
                result = tune(
                    dataset,
                    budget_epochs=budget,
                    seed=seed,
                    method=method,
                    agent=agent if method == "agent" else None,
                    space=agent.spec.space,
                    n_slots=agent.spec.n_slots,
                    max_rows=args.live_max_rows or None,
                )
                best = result.best
                rows.append(
                    {
                        "method": method,
                        "dataset": dataset,
                        "seed": seed,
                        "budget": budget,
                        "val_score": None if best is None else best.val_score,
                        "test_score": None if best is None else best.test_score,
                        "epochs_used": result.epochs_used,
                        "trials": len(result.trials),
                        "seconds": result.seconds,
                        "wall_seconds": result.wall_seconds,
                        "decision_ms": [1e3 * r.decision_seconds for r in result.history],
                    }
                )
                print(
                    f"live: {method} {dataset} seed {seed}: test {rows[-1]['test_score']}",
                    flush=True,
                )
    return pd.DataFrame(rows)


def markdown(
    summary: list[dict[str, Any]],
    extra: dict[str, Any],
    live: pd.DataFrame,
    args: Args,
    command: str,
    agent: Agent,
) -> str:
    training = agent.spec.training
    selected = training.get("selected", {})
    lines = [
        f"Agent: {args.agent or 'the shipped one'} (MaskablePPO, "
        f"{training.get('config', {}).get('timesteps', 0):,} steps, selected at step "
        f"{selected.get('timesteps', 0):,} with meta-val regret {selected.get('val_regret', float('nan')):.4f}).",
        "",
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d')}: "
        f"{len(extra['test_datasets'])} meta-test datasets x {args.seeds} seeds, budget {args.budget} epochs "
        "(normalised regret: 0 = the best epoch of any grid configuration, 1 = the worst). "
        "Regret at b epochs is read after the last completed step with at most b epochs spent: "
        "a step that buys 16 epochs shows its result at its end, so a method whose first action "
        "is a full trial has regret 1 before epoch 16 (regret @10 % and the area under the curve "
        "favour methods that buy few epochs at a time).",
        "",
        "| method | regret @10 % | regret @25 % [95 % CI] | regret @50 % | regret @100 % [95 % CI] | AUC | rank | decision ms/step |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summary:
        ci25, ci100 = s["regret_25_ci"], s["regret_100_ci"]
        lines.append(
            f"| {s['method']} | {s['regret_10']:.4f} | {s['regret_25']:.4f} [{ci25[0]:.4f}, {ci25[1]:.4f}] "
            f"| {s['regret_50']:.4f} | {s['regret_100']:.4f} [{ci100[0]:.4f}, {ci100[1]:.4f}] "
            f"| {s['auc']:.4f} | {s['rank']:.2f} | {s['decision_ms_per_step']:.3f} |"
        )
    match = extra["random_budget_to_match_agent"]
    lines += [
        "",
        f"Random search needs **{match if match is not None else f'more than {args.match_budget}'}** epochs "
        f"to match the agent's final regret at {args.budget} epochs ({extra['agent_final_regret']:.4f})"
        + (f": {match / args.budget:.1f} times the budget." if match else "."),
        "",
        f"Decision time of the agent per step (replay): p50 {extra['decision_ms_replay']['p50']:.3f} ms, "
        f"p95 {extra['decision_ms_replay']['p95']:.3f} ms"
        + (
            f"; live: p50 {extra['decision_ms_live']['p50']:.3f} ms, "
            f"p95 {extra['decision_ms_live']['p95']:.3f} ms."
            if "decision_ms_live" in extra
            else " (no live run: --live-seeds 0)."
        ),
    ]
    if not len(live):
        return "\n".join(lines)
    lines += [
        "",
        f"Live (`tunegym.tune`, budget {live['budget'].iloc[0]} epochs, mean over {live['seed'].nunique()} seeds):",
        "",
        "| dataset | agent test | random test | agent training s | random training s | agent wall s | random wall s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    means = live.groupby(["dataset", "method"])[["test_score", "seconds", "wall_seconds"]].mean()
    for dataset in dict.fromkeys(live["dataset"]):
        a, r = means.loc[(dataset, "agent")], means.loc[(dataset, "random")]
        lines.append(
            f"| {dataset} | {a['test_score']:.4f} | {r['test_score']:.4f} | {a['seconds']:.1f} "
            f"| {r['seconds']:.1f} | {a['wall_seconds']:.1f} | {r['wall_seconds']:.1f} |"
        )
    return "\n".join(lines)


def write_doc(path: Path, text: str) -> None:
    """Replace the text between the result markers of ``path`` (appended when absent)."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{START}\n{text}\n{END}"
    if START in old:
        new = re.sub(re.escape(START) + ".*?" + re.escape(END), lambda _: block, old, flags=re.S)
    else:
        new = old + ("\n" if old else "") + block + "\n"
    path.write_text(new, encoding="utf-8")


def run(args: Args, data: MetaDataset | None = None) -> dict[str, Any]:
    """All three parts; writes the results and the summary, returns the JSON record."""
    torch.set_num_threads(1)
    if args.quick:
        args = dataclasses.replace(
            args, seeds=min(args.seeds, 2), baselines=["random", "hyperband"], match_budget=128
        )
    started = time.time()
    data = data if data is not None else MetaDataset.from_snapshot(args.snapshot or None)
    agent = load_agent(args.agent or None)
    table, extra = replay_part(args, agent, data)
    summary = summarise(table)
    live = live_part(args, agent, pick_live(args, data))
    if len(live):  # --live-seeds 0: the replay part alone
        live_ms = np.concatenate(live.loc[live["method"] == "agent", "decision_ms"].to_numpy())
        extra["decision_ms_live"] = {
            "p50": float(np.median(live_ms)),
            "p95": float(np.quantile(live_ms, 0.95)),
            "n": len(live_ms),
        }
    else:
        live = pd.DataFrame(columns=["method", "dataset", "seed", "decision_ms"])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    table.to_csv(out / "agent_eval_replay.csv", index=False)
    live.drop(columns="decision_ms").to_csv(
        out / "agent_eval_live.csv", index=False, quoting=csv.QUOTE_MINIMAL
    )
    command = (
        shlex.join(["python", *sys.argv])
        if sys.argv and sys.argv[0].endswith("eval_agent.py")
        else "experiments/eval_agent.py"
    )
    record = {
        "command": command,
        "args": dataclasses.asdict(args),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": time.time() - started,
        "hardware": detect_hardware(),
        "versions": {
            "tunegym": tunegym.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "agent": {"training": agent.spec.training, "data": agent.spec.data},
        "summary": summary,
        **extra,
        "live": live.drop(columns="decision_ms").to_dict("records"),
    }
    (out / "agent_eval.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    if args.doc:
        write_doc(Path(args.doc), markdown(summary, extra, live, args, command, agent))
    return record


if __name__ == "__main__":
    result = run(parse_args())
    print(json.dumps(result["summary"], indent=1, default=str))
