"""The v1 research benchmark (BENCHMARK_PROTOCOL.md v1): every tuner on the meta-test tasks.

Protocol v2 (peers from their own libraries, per-epoch reading, seed-mean truth) is
``tunegym bench --suite lcbench|own|PATH`` (docs/BENCHMARKS.md); this script keeps v1
reproducible.

Runs the agent and every baseline of ``tunegym.baselines`` (DEHB is unavailable, see
docs/BASELINES.md) on the meta-test datasets of the snapshot, 10 seeds, budget 64 epochs, in
replay, over worker processes; writes ``docs/benchmarks/curves.csv`` and ``summary.csv``, the
figures ``docs/figures/bench_regret.png`` and ``bench_rank.png`` and ``docs/BENCHMARKS_V1.md``.
``--live`` runs the documented live subset (the agent, random, hyperband and TPE on the three
smallest meta-test datasets, 3 seeds) and writes ``live_*`` files and ``docs/BENCHMARKS_V1_LIVE.md``.

Run (what produced docs/BENCHMARKS_V1.md; the same as ``tunegym bench --suite v1 --publish``):
    .venv/bin/python experiments/benchmark.py
"""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tunegym._args import parse_dataclass_args
from tunegym.agent import MetaDataset
from tunegym.bench._harness import BenchConfig, regenerate


@dataclass
class Args(BenchConfig):
    """Benchmark settings (each is a ``--flag`` of the same name with dashes)."""


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line."""
    return parse_dataclass_args(Args, argv, __doc__)


def run(args: Args, data: MetaDataset | None = None) -> pd.DataFrame:
    """Run the benchmark and write its results; returns the summary.

    A ``--quick`` run never writes the published files: what it would have written under
    ``docs/`` goes to ``runs/bench/v1-quick/`` instead.
    """
    if args.quick:
        published, scratch = BenchConfig(), Path("runs/bench/v1-quick")
        if args.out == published.out:
            args.out = str(scratch)
        if args.figures == published.figures:
            args.figures = str(scratch / "figures")
        if args.doc == published.doc:
            args.doc = str(scratch / "BENCHMARKS_V1.md")
    command = shlex.join(["python", "experiments/benchmark.py", *sys.argv[1:]])
    return regenerate(args, command, data)


if __name__ == "__main__":
    print(run(parse_args()).to_string(index=False))
