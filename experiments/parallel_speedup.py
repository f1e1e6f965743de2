"""Collection speed-up with 2 workers (processes, Ray) over one, and the cost of a Ray task.

(collect) The same collection — ``n_configs`` candidates of LCBench's space × ``seeds`` ×
``max_epochs`` epochs on ``datasets``, one trial per job — into a fresh SQLite store, run:
``inline`` (one worker, this process), ``processes`` (2 spawned processes), ``ray`` (a local Ray
of 2 CPUs started for it, its start-up and shutdown included: what ``tunegym collect --workers 2``
does) and ``ray-warm`` (on a Ray session already running, whose workers have trained on the
datasets: the steady state of a long collection). Reported: wall seconds, seconds per trial and
the speed-up over ``inline``. Every run must store the same curves, else the script fails.

(overhead) ``tasks`` no-op jobs on each executor, all submitted at once (seconds per task: the
cost when the workers are kept busy), and ``round_trips`` submitted one after another, each
waited for (seconds per round trip: the latency a job pays).

The machine's load average is recorded with each row: on a shared machine the figures move.

Run (the figures in README.md, "Parallel and distributed runs"):
    .venv/bin/python experiments/parallel_speedup.py
"""

from __future__ import annotations

import csv
import json
import os
import platform
import shlex
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd
import torch

from tunegym import parallel
from tunegym._args import parse_dataclass_args
from tunegym.envs import SearchSpace, collect
from tunegym.metastore import MetaStore
from tunegym.parallel import Workers, as_completed_results, executor
from tunegym.space import LCBENCH_SPACE

SETUPS = ("inline", "processes", "ray", "ray-warm")


@dataclass
class Args:
    """Settings (each is a ``--flag`` of the same name with dashes)."""

    datasets: list[str] = field(default_factory=lambda: ["keel:german"])
    n_configs: int = 32
    """Candidates sampled from LCBench's space (Sobol, seed 0)."""
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    max_epochs: int = 20
    setups: list[str] = field(default_factory=lambda: list(SETUPS))
    """Which of inline, processes, ray, ray-warm to time."""
    workers: int = 2
    tasks: int = 200
    """No-op tasks submitted at once per executor."""
    round_trips: int = 50
    """No-op tasks submitted one at a time, each waited for."""
    out_dir: Path = Path("experiments/results")


