"""``tunegym tune`` (tune a dataset with the pretrained agent) and ``tunegym train-agent``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from tunegym.agent import StepRecord, TrainProgress, TuningResult

console = Console()
err_console = Console(stderr=True)

DEFAULT_DATASET = "sklearn:breast_cancer"


def _fail(message: object) -> typer.Exit:
    err_console.print(f"[bold red]error:[/] {message}")
    return typer.Exit(code=2)


def _step_line(r: StepRecord) -> str:
    if r.trial is None or r.lr is None or r.batch_size is None:  # stop (or an invalid action)
        return f"step {r.step:3d} {r.kind}"
    val = "—" if r.val_score is None else f"{r.val_score:.4f}"
    return (
        f"step {r.step:3d} {r.kind:8s} #{r.trial:<2d} lr {r.lr:<7.2g} bs {r.batch_size:<3d} "
        f"+{r.epochs:<2d}={r.trial_epochs:2d} ep  val {val}  best {r.incumbent_val:.4f}"
    )


def _summary(result: TuningResult) -> Table:
    table = Table(
        title=f"{result.method} on {result.dataset} (seed {result.seed})", show_header=False
    )
    table.add_column("", style="bold")
    table.add_column("")
    best = result.best
    rows = [
        ("best lr", "—" if best is None else f"{best.lr:g}"),
        ("best batch size", "—" if best is None else str(best.batch_size)),
        ("best epochs", "—" if best is None else f"{best.epochs} (of E_max {best.max_epochs})"),
        (f"{result.metric}", "—" if best is None else f"{best.val_score:.4f}"),
        ("test score", "—" if best is None else f"{best.test_score:.4f}"),
        ("epochs used", f"{result.epochs_used} / {result.budget_epochs}"),
        ("trials", str(len(result.trials))),
        ("training seconds", f"{result.seconds:.2f}"),
        ("decision seconds", f"{result.decision_seconds:.3f}"),
        ("wall seconds", f"{result.wall_seconds:.2f}"),
        ("warm-start prior", result.prior),
    ]
    for key, value in rows:
        table.add_row(key, value)
    return table


def tune_command(
    dataset: Annotated[
        str | None,
        typer.Option(
            help=f"Dataset spec (sklearn:iris, keel:german, openml:31); default {DEFAULT_DATASET}."
        ),
    ] = None,
    data: Annotated[
        Path | None, typer.Option(help="A CSV/Parquet file to tune on (with --target).")
    ] = None,
    target: Annotated[str | None, typer.Option(help="Class column of --data.")] = None,
    method: Annotated[
        str,
        typer.Option(
            help="agent (the pretrained agent) or a baseline: random, hyperband, tpe, ..."
        ),
    ] = "agent",
    budget_epochs: Annotated[int, typer.Option(help="Epochs the tuner may spend.")] = 64,
    budget_seconds: Annotated[
        float | None, typer.Option(help="Also stop after this many training seconds.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the split, the trials and the tuner.")] = 0,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG of the incumbent and the trials' curves here.")
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Log every trial to this meta-store (URL or SQLite file).")
    ] = None,
    agent: Annotated[
        Path | None, typer.Option(help="Folder of another agent (default: the shipped one).")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
    threads: Annotated[int, typer.Option(help="torch threads (1 is fastest for small MLPs).")] = 1,
) -> None:
    """Tune learning rate, batch size and epochs of an MLP on a dataset, with the pretrained agent.

    With no arguments it tunes sklearn:breast_cancer with a budget of 64 epochs.
    """
    import torch

    from tunegym.agent import plot_tuning, tune

    if dataset is not None and data is not None:
        raise _fail("Give either --dataset SPEC or --data FILE (with --target), not both.")
    if data is not None and target is None:
        raise _fail(f"--data {data} needs --target COLUMN (the class column).")
    source: str | Path = data if data is not None else dataset or DEFAULT_DATASET
    torch.set_num_threads(threads)
    console.print(f"tuning [bold]{source}[/] with [bold]{method}[/], budget {budget_epochs} epochs")
    try:
        result = tune(
            source,
            target,
            budget_epochs=budget_epochs,
            budget_seconds=budget_seconds,
            seed=seed,
            method=method,
            device=device,
            store=store,
            agent=agent,
            progress=lambda r: console.print(_step_line(r), highlight=False),
        )
    except (ValueError, TypeError, FileNotFoundError, NotImplementedError, ImportError) as exc:
        raise _fail(exc) from exc
    console.print(_summary(result))
    if report is not None:
        result.to_json(report)
        console.print(f"report written to {report}")
    if plot is not None:
        plot_tuning(result, plot)
        console.print(f"plot written to {plot}")


def train_agent_command(
    quick: Annotated[
        bool, typer.Option("--quick", help="A seconds-long run that checks the pipeline.")
    ] = False,
    timesteps: Annotated[
        int | None, typer.Option(help="PPO steps (default 3,000,000; 64 with --quick).")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Folder for the agent, logs and evaluations.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of PPO, the envs and the evaluations.")] = 0,
    snapshot: Annotated[
        Path | None, typer.Option(help="Meta-dataset snapshot folder (default: the shipped one).")
    ] = None,
    n_envs: Annotated[int | None, typer.Option(help="Environments per rollout step.")] = None,
    eval_every: Annotated[
        int | None, typer.Option(help="Timesteps between meta-val evaluations.")
    ] = None,
    subproc: Annotated[
        bool, typer.Option("--subproc", help="Step the envs in subprocesses.")
    ] = False,
    ship: Annotated[
        bool,
        typer.Option("--ship", help="Copy the selected agent into the package (load_agent())."),
    ] = False,
    threads: Annotated[int, typer.Option(help="torch threads (1 is fastest here).")] = 1,
) -> None:
    """Meta-train the agent (MaskablePPO) on the meta-train datasets, select it on meta-val."""
    import torch
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tunegym.agent import (
        AGENT_FILE,
        PRETRAINED_DIR,
        WEIGHTS_FILE,
        AgentTrainConfig,
        train_agent,
    )

    changes = {
        "timesteps": timesteps,
        "seed": seed,
        "snapshot": None if snapshot is None else str(snapshot),
        "n_envs": n_envs,
        "eval_every": eval_every,
        "subproc": subproc,
    }
    given: dict[str, Any] = {k: v for k, v in changes.items() if v is not None}
    try:
        if quick:
            config = AgentTrainConfig.quick(**given, out=str(out or "runs/agent-quick"))
        else:
            config = AgentTrainConfig(**given, out=str(out or "runs/agent"))
    except (ValueError, TypeError) as exc:
        raise _fail(exc) from exc
    torch.set_num_threads(threads)
    console.print(f"meta-training {config.timesteps:,} steps into {config.out}")
    columns = (
        TextColumn("PPO"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
    )
    with Progress(*columns, console=console) as bar:
        task = bar.add_task("train", total=config.timesteps, status="")

        def show(p: TrainProgress) -> None:
            bar.update(
                task,
                completed=p.timesteps,
                status=f"return {p.mean_return:.3f} · best val regret {p.best_val_regret:.4f}",
            )
            if p.evaluation is not None:
                e = p.evaluation
                bar.console.print(
                    f"{e.timesteps:>9,} steps  meta-val regret {e.val_regret:.4f} "
                    f"(at 25 % of the budget {e.val_regret_25:.4f})  {e.seconds:.0f} s"
                )

        try:
            trained = train_agent(config, progress=show)
        except (ValueError, FileNotFoundError) as exc:
            raise _fail(exc) from exc
    best = trained.best
    console.print(
        f"selected the policy of step {best.timesteps:,}: meta-val regret {best.val_regret:.4f} "
        f"(random search {trained.random_val_regret:.4f}); {trained.seconds / 60:.1f} min; "
        f"agent in {trained.path}"
    )
    console.print(f"configuration, seeds and data version recorded in {trained.path / AGENT_FILE}")
    if ship:
        PRETRAINED_DIR.mkdir(parents=True, exist_ok=True)
        for name in (AGENT_FILE, WEIGHTS_FILE):
            shutil.copyfile(trained.path / name, PRETRAINED_DIR / name)
        console.print(f"shipped: copied {AGENT_FILE} and {WEIGHTS_FILE} to {PRETRAINED_DIR}")
