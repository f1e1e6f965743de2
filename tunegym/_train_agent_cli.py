"""``tunegym train-agent``: meta-train the v1 agent or the freeze-thaw agent (v2)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from tunegym._cli_errors import fail

if TYPE_CHECKING:
    from tunegym.agent import TrainProgress

console = Console()
err_console = Console(stderr=True)


def _fail(message: object) -> typer.Exit:
    return fail(err_console, message)


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
    v2: Annotated[
        bool,
        typer.Option(
            "--v2",
            help="The freeze-thaw agent (the default tuner on any space): clone the curve-race "
            "teacher, then MaskablePPO on LCBench's and meta-dataset v2's meta-train tasks, "
            "select on their meta-val (docs/AGENT.md in the repository).",
        ),
    ] = False,
    max_minutes: Annotated[
        float | None,
        typer.Option(help="--v2: stop PPO after this many minutes (default 80, 32 --transfer)."),
    ] = None,
    no_warm: Annotated[
        bool, typer.Option("--no-warm", help="--v2 ablation: no portfolio, no prior.")
    ] = False,
    no_meta: Annotated[
        bool, typer.Option("--no-meta", help="--v2 ablation: meta-features zeroed.")
    ] = False,
    bc_episodes: Annotated[
        int | None, typer.Option(help="--v2: teacher episodes cloned before PPO (0: none).")
    ] = None,
    bc_epochs: Annotated[int | None, typer.Option(help="--v2: passes over them.")] = None,
    learning_rate: Annotated[
        float | None,
        typer.Option(
            help="--v2: PPO's Adam step size (default 1e-4; a run trained further from --init "
            "may take a smaller one, so that it drifts less from the policy it starts from)."
        ),
    ] = None,
    final_weight: Annotated[
        float | None,
        typer.Option(
            help="--v2: training's return also pays minus this times the regret an episode ends "
            "on (default 0: the area under the regret curve alone)."
        ),
    ] = None,
    select_by: Annotated[
        str | None,
        typer.Option(
            help="--v2: what selection minimises on meta-val: relative (default: the area "
            "relative to the teacher's, each setting alike), area, area+final or return."
        ),
    ] = None,
    eval_seeds: Annotated[
        int | None,
        typer.Option(help="--v2: episodes per meta-val task and budget in each evaluation."),
    ] = None,
    transfer: Annotated[
        bool,
        typer.Option(
            "--transfer",
            help="--v2: a transfer agent, which `tune` runs (with --ship) when it may fine-tune: "
            "PPO from the shipped freeze-thaw agent, on the meta-dataset of fine-tuning too, "
            "selected on its meta-val targets (docs/TRANSFER.md in the repository).",
        ),
    ] = False,
    init: Annotated[
        Path | None,
        typer.Option(
            help="--v2: PPO starts from this agent folder (weights.pt + agent.json, e.g. an "
            "earlier run's --out) instead of cloning the teacher: to train a run further. The "
            "folder's own policy is the first one selection weighs."
        ),
    ] = None,
    learn_stop: Annotated[
        bool,
        typer.Option(
            "--learn-stop",
            help="--v2: teach a trained agent (--init, default the shipped one) when to stop "
            "under a price of cost: its stop logit alone imitates the priced stopping rule, then "
            "MaskablePPO on prices drawn from 0.001 to 0.3, selected on meta-val by the cost "
            "against spending the whole budget (docs/AGENT.md in the repository).",
        ),
    ] = False,
    ablations: Annotated[
        bool,
        typer.Option(
            "--ablations",
            help="--v2: also train the two ablations (--no-meta into OUT-no-meta, --no-warm "
            "into OUT-no-ws) at the same time, one process each; --ship ships all three.",
        ),
    ] = False,
    with_stop: Annotated[
        bool,
        typer.Option(
            "--with-stop",
            help="--v2: the agent's whole recipe in one command: clone the teacher and "
            "train PPO (into OUT/policy) for half of --max-minutes, then learn when to stop "
            "(into OUT) for the rest; --max-minutes is the whole run's (default 88).",
        ),
    ] = False,
) -> None:
    """Meta-train the agent (MaskablePPO) on the meta-train datasets, select it on meta-val."""
    import torch

    if ablations and (not v2 or transfer or no_warm or no_meta):
        raise _fail(ValueError("--ablations trains the freeze-thaw agent and its two ablations: "
                               "use it with --v2 alone (not --transfer, --no-warm, --no-meta)."))  # fmt: skip
    if learn_stop and (not v2 or transfer or ablations or no_warm or no_meta):
        raise _fail(ValueError("--learn-stop teaches a trained freeze-thaw agent when to stop: "
                               "use it with --v2 (and --init), not --transfer, --ablations, "
                               "--no-warm or --no-meta."))  # fmt: skip
    if with_stop and (not v2 or transfer or ablations or learn_stop or no_warm or no_meta
                      or init is not None):  # fmt: skip
        raise _fail(ValueError("--with-stop trains the freeze-thaw agent and then its stop in "
                               "one run: use it with --v2 alone (not --transfer, --ablations, "
                               "--learn-stop, --no-warm, --no-meta or --init)."))  # fmt: skip
    recipe = _given(learning_rate=learning_rate, final_weight=final_weight, select_by=select_by,
                    eval_seeds=eval_seeds)  # fmt: skip
    if with_stop:
        recipe |= _given(timesteps=timesteps, eval_every=eval_every, bc_episodes=bc_episodes,
                         bc_epochs=bc_epochs)  # fmt: skip
        _train_with_stop(quick, out, seed, ship, max_minutes, recipe)
        return
    if v2 and learn_stop:
        _learn_stop(quick, timesteps, out, seed, eval_every, ship, max_minutes, bc_episodes,
                    bc_epochs, init, recipe)  # fmt: skip
        return
    if v2:
        args = (quick, timesteps, out, seed, eval_every, ship, max_minutes)
        rest = (bc_episodes, bc_epochs, transfer, init, recipe)
        if ablations:
            _train_with_ablations(args, rest)
        else:
            _train_freeze_thaw(*args, no_warm, no_meta, *rest)
        return
    v2_only = {"--transfer": transfer, "--init": init is not None}
    v2_only |= {"--" + name.replace("_", "-"): True for name in recipe}
    if used := [flag for flag, on in v2_only.items() if on]:
        raise _fail(ValueError(f"{used[0]} trains a freeze-thaw agent: add --v2."))
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from tunegym.agent import (
        AGENT_FILE,
        PRETRAINED_DIR,
        WEIGHTS_FILE,
        AgentTrainConfig,
        train_agent,
    )

    given = _given(timesteps=timesteps, seed=seed, n_envs=n_envs, eval_every=eval_every,
                   snapshot=None if snapshot is None else str(snapshot), subproc=subproc)  # fmt: skip
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


ABLATIONS = {"no-meta": (False, True), "no-ws": (True, False)}
"""An ablation's folder suffix → (--no-warm, --no-meta)."""


