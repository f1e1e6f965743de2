"""The research benchmark: every tuner on the held-out tasks, anytime curves and their summary.

The v1 harness (``tunegym bench``), moved here from ``tunegym.agent`` (issue 14); the protocol
v2's statistics are `tunegym.bench`'s. Follows ``BENCHMARK_PROTOCOL.md`` v1: normalised regret at 10/25/50/100 % of the budget with a
bootstrap 95 % CI over (dataset, seed) tasks, average rank, area under the regret curve,
speed-up over random search and each tuner's own decision time, measured apart from the budget.
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunegym.agent._agent import Agent, load_agent
from tunegym.agent._evaluate import baseline_maker, bootstrap_ci, evaluate_policy, step_at
from tunegym.agent._metadata import MetaDataset
from tunegym.agent._multitask import MultiTaskReplayEnv
from tunegym.agent._tune import tune
from tunegym.baselines import BASELINE_NAMES, Policy, make_baseline

__all__ = [
    "BENCH_METHODS",
    "FRACTIONS",
    "LIVE_METHODS",
    "BenchConfig",
    "plot_bench",
    "regenerate",
    "run_benchmark",
    "summarise",
    "tpe_overhead",
    "unavailable_methods",
]

FRACTIONS: tuple[float, ...] = (0.1, 0.25, 0.5, 1.0)
"""Budget fractions the summary reports."""
BENCH_METHODS: tuple[str, ...] = ("agent", *BASELINE_NAMES)
"""Every method the benchmark runs by default (the agent and every baseline)."""
LIVE_METHODS: tuple[str, ...] = ("agent", "random", "hyperband", "tpe")
"""Methods of the live subset (the oracle needs recorded curves)."""


def unavailable_methods() -> dict[str, str]:
    """Methods of the protocol that do not run here, with the reason (none at present)."""
    out = {}
    for name in ("dehb",):
        try:
            make_baseline(name)
        except NotImplementedError as error:
            out[name] = str(error)
    return out


def checkpoints(budget: int, points: int = 32) -> list[int]:
    """Epoch checkpoints of the curves: ``points`` even steps plus each of `FRACTIONS`."""
    even = {max(1, round(budget * i / points)) for i in range(1, points + 1)}
    return sorted(even | {max(1, math.floor(f * budget)) for f in FRACTIONS})


class _Recorder:
    """A policy that notes the incumbent's test score after each step (for anytime test curves)."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.test: list[float] = []

    def reset(self, env: Any, seed: int) -> None:
        self.test = []
        self.policy.reset(env, seed)

    def act(self, obs: np.ndarray, mask: np.ndarray) -> int:
        return self.policy.act(obs, mask)

    def observe(self, info: dict[str, Any]) -> None:
        self.policy.observe(info)
        score = info["incumbent"].get("test_score")
        self.test.append(math.nan if score is None else float(score))


@dataclass(frozen=True)
class _Task:
    """One method on one dataset over all seeds (a unit of work of the process pool)."""

    method: str
    dataset: str
    seeds: tuple[int, ...]
    budget: int
    backend: str
    snapshot: str | None
    agent: str | None
    data: MetaDataset | None


@cache
def _snapshot(path: str | None) -> MetaDataset:
    return MetaDataset.from_snapshot(path)


@cache
def _agent(path: str | None) -> Agent:
    return load_agent(path)


def _replay(task: _Task, data: MetaDataset, agent: Agent) -> list[dict[str, Any]]:
    known = data.datasets("meta-train", "meta-val")
    space = agent.spec.space
    warm = {task.dataset: data.warm_start(task.dataset, known, space, k=agent.spec.prior_k)}
    env = MultiTaskReplayEnv(
        data,
        [task.dataset],
        space=space,
        budgets=(task.budget,),
        n_slots=agent.spec.n_slots,
        trial_seeds=data.seeds,
        priors={task.dataset: warm[task.dataset].prior},
    )
    inner = (lambda _: agent) if task.method == "agent" else baseline_maker(task.method, warm)
    recorder = _Recorder(inner(task.dataset))
    rows = []
    for seed in task.seeds:  # one seed at a time: the recorder keeps the last episode only
        (episode,) = evaluate_policy(
            env, lambda _: recorder, budget=task.budget, seeds=[seed], datasets=[task.dataset]
        )
        r = episode.result
        for c in checkpoints(task.budget):
            step = step_at(r, c)
            rows.append(
                {
                    "epochs": c,
                    "seed": seed,
                    "regret": 1.0 if step is None else float(r.regret[step]),
                    "incumbent_val": math.nan if step is None else float(r.incumbent_val[step]),
                    "test_score": math.nan if step is None else recorder.test[step],
                    "decision_seconds": r.decision_seconds,
                    "n_decisions": r.n_decisions,
                }
            )
    return rows