@dataclass(frozen=True)
class Row:
    """One measurement."""

    measure: str  # collect, tasks or round-trips
    setup: str
    jobs: int
    seconds: float
    per_second: float
    seconds_per_job: float
    speedup: float  # collect: over inline
    cpu_seconds: float  # collect: the trials' CPU time in the workers, and this process's
    load_average: float


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line, checked."""
    args = parse_dataclass_args(Args, argv, __doc__)
    if unknown := set(args.setups) - set(SETUPS):
        raise ValueError(f"Unknown setups {sorted(unknown)}; expected some of {SETUPS}.")
    if min(args.n_configs, args.max_epochs, args.workers, args.tasks, args.round_trips) < 1:
        raise ValueError(f"Sizes must be >= 1, got {args}.")
    return args


@contextmanager
def placed(setup: str, n: int) -> Iterator[Workers]:
    """``Workers`` of a setup; for ``processes``, Ray looks uninstalled meanwhile."""
    if setup != "processes":
        yield Workers(1) if setup == "inline" else Workers(n)
        return
    available = parallel.ray_available
    parallel.ray_available = lambda: False
    try:
        yield Workers(n)
    finally:
        parallel.ray_available = available


def time_collection(
    args: Args, where: Workers, store_path: Path
) -> tuple[float, float, pd.DataFrame]:
    """Wall and CPU seconds of the collection (executor start-up included), and the curves."""
    space = SearchSpace.sampled(LCBENCH_SPACE, args.n_configs, seed=0,
                                max_epochs=args.max_epochs, k_choices=(1,))  # fmt: skip
    with MetaStore(store_path) as store:
        started = time.perf_counter()
        summary = collect(args.datasets, space, args.seeds, store=store, workers=where,
                          meta_features=False)  # fmt: skip
        seconds = time.perf_counter() - started
        if summary.failures:
            raise RuntimeError(f"{where.describe()}: failures {summary.failures}")
        curves = pd.concat(store.curves(spec).assign(dataset=spec) for spec in args.datasets)
    return seconds, summary.cpu_seconds, curves.drop(columns="seconds").reset_index(drop=True)


def warm_up(args: Args, where: Workers) -> None:
    """A one-epoch collection of a few candidates: the workers import and load what they use."""
    space = SearchSpace.sampled(LCBENCH_SPACE, 2 * args.workers, seed=1, max_epochs=1,
                                k_choices=(1,))  # fmt: skip
    with MetaStore(":memory:") as store:
        collect(args.datasets, space, (0,), store=store, workers=where, meta_features=False)


def time_tasks(pool: Executor, tasks: int, round_trips: int) -> tuple[float, float]:
    """Seconds of ``tasks`` no-op jobs submitted at once, and of ``round_trips`` one by one."""
    list(as_completed_results(pool, abs, range(2 * 2)))  # the workers are up
    started = time.perf_counter()
    done = sum(1 for _ in as_completed_results(pool, abs, range(tasks)))
    at_once = time.perf_counter() - started
    assert done == tasks
    started = time.perf_counter()
    for job in range(round_trips):
        assert pool.submit(abs, job).result() == job
    return at_once, time.perf_counter() - started


def run(args: Args) -> list[Row]:
    """Time every setup; write ``parallel_speedup.csv`` and ``.json`` to ``args.out_dir``."""
    torch.set_num_threads(1)
    raw: dict[tuple[str, str], tuple[int, float, float, float]] = {}
    reference: pd.DataFrame | None = None
    ray_started_here = False
    with tempfile.TemporaryDirectory() as folder:
        for setup in args.setups:
            with placed(setup, args.workers) as where:
                if setup == "ray-warm":
                    ray_started_here = _start_ray(args.workers)
                    warm_up(args, where)
                load = os.getloadavg()[0]
                store_path = Path(folder) / f"{setup}.sqlite"
                seconds, cpu, curves = time_collection(args, where, store_path)
                trials = len(args.datasets) * len(args.seeds) * args.n_configs
                raw["collect", setup] = (trials, seconds, cpu, load)
                if reference is None:
                    reference = curves
                else:
                    pd.testing.assert_frame_equal(reference, curves, check_like=True)
                if setup != "ray":  # a Ray's tasks are timed on the warm one
                    with executor(where) as pool:
                        load = os.getloadavg()[0]
                        at_once, one_by_one = time_tasks(pool, args.tasks, args.round_trips)
                    name = "ray" if setup == "ray-warm" else setup
                    raw["tasks", name] = (args.tasks, at_once, float("nan"), load)
                    raw["round-trips", name] = (args.round_trips, one_by_one, float("nan"), load)
    if ray_started_here:
        import ray

        ray.shutdown()
    rows = []
    for (measure, setup), (jobs, seconds, cpu, load) in raw.items():
        base = raw.get((measure, "inline")) if measure == "collect" else None
        speedup = base[1] / base[0] / (seconds / jobs) if base else float("nan")
        rows.append(Row(measure, setup, jobs, round(seconds, 3), round(jobs / seconds, 2),
                        seconds / jobs, round(speedup, 2), round(cpu, 1), round(load, 2)))  # fmt: skip
    _write(rows, args)
    return rows


def _start_ray(cpus: int) -> bool:
    """A Ray session of ``cpus`` CPUs, unless one runs; whether it was started here."""
    import logging

    import ray

    if ray.is_initialized():
        return False
    ray.init(num_cpus=cpus, include_dashboard=False, logging_level=logging.WARNING,
             log_to_driver=False)  # fmt: skip
    return True


def _write(rows: list[Row], args: Args) -> None:
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with (args.out_dir / "parallel_speedup.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(asdict(rows[0])))
        writer.writeheader()
        writer.writerows(asdict(row) for row in rows)
    record = {
        "command": shlex.join([sys.executable.split("/")[-1], *sys.argv]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(args).items()},
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.platform()}",
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "rows": [asdict(row) for row in rows],
    }
    (args.out_dir / "parallel_speedup.json").write_text(json.dumps(record, indent=2) + "\n")


def main() -> None:
    args = parse_args()
    for row in run(args):
        print(f"{row.measure:12} {row.setup:10} {row.jobs:4d} jobs {row.seconds:8.2f} s "
              f"{row.seconds_per_job * 1000:9.2f} ms/job  x{row.speedup:.2f}  "
              f"CPU {row.cpu_seconds} s (load {row.load_average})")  # fmt: skip


if __name__ == "__main__":
    main()