def _train_with_ablations(args: tuple[Any, ...], rest: tuple[Any, ...]) -> None:
    """The agent and its ablations at once, one process (and one torch thread) each."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    quick, out = args[0], args[2]
    base = out or Path("runs/ft-agent-quick" if quick else "runs/ft-agent")
    runs = {"agent": (base, (False, False))}
    runs |= {suffix: (Path(f"{base}-{suffix}"), flags) for suffix, flags in ABLATIONS.items()}
    console.print(f"training the agent into {base} and its ablations into "
                  f"{base}-no-meta and {base}-no-ws, one process each")  # fmt: skip
    with ProcessPoolExecutor(len(runs), mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {
            name: pool.submit(_train_one, name, (*args[:2], folder, *args[3:]), flags, rest)
            for name, (folder, flags) in runs.items()
        }
        failed = [name for name, f in futures.items() if f.exception() is not None]
    for name in failed:
        err_console.print(f"[red]{name} failed: {futures[name].exception()}[/red]")
    if failed:
        raise typer.Exit(1)


def _train_one(
    name: str, args: tuple[Any, ...], flags: tuple[bool, bool], rest: tuple[Any, ...]
) -> None:
    import torch

    torch.set_num_threads(1)
    train: Callable[..., None] = _train_freeze_thaw  # the arguments of one command line
    train(*args, *flags, *rest, label=name)


def _given(**options: Any) -> dict[str, Any]:
    """The recipe's fields a command line set (the options not left at ``None``)."""
    return {k: v for k, v in options.items() if v is not None}


def _init_folder(init: Path) -> str:
    """``--init``'s agent folder, which must hold an ``agent.json``."""
    if not (init / "agent.json").is_file():
        raise _fail(FileNotFoundError(f"--init {init}: no agent.json there; give an agent "
                                      "folder (an earlier run's --out)."))  # fmt: skip
    return str(init)