def _live(task: _Task, agent: Agent) -> list[dict[str, Any]]:
    rows = []
    for seed in task.seeds:
        result = tune(
            task.dataset,
            budget_epochs=task.budget,
            seed=seed,
            method=task.method,
            agent=agent if task.method == "agent" else None,
            space=agent.spec.space,
            n_slots=agent.spec.n_slots,
            max_rows=10_000,
        )
        used = np.asarray([h.epochs_used for h in result.history])
        decision = sum(h.decision_seconds for h in result.history)
        for c in checkpoints(task.budget):
            spent = np.flatnonzero(used <= c)
            step = int(spent[-1]) if len(spent) else None
            final = c == task.budget and result.best is not None
            rows.append(
                {
                    "epochs": c,
                    "seed": seed,
                    "regret": math.nan,  # the task's best and worst are unknown live
                    "incumbent_val": math.nan
                    if step is None
                    else result.history[step].incumbent_val,
                    "test_score": result.best.test_score if final and result.best else math.nan,
                    "decision_seconds": decision,
                    "n_decisions": len(result.history),
                }
            )
    return rows


def _run_task(task: _Task) -> list[dict[str, Any]]:
    import torch

    torch.set_num_threads(1)
    agent = _agent(task.agent)
    if task.backend == "live":
        rows = _live(task, agent)
    else:
        data = task.data if task.data is not None else _snapshot(task.snapshot)
        rows = _replay(task, data, agent)
    return [{"method": task.method, "dataset": task.dataset, **r} for r in rows]


def run_benchmark(
    methods: Sequence[str],
    datasets: Sequence[str],
    seeds: Sequence[int],
    budget: int,
    *,
    workers: int = 1,
    backend: str = "replay",
    snapshot: str | None = None,
    agent: str | None = None,
    data: MetaDataset | None = None,
) -> pd.DataFrame:
    """Anytime curves of ``methods`` on ``datasets`` x ``seeds`` at ``budget`` epochs.

    Args:
        methods: ``"agent"`` and names of `tunegym.baselines.make_baseline`.
        datasets: dataset specs (of the snapshot in replay).
        seeds: episode seeds.
        budget: epoch budget of every episode.
        workers: processes (spawned; 1 runs in this process).
        backend: ``"replay"`` (recorded curves, regret known) or ``"live"`` (training through
            `tunegym.tune`; regret is ``nan`` and the test score is read at the end).
        snapshot: meta-dataset snapshot folder (default: the shipped one).
        agent: agent folder (default: the shipped one).
        data: a meta-dataset to use instead of the snapshot (pickled to the workers).

    Returns:
        One row per method x dataset x seed x checkpoint (`checkpoints`): ``epochs``,
        ``regret``, ``incumbent_val``, ``test_score`` of the incumbent then, and the episode's
        ``decision_seconds`` (the tuner's own time, all steps) and ``n_decisions``.
    """
    if backend not in ("replay", "live"):
        raise ValueError(f"backend must be 'replay' or 'live', got {backend!r}.")
    tasks = [
        _Task(m, d, tuple(int(s) for s in seeds), budget, backend, snapshot, agent, data)
        for m in methods
        for d in datasets
    ]
    if workers <= 1:
        results = [_run_task(t) for t in tasks]
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(_run_task, tasks))
    curves = pd.DataFrame([row for rows in results for row in rows])
    curves.insert(3, "budget", budget)
    return curves


def _first_reaching(curve: pd.Series, target: float) -> float:
    """First checkpoint (epochs) at which a mean curve is at or below ``target`` (nan: never)."""
    reached = curve.index[curve.to_numpy() <= target + 1e-12]
    return float(reached[0]) if len(reached) else math.nan


def rank_curves(curves: pd.DataFrame) -> pd.DataFrame:
    """Average rank of each method (rows) at each checkpoint (columns), 1 = best regret."""
    ranks = curves.groupby(["dataset", "seed", "epochs"])["regret"].rank(method="average")
    return curves.assign(rank=ranks).pivot_table("rank", "method", "epochs", sort=False)


