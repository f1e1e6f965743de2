"""`tune`: tune a dataset live with the pretrained agent (or a baseline) and keep the best model.

The tuner acts on a live `tunegym.envs.TuningEnv` whose backend is a `TuneBackend`: every epoch
it buys is really trained, on one split or on each of ``cv`` folds (a trial's score is then the
mean over folds and each fold-epoch costs one epoch of the budget). The model returned is the
**best epoch's weights** (one model per fold with ``cv``, averaged in ``predict_proba``), kept
as the run goes: nothing is retrained and no epoch beyond the budget is spent.

A run is never lost: with ``report=`` the report is rewritten (atomically) after every step and
on Ctrl-C, with ``store=`` every trial is logged after each of its epochs, and trial checkpoints
go to a folder from which ``resume=`` replays the same run, serving the epochs already trained
instead of training them again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunegym.agent._agent import Agent, load_agent
from tunegym.agent._live import TrialCache, TuneBackend
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
from tunegym.envs import SCORE_METRICS, SearchSpace, make_tuning_env
from tunegym.errors import did_you_mean
from tunegym.training import MLP, MLPSpec, build_mlp

if TYPE_CHECKING:
    from tunegym.data import FittedPreprocessor
    from tunegym.data._sources import DataLike, TargetLike
    from tunegym.metastore import MetaStore, WarmStart

__all__ = ["TUNE_METHODS", "tune"]

# Baselines that read the answer from recorded curves cannot tune live data.
TUNE_METHODS: tuple[str, ...] = (
    AUTO,
    "agent",
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
    agent: Agent | str | Path | None = None,
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
) -> TuningResult:
    """Tune an MLP's hyperparameters and epochs on a dataset, live.

    By default it searches LCBench's 7 hyperparameters (a funnel MLP trained with SGD: number
    of layers, width, dropout, learning rate, momentum, weight decay, batch size; up to 50
    epochs) with a budget of 200 epochs. ``space="lr-bs"`` searches the learning rate × batch
    size grid of an MLP trained with Adam, which the pretrained agent acts on.

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
        method: ``"auto"`` (the pretrained agent on the lr-bs grid; on any other space
            `AUTO_METHODS`' ``"tpe-hyperband-ws"``, Optuna's TPE with its Hyperband pruner
            started from meta-dataset v2's portfolio, or Hyperband where no warm start is to be
            had), ``"agent"`` (the pretrained agent; its grid unless
            ``space`` says otherwise) or a baseline of `TUNE_METHODS` (``"random"``,
            ``"hyperband"``, ``"tpe"``, ``"tpe-hyperband-ws"``, ...). The result's ``method``
            says which one ran.
        space: the candidates: a `SearchSpace`, or a name of `SEARCH_SPACES`: ``"lcbench"``
            (the default: 64 Sobol points of LCBench's 7 hyperparameters, seeded by ``seed``,
            plus the warm-start portfolio of meta-dataset v2 for warm-started methods; a
            funnel MLP trained with SGD for up to 50 epochs; baselines only) or ``"lr-bs"``
            (the 13 × 6 grid of learning rate and batch size, an MLP trained with Adam; the
            only space the shipped agent acts on, and its default).
        n_slots: trials kept open (default: the agent's, 8 for baselines).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        store: a `tunegym.metastore.MetaStore` (or its URL) where every trial is logged after
            each of its epochs.
        progress: called after each step with its record.
        agent: the agent (or its folder) for ``method="agent"`` (default: the shipped one).
        model: the network (default `MLPSpec()`, the family the agent learned on).
        metric: the validation metric tuned: ``"val_accuracy"``, ``"val_balanced_accuracy"``,
            ``"val_f1_macro"``, ``"val_precision_macro"``, ``"val_recall_macro"`` or
            ``"val_loss"`` (log loss, minimised: the tuner maximises ``exp(-loss)``).
        cv: k-fold cross-validation inside tuning (`tunegym.data.cv_folds`): a trial's score
            is its mean over ``cv`` folds, and the model returned averages the ``cv`` fold
            models' probabilities. ``None``: one validation split.
        warm_start: give the agent its warm-start prior from the meta-dataset snapshot (zeros
            otherwise, or when no snapshot is installed). Warm-started baselines
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

    Returns:
        The best configuration and the model trained with it, every metric of that model on
        the test part, the step history and every trial's curves, and the epochs and seconds
        used.

    Raises:
        ValueError: for an unknown method or metric (with the closest names), an agent that
            cannot act on the requested grid, or a budget smaller than ``cv``.
        TuningInterrupted: on Ctrl-C, with the partial result (a ``KeyboardInterrupt``).

    Example:
        >>> result = tune("sklearn:iris", budget_epochs=16)
        >>> result.epochs_used <= 16, result.best.epochs <= result.best.max_epochs
        (True, True)
    """
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
        loaded_agent: Agent | str | Path | None = agent if isinstance(agent, Agent) else args.agent
    else:
        if resume is not None and store is None:
            store = str(resume)
        if data is None:
            raise ValueError("tune() needs data (or resume= a report that names it).")
        asked = method
        method, space, budget_epochs = resolve_search(
            method, space, budget_epochs, agent_given=agent is not None
        )
        fallback = AUTO_FALLBACK if asked == AUTO and method in WARM_STARTED else None
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
            agent=None if agent is None or isinstance(agent, Agent) else str(agent),
            fallback=fallback,
        )
        loaded_agent = agent
    if checkpoints is None and (report is not None or store is not None):
        checkpoints = default_checkpoints(report)
    return _run(
        args, data, target, loaded_agent, store=store, progress=progress, report=report,
        cache=None if checkpoints is None else TrialCache(checkpoints),
        keep_checkpoints=keep_checkpoints,
    )  # fmt: skip


def _check_args(args: TuneArgs) -> None:
    _check_method(args.method)
    if isinstance(args.space, str):
        named_search(args.space, args.seed)  # an unknown name fails before any data is read
        if args.method == "agent" and args.space != "lr-bs":
            raise ValueError(
                f"The shipped agent acts on the lr-bs grid only, not on space={args.space!r}; "
                "tune that space with a baseline (method='random', 'hyperband', 'tpe', ...)."
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
    agent: Agent | str | Path | None,
    *,
    store: MetaStore | str | None,
    progress: Callable[[StepRecord], None] | None,
    report: Path | None,
    cache: TrialCache | None,
    keep_checkpoints: bool,
) -> TuningResult:
    started = time.perf_counter()
    _check_args(args)
    tuner = None
    space, n_slots = args.search_space, args.n_slots
    if args.method == "agent":
        tuner = agent if isinstance(agent, Agent) else load_agent(agent)
        space, n_slots = space or tuner.spec.space, n_slots or tuner.spec.n_slots
    space, n_slots = space or SearchSpace(), n_slots or 8
    folds = _load(data, target, args)
    ws, prior_source = None, "none"
    if args.method in WARM_STARTED or (tuner is not None and args.warm_start):
        k = tuner.spec.prior_k if tuner is not None else 5
        ws, prior_source = _warm_start(data, target, folds[0], space, k)
        if args.method in WARM_STARTED:
            space = _with_portfolio(space, ws)
    policy: Policy
    if tuner is not None:
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
    backend = TuneBackend(
        folds, space, model, metric=args.metric, device=args.device, store=store, cache=cache,
        val_size=args.val_size, test_size=args.test_size,
    )  # fmt: skip
    n_folds = len(folds)
    env = make_tuning_env(
        folds[0],
        backend,
        space=space,
        budget_epochs=args.budget_epochs // n_folds,
        budget_seconds=args.budget_seconds,
        n_slots=n_slots,
        model=model,
        metric=args.metric,
        prior=ws.prior if ws is not None and tuner is not None else None,
    )
    epochs_of: dict[int, int] = {}
    history: list[StepRecord] = []
    info: dict[str, Any] = {}

    def result(status: str) -> TuningResult:
        return _result(
            args, folds, env.task.space, backend, history, prior_source, status=status,
            wall_seconds=time.perf_counter() - started, cache=cache,
        )  # fmt: skip

    try:
        obs, info = env.reset(seed=args.seed)
        policy.reset(env, args.seed)
        done = False
        while not done:
            tick = time.perf_counter()
            action = policy.act(obs, env.action_masks())
            decision = time.perf_counter() - tick
            obs, _, terminated, truncated, info = env.step(action)
            tick = time.perf_counter()
            policy.observe(info)
            decision += time.perf_counter() - tick
            done = terminated or truncated
            history.append(_step_record(info["step"], decision, epochs_of, n_folds))
            if report is not None and not done:
                write_report(result("running"), report)
            if progress is not None:
                progress(history[-1])
    except KeyboardInterrupt as interrupt:
        partial = result("interrupted")
        if report is not None:
            write_report(partial, report)
        raise TuningInterrupted(partial) from interrupt
    finally:
        env.close()
        if owned is not None:
            owned.close()
    final = result("finished")
    if cache is not None and not keep_checkpoints:
        cache.clear()
        final = replace(final, checkpoints=None)
    if report is not None:
        write_report(final, report)
    return final


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
        class_names=folds[0].info.class_names,
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
