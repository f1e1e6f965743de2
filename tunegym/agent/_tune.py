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

import contextlib
import functools
import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from tunegym.agent._agent import Agent, load_agent
from tunegym.agent._finetune import add_to_zoo, find_source, finetune_search
from tunegym.agent._live import ExecutorLauncher, TrialCache, TuneBackend
from tunegym.agent._result import (
    BestConfig,
    StepRecord,
    TrialCurve,
    TuningResult,
    score_on_test,
)
from tunegym.agent._session import (
    AUTO,
    AUTO_FALLBACK,
    DEFAULT_SPACE,
    FREEZE_THAW,
    TuneArgs,
    TuningInterrupted,
    default_checkpoints,
    is_report,
    named_search,
    read_report,
    resolve_search,
    write_report,
)
from tunegym.baselines import BASELINE_NAMES, WARM_STARTED, Policy, make_baseline
from tunegym.data import TabularDataset, cv_folds, load_dataset
from tunegym.envs import (
    SCORE_METRICS,
    AsyncRunner,
    AsyncStep,
    FreezeThawEnv,
    SearchSpace,
    make_tuning_env,
)
from tunegym.errors import did_you_mean
from tunegym.space import learning_rate_of
from tunegym.training import MLP, MLPSpec, build_mlp

if TYPE_CHECKING:
    import numpy as np

    from tunegym.agent._ftagent import FreezeThawAgent
    from tunegym.data import FittedPreprocessor
    from tunegym.data._sources import DataLike, TargetLike
    from tunegym.envs import CurvePool, TuningEnv
    from tunegym.metastore import MetaStore, WarmStart

__all__ = ["TUNE_METHODS", "tune"]

# Baselines that read the answer from recorded curves cannot tune live data.
TUNE_METHODS: tuple[str, ...] = (
    AUTO,
    "agent",
    FREEZE_THAW,
    *(n for n in BASELINE_NAMES if n != "oracle"),
)


def _check_method(method: str) -> None:
    if method not in TUNE_METHODS:
        hint = (
            " (the oracle reads recorded curves; it cannot tune live)" if method == "oracle" else ""
        )
        raise ValueError(
            f"Unknown tuning method {method!r}{hint}; choose one of {list(TUNE_METHODS)}."
            + did_you_mean(method, TUNE_METHODS)
        )


def _warm_start(
    data: Any, target: Any, dataset: TabularDataset, space: SearchSpace, k: int
) -> tuple[WarmStart | None, str]:
    """Warm start from the shipped snapshot; ``(None, reason)`` when there is none."""
    from tunegym.metastore import compute_meta_features, warm_start_snapshot

    path = None
    if not space.is_grid:
        from tunegym.metastore import LCBENCH_SNAPSHOT_DIR
        from tunegym.space import LCBENCH_SPACE

        if space.names != LCBENCH_SPACE.names:
            return None, (
                "none (the shipped meta-datasets cover the lr x batch-size grid and LCBench's "
                f"space, not {list(space.names)})"
            )
        path = LCBENCH_SNAPSHOT_DIR
    if dataset.info.source in ("sklearn", "keel", "openml") and dataset.info.spec:
        what: str | dict[str, float] = dataset.info.spec
    elif isinstance(data, TabularDataset):
        return None, "none (a loaded TabularDataset has no raw table for meta-features)"
    else:
        what = compute_meta_features(data, target)
    try:
        if path is None:
            ws = warm_start_snapshot(what, space.lrs, space.batch_sizes, k=k)
        else:
            ws = warm_start_snapshot(what, (), (), k=k, path=path)
    except FileNotFoundError:
        return None, "none (no meta-dataset snapshot installed)"
    except ValueError as error:
        return None, f"none ({error})"
    names = ", ".join(n.dataset for n in ws.neighbors)
    which = "snapshot" if path is None else "snapshot v2 (LCBench's space)"
    return ws, f"{which}: {len(ws.neighbors)} nearest datasets ({names})"