def summarise(curves: pd.DataFrame) -> pd.DataFrame:
    """Per method: the protocol's summary of `run_benchmark`'s curves.

    Columns: ``tasks`` ((dataset, seed) episodes); ``regret_<p>`` and its bootstrap 95 % CI
    ``regret_<p>_lo``/``_hi`` at ``p`` % of the budget (the last checkpoint at or below it);
    ``rank`` (average rank of the final regret among the methods, 1 = best); ``auc`` (area under
    the regret-vs-budget-fraction curve, right-endpoint rule over the checkpoints, in [0, 1]);
    ``speedup`` over random search: the epochs random search needs for its mean regret to reach
    its own final mean regret, divided by the epochs the method's mean regret needs to reach the
    same value (1 for random search; > 1 is faster; ``nan`` when the method never reaches it
    within the budget or random search did not run); ``test_score`` (mean final test score of
    the incumbent); ``decision_ms_per_step`` (the tuner's own time per decision).
    """
    budget = int(curves["budget"].iloc[0])
    grid = np.asarray(sorted(curves["epochs"].unique()))
    widths = np.diff(np.r_[0, grid]) / budget
    # dropna=False keeps live methods, whose regret is unknown (NaN), in the table
    table = curves.pivot_table("regret", "method", "epochs", sort=False, dropna=False)
    means: dict[str, pd.Series] = {str(m): row for m, row in table.iterrows()}
    ranks = {str(m): row for m, row in rank_curves(curves).iterrows()}
    random_epochs = target = math.nan
    if "random" in means:
        target = float(means["random"].iloc[-1])
        random_epochs = _first_reaching(means["random"], target)
    out = []
    for method, part in curves.groupby("method", sort=False):
        episodes = part.groupby(["dataset", "seed"])
        entry: dict[str, Any] = {"method": method, "tasks": episodes.ngroups}
        for f in FRACTIONS:
            at = grid[grid <= max(1, math.floor(f * budget))][-1]
            values = part.loc[part["epochs"] == at, "regret"].to_numpy()
            key = f"regret_{round(f * 100)}"
            entry[key] = float(values.mean())
            entry[key + "_lo"], entry[key + "_hi"] = (
                bootstrap_ci(values) if not np.isnan(values).any() else (math.nan, math.nan)
            )
        rank = ranks.get(str(method))
        entry["rank"] = math.nan if rank is None else float(rank.iloc[-1])
        entry["auc"] = float(np.sum(means[str(method)].to_numpy() * widths))
        entry["speedup"] = random_epochs / _first_reaching(means[str(method)], target)
        final = part[part["epochs"] == budget]
        entry["test_score"] = float(final["test_score"].mean())
        entry["decision_ms_per_step"] = float(
            1e3 * final["decision_seconds"].sum() / max(1, final["n_decisions"].sum())
        )
        out.append(entry)
    return pd.DataFrame(out)


def plot_bench(curves: pd.DataFrame, regret_path: Path, rank_path: Path) -> None:
    """Figures: mean regret vs budget fraction (log y) and average rank vs budget, per method."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budget = int(curves["budget"].iloc[0])
    means = curves.pivot_table("regret", "method", "epochs", sort=False)
    ranks = rank_curves(curves)
    styles = ["-", "--", "-.", ":"]
    for path, table, ylabel, log in (
        (regret_path, means, "mean normalised regret (log)", True),
        (rank_path, ranks, "average rank (1 = best)", False),
    ):
        fig, ax = plt.subplots(figsize=(8, 5))
        for i, (method, row) in enumerate(table.iterrows()):
            ax.plot(
                row.index / budget,
                row.to_numpy(),
                styles[i // 10 % 4],
                label=str(method),
                linewidth=2.5 if method == "agent" else 1.4,
                drawstyle="steps-post",
            )
        if log:
            ax.set_yscale("log")
        ax.set_xlabel(f"fraction of the budget ({budget} epochs)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3, which="both")
        ax.legend(ncol=2, fontsize=8)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=110)
        plt.close(fig)


def tpe_overhead(
    n_lrs: int, n_batch_sizes: int, trials: Sequence[int] = (100, 1000), window: int = 20
) -> dict[int, float]:
    """Optuna TPE's time per decision (ms) once ``n`` trials are done, for each ``n`` of ``trials``.

    Times ``study.ask()``, the two ``suggest_int`` of `tunegym.baselines.TPESearch`'s search
    space and ``study.tell`` directly (random objective values), averaged over the ``window``
    trials before each ``n``.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    rng = np.random.default_rng(0)
    seconds = []
    for _ in range(max(trials)):
        start = time.perf_counter()
        trial = study.ask()
        trial.suggest_int("lr_index", 0, n_lrs - 1)
        trial.suggest_int("batch_size_index", 0, n_batch_sizes - 1)
        study.tell(trial, float(rng.random()))
        seconds.append(time.perf_counter() - start)
    return {n: 1e3 * float(np.mean(seconds[max(0, n - window) : n])) for n in trials}


