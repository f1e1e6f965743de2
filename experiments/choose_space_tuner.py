"""Which tuner should `tune()` run on LCBench's space until an agent acts on it?

`tune()` searches LCBench's 7 hyperparameters by default (64 Sobol candidates seeded by the
run's seed, E_max 50). The shipped agent acts on the lr × batch-size grid only, so on that space
``method="auto"`` runs a baseline: this script measures which one, on two suites of held-out
curves, and prints the table that `tunegym.agent.AUTO_METHODS` cites.

* ``lcbench``: LCBench's surrogate (34 OpenML tasks), the candidates of `named_search`;
* ``v2``: meta-dataset v2 (`tunegym.metastore.LCBENCH_SNAPSHOT_DIR`, recorded with the live
  trainer), replayed; the warm-started variants draw their portfolio from the snapshot's other
  families (the target's family left out), and the portfolio joins the candidates as in
  `tune()`.

Scores per method: the final normalised regret and the area under the regret curve over the
epoch budget (mean regret over epochs 1..budget, the regret of an epoch being the incumbent's
after the last step that ended by it), each a mean over tasks and seeds.

Run (what docs/METADATASET.md and tunegym.agent's AUTO_METHODS cite):
    .venv/bin/python experiments/choose_space_tuner.py --suite lcbench --seeds 5
    .venv/bin/python experiments/choose_space_tuner.py --suite v2 --seeds 5
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from tunegym._args import parse_dataclass_args

COLD = ("random", "sh", "hyperband", "tpe", "tpe-hyperband", "dehb")
WARM = ("ws-random", "tpe-ws", "tpe-hyperband-ws")


@dataclass(frozen=True)
class Job:
    """One episode."""

    suite: str
    task: str
    method: str
    seed: int
    budget: int


def area(result: object, budget: int) -> float:
    """Mean regret over epochs 1..budget (the incumbent's regret after each epoch spent)."""
    epochs = np.asarray(result.epochs_used)  # type: ignore[attr-defined]
    regret = np.asarray(result.regret, dtype=float)  # type: ignore[attr-defined]
    per_epoch = np.ones(budget)
    for used, value in zip(epochs, regret, strict=True):
        per_epoch[min(int(used), budget) - 1 :] = value
    return float(per_epoch.mean())


def _env(job: Job):
    from tunegym.agent._session import named_search
    from tunegym.envs import SearchSpace, make_tuning_env
    from tunegym.space import LCBENCH_SPACE

    search = named_search("lcbench", job.seed)
    if job.suite == "lcbench":
        return make_tuning_env(
            f"lcbench:{job.task}", "lcbench", space=search, budget_epochs=job.budget,
            trial_seeds=(0,),
        ), None  # fmt: skip
    from tunegym.metastore import LCBENCH_SNAPSHOT_DIR, load_snapshot, warm_start_snapshot

    curves = load_snapshot([job.task], path=LCBENCH_SNAPSHOT_DIR)
    ws = warm_start_snapshot(job.task, (), (), k=5, path=LCBENCH_SNAPSHOT_DIR)
    recorded = curves[list(LCBENCH_SPACE.names)].drop_duplicates().to_dict("records")
    # Replay serves recorded configurations only: the run's Sobol draw is replaced by the
    # snapshot's 100 recorded candidates, the portfolio (also recorded ones) among them.
    search = SearchSpace.of_configs(LCBENCH_SPACE, recorded, max_epochs=search.max_epochs)
    env = make_tuning_env(
        job.task, "replay", curves=curves, space=search, budget_epochs=job.budget,
        trial_seeds=(0, 1),
    )  # fmt: skip
    return env, ws


def run_job(job: Job) -> dict[str, object]:
    """One episode's final regret, regret area and seconds."""
    import torch

    torch.set_num_threads(1)
    from tunegym.baselines import WARM_STARTED, make_baseline, run_episode

    env, ws = _env(job)
    kwargs = {"warm_start": ws} if job.method in WARM_STARTED else {}
    policy = make_baseline(job.method, **kwargs)
    started = time.perf_counter()
    result = run_episode(env, policy, seed=job.seed)
    return {
        "suite": job.suite,
        "task": job.task,
        "method": job.method,
        "seed": job.seed,
        "final_regret": result.final_regret,
        "area": area(result, job.budget),
        "seconds": time.perf_counter() - started,
    }


def jobs(args: Args) -> Iterator[Job]:
    """Every (task, method, seed) episode of the suite."""
    if args.suite == "lcbench":
        from tunegym.surrogates import LCBench

        tasks = sorted(LCBench.open().task_names.values())
        methods = COLD
    else:
        from tunegym.metastore import LCBENCH_SNAPSHOT_DIR, snapshot_split, snapshot_stats

        snapshot_stats(LCBENCH_SNAPSHOT_DIR)  # a clear error when it is not installed
        tasks = sorted(snapshot_split(LCBENCH_SNAPSHOT_DIR)["dataset"])
        methods = COLD + WARM
    tasks = tasks[: args.tasks] if args.tasks else tasks
    for task in tasks:
        for method in args.methods or methods:
            for seed in range(args.seeds):
                yield Job(args.suite, task, method, seed, args.budget)


@dataclass
class Args:
    """Settings (each is a ``--flag`` of the same name with dashes)."""

    suite: str = "lcbench"
    """lcbench (LCBench's surrogate, 34 tasks) or v2 (meta-dataset v2, replayed)."""
    seeds: int = 5
    """Episodes per (task, method), seeds 0..n-1 (each its own candidate draw and tuner seed)."""
    budget: int = 200
    """Epochs per episode (tune's default on LCBench's space)."""
    workers: int = 2
    """Processes."""
    tasks: int = 0
    """Only the first n tasks (0: all)."""
    methods: list[str] = field(default_factory=list)
    """Only these methods (default: the cold ones, and on v2 the warm-started ones too)."""
    out: str = ""
    """CSV of every episode (optional)."""
    episodes: str = ""
    """Read the episodes from this CSV (an earlier run's --out) instead of running them."""
    figure: str = ""
    """Write the critical-difference diagram of the episodes' regret-area ranks here (PNG)."""


def run(args: Args) -> pd.DataFrame:
    """Every episode of the suite; returns the per-method table (also printed by ``main``)."""
    if args.suite not in ("lcbench", "v2"):
        raise ValueError(f"--suite is lcbench or v2, got {args.suite!r}.")
    if args.episodes:
        frame = pd.read_csv(args.episodes)
    else:
        todo = list(jobs(args))
        if args.workers > 1:
            with ProcessPoolExecutor(args.workers) as pool:
                rows = list(pool.map(run_job, todo, chunksize=8))
        else:
            rows = [run_job(job) for job in todo]
        frame = pd.DataFrame(rows)
    if args.out:
        frame.to_csv(args.out, index=False)
    if args.figure:
        from tunegym.bench import critical_difference, mean_ranks, plot_critical_difference

        ranks = mean_ranks(frame, "area")
        blocks = frame.groupby(["task", "seed"]).ngroups
        title = (
            f"{args.suite}: mean rank of the regret area over {blocks} (task, seed) episodes, "
            f"budget {args.budget} epochs"
        )
        plot_critical_difference(ranks, critical_difference(len(ranks), blocks), args.figure,
                                 title=title)  # fmt: skip
    per_task = frame.groupby(["method", "task"])[["final_regret", "area"]].mean()
    table = per_task.groupby("method").mean()
    table["rank_area"] = per_task["area"].groupby("task").rank().groupby("method").mean()
    table["episodes"] = frame.groupby("method").size()
    table = table.sort_values("area")
    table.attrs = {"tasks": int(frame["task"].nunique()), "seeds": int(frame["seed"].nunique())}
    return table


def main() -> None:
    args = parse_dataclass_args(Args, description=__doc__)
    started = time.perf_counter()
    table = run(args)
    print(f"{args.suite}: {table.attrs['tasks']} tasks x {table.attrs['seeds']} seeds, "
          f"budget {args.budget} epochs, {time.perf_counter() - started:.0f} s")  # fmt: skip
    print(table.round(4).to_string())


if __name__ == "__main__":
    main()