def _policy_lines(tag: str, start: float) -> Callable[[int, dict[str, float]], None]:
    """Prints a policy's meta-val evaluations, each on a line led by ``tag`` (rich markup)."""
    import time

    def show(steps: int, row: dict[str, float]) -> None:
        mark = "  [green]best[/green]" if row.get("best") else ""
        relative = f"  ({row['relative']:.3f} of the teacher's)" if "relative" in row else ""
        console.print(f"{tag}{steps:>10,} steps  meta-val regret area {row['area']:.4f}{relative}  "
                      f"final {row['final']:.4f}  {time.perf_counter() - start:6.0f} s{mark}")  # fmt: skip

    return show


def _stop_lines(tag: str, start: float) -> Callable[[int, dict[str, float]], None]:
    """Prints a stop gate's meta-val evaluations (the rule's first), each led by ``tag``."""
    import time

    def show(steps: int, row: dict[str, float]) -> None:
        what = "the priced stopping rule" if row.get("rule") else f"{steps:>10,} steps"
        mark = "  [green]best[/green]" if row.get("best") else ""
        console.print(f"{tag}{what}  meta-val cost / spending everything {row['relative']:.3f}  "
                      f"budget spent {row['spent']:.0%}  final {row['final']:.4f}  "
                      f"{time.perf_counter() - start:6.0f} s{mark}")  # fmt: skip

    return show


def _train_freeze_thaw(
    quick: bool,
    timesteps: int | None,
    out: Path | None,
    seed: int,
    eval_every: int | None,
    ship: bool,
    max_minutes: float | None,
    no_warm: bool,
    no_meta: bool,
    bc_episodes: int | None = None,
    bc_epochs: int | None = None,
    transfer: bool = False,
    init: Path | None = None,
    recipe: dict[str, Any] | None = None,
    label: str = "",
) -> None:
    import shutil
    import time

    from rich.markup import escape

    from tunegym.agent._ftagent import DEFAULT_FT_AGENT_DIR, DEFAULT_TRANSFER_AGENT_DIR
    from tunegym.agent._fttrain import FTTrainConfig, train_ft_agent

    given: dict[str, Any] = {"seed": seed, "warm": not no_warm, "use_meta": not no_meta}
    given |= _given(max_minutes=max_minutes, timesteps=timesteps, eval_every=eval_every,
                    bc_episodes=bc_episodes, bc_epochs=bc_epochs) | (recipe or {})  # fmt: skip
    if init is not None:
        given["init"] = _init_folder(init)
    ship_to = DEFAULT_TRANSFER_AGENT_DIR if transfer else DEFAULT_FT_AGENT_DIR
    if no_warm or no_meta:  # an ablation's shipped folder, where the benchmark's peer reads it
        ship_to = ship_to.with_name(ship_to.name + ("_no_ws" if no_warm else "_no_meta"))
    tag = escape(f"[{label}] ") if label else ""
    try:
        if transfer:
            config = FTTrainConfig.transfer(out=str(out or "runs/ft-transfer"), quick=quick,
                                            **given)  # fmt: skip
        elif quick:
            config = FTTrainConfig.quick(out=str(out or "runs/ft-agent-quick"), **given)
        else:
            config = FTTrainConfig(out=str(out or "runs/ft-agent"), **given)
    except (ValueError, TypeError) as exc:
        raise _fail(exc) from exc
    start = time.perf_counter()
    first = f"starting from {config.init}" if config.init else "cloning the teacher"
    console.print(f"{tag}freeze-thaw agent: {first}, then up to {config.timesteps:,} PPO "
                  f"steps or {config.max_minutes:g} min, into {config.out}")  # fmt: skip

    try:
        agent, _ = train_ft_agent(config, progress=_policy_lines(tag, start))
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(exc) from exc
    console.print(f"{tag}selected: {agent.spec['selected']} ({agent.spec['train_seconds']} s)")
    if ship:
        ship_to.mkdir(parents=True, exist_ok=True)
        for name in ("weights.pt", "agent.json", "evaluations.csv"):
            shutil.copy2(Path(config.out) / name, ship_to / name)
        console.print(f"{tag}shipped to {ship_to}")


