"""Many writers, one meta-store: rows per second with 1 and with 8 writer processes.

Each writer is a spawned process with its own ``MetaStore``; all start writing at the same
moment, into a fresh database per measurement. Each does the same work, so 8 writers do 8 times
the work of one (weak scaling). Two workloads:

(live) ``log_trial`` after every epoch, as live tuning does: ``trials`` trials of ``epochs``
       epochs each, on one shared dataset, flow and set of setups (the writers race to create
       them); a longer history replaces the stored one, so the trial's rows are written again
       every epoch.
(bulk) ``add_runs``: ``batches`` transactions of ``runs_per_batch`` runs of ``epochs`` epochs.

Reported per (backend, workload, writers): transactions, seconds (from the common start to the
last writer's end), transactions/s, evaluation rows inserted and rows/s, and retries
(transactions run again after losing a race to another writer). The store must hold exactly
the runs and rows written, else the script fails.

Without ``--url``, a throw-away PostgreSQL server is started with pgserver (the ``dev`` extra).

Run (the command behind the figures in docs/METASTORE.md):
    .venv/bin/python experiments/store_writers.py
"""

from __future__ import annotations

import csv
import json
import logging
import multiprocessing
import platform
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from functools import cache
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import sqlalchemy
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from tunegym._args import parse_dataclass_args
from tunegym.data import TabularDataset, load_dataset
from tunegym.metastore import EPOCH_MEASURES, MetaStore, RunRecord, RunStatus, detect_hardware
from tunegym.training import EpochRecord, MLPSpec, TrainConfig

WORKLOADS = ("live", "bulk")
BACKENDS = ("postgresql", "sqlite")


@dataclass
class Args:
    """Settings (each is a ``--flag`` of the same name with dashes)."""

    writers: list[int] = field(default_factory=lambda: [1, 8])
    workloads: list[str] = field(default_factory=lambda: list(WORKLOADS))
    backends: list[str] = field(default_factory=lambda: ["postgresql"])
    """``postgresql`` and/or ``sqlite`` (a new file per measurement)."""
    url: str = ""
    """A PostgreSQL server URL whose user may CREATE DATABASE; empty: start one with pgserver."""
    trials: int = 20
    """live: trials per writer."""
    epochs: int = 10
    batches: int = 10
    """bulk: transactions per writer."""
    runs_per_batch: int = 20
    """bulk: runs per transaction."""
    quick: bool = False
    """Smoke test: 1 and 2 writers, 3 trials, 3 epochs, 2 batches of 5 runs."""
    out_dir: Path = Path("experiments/results")


@dataclass(frozen=True)
class Measurement:
    """One (backend, workload, writers) measurement."""

    backend: str
    workload: str
    writers: int
    transactions: int
    seconds: float
    transactions_per_second: float
    rows: int
    rows_per_second: float
    retries: int


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line, checked."""
    args = parse_dataclass_args(Args, argv, __doc__)
    if args.quick:
        args = Args(
            writers=[1, 2], workloads=args.workloads, backends=args.backends, url=args.url,
            trials=3, epochs=3, batches=2, runs_per_batch=5, out_dir=args.out_dir,
        )  # fmt: skip
    if unknown := set(args.workloads) - set(WORKLOADS) | set(args.backends) - set(BACKENDS):
        raise ValueError(
            f"Unknown workloads/backends {sorted(unknown)}; expected {WORKLOADS}, {BACKENDS}."
        )
    sizes = [*args.writers, args.trials, args.epochs, args.batches, args.runs_per_batch]
    if min(sizes) < 1:
        raise ValueError(f"Writers and sizes must be >= 1, got {args}.")
    return args


def history(epochs: int, trial: int) -> list[EpochRecord]:
    """A fake decreasing-loss history (every measure of `EPOCH_MEASURES` set)."""
    return [epoch_record(epoch, 1.0 / (epoch + trial + 1)) for epoch in range(1, epochs + 1)]


def epoch_record(epoch: int, loss: float) -> EpochRecord:
    """A record with every measure set: val and test losses ``loss``, scores from it."""
    return EpochRecord(
        epoch, loss, loss, 1 - loss / 2, 1 - loss / 3, loss, 0.5, 0.4, 0.01, False,
        0.3, 0.3, 0.3, 0.2, 0.2, 0.2,
    )  # fmt: skip


def rows_of(workload: str, args: Args) -> tuple[int, int, int]:
    """(transactions, evaluation rows inserted, runs stored) of one writer."""
    per_epoch = len(EPOCH_MEASURES)  # and as many final values per run
    if workload == "live":
        rows = args.trials * sum((e + 1) * per_epoch for e in range(1, args.epochs + 1))
        return args.trials * args.epochs, rows, args.trials
    runs = args.batches * args.runs_per_batch
    return args.batches, runs * (args.epochs + 1) * per_epoch, runs


class _Retries(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


@cache
def iris() -> TabularDataset:
    """The dataset the live workload logs trials of (loaded once per writer, before the clock)."""
    return load_dataset("sklearn:iris", seed=0)


def write(store: MetaStore, workload: str, worker: int, args: Args) -> None:
    """One writer's work (see the module docstring)."""
    lrs = [10 ** (-4 + 3 * t / max(1, args.trials - 1)) for t in range(args.trials)]
    if workload == "live":
        dataset, spec = iris(), MLPSpec(depth=1, width=16)
        full = [history(args.epochs, t) for t in range(args.trials)]
        for epoch in range(1, args.epochs + 1):
            for t, lr in enumerate(lrs):
                config = TrainConfig(lr, 32, args.epochs, seed=worker)
                store.log_trial(dataset, config, spec, full[t][:epoch], hardware="bench")
        return
    task = store.get_or_create_task(store.get_or_create_dataset("bench", spec="bench:writers"))
    setup = store.get_or_create_setup(store.get_or_create_flow("bench.flow"), {"lr": 0.01})
    for batch in range(args.batches):
        first = (worker * args.batches + batch) * args.runs_per_batch
        store.add_runs(
            RunRecord(task, setup, seed, RunStatus.OK, history(args.epochs, seed), hardware="bench")
            for seed in range(first, first + args.runs_per_batch)
        )


