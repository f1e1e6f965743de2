"""``tunegym tune`` (tune a dataset with the pretrained agents) and ``tunegym train-agent``."""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tunegym._cli_errors import fail, print_error

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from rich.progress import Progress

    from tunegym.agent import StepRecord, TuningResult

console = Console()
err_console = Console(stderr=True)

DEFAULT_DATASET = "sklearn:breast_cancer"


def _fail(message: object) -> typer.Exit:
    return fail(err_console, message)


def _step_line(r: StepRecord, metric: str = "val_accuracy") -> str:
    if r.trial is None or r.lr is None or r.batch_size is None:  # stop (or an invalid action)
        return f"step {r.step:3d} {r.kind:8s} after {r.epochs_used} epochs"
    val = "—" if r.val_score is None else _value(r.val_score, metric)
    return (
        f"step {r.step:3d} {r.kind:8s} #{r.trial:<2d} lr {r.lr:<7.2g} bs {r.batch_size:<3d} "
        f"+{r.epochs:<2d}={r.trial_epochs:2d} ep  val {val}  best {_value(r.incumbent_val, metric)}"
        + (f"  ({r.pending} still training)" if r.pending else "")
    )


def _metric_rows(result: TuningResult) -> list[tuple[str, str]]:
    """The test metrics of the best model and where its validation stopped improving."""
    rows = [(f"test {name}", f"{value:.4f}") for name, value in result.test_metrics.items()]
    peak = result.validation_peak
    if peak is not None:
        verdict = (
            f"epoch {peak.epoch} of {peak.trained}; val loss +{peak.val_loss_rise:.3f} after it "
            "(overfitting)"
            if peak.overfitting
            else f"epoch {peak.epoch} of {peak.trained}"
        )
        rows.append(("validation peak", verdict))
    return rows


def _recorded_arguments(report: Path) -> dict[str, Any]:
    """The arguments a report's run recorded (its metric, its budget), else ``{}``."""
    import json

    try:
        arguments = json.loads(report.read_text(encoding="utf-8"))["arguments"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # tune() itself says what is wrong with the report
    return arguments if isinstance(arguments, dict) else {}


def _config_text(config: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}" for k, v in config.items()
    )


def _value(score: float, metric: str) -> str:
    """A score as the metric's own value (the log loss of a score is -log(score))."""
    from tunegym.envs import metric_value

    return f"{float(metric_value(score, metric)):.4f}"


def _early(result: TuningResult) -> str:
    """Why a run that stopped with epochs left stopped: its price of cost."""
    price = float((result.arguments or {}).get("price") or 0.0)
    stopped = bool(result.history) and result.history[-1].kind == "stop"
    if price > 0 and stopped and result.epochs_used < result.budget_epochs:
        return f" (stopped: the rest was not worth its price, {price:g} a budget)"
    return ""


def _summary(result: TuningResult) -> Table:
    table = Table(
        title=f"{result.method} on {result.dataset} (seed {result.seed})", show_header=False
    )
    # A narrow terminal wraps and folds the cells rather than end them in "…", which turned a
    # learning rate of 0.0633 into "0.…".
    table.add_column("", style="bold", overflow="fold")
    table.add_column("", overflow="fold")
    best = result.best
    rows = [
        ("best lr", "—" if best is None else f"{best.lr:g}"),
        ("best batch size", "—" if best is None else str(best.batch_size)),
        ("best epochs", "—" if best is None else f"{best.epochs} (of E_max {best.max_epochs})"),
        *(
            [("best configuration", _config_text(best.config))]
            if best is not None and set(best.config) - {"lr", "batch_size"}
            else []
        ),
        (f"{result.metric}", "—" if best is None else _value(best.val_score, result.metric)),
        *_metric_rows(result),
        ("cross-validation", "none" if result.cv is None else f"{result.cv} folds"),
        ("epochs used", f"{result.epochs_used} / {result.budget_epochs}" + _early(result)),
        ("trials", str(len(result.trials))),
        ("training seconds", f"{result.seconds:.2f}"),
        ("decision seconds", f"{result.decision_seconds:.3f}"),
        ("wall seconds", f"{result.wall_seconds:.2f}"),
        ("warm-start prior", result.prior),
    ]
    if result.epochs_resumed:
        rows.append(("resumed", f"{result.epochs_resumed} fold-epochs from checkpoints"))
    for key, value in rows:
        table.add_row(key, value)
    return table


def _eta(left: float, spent: float, wall: float) -> float | None:
    """Seconds until ``left`` more of a budget is spent, at the wall seconds per unit that
    ``spent`` units took (``None`` before any was spent)."""
    return None if spent <= 0 else max(left, 0.0) * wall / spent


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "eta -:--:--"
    whole = round(seconds)
    return f"eta {whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