def _learn_stop(
    quick: bool,
    timesteps: int | None,
    out: Path | None,
    seed: int,
    eval_every: int | None,
    ship: bool,
    max_minutes: float | None,
    bc_episodes: int | None,
    bc_epochs: int | None,
    init: Path | None,
    recipe: dict[str, Any],
) -> None:
    import shutil
    import time

    from tunegym.agent._ftagent import DEFAULT_FT_AGENT_DIR
    from tunegym.agent._fttrain import FTTrainConfig
    from tunegym.agent._stoptrain import train_stop

    given: dict[str, Any] = {"seed": seed}
    given |= _given(timesteps=timesteps, eval_every=eval_every, max_minutes=max_minutes,
                    bc_episodes=bc_episodes, bc_epochs=bc_epochs) | recipe  # fmt: skip
    if init is not None:
        given["init"] = _init_folder(init)
    default = "runs/ft-stop-quick" if quick else "runs/ft-stop"
    try:
        config = FTTrainConfig.stop(out=str(out or default), quick=quick, **given)
    except (ValueError, TypeError) as exc:
        raise _fail(exc) from exc
    start = time.perf_counter()
    console.print(f"learning when to stop: {config.init or DEFAULT_FT_AGENT_DIR}'s stop logit, "
                  f"up to {config.timesteps:,} PPO steps or {config.max_minutes:g} min, into "
                  f"{config.out}")  # fmt: skip

    try:
        agent, _ = train_stop(config, progress=_stop_lines("", start))
    except (ValueError, FileNotFoundError) as exc:
        raise _fail(exc) from exc
    selected = agent.spec["stop"]["selected"]
    console.print(f"selected: meta-val cost / spending everything {selected['val_relative']:.3f} "
                  f"(the rule: {selected['rule_val_relative']:.3f}); agent in {config.out}")  # fmt: skip
    if ship:
        for name in ("weights.pt", "agent.json", "stop_evaluations.csv"):
            shutil.copy2(Path(config.out) / name, DEFAULT_FT_AGENT_DIR / name)
        console.print(f"shipped to {DEFAULT_FT_AGENT_DIR}")


def _train_with_stop(
    quick: bool,
    out: Path | None,
    seed: int,
    ship: bool,
    max_minutes: float | None,
    recipe: dict[str, Any],
) -> None:
    import time

    from rich.markup import escape

    from tunegym.agent._ftagent import DEFAULT_FT_AGENT_DIR
    from tunegym.agent._stoptrain import train_with_stop

    folder = out or Path("runs/ft-with-stop-quick" if quick else "runs/ft-with-stop")
    minutes = 88.0 if max_minutes is None else max_minutes
    start = time.perf_counter()
    when = "in seconds" if quick else f"in {minutes:g} minutes"
    console.print(f"the freeze-thaw agent's whole recipe {when}: the policy into {folder / 'policy'}, "
                  f"then when to stop into {folder}")  # fmt: skip

    try:
        agent = train_with_stop(folder, minutes=minutes, quick=quick, seed=seed,
                                policy_progress=_policy_lines(escape("[policy] "), start),
                                stop_progress=_stop_lines(escape("[stop] "), start), **recipe)  # fmt: skip
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise _fail(exc) from exc
    picked, stopped = agent.spec["selected"], agent.spec["stop"]["selected"]
    if "confirmed" in picked:
        check = picked["confirmed"]
        first = "the untrained policy" if recipe.get("bc_episodes") == 0 else "the clone"
        kept = "PPO's pick" if check["kept"] == "selected" else f"the first policy ({first})"
        ratio = check["selected_relative_to_first"]
        ratio_text = "" if ratio is None else f" (PPO's pick at {ratio:.3f} of {first}'s area)"
        console.print(f"checked on {check['seeds']} seeds per task and budget at {check['n']} "
                      f"candidates{ratio_text}: kept {kept}")  # fmt: skip
    console.print(f"selected: the policy at meta-val area {picked['val_area']:.4f}, its stop at "
                  f"{stopped['val_relative']:.3f} of spending everything (the rule: "
                  f"{stopped['rule_val_relative']:.3f}); {agent.spec['recipe']['seconds'] / 60:.1f} "
                  f"min in all; agent in {folder}")  # fmt: skip
    if ship:
        DEFAULT_FT_AGENT_DIR.mkdir(parents=True, exist_ok=True)
        for name in ("weights.pt", "agent.json", "stop_evaluations.csv"):
            shutil.copy2(folder / name, DEFAULT_FT_AGENT_DIR / name)
        shutil.copy2(
            folder / "policy" / "evaluations.csv", DEFAULT_FT_AGENT_DIR / "evaluations.csv"
        )
        console.print(f"shipped to {DEFAULT_FT_AGENT_DIR}")
