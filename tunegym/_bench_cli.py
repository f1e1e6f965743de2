"""``tunegym bench``: the research benchmark of every tuner on the held-out tasks."""

from __future__ import annotations

import shlex
import sys
from typing import Annotated

import typer
from rich.console import Console

console = Console()


def bench_command(
    methods: Annotated[
        list[str] | None,
        typer.Option(
            "--method", help="A method (repeatable); default: the agent and every baseline."
        ),
    ] = None,
    datasets: Annotated[
        list[str] | None,
        typer.Option("--dataset", help="A dataset (repeatable); default: the meta-test part."),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Seeds per dataset (live: at most 3).")] = 10,
    budget: Annotated[int, typer.Option(help="Epoch budget of every episode.")] = 64,
    workers: Annotated[int, typer.Option(help="Worker processes.")] = 2,
    live: Annotated[
        bool, typer.Option(help="The live subset: 4 methods, 3 small meta-test datasets, 3 seeds.")
    ] = False,
    quick: Annotated[
        bool, typer.Option(help="Seconds-long: random and hyperband, 2 datasets, 2 seeds.")
    ] = False,
    out: Annotated[
        str, typer.Option(help="Folder of curves.csv and summary.csv.")
    ] = "docs/benchmarks",
    figures: Annotated[str, typer.Option(help="Folder of the figures.")] = "docs/figures",
    doc: Annotated[str, typer.Option(help="Markdown report (empty: none).")] = "docs/BENCHMARKS.md",
    snapshot: Annotated[str, typer.Option(help="Snapshot folder (empty: shipped).")] = "",
    agent: Annotated[str, typer.Option(help="Agent folder (empty: shipped).")] = "",
) -> None:
    """Run the benchmark (BENCHMARK_PROTOCOL.md) and rewrite its CSVs, figures and report."""
    from tunegym.bench._harness import BENCH_METHODS, BenchConfig, regenerate

    config = BenchConfig(
        methods=methods or list(BENCH_METHODS),
        datasets=datasets or [],
        seeds=seeds,
        budget=budget,
        workers=workers,
        live=live,
        quick=quick,
        out=out,
        figures=figures,
        doc=doc,
        snapshot=snapshot,
        agent=agent,
    )
    summary = regenerate(config, shlex.join(["tunegym", *sys.argv[1:]]))
    console.print(summary.to_string(index=False, float_format="%.4f"))
