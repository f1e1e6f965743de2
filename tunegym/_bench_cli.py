"""``tunegym bench``: the research benchmark, every peer on a suite's tasks (protocol v2)."""

from __future__ import annotations

import shlex
import sys
from typing import Annotated

import typer
from rich.console import Console

console = Console()

_HELP = """Run the benchmark (BENCHMARK_PROTOCOL.md v2) on a suite and rewrite its section of
docs/BENCHMARKS.md, its results CSV (docs/benchmarks/v2) and its figures.

Suites: 'lcbench' (the LCBench surrogate's 34 tasks, a pool of 2,000 Sobol configurations each;
budgets 1000 and 200 epochs), 'own' (the meta-dataset v2: 32 datasets x 100 configurations x 2
seeds x 50 epochs, trained by tunegym), the path of a curve table (.csv/.parquet, docs/CURVES.md),
or 'v1' (the v1 harness: the agent and the baselines on the 13 x 6 grid, docs/BENCHMARKS_V1.md).
Cold peers run on every task, warm-started ones (from the meta-train portfolio) on meta-test.
'--list' shows the peers, their libraries and which cannot run here.
"""


def bench_command(
    suite: Annotated[
        str, typer.Option(help="lcbench, own, a curve table's path, or v1.")
    ] = "lcbench",
    methods: Annotated[
        list[str] | None,
        typer.Option("--method", "--peer", help="A peer (repeatable); default: every peer."),
    ] = None,
    datasets: Annotated[
        list[str] | None,
        typer.Option("--task", "--dataset", help="A task (repeatable); default: the suite's."),
    ] = None,
    budgets: Annotated[
        list[int] | None,
        typer.Option("--budget", help="Epoch budget (repeatable); default: the suite's."),
    ] = None,
    seeds: Annotated[int, typer.Option(help="Episodes (seeds) per task.")] = 10,
    workers: Annotated[
        int,
        typer.Option(
            help="Workers running episodes: with Ray installed (extra 'ray') a local Ray of this "
            "many CPUs is started, else spawned processes (v1: processes).",
            min=1,
        ),
    ] = 2,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="Run the episodes on a Ray cluster: its address (ray://HOST:10001, or "
            "HOST:6379 on a node of it), 'auto' (the cluster this machine belongs to, or "
            "$RAY_ADDRESS), or 'local' (a local Ray of --workers CPUs). Not for v1.",
        ),
    ] = None,
    split: Annotated[str, typer.Option(help="Split file (empty: the suite's).")] = "",
    budget_seconds: Annotated[
        float, typer.Option(help="Also end episodes after this many training seconds (0: no).")
    ] = 0.0,
    quick: Annotated[
        bool,
        typer.Option(help="Seconds-long: 3 meta-test tasks, 2 seeds, 200 epochs, 5 cold peers."),
    ] = False,
    report_only: Annotated[
        bool,
        typer.Option(help="Rewrite the report from the results CSV in --out, running nothing."),
    ] = False,
    merge: Annotated[
        bool,
        typer.Option(
            help="Run only the --peer(s) given and merge their rows into the results in --out "
            "(the other peers' rows are kept as they were run; the report says so)."
        ),
    ] = False,
    list_peers: Annotated[bool, typer.Option("--list", help="List the peers and exit.")] = False,
    out: Annotated[
        str, typer.Option(help="Folder of the results (v1: docs/benchmarks).")
    ] = "docs/benchmarks/v2",
    doc: Annotated[
        str, typer.Option(help="Markdown report (empty: none; v1: docs/BENCHMARKS_V1.md).")
    ] = "docs/BENCHMARKS.md",
    figures: Annotated[str, typer.Option(help="Folder of the figures.")] = "docs/figures",
    live: Annotated[bool, typer.Option(help="v1 only: the live subset.")] = False,
    snapshot: Annotated[str, typer.Option(help="v1 only: snapshot folder.")] = "",
    agent: Annotated[str, typer.Option(help="v1 only: agent folder.")] = "",
) -> None:
    command = shlex.join(["tunegym", *sys.argv[1:]])
    if list_peers:
        _list()
        return
    if suite == "v1":
        if ray_address:
            raise typer.BadParameter("v1 runs in processes; --ray-address is for the v2 suites.")
        _v1(methods, datasets, budgets, seeds, workers, live, quick, out, doc, figures, snapshot, agent,
            command)  # fmt: skip
        return
    from rich.progress import Progress

    from tunegym.bench import BenchPlan, read_results, run_suite, write_report

    if report_only:
        frame = read_results(out, suite)
        result = write_report(frame, out_dir=out, doc=doc or None,
                              command=frame.attrs["bench"].get("command", command),
                              figures_dir=figures)  # fmt: skip
        console.print(f"Rewrote {doc or 'no report'} and {len(result['figures'])} figures.")
        return

    try:
        plan = BenchPlan(
            suite=suite,
            peers=tuple(methods or (_QUICK_PEERS if quick else ())),
            budgets=tuple(budgets or ((200,) if quick else ())),
            seeds=2 if quick else seeds,
            tasks=tuple(datasets or ()),
            split=split or None,
            budget_seconds=budget_seconds or None,
            workers=workers,
            ray_address=ray_address,
            max_tasks=3 if quick else 0,
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from exc
    if merge and not methods:
        raise typer.BadParameter("--merge needs the --peer(s) to run.", param_hint="--merge")
    previous = read_results(out, suite) if merge else None  # before running: fail fast
    with Progress(console=console, transient=True) as bar:
        job = bar.add_task(f"bench {suite} {plan.where().describe()}", total=None)
        try:
            frame = run_suite(plan, progress=lambda d, n: bar.update(job, completed=d, total=n))
        except (ImportError, ConnectionError) as exc:
            console.print(f"[bold red]error:[/] {exc}")
            raise typer.Exit(2) from exc
    if merge:
        from tunegym.bench import merge_results

        assert previous is not None
        frame = merge_results(previous, frame, command)
        command = frame.attrs["bench"].get("command", command)  # the section's own run
    result = write_report(frame, out_dir=out, doc=doc or None, command=command, figures_dir=figures)
    import pandas as pd

    for scope in ("meta-test", "all"):
        if scope in result:
            table = pd.DataFrame(result[scope])
            console.print(f"[bold]{scope}[/bold]")
            columns = ["budget", "peer", "regret@25", "regret@100", "rank", "auc", "decision_s"]
            console.print(table[columns].to_string(index=False, float_format="%.4f"))
    console.print(
        f"Wrote {out}, {doc or 'no report'} and {len(result['figures'])} figures; the episodes "
        f"ran {plan.where().describe()}."
    )


bench_command.__doc__ = _HELP


_QUICK_PEERS = ("random", "hyperband", "top-k-1epoch", "tpe", "asha")


def _list() -> None:
    from rich.table import Table

    from tunegym.bench import PEERS, unavailable_peers

    missing = unavailable_peers()
    table = Table("peer", "library", "start", "what", "here")
    for name, info in PEERS.items():
        here = f"[red]no: {missing[name]}[/red]" if name in missing else "yes"
        table.add_row(name, info.library, "warm" if info.warm else "cold", info.about, here)
    for name, reason in missing.items():
        if name not in PEERS:
            table.add_row(name, "", "", "", f"[red]not run: {reason}[/red]")
    console.print(table)


def _v1(
    methods: list[str] | None,
    datasets: list[str] | None,
    budgets: list[int] | None,
    seeds: int,
    workers: int,
    live: bool,
    quick: bool,
    out: str,
    doc: str,
    figures: str,
    snapshot: str,
    agent: str,
    command: str,
) -> None:  # fmt: skip
    from tunegym.bench._harness import BENCH_METHODS, BenchConfig, regenerate

    config = BenchConfig(
        methods=methods or list(BENCH_METHODS),
        datasets=datasets or [],
        seeds=seeds,
        budget=budgets[0] if budgets else 64,
        workers=workers,
        live=live,
        quick=quick,
        out="docs/benchmarks" if out == "docs/benchmarks/v2" else out,
        figures=figures,
        doc="docs/BENCHMARKS_V1.md" if doc == "docs/BENCHMARKS.md" else doc,
        snapshot=snapshot,
        agent=agent,
    )
    summary = regenerate(config, command)
    console.print(summary.to_string(index=False, float_format="%.4f"))
