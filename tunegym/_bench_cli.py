"""``tunegym bench``: the research benchmark, every peer on a suite's tasks (protocol v2)."""

from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from tunegym._cli_errors import fail

if TYPE_CHECKING:
    import pandas as pd

console = Console()

_HELP = """Run the benchmark (protocol v2; the method is in docs/BENCHMARKS.md) on a suite.

A run writes its results CSV, a Markdown report and its figures into the scratch folder
runs/bench/SUITE/ (under the current folder). '--publish' instead rewrites the suite's section
of docs/BENCHMARKS.md, its results in docs/benchmarks/v2 and its figures in docs/figures (v1:
docs/BENCHMARKS_V1.md and docs/benchmarks); a '--quick' run is never published.

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
    publish: Annotated[
        bool,
        typer.Option(
            help="Write the published files (docs/BENCHMARKS.md, docs/benchmarks/v2, "
            "docs/figures) instead of runs/bench/SUITE/. Not with --quick."
        ),
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
        str | None,
        typer.Option(
            help="Folder of the results (default: runs/bench/SUITE; --publish: "
            "docs/benchmarks/v2, v1: docs/benchmarks).",
            show_default=False,
        ),
    ] = None,
    doc: Annotated[
        str | None,
        typer.Option(
            help="Markdown report, '' for none (default: runs/bench/SUITE/BENCHMARKS.md; "
            "--publish: docs/BENCHMARKS.md, v1: docs/BENCHMARKS_V1.md).",
            show_default=False,
        ),
    ] = None,
    figures: Annotated[
        str | None,
        typer.Option(
            help="Folder of the figures (default: runs/bench/SUITE/figures; --publish: "
            "docs/figures).",
            show_default=False,
        ),
    ] = None,
    live: Annotated[bool, typer.Option(help="v1 only: the live subset.")] = False,
    snapshot: Annotated[str, typer.Option(help="v1 only: snapshot folder.")] = "",
    agent: Annotated[str, typer.Option(help="v1 only: agent folder.")] = "",
) -> None:
    command = shlex.join(["tunegym", *sys.argv[1:]])
    if list_peers:
        _list()
        return
    where = _destination(suite, publish=publish, quick=quick, out=out, doc=doc, figures=figures)
    if suite == "v1":
        if ray_address:
            raise typer.BadParameter("v1 runs in processes; --ray-address is for the v2 suites.")
        _v1(methods, datasets, budgets, seeds, workers, live, quick, where, snapshot, agent,
            command)  # fmt: skip
        return
    from rich.progress import Progress

    from tunegym.bench import BenchPlan, run_suite, write_report

    out, doc = where.out, where.doc
    if report_only:
        frame = _read_results(where, suite)
        result = write_report(frame, out_dir=out, doc=doc or None,
                              command=frame.attrs["bench"].get("command", command),
                              figures_dir=where.figures)  # fmt: skip
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
    previous = _read_results(where, suite) if merge else None  # before running: fail fast
    with Progress(console=console, transient=True) as bar:
        job = bar.add_task(f"bench {suite} {plan.where().describe()}", total=None)
        try:
            frame = run_suite(plan, progress=lambda d, n: bar.update(job, completed=d, total=n))
        except (ImportError, ConnectionError) as exc:
            raise fail(console, exc) from exc
    if merge:
        from tunegym.bench import merge_results

        assert previous is not None
        frame = merge_results(previous, frame, command)
        command = frame.attrs["bench"].get("command", command)  # the section's own run
    result = write_report(frame, out_dir=out, doc=doc or None, command=command,
                          figures_dir=where.figures)  # fmt: skip
    import pandas as pd

    for scope in ("meta-test", "all"):
        if scope in result:
            table = pd.DataFrame(result[scope])
            console.print(f"[bold]{scope}[/bold]")
            columns = ["budget", "peer", "regret@25", "regret@100", "rank", "auc", "decision_s"]
            console.print(table[columns].to_string(index=False, float_format="%.4f"))
    console.print(
        f"The episodes ran {plan.where().describe()}. {where.describe(len(result['figures']))}"
    )


bench_command.__doc__ = _HELP


_QUICK_PEERS = ("random", "hyperband", "top-k-1epoch", "tpe", "asha")

SCRATCH = Path("runs") / "bench"
"""Where a run writes unless --publish: ``SCRATCH/<suite>/`` under the current folder."""

# The published files of each protocol: (results folder, report, figures folder).
_PUBLISHED = {
    "v2": ("docs/benchmarks/v2", "docs/BENCHMARKS.md", "docs/figures"),
    "v1": ("docs/benchmarks", "docs/BENCHMARKS_V1.md", "docs/figures"),
}


@dataclass(frozen=True)
class _Destination:
    """Where a run writes: its results folder, report ('' for none) and figures folder."""

    out: str
    doc: str
    figures: str
    publish: bool

    def describe(self, n_figures: int) -> str:
        """The closing line of a run: what was written where, and how to publish."""
        report = f"the report {self.doc}" if self.doc else "no report"
        text = (
            f"Wrote the results to {self.out}, {report} and {n_figures} figures to {self.figures}."
        )
        if self.publish:
            return text
        return text + " The published docs/ files are untouched: --publish rewrites them."


def _destination(
    suite: str, *, publish: bool, quick: bool, out: str | None, doc: str | None,
    figures: str | None,
) -> _Destination:  # fmt: skip
    """The scratch folder ``runs/bench/<suite>/`` by default, the published files with
    --publish; an explicit --out/--doc/--figures wins. A quick run is refused anywhere it would
    overwrite a published file: its 3 tasks x 2 seeds must never become the published table."""
    if publish and quick:
        raise typer.BadParameter(
            "A --quick run is never published (its few tasks and seeds are not the protocol's "
            "table): "
            f"drop --publish to write it to {SCRATCH / Path(suite).stem}/, or drop --quick to "
            "run the full suite.",
            param_hint="--publish",
        )
    if publish:
        default_out, default_doc, default_figures = _PUBLISHED["v1" if suite == "v1" else "v2"]
    else:
        scratch = SCRATCH / Path(suite).stem
        report = "BENCHMARKS_V1.md" if suite == "v1" else "BENCHMARKS.md"
        default_out, default_doc = str(scratch), str(scratch / report)
        default_figures = str(scratch / "figures")
    where = _Destination(
        out=default_out if out is None else out,
        doc=default_doc if doc is None else doc,
        figures=default_figures if figures is None else figures,
        publish=publish,
    )
    if quick:
        _refuse_published(where)
    return where


def _refuse_published(where: _Destination) -> None:
    """Raise if a quick run's explicit --out/--doc/--figures is a published file or folder."""
    published = {Path(p).resolve() for paths in _PUBLISHED.values() for p in paths}
    for flag, path in (("--out", where.out), ("--doc", where.doc), ("--figures", where.figures)):
        if path and Path(path).resolve() in published:
            raise typer.BadParameter(
                f"A --quick run would overwrite the published {path}; give {flag} a scratch "
                "path (or leave it out: runs/bench/SUITE/).",
                param_hint=flag,
            )