@dataclass
class BenchConfig:
    """Settings of one benchmark run (`regenerate`); each is a command-line flag of that name."""

    methods: list[str] = field(default_factory=lambda: list(BENCH_METHODS))
    """Methods (default: the agent and every baseline)."""
    datasets: list[str] = field(default_factory=list)
    """Datasets (default: the snapshot's meta-test part; live: its three smallest)."""
    seeds: int = 10
    """Seeds per dataset (live: at most 3 by default, see ``live``)."""
    budget: int = 64
    """Epoch budget of every episode."""
    workers: int = 2
    """Processes."""
    live: bool = False
    """Run the live subset: `LIVE_METHODS` on the three smallest meta-test datasets, 3 seeds."""
    quick: bool = False
    """A seconds-long run: random and hyperband, 2 datasets, 2 seeds, one process, no TPE timing."""
    out: str = "docs/benchmarks"
    """Folder of curves.csv and summary.csv."""
    figures: str = "docs/figures"
    """Folder of bench_regret.png and bench_rank.png."""
    doc: str = "docs/BENCHMARKS_V1.md"
    """Markdown report (rewritten; empty: none)."""
    snapshot: str = ""
    """Meta-dataset snapshot folder (empty: the shipped one)."""
    agent: str = ""
    """Agent folder (empty: the shipped one)."""


def _resolve(config: BenchConfig, data: MetaDataset) -> tuple[list[str], list[str], int]:
    """Methods, datasets and seeds the config means."""
    test = data.datasets("meta-test")
    methods, seeds = list(config.methods), config.seeds
    datasets = list(config.datasets)
    if config.live:
        if methods == list(BENCH_METHODS):
            methods = list(LIVE_METHODS)
        rows = data.features.loc[test, "NumberOfInstances"].sort_values()
        datasets = datasets or [str(d) for d in rows.index[:3]]
        seeds = min(seeds, 3)
    if config.quick:
        methods = [m for m in methods if m in ("random", "hyperband")] or methods[:2]
        datasets, seeds = (datasets or test)[:2], min(seeds, 2)
    return methods, datasets or test, seeds


