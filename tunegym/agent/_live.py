"""The backend behind `tune`: live trials over one split or k folds, kept and resumable.

`TuneBackend` is a `tunegym.envs.Backend` that trains each trial once per fold and scores it by
the mean over folds (one fold without cross-validation). It trains one epoch at a time, which
gives the same epochs as training ``k`` at once (a trial's schedule and random streams depend
only on its epoch counter), so that after every epoch it can

* keep the weights of the best epoch so far, the env's incumbent (nothing is retrained at the
  end, even when the incumbent's trial was evicted or trained past its best epoch);
* log the trial to a meta-store, so that a killed run loses no finished epoch there (as a
  ``partial`` run until it reaches E_max or diverges, or the run finishes: `finish`);
* save the trial's checkpoint to a `TrialCache`.

With a cache, at most ``max_thawed`` trials hold their model and optimiser in memory: the one
least recently trained beyond them is *frozen* (dropped from memory; its checkpoint holds it)
and *thawed* from its checkpoint when the agent continues it, so a run of hundreds of trials
holds a bounded number of models, as freeze-thaw tuning intends (Swersky et al., 2014).

A trial's epochs are a function of its dataset, network, configuration and seed (the trainer's
determinism contract), so a checkpoint in the cache *is* those epochs: a trial started again
with the same identity serves its recorded epochs from the checkpoint instead of training them,
and trains on from the checkpoint's weights and optimiser state past them. Replaying a tuner
with the same seed over a cache therefore resumes an interrupted run exactly where it stopped.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from tunegym.data import TabularDataset
from tunegym.envs import (
    SCORE_METRICS,
    FineTuneSource,
    SearchSpace,
    Segment,
    score_of,
    task_meta_features,
    trial_setup,
)
from tunegym.space import FINE_TUNE, learning_rate_of
from tunegym.training import EpochRecord, MLPSpec, ModelSpec, TrainConfig, Trial, spec_to_dict

if TYPE_CHECKING:
    from tunegym.metastore import MetaStore

__all__ = [
    "MAX_THAWED",
    "ExecutorLauncher",
    "SegmentJob",
    "SegmentResult",
    "TrialCache",
    "TrialLog",
    "TuneBackend",
    "dataset_fingerprint",
    "train_segment",
]

_STATE = dict[str, torch.Tensor]
MAX_THAWED = 16
"""Trials whose models `TuneBackend` keeps in memory at once when it has a checkpoint cache."""
# Numeric fields of an epoch record averaged over folds in a trial's log (the report's curves).
_CURVE_FIELDS = ("train_loss", "val_loss")


def dataset_fingerprint(dataset: TabularDataset) -> str:
    """A SHA-256 of a dataset's tensors and classes: equal fingerprints, equal trials."""
    digest = hashlib.sha256(str(dataset.n_classes).encode())
    for tensor in (
        dataset.X_train, dataset.y_train, dataset.X_val, dataset.y_val, dataset.X_test,
        dataset.y_test,
    ):  # fmt: skip
        digest.update(str(tuple(tensor.shape)).encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _cpu_copy(model: torch.nn.Module) -> _STATE:
    """A copy of ``model``'s weights on the CPU, untouched by later training."""
    return {n: w.detach().cpu().clone() for n, w in model.state_dict().items()}


def _atomic_save(obj: object, path: Path) -> None:
    # A checkpoint is complete or absent: a run killed while writing leaves the old one.
    partial = path.with_name(path.name + ".partial")
    torch.save(obj, partial)
    os.replace(partial, path)


class TrialCache:
    """Checkpoints of trials in a folder, named by what determines their epochs.

    Files are ``torch.save`` of tensors and plain containers and load with
    ``torch.load(weights_only=True)``: ``trial-<key>.pt`` (the trial's last state and every
    record) and ``best-<key>-e<epoch>.pt`` (the weights of an epoch that was an incumbent).

    Args:
        folder: where the files live (created when the first one is written).
    """

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.keys: set[str] = set()  # trials this cache saved or loaded: what `clear` deletes
        self._epochs: dict[str, int] = {}

    @staticmethod
    def key(fingerprint: str, config: TrainConfig, spec: ModelSpec) -> str:
        """The name of a trial: its dataset's fingerprint, configuration and network."""
        identity = json.dumps([fingerprint, asdict(config), spec_to_dict(spec)], sort_keys=True)
        return hashlib.sha256(identity.encode()).hexdigest()[:32]

    def _trial_path(self, key: str) -> Path:
        return self.folder / f"trial-{key}.pt"

    def _best_path(self, key: str, epoch: int) -> Path:
        return self.folder / f"best-{key}-e{epoch}.pt"

    def load(self, key: str, dataset: TabularDataset, device: str) -> Trial | None:
        """The cached trial, or ``None`` when there is none or it cannot be read."""
        path = self._trial_path(key)
        self.keys.add(key)
        if not path.is_file():
            return None
        try:
            trial = Trial.load(path, dataset, device=device)
        except (ValueError, RuntimeError, OSError, KeyError, TypeError):
            return None  # a foreign or damaged file: train afresh (and overwrite it)
        self._epochs[key] = max(self._epochs.get(key, 0), trial.epochs_done)
        return trial

    def save(self, key: str, trial: Trial) -> None:
        """Save ``trial`` unless the cache already holds it at least as far."""
        if trial.epochs_done <= self._epochs.get(key, 0) and self._trial_path(key).is_file():
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        _atomic_save(trial.state_dict(), self._trial_path(key))
        self._epochs[key] = trial.epochs_done
        self.keys.add(key)

    def save_best(self, key: str, epoch: int, state: _STATE) -> None:
        """Keep the weights of an incumbent epoch."""
        self.folder.mkdir(parents=True, exist_ok=True)
        _atomic_save(state, self._best_path(key, epoch))
        self.keys.add(key)

    def load_best(self, key: str, epoch: int) -> _STATE | None:
        """The weights of epoch ``epoch`` of a trial, if they were kept."""
        path = self._best_path(key, epoch)
        if not path.is_file():
            return None
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except (RuntimeError, OSError, ValueError):
            return None
        return state if isinstance(state, dict) else None

    def clear(self) -> None:
        """Delete the files of every trial this cache saved or loaded (other runs' stay), and
        the folder if it is left empty."""
        for key in self.keys:
            self._trial_path(key).unlink(missing_ok=True)
            for path in self.folder.glob(f"best-{key}-e*.pt"):
                path.unlink(missing_ok=True)
        self.keys.clear()
        if self.folder.is_dir() and not any(self.folder.iterdir()):
            self.folder.rmdir()


@dataclass(eq=False)
class TrialLog:
    """What a trial produced, epoch by epoch, averaged over folds.

    Attributes:
        config: the candidate configuration.
        seed: the trial's seed.
        spec: the network it trains.
        val: the env's score per epoch (the tuned metric, larger is better).
        test: the matching test score.
        used: epochs of one fold spent in the run when each epoch ended (one per trial epoch).
        curves: per-epoch means of ``train_loss`` and ``val_loss``.
        records: every fold's epoch records.
        served: epochs read from checkpoints rather than trained.
    """

    config: dict[str, Any]
    seed: int
    spec: Any = None
    val: list[float] = field(default_factory=list)
    test: list[float] = field(default_factory=list)
    used: list[int] = field(default_factory=list)
    curves: dict[str, list[float]] = field(default_factory=lambda: {f: [] for f in _CURVE_FIELDS})
    records: list[list[EpochRecord]] = field(default_factory=list)
    served: int = 0

    @property
    def lr(self) -> float | None:
        """The learning rate (``lr`` on the grid, ``learning_rate`` in LCBench's space)."""
        return learning_rate_of(self.config)

    @property
    def batch_size(self) -> int | None:
        """The batch size, where the configuration has one."""
        value = self.config.get("batch_size")
        return None if value is None else int(value)


@dataclass(eq=False)
class _FoldTrial:
    dataset: TabularDataset
    config: TrainConfig
    spec: Any
    key: str
    trial: Trial | None  # built on the first epoch not served from the cache
    cached: list[EpochRecord]  # records served before training (from a checkpoint), or frozen
    logged: int = 0  # epochs logged to the store
    ended: bool = False  # logged as ended (E_max reached, diverged, or the run finished)
    source: FineTuneSource | None = None  # the pre-trained model it starts from, if any
    frozen: bool = False  # its trial is in the cache only (`TuneBackend.max_thawed`)


@dataclass(frozen=True)
class _FoldJob:
    dataset: TabularDataset
    config: TrainConfig
    spec: Any
    state: dict[str, Any] | None  # the trial so far (`Trial.state_dict`), None before it starts
    start: dict[str, Any]  # a fine-tuning trial's `FineTuneSource.trial_start`, before it starts


@dataclass(frozen=True)
class SegmentJob:
    """``k`` epochs of one trial on every fold, to train on a worker (`train_segment`).

    Attributes:
        folds: each fold's dataset, configuration, network and trial state.
        done: epochs the trial has trained.
        k: epochs to train.
        metric: the tuning metric (the fold mean of its score decides which weights come back).
        device: training device.
        threshold: the run's best score when the job was sent: weights come back only for the
            epochs that beat it and every earlier epoch of the segment.
    """

    folds: tuple[_FoldJob, ...]
    done: int
    k: int
    metric: str
    device: str
    threshold: float


@dataclass(frozen=True)
class SegmentResult:
    """What `train_segment` sends back: per epoch every fold's record, the trials' states, and
    the weights of the epochs that may be the run's incumbent (epoch -> one state per fold)."""

    records: tuple[tuple[EpochRecord, ...], ...]
    states: tuple[dict[str, Any], ...]
    best: dict[int, list[_STATE]]


def train_segment(job: SegmentJob) -> SegmentResult:
    """Train a `SegmentJob` (on a worker process or a Ray task): the folds in lockstep, one
    epoch at a time, stopping at the first epoch where one diverges, as `TuneBackend.advance`.

    An epoch's weights come back when its fold-mean score beats the job's threshold and every
    earlier epoch of the segment, which is every epoch that can become the incumbent whatever
    other trials report meanwhile.
    """
    trials = [
        Trial(
            f.dataset,
            f.config,
            f.spec,
            device=job.device,
            eval_test=True,
            **f.start,
        )
        if f.state is None
        else Trial.from_state_dict(f.state, f.dataset, device=job.device)
        for f in job.folds
    ]
    records: list[tuple[EpochRecord, ...]] = []
    best: dict[int, list[_STATE]] = {}
    bar = job.threshold
    for t in range(job.k):
        epoch = tuple(trial.train(1)[0] for trial in trials)
        records.append(epoch)
        score = float(np.mean([score_of(r, job.metric) for r in epoch]))
        if score > bar:
            bar = score
            best[job.done + t + 1] = [_cpu_copy(trial.model) for trial in trials]
        if any(r.diverged for r in epoch):
            break
    return SegmentResult(tuple(records), tuple(t.state_dict() for t in trials), best)


def _segment(
    scores: Sequence[float], tests: Sequence[float], seconds: Sequence[float], diverged: bool
) -> Segment:
    return Segment(
        scores=np.asarray(scores, dtype=np.float64),
        test_scores=np.asarray(tests, dtype=np.float64),
        seconds=np.asarray(seconds, dtype=np.float64),
        diverged=diverged,
    )


class TuneBackend:
    """Trains a trial on every fold; keeps, logs, checkpoints and resumes (module docstring).

    Args:
        folds: the datasets (one, or the k folds of `tunegym.data.cv_folds`).
        space: the grid (its ``max_epochs`` is every trial's schedule length).
        model: the network.
        metric: the env's tuning metric (`tunegym.envs.SCORE_METRICS`).
        device: training device.
        store: where every trial is logged after each of its epochs, or ``None``.
        cache: where trials are checkpointed and found again, or ``None``.
        val_size: the share ``folds`` were loaded with (recorded with the runs in ``store``).
        test_size: likewise.
        source: the pre-trained model that candidates with ``fine_tune=1``
            (`tunegym.space.FINE_TUNE_SPACE`) start from; their runs are logged with its name.
        max_thawed: with a ``cache``, trials whose models stay in memory; the least recently
            trained others are frozen to their checkpoints and thawed when continued.

    Raises:
        ValueError: no dataset, or ``max_thawed < 1``.
    """

    def __init__(
        self,
        folds: Sequence[TabularDataset],
        space: SearchSpace,
        model: MLPSpec,
        *,
        metric: str,
        device: str = "cpu",
        store: MetaStore | None = None,
        cache: TrialCache | None = None,
        val_size: float = 0.2,
        test_size: float = 0.2,
        source: FineTuneSource | None = None,
        max_thawed: int = MAX_THAWED,
    ) -> None:
        if not folds:
            raise ValueError("TuneBackend needs at least one dataset.")
        if isinstance(max_thawed, bool) or not isinstance(max_thawed, int) or max_thawed < 1:
            raise ValueError(f"max_thawed must be an int >= 1, got {max_thawed!r}.")
        self.max_thawed = max_thawed
        self._thawed: dict[int, None] = {}  # handles whose trials are in memory, oldest first
        self.folds, self.space, self.model = tuple(folds), space, model
        self.metric, self.device = metric, device
        self.store, self.cache = store, cache
        self.val_size, self.test_size = val_size, test_size
        self.source = source
        self._meta = task_meta_features(self.folds[0])
        self._fingerprints = [dataset_fingerprint(d) for d in self.folds] if cache else []
        self.best_score = 0.0  # the env's first incumbent when the score bounds are unknown
        self.best_states: list[_STATE] | None = None
        self.best_trial: int | None = None  # index into logs
        self.best_epoch = 0
        self.logs: list[TrialLog] = []
        self._open: dict[int, list[_FoldTrial]] = {}
        self._parts: list[list[_FoldTrial]] = []  # every trial's folds, by handle
        self.trained_epochs = 0  # fold-epochs really trained (not served from the cache)

    @property
    def meta_features(self) -> np.ndarray:
        return self._meta

    @property
    def score_bounds(self) -> tuple[float, float] | None:
        return None

    @property
    def served_epochs(self) -> int:
        """Fold-epochs read from checkpoints instead of being trained."""
        return sum(log.served for log in self.logs) * len(self.folds)

    def _source_of(self, config: Mapping[str, Any]) -> FineTuneSource | None:
        if int(config.get(FINE_TUNE, 0)) != 1:
            return None
        if self.source is None:
            raise ValueError(
                f"Candidate {dict(config)} fine-tunes (fine_tune=1), but the backend has no "
                "pre-trained model to start from; pass source=."
            )
        return self.source

    def start(self, config: Mapping[str, Any], seed: int) -> int:
        train, spec = trial_setup(config, self.space.max_epochs, seed, self.model)
        source = self._source_of(config)
        spec = spec if source is None else source.trial_spec()
        handle = len(self.logs)
        self.logs.append(TrialLog(dict(config), seed, spec))
        parts = []
        for i, dataset in enumerate(self.folds):
            key = ""
            if self.cache:  # a fine-tuning trial is named by its source (and probe) too
                fingerprint = self._fingerprints[i]
                if source is not None:
                    fingerprint += f"|{source.name}" + ("|probe" if source.probes(dataset) else "")
                key = TrialCache.key(fingerprint, train, spec)
            trial = self.cache.load(key, dataset, self.device) if self.cache else None
            cached = trial.history if trial is not None else []
            parts.append(_FoldTrial(dataset, train, spec, key, trial, cached, source=source))
        self._open[handle] = parts
        self._parts.append(parts)
        return handle

    def advance(self, handle: int, k: int) -> Segment:
        parts = self._open.get(handle)
        if parts is None:
            raise KeyError(f"No open trial with handle {handle}.")
        log = self.logs[handle]
        scores: list[float] = []
        tests: list[float] = []
        seconds: list[float] = []
        diverged = False
        while len(scores) < k and not diverged and len(log.val) < self.space.max_epochs:
            served = all(len(part.cached) > len(log.val) for part in parts)
            records = [self._epoch(part, len(log.val)) for part in parts]
            log.served += served
            score, test, diverged = self._append(log, records)
            scores.append(score)
            tests.append(test)
            seconds.append(float(sum(r.seconds for r in records)))
            if score > self.best_score:
                self._keep_best(handle, parts, len(log.val))
            self._log(parts, len(log.val))
        self._touch(handle)
        return _segment(scores, tests, seconds, diverged)

    def _touch(self, handle: int) -> None:
        """``handle`` was just trained: freeze the trials least recently trained beyond
        ``max_thawed`` (only with a cache, which holds them)."""
        self._thawed.pop(handle, None)
        self._thawed[handle] = None
        while self.cache is not None and len(self._thawed) > self.max_thawed:
            oldest = next(iter(self._thawed))
            del self._thawed[oldest]
            for part in self._open.get(oldest, ()):
                if part.trial is not None:  # its checkpoint is current: saved after each epoch
                    part.cached = list(part.trial.history)  # what the store logs from
                    part.trial, part.frozen = None, True

    def _thaw(self, part: _FoldTrial, done: int) -> None:
        """Bring a frozen fold trial back from its checkpoint (trained again, deterministically,
        if the checkpoint is gone)."""
        if not part.frozen:
            return
        assert self.cache is not None
        part.frozen = False
        part.trial = self.cache.load(part.key, part.dataset, self.device)
        if part.trial is None or part.trial.epochs_done != done:
            part.trial = self._new_trial(part)
            part.trial.train(done)

    def _new_trial(self, part: _FoldTrial) -> Trial:
        """A fold's trial at epoch 0 (from its source's weights when it fine-tunes)."""
        source = part.source
        start = {} if source is None else source.trial_start(part.dataset, part.config.seed)
        return Trial(part.dataset, part.config, part.spec, device=self.device, eval_test=True,
                     **start)  # fmt: skip

    def _append(self, log: TrialLog, records: list[EpochRecord]) -> tuple[float, float, bool]:
        """Add one epoch of every fold to ``log``; its score, test score and divergence."""
        log.records.append(records)
        score = float(np.mean([score_of(r, self.metric) for r in records]))
        test = float(np.mean([score_of(r, SCORE_METRICS[self.metric]) for r in records]))
        log.val.append(score)
        log.test.append(test)
        log.used.append(sum(len(t.val) for t in self.logs))
        for name in _CURVE_FIELDS:
            log.curves[name].append(float(np.mean([getattr(r, name) for r in records])))
        return score, test, any(r.diverged for r in records)

    # ------------------------------------------------------------------ on workers

    def segment_job(self, handle: int, k: int) -> SegmentJob | None:
        """What a worker needs to train ``k`` more epochs of a trial (`train_segment`).

        ``None`` when the trial has epochs in the cache past those done (a resumed run):
        those are served here, by `advance`, not sent out.
        """
        parts = self._open.get(handle)
        if parts is None:
            raise KeyError(f"No open trial with handle {handle}.")
        done = len(self.logs[handle].val)
        if any(len(part.cached) > done for part in parts):
            return None
        folds = []
        for part in parts:
            self._thaw(part, done)
            state = None if part.trial is None else part.trial.state_dict()
            start = {}
            if state is None and part.source is not None:
                start = part.source.trial_start(part.dataset, part.config.seed)
            folds.append(_FoldJob(part.dataset, part.config, part.spec, state, start))
        k = min(k, self.space.max_epochs - done)
        return SegmentJob(tuple(folds), done, k, self.metric, self.device, self.best_score)

    def finish_segment(self, handle: int, result: SegmentResult) -> Segment:
        """Bring in what a worker trained (`train_segment`): log, checkpoint and keep the best
        exactly as `advance` does after each epoch."""
        parts = self._open[handle]
        log = self.logs[handle]
        for part, state in zip(parts, result.states, strict=True):
            part.trial = Trial.from_state_dict(state, part.dataset, device=self.device)
        first = len(log.val)
        scores: list[float] = []
        tests: list[float] = []
        seconds: list[float] = []
        diverged = False
        for t, records in enumerate(result.records):
            score, test, diverged = self._append(log, list(records))
            self.trained_epochs += len(records)
            scores.append(score)
            tests.append(test)
            seconds.append(float(sum(r.seconds for r in records)))
            epoch = first + t + 1
            if score > self.best_score:
                self._keep_best_from(handle, parts, epoch, result.best.get(epoch))
            self._log(parts, epoch)
        if self.cache is not None:
            for part in parts:
                assert part.trial is not None
                self.cache.save(part.key, part.trial)
        self._touch(handle)
        return _segment(scores, tests, seconds, diverged)

    def _keep_best_from(
        self, handle: int, parts: list[_FoldTrial], epoch: int, states: list[_STATE] | None
    ) -> None:
        self.best_score = float(self.logs[handle].val[-1])
        self.best_trial, self.best_epoch = handle, epoch
        self.best_states = states  # None (never, by `train_segment`'s rule): rebuilt at the end
        if self.cache is not None and states is not None:
            for part, state in zip(parts, states, strict=True):
                self.cache.save_best(part.key, epoch, state)

    def _epoch(self, part: _FoldTrial, done: int) -> EpochRecord:
        """Epoch ``done + 1`` of a fold's trial: served from its checkpoint, or trained."""
        if done < len(part.cached):
            return part.cached[done]
        self._thaw(part, done)
        if part.trial is None:
            part.trial = self._new_trial(part)
        (record,) = part.trial.train(1)
        self.trained_epochs += 1
        if self.cache is not None:
            self.cache.save(part.key, part.trial)
        return record

    def _keep_best(self, handle: int, parts: list[_FoldTrial], epoch: int) -> None:
        self.best_score = float(self.logs[handle].val[-1])
        self.best_trial, self.best_epoch = handle, epoch
        states: list[_STATE] | None = []
        for part in parts:
            state = None
            if part.trial is not None and part.trial.epochs_done == epoch:
                state = _cpu_copy(part.trial.model)
                if self.cache is not None:
                    self.cache.save_best(part.key, epoch, state)
            elif self.cache is not None:
                state = self.cache.load_best(part.key, epoch)
            if state is None or states is None:
                states = None  # rebuilt at the end (`rebuild_best`)
            else:
                states.append(state)
        self.best_states = states

    def _log(self, parts: list[_FoldTrial], epochs: int) -> None:
        if self.store is None:
            return
        for part in parts:
            if epochs > part.logged:
                self._log_part(part, epochs, ended=False)

    def _log_part(self, part: _FoldTrial, epochs: int, *, ended: bool) -> None:
        """Log a fold's first ``epochs``: ``partial`` in the store until the trial has ended."""
        assert self.store is not None
        history = (part.cached if part.trial is None else part.trial.history)[:epochs]
        ended = ended or epochs >= self.space.max_epochs or history[-1].diverged
        self.store.log_trial(
            part.dataset, part.config, part.spec, history,
            device=self.device,
            val_size=self.val_size, test_size=self.test_size,
            checkpoint=None if part.source is None else part.source.name,
            finished=ended,
        )  # fmt: skip
        part.logged, part.ended = epochs, ended

    def finish(self) -> None:
        """The run has ended: its trials logged ``partial`` are stored as ended (``ok``).

        Not called on Ctrl-C or a kill, so that their runs stay ``partial``: a resumed run
        may train them on.
        """
        if self.store is None:
            return
        for parts in self._parts:
            for part in parts:
                if part.logged and not part.ended:
                    self._log_part(part, part.logged, ended=True)

    def release(self, handle: int) -> None:
        self._open.pop(handle, None)
        self._thawed.pop(handle, None)

    def rebuild_best(self) -> list[_STATE] | None:
        """The incumbent's weights, training its configuration again if they were not kept.

        Needed only when a resumed run's incumbent epoch was served from a checkpoint whose
        best weights are gone; training is deterministic, so the weights are the same.
        """
        if self.best_states is not None or self.best_trial is None:
            return self.best_states
        log = self.logs[self.best_trial]
        source = self._source_of(log.config)
        states = []
        for dataset in self.folds:
            config, spec = trial_setup(log.config, self.space.max_epochs, log.seed, self.model)
            spec = spec if source is None else source.trial_spec()
            start = {} if source is None else source.trial_start(dataset, config.seed)
            trial = Trial(dataset, config, spec, device=self.device, **start)
            trial.train(self.best_epoch)
            states.append(_cpu_copy(trial.model))
        self.best_states = states
        return states


class ExecutorLauncher:
    """Trains a `TuneBackend`'s dispatched advances on an executor (processes or Ray tasks):
    the `tunegym.envs.Launcher` of live runs with several workers.

    Advances the cache can serve (a resumed run) are served here at once instead.
    """

    def __init__(self, backend: TuneBackend, executor: Executor) -> None:
        self.backend, self.executor = backend, executor
        self._out: dict[Future[SegmentResult], int] = {}
        self._ready: list[tuple[int, Segment]] = []
        self._order: dict[int, int] = {}

    def submit(self, handle: int, k: int) -> None:
        self._order[handle] = len(self._order)
        job = self.backend.segment_job(handle, k)
        if job is None:
            self._ready.append((handle, self.backend.advance(handle, k)))
            return
        self._out[self.executor.submit(train_segment, job)] = handle

    def wait(self) -> list[tuple[int, Segment]]:
        if not self._ready:
            finished, _ = wait(self._out, return_when=FIRST_COMPLETED)
            for future in sorted(finished, key=lambda f: self._order[self._out[f]]):
                handle = self._out.pop(future)
                self._ready.append((handle, self.backend.finish_segment(handle, future.result())))
        ready, self._ready = self._ready, []
        for handle, _ in ready:
            self._order.pop(handle, None)
        return ready

    def cancel(self) -> None:
        for future in self._out:
            future.cancel()
        self._out.clear()
        self._ready.clear()