def _read_results(where: _Destination, suite: str) -> pd.DataFrame:
    """The kept results of ``suite`` in ``where.out`` (--report-only, --merge), or exit 2 with
    a message saying where else they may be."""
    from tunegym.bench import read_results

    try:
        return read_results(where.out, suite)
    except FileNotFoundError as exc:
        hint = "" if where.publish else " (the published results are read with --publish)"
        raise fail(console, f"{exc}{hint}") from exc


def _list() -> None:
    from rich.table import Table

    from tunegym.bench import PEERS, unavailable_peers

    missing = unavailable_peers()
    table = Table("peer", "library", "start", "what", "here")
    for name, info in PEERS.items():
        here = f"[red]no: {escape(missing[name])}[/red]" if name in missing else "yes"
        table.add_row(name, info.library, "warm" if info.warm else "cold", info.about, here)
    for name, reason in missing.items():
        if name not in PEERS:
            table.add_row(name, "", "", "", f"[red]not run: {escape(reason)}[/red]")
    console.print(table)


def _v1(
    methods: list[str] | None,
    datasets: list[str] | None,
    budgets: list[int] | None,
    seeds: int,
    workers: int,
    live: bool,
    quick: bool,
    where: _Destination,
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
        out=where.out,
        figures=where.figures,
        doc=where.doc,
        snapshot=snapshot,
        agent=agent,
    )
    summary = regenerate(config, command)
    console.print(summary.to_string(index=False, float_format="%.4f"))
    console.print(where.describe(2), highlight=False)
