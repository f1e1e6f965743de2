"""`tune`: tune a dataset live with the pretrained agent (or a baseline) and keep the best model.

The tuner acts on a live `tunegym.envs.TuningEnv`: every epoch it buys is really trained. The
model returned is a **checkpoint of the best epoch**: the live backend is wrapped so that it trains
one epoch at a time (the same epochs: a trial's schedule and random streams depend only on its
epoch counter) and copies the weights whenever an epoch beats every earlier one — exactly the
env's incumbent. Nothing is retrained and no epoch beyond the budget is spent, even when the
incumbent's trial was later evicted from its slot or trained past its best epoch.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tunegym.agent._agent import Agent, load_agent
from tunegym.agent._result import BestConfig, StepRecord, TrialCurve, TuningResult
from tunegym.baselines import BASELINE_NAMES, WARM_STARTED, Policy, make_baseline
from tunegym.data import TabularDataset, load_dataset
from tunegym.envs import LiveBackend, SearchSpace, Segment, TaskSpec, make_tuning_env
from tunegym.errors import did_you_mean
from tunegym.training import MLPSpec, build_mlp

if TYPE_CHECKING:
    from tunegym.data._sources import DataLike, TargetLike
    from tunegym.metastore import MetaStore, WarmStart

__all__ = ["TUNE_METHODS", "tune"]

# Baselines that read the answer from recorded curves cannot tune live data.
TUNE_METHODS: tuple[str, ...] = ("agent", *(n for n in BASELINE_NAMES if n != "oracle"))


@dataclass(eq=False)
class _TrialLog:
    lr: float
    batch_size: int
    seed: int
    val: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    used: list[int] = field(default_factory=list)


class _BestEpochKeeper:
    """A live backend trained one epoch at a time that keeps the best epoch's weights."""

    def __init__(self, live: LiveBackend) -> None:
        self.live = live
        bounds = live.score_bounds
        self.best_score = bounds[1] if bounds is not None else 0.0  # the env's first incumbent
        self.best_state: dict[str, torch.Tensor] | None = None
        self.logs: list[_TrialLog] = []
        self._log_of: dict[int, _TrialLog] = {}

    @property
    def meta_features(self) -> np.ndarray:
        return self.live.meta_features

    @property
    def score_bounds(self) -> tuple[float, float] | None:
        return self.live.score_bounds

    def start(self, lr: float, batch_size: int, seed: int) -> int:
        handle = self.live.start(lr, batch_size, seed)
        self._log_of[handle] = _TrialLog(lr, batch_size, seed)
        self.logs.append(self._log_of[handle])
        return handle

    def advance(self, handle: int, k: int) -> Segment:
        log, parts = self._log_of[handle], []
        for _ in range(k):
            part = self.live.advance(handle, 1)
            if not len(part.scores):
                break
            score = float(part.scores[0])
            log.val.append(score)
            log.test.append(float(part.test_scores[0]))
            log.used.append(sum(len(t.val) for t in self.logs))
            if score > self.best_score:
                self.best_score = score
                weights = self.live.trial(handle).model.state_dict()
                self.best_state = {n: w.detach().cpu().clone() for n, w in weights.items()}
            parts.append(part)
            if part.diverged:
                break
        if not parts:
            return self.live.advance(handle, k)  # an empty segment, as the live backend gives
        return Segment(
            scores=np.concatenate([p.scores for p in parts]),
            test_scores=np.concatenate([p.test_scores for p in parts]),
            seconds=np.concatenate([p.seconds for p in parts]),
            diverged=parts[-1].diverged,
        )

    def release(self, handle: int) -> None:
        self.live.release(handle)


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

    if dataset.info.source in ("sklearn", "keel", "openml") and dataset.info.spec:
        what: str | dict[str, float] = dataset.info.spec
    elif isinstance(data, TabularDataset):
        return None, "none (a loaded TabularDataset has no raw table for meta-features)"
    else:
        what = compute_meta_features(data, target)
    try:
        ws = warm_start_snapshot(what, space.lrs, space.batch_sizes, k=k)
    except FileNotFoundError:
        return None, "none (no meta-dataset snapshot installed)"
    except ValueError as error:
        return None, f"none ({error})"
    names = ", ".join(n.dataset for n in ws.neighbors)
    return ws, f"snapshot: {len(ws.neighbors)} nearest datasets ({names})"


def _step_record(entry: dict[str, Any], decision: float, epochs_of: dict[int, int]) -> StepRecord:
    """A step of the env's log as a record; ``epochs_of`` counts each trial's epochs."""
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
        epochs_used=int(entry["epochs_used"]),
        seconds=float(entry["seconds"]),
        decision_seconds=decision,
    )