class _TuneBar:
    """A progress bar over a run's budget, below its step lines.

    It fills with the share of the budget spent: the epochs, or with ``budget_seconds`` the
    training seconds where they are further along (whichever binds first ends the run). The
    ETA is the budget left at the wall seconds per epoch (or per training second) since the
    first step, so that loading the data and the warm start do not count; before a second
    step, at the first step's training seconds per epoch.
    """

    def __init__(
        self, progress: Progress, budget_epochs: int, budget_seconds: float | None
    ) -> None:
        self.progress = progress
        self.budget_epochs = budget_epochs
        self.budget_seconds = budget_seconds
        spent = f"0/{budget_epochs} epochs" + (
            f" · 0.0/{budget_seconds:g} s" if budget_seconds else ""
        )
        self.task = progress.add_task("tuning", total=1.0, spent=spent, eta=_clock(None))
        self.first: tuple[float, int, float] | None = None  # wall clock, epochs, seconds

    def measure(self, r: StepRecord, now: float) -> tuple[float, str, float | None]:
        """The share of the budget spent after step ``r``, as text, and the ETA in seconds
        (``None`` while there is no rate yet), at wall clock ``now``."""
        if self.first is None:
            self.first = (now, r.epochs_used, r.seconds)
        wall, epochs, seconds = self.first
        share = r.epochs_used / self.budget_epochs
        text = f"{r.epochs_used}/{self.budget_epochs} epochs"
        spent, took = (
            (r.epochs_used - epochs, now - wall)
            if r.epochs_used > epochs
            else (r.epochs_used, r.seconds)
        )
        etas = [_eta(self.budget_epochs - r.epochs_used, spent, took)]
        if self.budget_seconds:
            share = max(share, r.seconds / self.budget_seconds)
            text += f" · {r.seconds:.1f}/{self.budget_seconds:g} s"
            spent_s, took_s = (
                (r.seconds - seconds, now - wall) if r.seconds > seconds else (1.0, 1.0)
            )
            etas.append(_eta(self.budget_seconds - r.seconds, spent_s, took_s))
        known = [eta for eta in etas if eta is not None]
        return min(share, 1.0), text, min(known) if known else None

    def update(self, r: StepRecord) -> None:
        """Show the budget spent after step ``r``."""
        share, text, eta = self.measure(r, time.perf_counter())
        self.progress.update(self.task, completed=share, spent=text, eta=_clock(eta), refresh=True)


@contextlib.contextmanager
def _step_output(
    metric: str, budget_epochs: int | None, budget_seconds: float | None
) -> Iterator[Callable[[StepRecord], None]]:
    """The progress callback of a run: its step lines, with a progress bar below them on a
    terminal (not in a pipe or a file, which get the lines alone)."""

    def line(r: StepRecord) -> None:
        console.print(_step_line(r, metric), highlight=False)

    if not console.is_terminal or not budget_epochs:
        yield line
        return
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    columns = (
        TextColumn("tuning"),
        BarColumn(bar_width=20),
        TextColumn("{task.fields[spent]}"),
        TimeElapsedColumn(),
        TextColumn("{task.fields[eta]}"),
    )
    with Progress(*columns, console=console, transient=True) as progress:
        bar = _TuneBar(progress, budget_epochs, budget_seconds)

        def show(r: StepRecord) -> None:
            bar.update(r)  # first: printing the line redraws the bar below it
            line(r)

        yield show


def _positional(
    given: str | None, dataset: str | None, data: Path | None
) -> tuple[str | None, Path | None]:
    """``(dataset, data)`` with the DATASET argument put where its option would have put it: a
    CSV/Parquet file (or any existing file) as --data, anything else as --dataset."""
    from tunegym.data._sources import FILE_SUFFIXES

    if given is None:
        return dataset, data
    if dataset is not None or data is not None:
        option = "--dataset" if dataset is not None else "--data"
        raise _fail(
            f"Give the dataset once: as the DATASET argument ({given!r}) or with {option}, "
            "not both."
        )
    if Path(given).suffix.lower() in FILE_SUFFIXES or Path(given).is_file():
        return None, Path(given)
    return given, None