def _table(summary: pd.DataFrame) -> list[str]:
    lines = [
        "| method | regret @10 % | regret @25 % | regret @50 % | regret @100 % [95 % CI] "
        "| rank | AUC | speed-up vs random | test score | decision ms/step |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in summary.to_dict("records"):
        lines.append(
            f"| {s['method']} | {s['regret_10']:.4f} | {s['regret_25']:.4f} | {s['regret_50']:.4f} "
            f"| {s['regret_100']:.4f} [{s['regret_100_lo']:.4f}, {s['regret_100_hi']:.4f}] "
            f"| {s['rank']:.2f} | {s['auc']:.4f} | {s['speedup']:.2f} | {s['test_score']:.4f} "
            f"| {s['decision_ms_per_step']:.3f} |"
        )
    return lines


def _markdown(
    config: BenchConfig,
    summary: pd.DataFrame,
    datasets: list[str],
    seeds: int,
    command: str,
    tpe_ms: dict[int, float],
    seconds: float,
    figures: tuple[Path, Path],
    doc: Path,
) -> str:
    import optuna
    import torch

    import tunegym

    backend = "live" if config.live else "replay"
    agent_ms = summary.set_index("method")["decision_ms_per_step"].get("agent", math.nan)
    prefix = "live_" if config.live else ""
    lines = [
        "# Benchmarks (protocol v1)",
        "",
        "Generated by `tunegym.bench._harness` following `BENCHMARK_PROTOCOL.md` v1 (the 13 x 6 "
        "grid, step-end reading, pooled seed bounds); do not edit by hand. Protocol v2, the "
        "headline, is [BENCHMARKS.md](BENCHMARKS.md).",
        "",
        f"Command: `{command}` (one command rewrites this file, `{config.out}/{prefix}curves.csv`, "
        f"`{config.out}/{prefix}summary.csv` and both figures).",
        "",
        f"Date {time.strftime('%Y-%m-%d')}; tunegym {tunegym.__version__}, torch {torch.__version__}, "
        f"optuna {optuna.__version__}, Python {platform.python_version()}; {seconds:.0f} s with "
        f"{config.workers} worker processes.",
        "",
        f"**{backend}**: {len(datasets)} datasets x {seeds} seeds, budget {config.budget} epochs"
        + (
            " (meta-test part of the snapshot, never seen in meta-training)."
            if not config.live
            else f": {', '.join(datasets)} (live regret is unknown, so read the test score)."
        ),
        "",
        *_table(summary),
        "",
        "Definitions. Normalised regret = (best possible - incumbent validation score) / (best "
        "possible - worst possible) over every grid configuration and epoch of the task's recorded "
        "curves; at p % of the budget it is read after the last step that ends at or below p % "
        "(a step that buys 16 epochs shows its result at its end). CI: bootstrap 95 % over "
        "(dataset, seed) episodes. Rank: average rank of the final regret among the methods on "
        "each episode (1 = best). AUC: area under the mean regret vs budget-fraction curve. "
        "**Speed-up over random search** (protocol): the budget random search needs for its mean "
        "regret to reach its own final mean regret, divided by the budget the method needs to "
        "reach that same regret (1 for random search, > 1 faster, nan: never within the budget). "
        "Decision ms/step: the tuner's own time per decision, outside the epoch budget.",
        "",
    ]
    unavailable = unavailable_methods()
    if unavailable:
        lines += [f"Not run: {', '.join(f'{k} ({v})' for k, v in unavailable.items())}", ""]
    if tpe_ms:
        lines += [
            "## Decision overhead: Optuna TPE vs the agent",
            "",
            "`study.ask` + `suggest_int` x 2 + `study.tell` on the agent's grid, mean over the 20 "
            "trials before each count:",
            "",
            "| tuner | ms per decision |",
            "| --- | --- |",
            *(f"| Optuna TPE after {n:,} trials | {ms:.2f} |" for n, ms in tpe_ms.items()),
            f"| agent (per step, this benchmark) | {agent_ms:.3f} |",
            "",
        ]
    rel = [Path(os.path.relpath(f.resolve(), doc.resolve().parent)) for f in figures]
    lines += [
        "## Figures",
        "",
        f"![mean regret vs budget]({rel[0].as_posix()})",
        "",
        f"![average rank vs budget]({rel[1].as_posix()})",
        "",
    ]
    return "\n".join(lines)


def regenerate(config: BenchConfig, command: str, data: MetaDataset | None = None) -> pd.DataFrame:
    """Run the benchmark of ``config`` and write its CSVs, figures and Markdown report.

    Args:
        config: what to run and where to write.
        command: the command line recorded in the report.
        data: a meta-dataset instead of the snapshot (tests).

    Returns:
        The summary (`summarise`).
    """
    started = time.time()
    meta = data if data is not None else _snapshot(config.snapshot or None)
    methods, datasets, seeds = _resolve(config, meta)
    curves = run_benchmark(
        methods,
        datasets,
        range(seeds),
        config.budget,
        workers=1 if config.quick else config.workers,
        backend="live" if config.live else "replay",
        snapshot=config.snapshot or None,
        agent=config.agent or None,
        data=data,
    )
    summary = summarise(curves)
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    prefix = "live_" if config.live else ""
    curves.to_csv(out / f"{prefix}curves.csv", index=False, float_format="%.6g")
    summary.to_csv(out / f"{prefix}summary.csv", index=False, float_format="%.6g")
    figures = (
        Path(config.figures) / f"{prefix}bench_regret.png",
        Path(config.figures) / f"{prefix}bench_rank.png",
    )
    plot_bench(curves, *figures)
    space = _agent(config.agent or None).spec.space
    tpe_ms = {} if config.quick else tpe_overhead(len(space.lrs), len(space.batch_sizes))
    if config.doc:
        doc = Path(config.doc)
        if config.live:
            doc = doc.with_name(doc.stem + "_LIVE" + doc.suffix)
        text = _markdown(
            config, summary, datasets, seeds, command, tpe_ms, time.time() - started, figures, doc
        )
        doc.parent.mkdir(parents=True, exist_ok=True)
        doc.write_text(text, encoding="utf-8")
    return summary
