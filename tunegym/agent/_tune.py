"""`tune`: tune a dataset live with the pretrained agent (or a baseline) and keep the best model.

The tuner acts on a live env whose backend is a `TuneBackend`: a `tunegym.envs.TuningEnv` for
the v1 agent and the baselines, a `tunegym.envs.FreezeThawEnv` over N candidates for the
freeze-thaw agent (the default on LCBench's space). Every epoch it buys is really trained, on one
split or on each of ``cv`` folds (a trial's score is then the mean over folds and each fold-epoch
costs one epoch of the budget). The model returned is the **best epoch's weights** (one model per
fold with ``cv``, averaged in ``predict_proba``), kept as the run goes: nothing is retrained and
no epoch beyond the budget is spent.

A run is never lost: with ``report=`` the report is rewritten (atomically) after every step and
on Ctrl-C, with ``store=`` every trial is logged after each of its epochs, and trial checkpoints
go to a folder from which ``resume=`` replays the same run, serving the epochs already trained
instead of training them again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from tunegym.agent._agent import Agent
from tunegym.agent._live import TrialCache
from tunegym.agent._result import StepRecord, TuningResult
from tunegym.agent._run import _run
from tunegym.agent._session import (
    AUTO,
    AUTO_FALLBACK,
    FREEZE_THAW,
    TuneArgs,
    default_checkpoints,
    is_report,
    read_report,
    resolve_search,
)
from tunegym.agent._tunesetup import TUNE_METHODS
from tunegym.baselines import WARM_STARTED
from tunegym.data import TabularDataset
from tunegym.envs import SearchSpace
from tunegym.training import MLPSpec
from tunegym.training._threads import torch_threads

if TYPE_CHECKING:
    from tunegym.agent._ftagent import FreezeThawAgent
    from tunegym.data._sources import DataLike, TargetLike
    from tunegym.metastore import MetaStore

__all__ = ["TUNE_METHODS", "tune"]


def tune(
    data: DataLike | TabularDataset | None = None,
    target: TargetLike = None,
    *,
    budget_epochs: int | None = None,
    budget_seconds: float | None = None,
    seed: int = 0,
    method: str = "auto",
    space: SearchSpace | str | None = None,
    n_slots: int | None = None,
    device: str = "cpu",
    store: MetaStore | str | None = None,
    progress: Callable[[StepRecord], None] | None = None,
    agent: Agent | FreezeThawAgent | str | Path | None = None,
    model: MLPSpec | None = None,
    metric: str = "val_accuracy",
    cv: int | None = None,
    warm_start: bool = True,
    val_size: float = 0.2,
    test_size: float = 0.2,
    max_rows: int | None = None,
    report: str | Path | None = None,
    resume: str | Path | None = None,
    checkpoints: str | Path | None = None,
    keep_checkpoints: bool = False,
    from_model: str | int | None = None,
    transfer: bool = True,
    transfer_check: bool = True,
    workers: int = 1,
    price: float = 0.0,
    ray_address: str | None = None,
    threads: int | None = 1,
) -> TuningResult:
    """Tune an MLP's hyperparameters and epochs on a dataset, live.

    By default the freeze-thaw agent searches LCBench's 7 hyperparameters (a funnel MLP trained
    with SGD: number of layers, width, dropout, learning rate, momentum, weight decay, batch
    size; up to 50 epochs) with a budget of 200 epochs, advancing one of 128 candidates (meta-
    dataset v2's portfolio first) by 1 to 16 epochs at a time. ``space="lr-bs"`` searches the
    learning rate × batch size grid of an MLP trained with Adam, which the v1 agent acts on.

    Args:
        data: a dataset spec (``"keel:german"``), a CSV/Parquet path, a DataFrame, an array or
            ``(X, y)`` (anything `tunegym.load_dataset` reads), or a loaded `TabularDataset`.
            May be omitted when resuming from a report.
        target: the class column (files, DataFrames) or the labels (arrays).
        budget_epochs: epochs the tuner may spend (an epoch of any batch size costs 1; with
            ``cv`` an epoch of a trial costs one per fold). ``None``: 200 on LCBench's space,
            64 on the lr-bs grid (`DEFAULT_BUDGETS`), 4 × ``max_epochs`` on a given space.
        budget_seconds: optional training-seconds budget.
        seed: seeds the split, the trials and the tuner.
        method: ``"auto"`` (`AUTO_METHODS`: the v1 agent on the lr-bs grid; on any other
            space ``"freeze-thaw"``; a given agent's own method), ``"freeze-thaw"`` (the
            freeze-thaw agent, agent v2: any space of hyperparameters, warm-started on
            LCBench's space with meta-dataset v2's portfolio among its candidates and its
            prior of every candidate), ``"agent"`` (the v1 agent, on its lr-bs grid) or a
            baseline of `TUNE_METHODS` (``"random"``, ``"hyperband"``, ``"tpe"``,
            ``"tpe-hyperband-ws"``, ...). The result's ``method`` says which one ran.
        space: the candidates: a `SearchSpace`, or a name of `SEARCH_SPACES`: ``"lcbench"``
            (the default: 128 Sobol points of LCBench's 7 hyperparameters, seeded by
            ``seed``, plus the warm-start portfolio of meta-dataset v2 for warm-started
            methods and the freeze-thaw agent (which keeps 128 in all, the portfolio first);
            a funnel MLP trained with SGD for up to 50 epochs) or ``"lr-bs"`` (the 13 × 6
            grid of learning rate and batch size, an MLP trained with Adam; the only space
            the v1 agent acts on, and its default).
        n_slots: trials kept open (default: the v1 agent's, 8 for baselines; the freeze-thaw
            agent keeps every trial it started open).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        store: a `tunegym.metastore.MetaStore` (or its URL) where every trial is logged after
            each of its epochs.
        progress: called after each step with its record.
        agent: the agent (or its folder) for ``method="agent"`` or ``"freeze-thaw"`` (default:
            the shipped one). A folder whose ``agent.json`` has ``"format":
            "tunegym.freeze-thaw-agent"`` (or a loaded `FreezeThawAgent`) runs the freeze-thaw
            agent (`load_ft_agent`), any other the v1 agent (`load_agent`).
        model: the network (default `MLPSpec()`, the family the agent learned on).
        metric: the validation metric tuned: ``"val_accuracy"``, ``"val_balanced_accuracy"``,
            ``"val_f1_macro"``, ``"val_precision_macro"``, ``"val_recall_macro"`` or
            ``"val_loss"`` (log loss, minimised: the tuner maximises ``exp(-loss)``).
        cv: k-fold cross-validation inside tuning (`tunegym.data.cv_folds`): a trial's score
            is its mean over ``cv`` folds, and the model returned averages the ``cv`` fold
            models' probabilities. ``None``: one validation split.
        warm_start: give the agent its warm start from the meta-dataset snapshot: the v1
            agent its prior (zeros otherwise, or when no snapshot is installed), the
            freeze-thaw agent on LCBench's space meta-dataset v2's portfolio among its
            candidates and the prior of each candidate (`tunegym.envs.config_prior` over
            meta-dataset v2's meta-train tasks; none otherwise). Warm-started baselines
            (``"tpe-ws"``, ``"ws-random"``, ...) always draw their portfolio from it: on
            LCBench's space from meta-dataset v2 (`LCBENCH_SNAPSHOT_DIR`).
        val_size: share of rows for validation (without ``cv``).
        test_size: share of rows for test.
        max_rows: subsample larger datasets to this many rows.
        report: write the JSON report here after every step, on Ctrl-C and at the end.
        resume: continue an interrupted run from its report (its arguments are used; ``data``
            only where the report's data was in memory) or from the store it logged to (with
            the same arguments as then). Epochs already trained are served from the run's
            checkpoints, not trained again.
        checkpoints: folder of trial checkpoints (default: beside ``report``, else with a
            store ``$TUNEGYM_CHECKPOINTS`` or ``~/.cache/tunegym/checkpoints``; none without
            either).
        keep_checkpoints: keep them after a finished run (they are deleted by default).
        from_model: a model of ``store``'s zoo (name or id, `tunegym zoo list`) that the
            freeze-thaw agent may fine-tune: 16 candidates start from its weights (its
            network, learning rates within 1/30 of its own; inputs matched by column name, a
            new output layer when the classes differ) beside the scratch ones. Without
            ``agent``, a transfer agent installed by ``tunegym train-agent --v2 --transfer
            --ship`` then decides (none ships: docs/TRANSFER.md).
        transfer: with a ``store`` and no ``from_model``, fine-tune the store's newest zoo
            model of the same feature schema (last month's model of this table), if any. A
            finished freeze-thaw run with a store adds its best model to the zoo.
        transfer_check: where the model to fine-tune needs a new output layer (other
            classes), first check that its features help this data
            (`tunegym.envs.TransferCheck`, milliseconds): a linear probe on its hidden layers
            against one on the raw inputs, both read on the validation rows. Where they do
            not score higher, the run tunes from scratch only, and its note says why.
            ``False`` adds the fine-tuning candidates anyway.
        workers: trials the freeze-thaw agent trains at once. With more than one, each advance
            it picks trains on a worker (`tunegym.parallel.Workers`: a local Ray of
            ``workers`` CPUs when the ``ray`` extra is installed, else processes) while it
            goes on deciding: trials still training show as pending in its observation and
            their epochs as reserved budget. The v1 agent and the baselines decide one trial
            at a time (``workers`` must be 1 for them).
        price: what spending the whole budget is worth to you, in the metric's validation
            score (0.02: the full budget is worth 2 points of accuracy). The freeze-thaw agent
            then stops early: by its network where it learned when to (``tunegym train-agent
            --v2 --learn-stop``), else once the last 40 % of the budget
            (`tunegym.envs.STOP_WINDOW`) raised the best validation score by less than its share
            of the price (`tunegym.envs.priced_stop`); the result's ``epochs_used`` says what it
            spent. 0 (the default): spend the whole budget. Other methods take 0 only.
        ray_address: run the workers on this Ray cluster (``"auto"``, ``"ray://head:10001"``;
            ``"local"`` starts a local Ray) instead of this machine.
        threads: torch's threads (``torch.set_num_threads``) while the run trains in this
            process; the caller's setting is restored when it returns or raises. 1 (the
            default, as ``tunegym tune --threads``) is fastest for these small MLPs, and keeps a
            loaded machine from slowing the run tenfold (threads contending for busy cores).
            ``None`` leaves torch's setting alone. Workers (``workers > 1``) use one thread each.

    Returns:
        The best configuration and the model trained with it, every metric of that model on
        the test part, the step history and every trial's curves, and the epochs and seconds
        used.

    Raises:
        ValueError: for an unknown method or metric (with the closest names), an agent that
            cannot act on the requested space or cannot be loaded, a budget smaller than
            ``cv``, or ``threads`` not None or an int >= 1.
        FileNotFoundError: an agent folder lacks its files.
        TuningInterrupted: on Ctrl-C, with the partial result (a ``KeyboardInterrupt``).

    Example:
        >>> result = tune("sklearn:iris", budget_epochs=16)
        >>> result.epochs_used <= 16, result.best.epochs <= result.best.max_epochs
        (True, True)
    """
    _check_threads(threads)
    report = None if report is None else Path(report)
    if resume is not None and is_report(resume):
        payload = read_report(Path(resume))
        args = TuneArgs.from_json(payload["arguments"])
        if data is None and args.data is None:
            raise ValueError(
                f"The run in {resume} tuned data given in memory; pass the same data to resume."
            )
        data, target = (args.data, args.target) if data is None else (data, target)
        report = report or Path(resume)
        if checkpoints is None and payload.get("checkpoints"):
            checkpoints = Path(payload["checkpoints"])
        # A loaded agent is not recorded: it must be given again; a folder is recorded.
        loaded: bool = agent is not None and not isinstance(agent, str | Path)
        loaded_agent: Agent | FreezeThawAgent | str | Path | None = agent if loaded else args.agent
    else:
        if resume is not None and store is None:
            store = str(resume)
        if data is None:
            raise ValueError("tune() needs data (or resume= a report that names it).")
        asked = method
        method, space, budget_epochs = resolve_search(method, space, budget_epochs, agent=agent)
        auto_warm = method in WARM_STARTED or method == FREEZE_THAW
        fallback = AUTO_FALLBACK if asked == AUTO and auto_warm else None
        args = TuneArgs(
            data=str(data) if isinstance(data, str | Path) else None,
            target=target if isinstance(target, str) else None,
            budget_epochs=budget_epochs,
            budget_seconds=budget_seconds,
            seed=seed,
            method=method,
            cv=cv,
            metric=metric,
            warm_start=warm_start,
            val_size=val_size,
            test_size=test_size,
            max_rows=max_rows,
            n_slots=n_slots,
            device=device,
            space=space if space is None or isinstance(space, str) else space.to_json(),
            model=None if model is None else asdict(model),
            agent=str(agent) if isinstance(agent, str | Path) else None,
            fallback=fallback,
            from_model=from_model,
            transfer=transfer,
            transfer_check=transfer_check,
            workers=workers,
            price=price,
        )
        loaded_agent = agent
    if checkpoints is None and (report is not None or store is not None):
        checkpoints = default_checkpoints(report)
    with torch_threads(threads):
        return _run(
            args, data, target, loaded_agent, store=store, progress=progress, report=report,
            cache=None if checkpoints is None else TrialCache(checkpoints),
            keep_checkpoints=keep_checkpoints, ray_address=ray_address,
        )  # fmt: skip


def _check_threads(threads: object) -> None:
    if threads is not None and (
        isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
    ):
        raise ValueError(
            f"threads must be an int >= 1 (1 is fastest for small MLPs) or None to leave "
            f"torch's setting alone, got {threads!r}."
        )