def tune(
    data: DataLike | TabularDataset,
    target: TargetLike = None,
    *,
    budget_epochs: int = 64,
    budget_seconds: float | None = None,
    seed: int = 0,
    method: str = "agent",
    space: SearchSpace | None = None,
    n_slots: int | None = None,
    device: str = "cpu",
    store: MetaStore | str | None = None,
    progress: Callable[[StepRecord], None] | None = None,
    agent: Agent | str | Path | None = None,
    model: MLPSpec | None = None,
    metric: str = "val_accuracy",
    warm_start: bool = True,
    val_size: float = 0.2,
    test_size: float = 0.2,
    max_rows: int | None = None,
) -> TuningResult:
    """Tune the learning rate, batch size and epochs of an MLP on a dataset, live.

    Args:
        data: a dataset spec (``"keel:german"``), a CSV/Parquet path, a DataFrame, an array or
            ``(X, y)`` (anything `tunegym.load_dataset` reads), or a loaded `TabularDataset`.
        target: the class column (files, DataFrames) or the labels (arrays).
        budget_epochs: epochs the tuner may spend (an epoch of any batch size costs 1).
        budget_seconds: optional training-seconds budget.
        seed: seeds the split, the trials and the tuner.
        method: ``"agent"`` (the pretrained agent) or a baseline of `TUNE_METHODS`
            (``"random"``, ``"hyperband"``, ``"tpe"``, ...).
        space: the grid (default: the agent's; `SearchSpace()` for baselines).
        n_slots: trials kept open (default: the agent's, 8 for baselines).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        store: a `tunegym.metastore.MetaStore` (or its URL) where every trial is logged.
        progress: called after each step with its record.
        agent: the agent (or its folder) for ``method="agent"`` (default: the shipped one).
        model: the network (default `MLPSpec()`, the family the agent learned on).
        metric: ``"val_accuracy"`` or ``"val_balanced_accuracy"``.
        warm_start: give the agent its warm-start prior from the meta-dataset snapshot (zeros
            otherwise, or when no snapshot is installed).
        val_size: share of rows for validation.
        test_size: share of rows for test.
        max_rows: subsample larger datasets to this many rows.

    Returns:
        The best configuration and the model trained with it, its val and test scores, the
        step history, and the epochs and seconds used.

    Raises:
        ValueError: for an unknown method (with the closest names) or an agent that cannot act
            on the requested grid.

    Example:
        >>> result = tune("sklearn:iris", budget_epochs=16)
        >>> result.epochs_used <= 16, result.best.epochs <= result.best.max_epochs
        (True, True)
    """
    started = time.perf_counter()
    _check_method(method)
    tuner = None
    if method == "agent":
        tuner = agent if isinstance(agent, Agent) else load_agent(agent)
        space, n_slots = space or tuner.spec.space, n_slots or tuner.spec.n_slots
    space, n_slots = space or SearchSpace(), n_slots or 8
    dataset = (
        data
        if isinstance(data, TabularDataset)
        else load_dataset(
            data, target, seed=seed, val_size=val_size, test_size=test_size, max_rows=max_rows
        )
    )
    ws, prior_source = None, "none"
    if method in WARM_STARTED or (tuner is not None and warm_start):
        k = tuner.spec.prior_k if tuner is not None else 5
        ws, prior_source = _warm_start(data, target, dataset, space, k)
    policy: Policy
    if tuner is not None:
        policy = tuner
    elif method in WARM_STARTED:
        if ws is None:
            raise ValueError(f"Method {method!r} needs a warm start, and there is {prior_source}.")
        policy = make_baseline(method, warm_start=ws)
    else:
        policy = make_baseline(method)
    model = model or MLPSpec()
    owned = None
    if isinstance(store, str):
        from tunegym.metastore import MetaStore

        store = owned = MetaStore(store)
    keeper = _BestEpochKeeper(
        LiveBackend(dataset, space, model, metric=metric, device=device, store=store)
    )
    env = make_tuning_env(
        dataset,
        keeper,
        space=space,
        budget_epochs=budget_epochs,
        budget_seconds=budget_seconds,
        n_slots=n_slots,
        model=model,
        metric=metric,
        prior=ws.prior if ws is not None and tuner is not None else None,
    )
    epochs_of: dict[int, int] = {}
    history: list[StepRecord] = []
    try:
        obs, info = env.reset(seed=seed)
        policy.reset(env, seed)
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
            history.append(_step_record(info["step"], decision, epochs_of))
            if progress is not None:
                progress(history[-1])
    finally:
        env.close()
        if owned is not None:
            owned.close()
    result = _result(method, dataset, seed, env.task, keeper, info, history, prior_source)
    return replace(result, wall_seconds=time.perf_counter() - started)


def _result(
    method: str,
    dataset: TabularDataset,
    seed: int,
    task: TaskSpec,
    keeper: _BestEpochKeeper,
    info: dict[str, Any],
    history: list[StepRecord],
    prior: str,
) -> TuningResult:
    """The result of a finished run (``wall_seconds`` left 0 for the caller to set)."""
    incumbent = info["incumbent"]
    best, network = None, None
    if incumbent.get("trial") is not None and keeper.best_state is not None:
        best = BestConfig(
            lr=float(incumbent["lr"]),
            batch_size=int(incumbent["batch_size"]),
            epochs=int(incumbent["epoch"]),
            val_score=float(incumbent["val_score"]),
            test_score=float(incumbent["test_score"]),
            trial=int(incumbent["trial"]),
            seed=int(incumbent["seed"]),
            max_epochs=task.space.max_epochs,
        )
        network = build_mlp(task.model, dataset.n_features, dataset.n_classes)
        network.load_state_dict(copy.deepcopy(keeper.best_state))
        network.eval()
    trials = tuple(
        TrialCurve(i, t.lr, t.batch_size, t.seed, tuple(t.val), tuple(t.test), tuple(t.used))
        for i, t in enumerate(keeper.logs)
    )
    return TuningResult(
        method=method,
        dataset=dataset.name,
        seed=seed,
        budget_epochs=task.budget_epochs,
        epochs_used=int(info["epochs_used"]),
        seconds=float(info["seconds_used"]),
        wall_seconds=0.0,
        decision_seconds=float(sum(r.decision_seconds for r in history)),
        metric=task.metric,
        best=best,
        model=network,
        preprocessor=dataset.preprocessor,
        class_names=dataset.info.class_names,
        history=tuple(history),
        trials=trials,
        prior=prior,
    )