def writer(
    url: str,
    workload: str,
    worker: int,
    args: Args,
    start: Barrier,
    results: Queue[tuple[float, float, int, str | None]],
) -> None:
    """A spawned writer: open the store, wait for the others, write; report times and retries."""
    retries = _Retries()
    logger = logging.getLogger("tunegym.metastore")
    logger.addHandler(retries)
    logger.setLevel(logging.DEBUG)
    try:
        iris()
        with MetaStore(url) as store:
            start.wait(timeout=600)
            began = time.time()
            write(store, workload, worker, args)
            results.put((began, time.time(), retries.count, None))
    except BaseException:
        results.put((0.0, 0.0, retries.count, traceback.format_exc()))


def measure(backend: str, url: str, workload: str, writers: int, args: Args) -> Measurement:
    """Run ``writers`` writers of ``workload`` on the fresh database ``url``; check its rows."""
    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(writers), context.Queue()
    with MetaStore(url):  # migrated before the writers start: the clock times writes only
        pass
    processes = [
        context.Process(target=writer, args=(url, workload, worker, args, start, results))
        for worker in range(writers)
    ]
    for process in processes:
        process.start()
    reports = [results.get(timeout=1800) for _ in processes]
    for process in processes:
        process.join()
    if errors := [error for *_, error in reports if error is not None]:
        raise RuntimeError(f"{len(errors)} writers failed; the first:\n{errors[0]}")
    seconds = max(end for _, end, *_ in reports) - min(began for began, *_ in reports)
    transactions, rows, runs = (writers * n for n in rows_of(workload, args))
    with MetaStore(url) as store:
        stats = store.stats()
    stored_rows = runs * (args.epochs + 1) * len(EPOCH_MEASURES)
    if (stats.runs, stats.evaluations) != (runs, stored_rows):
        raise RuntimeError(
            f"{backend} {workload} with {writers} writers stored {stats.runs} runs and "
            f"{stats.evaluations} rows, not {runs} and {stored_rows}."
        )
    return Measurement(
        backend, workload, writers, transactions, seconds, transactions / seconds, rows,
        rows / seconds, sum(r for *_, r, _ in reports),
    )  # fmt: skip


@contextmanager
def postgres_server(url: str) -> Iterator[str]:
    """``url``, or that of a throw-away pgserver PostgreSQL when it is empty."""
    if url:
        yield url
        return
    try:
        import pgserver
    except ImportError:
        raise SystemExit("Give --url, or install pgserver: pip install 'tunegym[dev]'") from None
    with tempfile.TemporaryDirectory() as directory:
        server = pgserver.get_server(directory, cleanup_mode="stop")
        try:
            socket_dir = server.get_uri().split("host=", 1)[1]
            yield f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
        finally:
            server.cleanup()


@contextmanager
def fresh_database(backend: str, server: str) -> Iterator[str]:
    """A new empty database: a new SQLite file, or a new database on the PostgreSQL server."""
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as directory:
            yield f"sqlite:///{Path(directory) / 'store.sqlite'}"
        return
    name = f"tunegym_writers_{uuid.uuid4().hex[:12]}"
    admin = create_engine(make_url(server), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def run(args: Args) -> list[Measurement]:
    """Every (backend, workload, writers) measurement; written to ``args.out_dir``."""
    measurements = []
    postgres = "postgresql" in args.backends
    with postgres_server(args.url) if postgres else nullcontext("") as server:
        for backend in args.backends:
            for workload in args.workloads:
                for writers in args.writers:
                    with fresh_database(backend, server) as url:
                        measurements.append(measure(backend, url, workload, writers, args))
                    print(format_table(measurements[-1:], header=len(measurements) == 1))
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with (args.out_dir / "store_writers.csv").open("w", newline="") as file:
        table = csv.DictWriter(file, fieldnames=list(asdict(measurements[0])))
        table.writeheader()
        table.writerows(asdict(m) for m in measurements)
    (args.out_dir / "store_writers.json").write_text(
        json.dumps(
            {
                "command": " ".join([Path(sys.executable).name, *sys.argv]),
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "machine": f"{detect_hardware()}, Python {platform.python_version()}",
                "sqlalchemy": sqlalchemy.__version__,
                "measurements": [asdict(m) for m in measurements],
            },
            indent=2,
        )
    )
    return measurements


def format_table(measurements: list[Measurement], *, header: bool = True) -> str:
    """The measurements as a plain-text table."""
    lines = (
        [
            "backend     workload  writers  transactions  seconds    tx/s    rows/s  retries",
            "----------  --------  -------  ------------  -------  ------  --------  -------",
        ]
        if header
        else []
    )
    for m in measurements:
        lines.append(
            f"{m.backend:<10}  {m.workload:<8}  {m.writers:>7}  {m.transactions:>12,}  "
            f"{m.seconds:>7.2f}  {m.transactions_per_second:>6,.0f}  {m.rows_per_second:>8,.0f}  "
            f"{m.retries:>7}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    run(parse_args())