def _with_portfolio(space: SearchSpace, ws: WarmStart | None) -> SearchSpace:
    """Off the grid, the portfolio's configurations join the candidates (first), so that a
    warm-started tuner can try them; the sampled candidates stay."""
    if ws is None or space.space is None:
        return space
    configs = [dict(e.config) for e in ws.portfolio if e.config is not None]
    if not configs:
        return space
    return SearchSpace.of_configs(
        space.space, [*configs, *space.candidates], max_epochs=space.max_epochs,
        k_choices=space.k_choices,
    )  # fmt: skip


def _transfer_agent(agent: FreezeThawAgent) -> tuple[FreezeThawAgent, str]:
    """The installed transfer agent (meta-trained on the meta-dataset of fine-tuning too) and a
    note; ``agent`` and no note where none is installed (none ships)."""
    from tunegym.agent._ftagent import DEFAULT_TRANSFER_AGENT_DIR

    if not (DEFAULT_TRANSFER_AGENT_DIR / "agent.json").is_file():
        return agent, ""
    return _load_ft_agent(DEFAULT_TRANSFER_AGENT_DIR), "; the transfer agent decides"


def _load_ft_agent(agent: object) -> FreezeThawAgent:
    """The freeze-thaw agent: given loaded, its folder (or ``agent.json``), or the shipped one.

    Raises:
        FileNotFoundError: the folder lacks ``agent.json`` or ``weights.pt``.
        ValueError: anything else that keeps it from loading (wrong format, altered or
            mismatched weights, corrupt JSON), with the folder named.
    """
    from tunegym.agent._ftagent import (
        DEFAULT_FT_AGENT_DIR,
        FORMAT,
        FreezeThawAgent,
        load_ft_agent,
    )

    if isinstance(agent, FreezeThawAgent):
        return agent
    if agent is not None and not isinstance(agent, str | os.PathLike):
        raise ValueError(
            f"method={FREEZE_THAW!r} needs a freeze-thaw agent (a FreezeThawAgent or its "
            f"folder), not a {type(agent).__name__}; a v1 agent tunes the lr-bs grid with "
            "method='agent'."
        )
    folder = DEFAULT_FT_AGENT_DIR if agent is None else Path(agent)
    folder = folder.parent if folder.is_file() else folder
    spec = folder / "agent.json"
    if spec.is_file():
        try:
            payload = json.loads(spec.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(
                f"Cannot load the freeze-thaw agent in {folder}: {spec.name} is not valid JSON "
                f"({error})."
            ) from error
        found = payload.get("format") if isinstance(payload, dict) else None
        if found != FORMAT:
            raise ValueError(
                f"{folder} holds no freeze-thaw agent: its {spec.name}'s format is {found!r}, "
                f"not {FORMAT!r} (a v1 agent tunes the lr-bs grid with method='agent')."
            )
    try:
        return load_ft_agent(folder)
    except FileNotFoundError:
        raise
    except Exception as error:  # torch raises many types on a bad file, KeyError on a bad spec
        raise ValueError(
            f"Cannot load the freeze-thaw agent in {folder}: {type(error).__name__}: {error}"
        ) from error


@functools.cache
def _meta_train_pools() -> tuple[CurvePool, ...]:
    """Meta-dataset v2's meta-train tasks as curve pools on LCBench's space (the freeze-thaw
    agent's prior comes from them, as in meta-training); loaded once per process."""
    from tunegym.envs import table_pools
    from tunegym.metastore import LCBENCH_SNAPSHOT_DIR, load_snapshot, snapshot_split
    from tunegym.space import LCBENCH_SPACE

    frame = load_snapshot(path=LCBENCH_SNAPSHOT_DIR)
    split = snapshot_split(LCBENCH_SNAPSHOT_DIR)
    pools = table_pools(frame, split=split, space=LCBENCH_SPACE)
    return tuple(p for p in pools if p.part == "meta-train")


def _ft_prior(candidates: Sequence[dict[str, Any]]) -> tuple[np.ndarray | None, str]:
    """The freeze-thaw agent's prior of each candidate (`tunegym.envs.config_prior` over
    meta-dataset v2's meta-train tasks, uniform weights) and how it was had."""
    from tunegym.envs import config_prior
    from tunegym.space import LCBENCH_SPACE

    try:
        pools = _meta_train_pools()
        prior = config_prior(pools, candidates, LCBENCH_SPACE)
    except (FileNotFoundError, ValueError) as error:
        return None, f"; no prior ({error})"
    return prior, f"; prior from meta-dataset v2's {len(pools)} meta-train tasks"


def _ft_search(space: SearchSpace | None, args: TuneArgs) -> SearchSpace:
    """The freeze-thaw agent's search: the given one (not the grid), else `DEFAULT_SPACE`'s."""
    space = space or named_search(DEFAULT_SPACE, args.seed)
    if space.is_grid:
        raise ValueError(
            f"The freeze-thaw agent (method={FREEZE_THAW!r}) tunes a space of hyperparameters "
            "(LCBench's by default, or a SearchSpace of candidates), not the lr-bs grid; the "
            "grid is the v1 agent's (method='agent')."
        )
    return space


def _ft_candidates(
    space: SearchSpace, args: TuneArgs, agent: FreezeThawAgent, ws: WarmStart | None
) -> SearchSpace:
    """The named search keeps the agent's number of candidates, the portfolio first (as in
    meta-training); a search given as candidates keeps them all."""
    if not isinstance(args.space, str):
        return space
    assert space.space is not None  # _ft_search rejects the grid
    portfolio = 0 if ws is None else sum(e.config is not None for e in ws.portfolio)
    n = max(agent.n_candidates, portfolio, 1)
    if space.n_configs <= n:
        return space
    return SearchSpace.of_configs(
        space.space, space.candidates[:n], max_epochs=space.max_epochs,
        k_choices=space.k_choices,
    )  # fmt: skip


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
    workers: int = 1,
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
        workers: trials the freeze-thaw agent trains at once. With more than one, each advance
            it picks trains on a worker (`tunegym.parallel.Workers`: a local Ray of
            ``workers`` CPUs when the ``ray`` extra is installed, else processes) while it
            goes on deciding: trials still training show as pending in its observation and
            their epochs as reserved budget. The v1 agent and the baselines decide one trial
            at a time (``workers`` must be 1 for them).
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
            workers=workers,
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


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op threads set to ``threads`` inside the block and the caller's setting
    back after it, also on an exception (``None``: torch's setting is left alone)."""
    if threads is None:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _check_args(args: TuneArgs) -> None:
    _check_method(args.method)
    if isinstance(args.workers, bool) or not isinstance(args.workers, int) or args.workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {args.workers!r}.")
    if args.workers > 1 and args.method != FREEZE_THAW and args.fallback is None:
        raise ValueError(
            f"workers={args.workers}: only the freeze-thaw agent trains several trials at once "
            f"(method {FREEZE_THAW!r}, what 'auto' runs on LCBench's space); method "
            f"{args.method!r} decides one trial at a time, so give workers=1."
        )
    if isinstance(args.space, str):
        named_search(args.space, args.seed)  # an unknown name fails before any data is read
        if args.method == "agent" and args.space != "lr-bs":
            raise ValueError(
                f"The v1 agent (method='agent') acts on the lr-bs grid only, not on "
                f"space={args.space!r}; tune that space with the freeze-thaw agent "
                f"(method={FREEZE_THAW!r}, what 'auto' runs there) or a baseline "
                "(method='random', 'hyperband', 'tpe', ...)."
            )
        if args.method == FREEZE_THAW and args.space == "lr-bs":
            raise ValueError(
                f"The freeze-thaw agent (method={FREEZE_THAW!r}) tunes a space of "
                "hyperparameters (space='lcbench'), not the lr-bs grid; the grid is the v1 "
                "agent's (method='agent', what 'auto' runs there)."
            )
    if args.metric not in SCORE_METRICS:
        raise ValueError(
            f"Unknown metric {args.metric!r}; choose one of {list(SCORE_METRICS)}."
            + did_you_mean(args.metric, SCORE_METRICS)
        )
    if args.cv is not None and (isinstance(args.cv, bool) or not isinstance(args.cv, int)):
        raise ValueError(f"cv must be an int >= 2 or None, got {args.cv!r}.")
    if args.cv is not None and args.cv < 2:
        raise ValueError(f"cv must be >= 2 folds (or None for one split), got {args.cv}.")
    if args.cv is not None and args.budget_epochs < args.cv:
        raise ValueError(
            f"budget_epochs={args.budget_epochs} cannot buy one epoch of a trial on {args.cv} "
            f"folds (each fold-epoch costs 1); raise budget_epochs to {args.cv} or more."
        )


def _load(data: Any, target: Any, args: TuneArgs) -> list[TabularDataset]:
    if isinstance(data, TabularDataset):
        if args.cv is not None:
            raise ValueError(
                "cv needs the raw data (a spec, file, DataFrame or arrays) to split into folds, "
                "not a loaded TabularDataset."
            )
        return [data]
    if args.cv is not None:
        return cv_folds(
            data, target, n_folds=args.cv, seed=args.seed, test_size=args.test_size,
            max_rows=args.max_rows,
        )  # fmt: skip
    return [
        load_dataset(
            data, target, seed=args.seed, val_size=args.val_size, test_size=args.test_size,
            max_rows=args.max_rows,
        )
    ]  # fmt: skip


def _run(
    args: TuneArgs,
    data: Any,
    target: Any,
    agent: Agent | FreezeThawAgent | str | Path | None,
    *,
    store: MetaStore | str | None,
    progress: Callable[[StepRecord], None] | None,
    report: Path | None,
    cache: TrialCache | None,
    keep_checkpoints: bool,
    ray_address: str | None = None,
) -> TuningResult:
    started = time.perf_counter()
    _check_args(args)
    tuner = ft = None
    space, n_slots = args.search_space, args.n_slots
    if args.method == "agent":
        if agent is not None and not isinstance(agent, Agent | str | Path):
            raise ValueError(
                f"method='agent' runs a v1 agent, not a {type(agent).__name__}; a freeze-thaw "
                f"agent runs with method={FREEZE_THAW!r} (or 'auto')."
            )
        tuner = agent if isinstance(agent, Agent) else load_agent(agent)
        space, n_slots = space or tuner.spec.space, n_slots or tuner.spec.n_slots
    elif args.method == FREEZE_THAW:
        ft = _load_ft_agent(agent)
        space = _ft_search(space, args)
    space, n_slots = space or SearchSpace(), n_slots or 8
    folds = _load(data, target, args)
    ws, prior_source = None, "none"
    ft_warm = ft is not None and args.warm_start and bool(ft.spec.get("warm", True))
    if args.method in WARM_STARTED or (tuner is not None and args.warm_start) or ft_warm:
        k = tuner.spec.prior_k if tuner is not None else 5
        ws, prior_source = _warm_start(data, target, folds[0], space, k)
        if args.method in WARM_STARTED or ft is not None:
            space = _with_portfolio(space, ws)
    elif ft is not None:
        prior_source = (
            "none (warm_start=False)"
            if not args.warm_start
            else "none (the agent was meta-trained without a warm start)"
        )
    policy: Policy | None = None
    if ft is not None and ft_warm and ws is None and args.fallback is not None:
        # method="auto" where no warm start is to be had: the agent without one did no better
        # than random search (its ablation, docs/AGENT.md), the best cold tuner runs instead
        prior_source += f"; method auto ran {args.fallback} instead of {FREEZE_THAW}"
        if args.workers > 1:
            prior_source += f" (on one worker: {args.fallback} decides one trial at a time)"
        args = replace(args, method=args.fallback, fallback=None)
        ft = None
        policy = make_baseline(args.method)
    elif ft is not None:
        space = _ft_candidates(space, args, ft, ws)
    elif tuner is not None:
        policy = tuner
    elif args.method in WARM_STARTED and ws is None and args.fallback is not None:
        prior_source += f"; method auto ran {args.fallback} instead of {args.method}"
        args = replace(args, method=args.fallback, fallback=None)
        policy = make_baseline(args.method)
    elif args.method in WARM_STARTED:
        if ws is None:
            raise ValueError(
                f"Method {args.method!r} needs a warm start, and there is {prior_source}."
            )
        policy = make_baseline(args.method, warm_start=ws)
    else:
        policy = make_baseline(args.method)
    model = args.network or MLPSpec()
    owned = None
    if isinstance(store, str):
        from tunegym.metastore import MetaStore

        store = owned = MetaStore(store)
    source = None
    if ft is not None:
        source, found = find_source(store, folds[0], args.from_model, transfer=args.transfer)
        prior_source += f"; {found}" if found else ""
    elif args.from_model is not None:
        raise ValueError(
            f"from_model= fine-tunes with the freeze-thaw agent (method 'auto' or "
            f"{FREEZE_THAW!r}), not with method {args.method!r}."
        )
    backend = TuneBackend(
        folds, space, model, metric=args.metric, device=args.device, store=store, cache=cache,
        val_size=args.val_size, test_size=args.test_size, source=source,
    )  # fmt: skip
    n_folds = len(folds)
    driver: _PolicyDriver | _FreezeThawDriver
    if ft is not None:
        assert space.space is not None  # _ft_search rejects the grid
        prior = None
        n_portfolio = 0 if ws is None else sum(e.config is not None for e in ws.portfolio)
        if source is not None:
            search = finetune_search(space, source, seed=args.seed)
            space, prior, n_portfolio = search.space, search.prior, search.portfolio
            prior_source += search.note
            backend.space = space
            if agent is None:  # an agent that learnt fine-tuning, where one is installed
                ft, note = _transfer_agent(ft)
                prior_source += note
        elif ws is not None:
            prior, note = _ft_prior(space.candidates)
            prior_source += note
        assert space.space is not None
        ft_env = FreezeThawEnv(
            space.space,
            space.candidates,
            backend,
            budget=args.budget_epochs // n_folds,
            max_epochs=space.max_epochs,
            prior=prior,
            k_choices=ft.k_choices,
            trial_seeds=(args.seed,),
            budget_seconds=args.budget_seconds,
            portfolio=range(min(n_portfolio, space.n_configs)),
        )
        driver = _FreezeThawDriver(ft, ft_env, backend, n_folds)
        searched = space
    else:
        assert policy is not None
        env = make_tuning_env(
            folds[0],
            backend,
            space=space,
            budget_epochs=args.budget_epochs // n_folds,
            budget_seconds=args.budget_seconds,
            n_slots=n_slots,
            model=model,
            # Three seeds from the run's, as the replayed curves the v1 agent learnt on have: a
            # configuration started again trains with a new seed, at most three times.
            trial_seeds=tuple(args.seed + i for i in range(3)),
            metric=args.metric,
            prior=ws.prior if ws is not None and tuner is not None else None,
        )
        driver = _PolicyDriver(policy, env, n_folds)
        searched = env.task.space
    history: list[StepRecord] = []

    def result(status: str) -> TuningResult:
        return _result(
            args, folds, searched, backend, history, prior_source, status=status,
            wall_seconds=time.perf_counter() - started, cache=cache,
        )  # fmt: skip

    def record(step: StepRecord, done: bool) -> None:
        history.append(step)
        if report is not None and not done:
            write_report(result("running"), report)
        if progress is not None:
            progress(step)

    try:
        if isinstance(driver, _FreezeThawDriver) and (args.workers > 1 or ray_address):
            _run_async(driver, args.workers, ray_address, args.seed, record)
        else:
            _run_steps(driver, args.seed, record)
        backend.finish()  # the store's runs of this run's trials are no longer partial
        final = result("finished")
        if ft is not None and store is not None and not isinstance(store, str):
            zoo_name = add_to_zoo(store, final, folds[0])  # before an owned store closes
            if zoo_name is not None:
                note = f"{final.prior}; best model kept in the zoo as {zoo_name}"
                final = replace(final, prior=note)
    except KeyboardInterrupt as interrupt:
        partial = result("interrupted")
        if report is not None:
            write_report(partial, report)
        raise TuningInterrupted(partial) from interrupt
    finally:
        driver.env.close()
        if owned is not None:
            owned.close()
    if cache is not None and not keep_checkpoints:
        cache.clear()
        final = replace(final, checkpoints=None)
    if report is not None:
        write_report(final, report)
    return final


def _run_steps(
    driver: _PolicyDriver | _FreezeThawDriver,
    seed: int,
    record: Callable[[StepRecord, bool], None],
) -> None:
    """One trial at a time: act, step, observe, until the episode ends."""
    obs = driver.reset(seed)
    done = False
    while not done:
        tick = time.perf_counter()
        action = driver.act(obs)
        decision = time.perf_counter() - tick
        obs, _, terminated, truncated, info = driver.env.step(action)
        tick = time.perf_counter()
        driver.observe(info)
        decision += time.perf_counter() - tick
        done = terminated or truncated
        record(driver.record(info, decision, action), done)


def _run_async(
    driver: _FreezeThawDriver,
    n: int,
    ray_address: str | None,
    seed: int,
    record: Callable[[StepRecord, bool], None],
) -> None:
    """Up to ``n`` trials at once: the agent decides whenever a worker is free, trials still
    training pending in its observation (`tunegym.envs.AsyncRunner`)."""
    from tunegym.parallel import Workers, executor

    workers = Workers(n, ray_address)
    with executor(workers) as pool:
        launcher = ExecutorLauncher(driver.backend, pool)
        runner = AsyncRunner(driver.env, driver.agent.act, launcher, workers.n)

        def on_step(step: AsyncStep) -> None:
            entry = driver.record(step.info, step.decision_seconds, step.action)
            record(replace(entry, pending=step.pending), step.done)

        runner.run(seed=seed, on_step=on_step)


class _PolicyDriver:
    """`_run`'s loop on a `TuningEnv`: the v1 agent or a baseline acts and observes."""

    def __init__(self, policy: Policy, env: TuningEnv, n_folds: int) -> None:
        self.policy, self.env, self.n_folds = policy, env, n_folds
        self.epochs_of: dict[int, int] = {}

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        self.policy.reset(self.env, seed)
        self.epochs_of = {}
        return obs

    def act(self, obs: np.ndarray) -> int:
        return self.policy.act(obs, self.env.action_masks())

    def observe(self, info: dict[str, Any]) -> None:
        self.policy.observe(info)

    def record(self, info: dict[str, Any], decision: float, action: int) -> StepRecord:
        return _step_record(info["step"], decision, self.epochs_of, self.n_folds)


class _FreezeThawDriver:
    """`_run`'s loop on a `FreezeThawEnv`: the freeze-thaw agent acts greedily on the masks.

    A candidate's trial is its `TuneBackend` handle (the order the env started trials in: the
    result's trials).
    """

    def __init__(
        self, agent: FreezeThawAgent, env: FreezeThawEnv, backend: TuneBackend, n_folds: int
    ) -> None:
        self.agent, self.env, self.backend, self.n_folds = agent, env, backend, n_folds

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        return obs

    def act(self, obs: np.ndarray) -> int:
        return self.agent.act(obs, self.env.action_masks())

    def observe(self, info: dict[str, Any]) -> None:
        return None

    def record(self, info: dict[str, Any], decision: float, action: int) -> StepRecord:
        """A step of the env's log (`FreezeThawEnv`'s entries) as a record."""
        entry = info["step"]
        candidate = entry.get("candidate")
        trial = lr = batch_size = val = None
        if candidate is not None:
            trial = self.env.handle(int(candidate))
            config = self.env.candidates[int(candidate)]
            lr = learning_rate_of(config)
            batch_size = None if config.get("batch_size") is None else int(config["batch_size"])
            scores = self.backend.logs[trial].val
            val = scores[-1] if scores else None
        incumbent = info.get("incumbent")
        return StepRecord(
            step=int(entry["step"]),
            action=-1 if entry["kind"] == "invalid" else int(action),
            kind=str(entry["kind"]),
            trial=trial,
            lr=lr,
            batch_size=batch_size,
            epochs=int(entry.get("epochs", 0)),
            trial_epochs=int(entry.get("epoch_to", 0)),
            val_score=val,
            incumbent_val=0.0 if incumbent is None else float(incumbent["val_score"]),
            epochs_used=int(entry["epochs_used"]) * self.n_folds,
            seconds=float(entry["seconds"]),
            decision_seconds=decision,
        )


def _step_record(
    entry: dict[str, Any], decision: float, epochs_of: dict[int, int], n_folds: int
) -> StepRecord:
    """A step of the env's log as a record; ``epochs_of`` counts each trial's epochs.

    The env counts epochs of a trial; with ``n_folds`` folds each costs ``n_folds`` epochs of
    the budget, which ``epochs_used`` reports.
    """
    trial = entry.get("trial")
    if trial is not None:
        epochs_of[trial] = epochs_of.get(trial, 0) + int(entry["epochs"])
    return StepRecord(
        step=int(entry["step"]),
        action=entry["action"] if isinstance(entry["action"], int) else -1,
        kind=str(entry["kind"]),
        trial=trial,
        lr=entry.get("lr"),
        batch_size=entry.get("batch_size"),
        epochs=int(entry.get("epochs", 0)),
        trial_epochs=epochs_of.get(trial, 0) if trial is not None else 0,
        val_score=entry.get("val_score"),
        incumbent_val=float(entry["incumbent_val"]),
        epochs_used=int(entry["epochs_used"]) * n_folds,
        seconds=float(entry["seconds"]),
        decision_seconds=decision,
    )


def _result(
    args: TuneArgs,
    folds: list[TabularDataset],
    space: SearchSpace,
    backend: TuneBackend,
    history: list[StepRecord],
    prior: str,
    *,
    status: str,
    wall_seconds: float,
    cache: TrialCache | None,
) -> TuningResult:
    """The result of a run (finished, or partial when interrupted)."""
    n_folds = len(folds)
    best = None
    members: tuple[tuple[MLP, FittedPreprocessor | None], ...] = ()
    states = backend.rebuild_best() if status == "finished" else backend.best_states
    if backend.best_trial is not None and states is not None:
        log = backend.logs[backend.best_trial]
        best = BestConfig(
            lr=log.lr,
            batch_size=log.batch_size,
            epochs=backend.best_epoch,
            val_score=log.val[backend.best_epoch - 1],
            test_score=log.test[backend.best_epoch - 1],
            trial=backend.best_trial,
            seed=log.seed,
            max_epochs=space.max_epochs,
            config=dict(log.config),
        )
        networks = []
        for dataset, state in zip(folds, states, strict=True):
            network = build_mlp(log.spec, dataset.n_features, dataset.n_classes)
            network.load_state_dict(state)
            networks.append(network.eval())
        members = tuple(zip(networks, (d.preprocessor for d in folds), strict=True))
    trials = tuple(
        TrialCurve(
            i, t.lr, t.batch_size, t.seed, tuple(t.val), tuple(t.test),
            tuple(u * n_folds for u in t.used),
            train_loss=tuple(t.curves["train_loss"]), val_loss=tuple(t.curves["val_loss"]),
            config=dict(t.config),
        )
        for i, t in enumerate(backend.logs)
    )  # fmt: skip
    epochs = sum(len(t.val) for t in backend.logs) * n_folds
    return TuningResult(
        method=args.method,
        dataset=folds[0].name,
        seed=args.seed,
        budget_epochs=args.budget_epochs,
        epochs_used=epochs,
        seconds=float(sum(r.seconds for t in backend.logs for e in t.records for r in e)),
        wall_seconds=wall_seconds,
        decision_seconds=float(sum(r.decision_seconds for r in history)),
        metric=args.metric,
        best=best,
        model=members[0][0] if members else None,
        preprocessor=folds[0].preprocessor,
        class_names=folds[0].info.class_labels,
        history=tuple(history),
        trials=trials,
        prior=prior,
        cv=args.cv,
        fold_models=members if n_folds > 1 else (),
        test_metrics=score_on_test(members, folds) if members else {},
        status=status,
        arguments=args.to_json(),
        checkpoints=None if cache is None else str(cache.folder),
        epochs_trained=backend.trained_epochs,
        epochs_resumed=backend.served_epochs,
    )