def tune_command(
    given: Annotated[
        str | None,
        typer.Argument(
            metavar="DATASET",
            help=f"Dataset spec (sklearn:iris, keel:german, openml:31) or a CSV/Parquet file "
            f"(with --target), as `tunegym train` takes it; default {DEFAULT_DATASET}.",
            show_default=False,
        ),
    ] = None,
    dataset: Annotated[
        str | None,
        typer.Option(help="Dataset spec, as the DATASET argument gives it (one or the other)."),
    ] = None,
    data: Annotated[
        Path | None,
        typer.Option(help="A CSV/Parquet file to tune on (with --target), as DATASET gives it."),
    ] = None,
    target: Annotated[str | None, typer.Option(help="Class column of a CSV/Parquet file.")] = None,
    method: Annotated[
        str,
        typer.Option(
            help="auto (the default: the freeze-thaw agent on lcbench, the v1 agent on "
            "lr-bs), freeze-thaw (the freeze-thaw agent, meta-trained on LCBench's surrogate "
            "and meta-dataset v2, warm-started from meta-dataset v2), agent (the v1 agent, on "
            "lr-bs) or a baseline: random, hyperband, tpe, tpe-hyperband, dehb, ws-random, "
            "tpe-ws, tpe-hyperband-ws, ..."
        ),
    ] = "auto",
    budget_epochs: Annotated[
        int | None,
        typer.Option(help="Epochs the tuner may spend (default 200 on lcbench, 64 on lr-bs)."),
    ] = None,
    budget_seconds: Annotated[
        float | None, typer.Option(help="Also stop after this many training seconds.")
    ] = None,
    price: Annotated[
        float,
        typer.Option(
            help="What the whole budget is worth to you in validation score (0.02: two points "
            "of accuracy). The freeze-thaw agent stops once the last 40% of the budget gained "
            "less than its share of it. 0 (default): spend the whole budget."
        ),
    ] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the split, the trials and the tuner.")] = 0,
    report: Annotated[Path | None, typer.Option(help="Write the JSON report here.")] = None,
    plot: Annotated[
        Path | None, typer.Option(help="Write a PNG of the incumbent and the trials' curves here.")
    ] = None,
    store: Annotated[
        str | None, typer.Option(help="Log every trial to this meta-store (URL or SQLite file).")
    ] = None,
    agent: Annotated[
        Path | None,
        typer.Option(
            help="Folder of another agent (default: the shipped ones): a freeze-thaw agent "
            "(its agent.json's format is tunegym.freeze-thaw-agent) or a v1 agent (lr-bs)."
        ),
    ] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda or auto.")] = "cpu",
    threads: Annotated[
        int,
        typer.Option(
            help="torch threads while tuning (1 is fastest for small MLPs; tune(threads=) "
            "in Python)."
        ),
    ] = 1,
    metric: Annotated[
        str,
        typer.Option(
            help="Validation metric tuned: val_accuracy, val_balanced_accuracy, val_f1_macro, "
            "val_precision_macro, val_recall_macro or val_loss (log loss, minimised)."
        ),
    ] = "val_accuracy",
    space: Annotated[
        str | None,
        typer.Option(
            help="lcbench (the default; lr-bs with --method agent): 128 Sobol points of "
            "LCBench's 7 hyperparameters (a funnel MLP with SGD, up to 50 epochs; the "
            "freeze-thaw agent's and the baselines'), meta-dataset v2's portfolio first for "
            "warm-started methods; lr-bs: the 13 x 6 grid of learning rate and batch size (an "
            "MLP with Adam; the v1 agent's)."
        ),
    ] = None,
    cv: Annotated[
        int | None,
        typer.Option(
            help="k-fold cross-validation inside tuning: a trial scores its mean over k folds; "
            "each fold-epoch costs 1 of the budget."
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            help="Continue an interrupted run: its REPORT.json (which holds its arguments), or "
            "the STORE it logged to (repeat the run's other options). Trained epochs are not "
            "trained again."
        ),
    ] = None,
    checkpoints: Annotated[
        Path | None,
        typer.Option(
            help="Folder for trial checkpoints (default: beside --report, else "
            "$TUNEGYM_CHECKPOINTS or ~/.cache/tunegym/checkpoints); deleted when the run ends."
        ),
    ] = None,
    keep_checkpoints: Annotated[
        bool, typer.Option("--keep-checkpoints", help="Keep the checkpoints after the run.")
    ] = False,
    from_model: Annotated[
        str | None,
        typer.Option(
            "--from-model",
            help="Fine-tune this model of --store's zoo (name or id; `tunegym zoo list`): 16 "
            "candidates start from its weights beside the scratch ones.",
        ),
    ] = None,
    no_transfer: Annotated[
        bool,
        typer.Option(
            "--no-transfer",
            help="Do not fine-tune the newest zoo model of the same feature schema found in "
            "--store (by default it is, and the tuned model joins the zoo).",
        ),
    ] = False,
    no_transfer_check: Annotated[
        bool,
        typer.Option(
            "--no-transfer-check",
            help="Fine-tune a model with a new output layer even where a linear probe on its "
            "features scores no higher on validation than one on the raw inputs (by default "
            "the run then tunes from scratch only).",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            help="Trials the freeze-thaw agent trains at once; it keeps deciding while they "
            "train (a local Ray of N CPUs with the ray extra, else N processes).",
        ),
    ] = 1,
    ray_address: Annotated[
        str | None,
        typer.Option(
            help="Train the trials on this Ray cluster: 'auto' (the running one, $RAY_ADDRESS), "
            "'ray://HEAD:10001', or 'local' (start one here with --workers CPUs).",
        ),
    ] = None,
) -> None:
    """Tune an MLP's hyperparameters and epochs on a dataset.

    DATASET is a spec or a CSV/Parquet file, as `tunegym train` takes it: `tunegym tune
    keel:german`, `tunegym tune my.csv --target y` (--dataset SPEC and --data FILE say the
    same). On a terminal a progress bar below the step lines shows the budget spent and an ETA.

    With no arguments it tunes LCBench's 7 hyperparameters (layers, width, dropout, learning
    rate, momentum, weight decay, batch size) of a funnel MLP on sklearn:breast_cancer with the
    freeze-thaw agent (meta-trained on LCBench's surrogate and meta-dataset v2; it advances one
    of 128 candidates, meta-dataset v2's portfolio first, by 1 to 16 epochs at a time) and a
    budget of 200 epochs. --space lr-bs (or --method agent) tunes learning rate and batch size
    with the v1 agent. Ctrl-C writes a partial report (with --report); --resume continues the
    run.

    With --store, the best model joins the store's model zoo, and a later run on new data of
    the same table (same feature columns) fine-tunes it among its candidates: `tunegym tune
    june.csv --target y --store team.db` finds May's model by its schema.
    """
    from tunegym.agent import TuningInterrupted, plot_tuning, tune

    dataset, data = _positional(given, dataset, data)
    if dataset is not None and data is not None:
        raise _fail("Give either --dataset SPEC or --data FILE (with --target), not both.")
    if data is not None and target is None:
        raise _fail(f"The file {data} needs --target COLUMN (its class column).")
    resuming_report = resume is not None and resume.endswith(".json")
    source: str | Path | None = data if data is not None else dataset
    if source is None and not resuming_report:
        source = DEFAULT_DATASET
    if resume is not None and store is None and not resuming_report:
        store = resume
    if resuming_report:
        console.print(
            f"resuming the run in {resume} (with the arguments it recorded)", markup=False
        )
        recorded = _recorded_arguments(Path(str(resume)))
        metric = str(recorded.get("metric", metric))
        bar = (recorded.get("budget_epochs"), recorded.get("budget_seconds"))
    else:
        from tunegym.agent import resolve_search

        verb = "resuming" if resume else "tuning"
        shown, searched, epochs = resolve_search(method, space, budget_epochs, agent=agent)
        where = f"the {searched}" if isinstance(searched, str) else "its own"
        console.print(
            f"{verb} [bold]{escape(str(source))}[/] with [bold]{shown}[/] on {where} space, budget "
            f"{epochs} epochs"
            + (f", {workers} trials at once" if workers > 1 else "")
            + (f", on Ray at {ray_address}" if ray_address else "")
            + (f", price {price:g} a budget" if price else "")
        )
        bar = (epochs, budget_seconds)
    try:
        with _step_output(metric, *bar) as on_step:
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
                metric=metric,
                space=space,
                cv=cv,
                report=report,
                resume=resume,
                checkpoints=checkpoints,
                keep_checkpoints=keep_checkpoints,
                from_model=int(from_model) if from_model and from_model.isdigit() else from_model,
                transfer=not no_transfer,
                transfer_check=not no_transfer_check,
                workers=workers,
                price=price,
                ray_address=ray_address,
                threads=threads,
                progress=on_step,
            )
    except TuningInterrupted as stop:
        partial = stop.result
        written = report or (resume if resuming_report else None)
        err_console.print(
            f"interrupted after {partial.epochs_used} epochs ({len(partial.trials)} trials)"
            + (f"; partial report in {written}" if written else "")
            + (f"; trials logged to {store} (its open trials as partial runs)" if store else ""),
            markup=False,
        )
        if written or store:
            again = f"--resume {written}" if written else f"--resume {store} (same options)"
            err_console.print(f"continue with: tunegym tune {again}", markup=False)
        raise typer.Exit(code=130) from None
    except (ValueError, TypeError, FileNotFoundError, NotImplementedError, ImportError) as exc:
        raise _fail(exc) from exc
    console.print(_summary(result))
    if result.why_no_model is not None:
        print_error(err_console, result.why_no_model, "no model")
    if report is not None or resuming_report:
        console.print(f"report written to {report or resume}", markup=False)
    if plot is not None:
        plot_tuning(result, plot)
        console.print(f"plot written to {plot}", markup=False)
