"""Where the epochs come from: really trained (live) or read from recorded curves (replay).

A backend has three methods — ``start`` a trial, ``advance`` it ``k`` epochs, ``release`` it —
and two facts about its task: the dataset's meta-features and, where known, the bounds of the
score over the whole grid (which turn incumbent improvement into regret reduction).
Both backends give a trial of (lr, batch size, seed) the same epochs: the trainer's contract
(initial weights from the seed, batch order from seed and epoch, the schedule from ``E_max``)
makes a recorded curve exactly what live training would produce.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from tunegym.data import TabularDataset
from tunegym.envs._curves import meta_features_of, read_curves
from tunegym.envs._features import task_meta_features
from tunegym.envs._task import (
    SCORE_METRICS,
    SearchSpace,
    check_direction,
    metric_score,
    score_of,
    test_metric_of,
)
from tunegym.training import EpochRecord, MLPSpec, ModelSpec, TrainConfig, Trial

__all__ = ["Backend", "LiveBackend", "ReplayBackend", "Segment"]


@dataclass(frozen=True, slots=True)
class Segment:
    """The epochs one ``advance`` call trained.

    Attributes:
        scores: validation score per epoch: the task's metric as `metric_score` maps it into
            [0, 1], larger is better (``exp(-loss)`` for the log loss; 0 for a diverged epoch).
        test_scores: the matching test score per epoch.
        seconds: wall time per epoch (measured live, recorded in replay).
        diverged: the trial diverged in this segment (its last epoch) and cannot continue.
    """

    scores: np.ndarray
    test_scores: np.ndarray
    seconds: np.ndarray
    diverged: bool


class Backend(Protocol):
    """What the env needs from a source of epochs."""

    @property
    def meta_features(self) -> np.ndarray:
        """The task's meta-features (``tunegym.envs.META_FEATURE_NAMES``)."""
        ...

    @property
    def score_bounds(self) -> tuple[float, float] | None:
        """(best, worst) score over every configuration and epoch, or ``None`` if unknown."""
        ...

    def start(self, config: Mapping[str, Any], seed: int) -> int:
        """Open a trial of a candidate configuration (nothing is trained yet); its handle."""
        ...

    def advance(self, handle: int, k: int) -> Segment:
        """Train the trial ``k`` more epochs (fewer if it diverges or reaches ``E_max``)."""
        ...

    def release(self, handle: int) -> None:
        """Forget a trial that will not be continued (frees its model)."""
        ...


class TrialLogger(Protocol):
    """Where a live backend logs its trials (`tunegym.metastore.MetaStore` is one)."""

    def log_trial(
        self,
        dataset: TabularDataset,
        config: TrainConfig,
        spec: ModelSpec,
        history: Sequence[EpochRecord],
        *,
        device: str = "cpu",
    ) -> int:
        """Store one trained trial; return its run id."""
        ...


def trial_setup(
    config: Mapping[str, Any], max_epochs: int, seed: int, model: MLPSpec | None = None
) -> tuple[TrainConfig, ModelSpec]:
    """The trainer's configuration and network of a candidate configuration.

    * ``{"lr", "batch_size"}`` (the grid): Adam at ``lr`` with ``model`` (default `MLPSpec()`);
    * LCBench's 7 hyperparameters (`tunegym.space.LCBENCH_SPACE`): the funnel MLP with SGD
      (`tunegym.training.lcbench_trial_config`); with `tunegym.space.FINE_TUNE` beside them
      (`FINE_TUNE_SPACE`) the same trial, whose start (scratch or a pre-trained model's
      weights) is the backend's to set.

    Raises:
        ValueError: for a configuration of neither family (names the keys it got).
    """
    keys = set(config)
    if keys == {"lr", "batch_size"}:
        train = TrainConfig(
            lr=float(config["lr"]), batch_size=int(config["batch_size"]), max_epochs=max_epochs,
            seed=seed,
        )  # fmt: skip
        return train, model or MLPSpec()
    from tunegym.space import FINE_TUNE, LCBENCH_SPACE

    if keys - {FINE_TUNE} == set(LCBENCH_SPACE.names):
        config = {k: v for k, v in config.items() if k != FINE_TUNE}
        from tunegym.training import lcbench_trial_config

        return lcbench_trial_config(config, max_epochs=max_epochs, seed=seed)
    raise ValueError(
        f"The live trainer cannot train a configuration with keys {sorted(keys)}: it trains "
        "{'lr', 'batch_size'} (an MLP with Adam) or LCBench's "
        f"{sorted(LCBENCH_SPACE.names)} (a funnel MLP with SGD)."
    )


class LiveBackend:
    """Trains trials with `tunegym.training.Trial`; "continue" resumes the kept trial.

    Args:
        dataset: the task's data.
        space: the grid (only ``max_epochs`` is used: every trial's schedule spans ``E_max``).
        model: the network.
        metric: the validation metric (a key of ``SCORE_METRICS``).
        device: ``"cpu"``, ``"cuda"`` or ``"auto"``.
        score_bounds: (best, worst) of the metric if known, e.g. from recorded curves.
        checkpoint_dir: if given, a trial is saved there after each ``advance`` and dropped from
            memory, then loaded again to continue (memory stays flat however many trials run).
        store: a `tunegym.metastore.MetaStore` (or anything with its ``log_trial``): every
            trial is logged there as a local run when it is released (replaced in its slot,
            the episode reset or the env closed).
    """

    def __init__(
        self,
        dataset: TabularDataset,
        space: SearchSpace,
        model: MLPSpec | None = None,
        *,
        metric: str = "val_accuracy",
        device: str = "cpu",
        score_bounds: tuple[float, float] | None = None,
        checkpoint_dir: str | Path | None = None,
        store: TrialLogger | None = None,
    ) -> None:
        self.dataset = dataset
        self.store = store
        self.space = space
        self.model = model or MLPSpec()
        self.metric, self.test_metric = metric, SCORE_METRICS[metric]
        self.device = device
        self._bounds = score_bounds
        self._meta = task_meta_features(dataset)
        self._checkpoint_dir = None if checkpoint_dir is None else Path(checkpoint_dir)
        self._trials: dict[int, Trial] = {}
        self._configs: dict[int, TrainConfig] = {}
        self._specs: dict[int, ModelSpec] = {}
        self._next = 0

    @property
    def meta_features(self) -> np.ndarray:
        return self._meta

    @property
    def score_bounds(self) -> tuple[float, float] | None:
        return self._bounds

    def start(self, config: Mapping[str, Any], seed: int) -> int:
        handle, self._next = self._next, self._next + 1
        train, spec = trial_setup(config, self.space.max_epochs, seed, self.model)
        self._configs[handle] = train
        self._specs[handle] = spec
        self._trials[handle] = Trial(self.dataset, train, spec, device=self.device, eval_test=True)
        return handle

    def _path(self, handle: int) -> Path:
        assert self._checkpoint_dir is not None
        return self._checkpoint_dir / f"trial-{handle}.pt"

    def advance(self, handle: int, k: int) -> Segment:
        trial = self._trials.get(handle)
        if trial is None:
            if self._checkpoint_dir is None or not self._path(handle).exists():
                raise KeyError(f"No open trial with handle {handle}.")
            trial = Trial.load(self._path(handle), self.dataset, device=self.device)
        records = trial.train(k)
        if self._checkpoint_dir is not None:
            self._checkpoint_dir.mkdir(parents=True, exist_ok=True)
            trial.save(self._path(handle))
            self._trials.pop(handle, None)
        else:
            self._trials[handle] = trial
        return Segment(
            scores=np.array([score_of(r, self.metric) for r in records], dtype=np.float64),
            test_scores=np.array(
                [score_of(r, self.test_metric) for r in records], dtype=np.float64
            ),
            seconds=np.array([r.seconds for r in records], dtype=np.float64),
            diverged=bool(records) and records[-1].diverged,
        )

    def release(self, handle: int) -> None:
        if self.store is not None and handle in self._configs:
            trial = self.trial(handle)
            if trial.history:
                self.store.log_trial(
                    self.dataset, trial.config, trial.spec, trial.history, device=self.device
                )
        self._trials.pop(handle, None)
        self._configs.pop(handle, None)
        self._specs.pop(handle, None)
        if self._checkpoint_dir is not None:
            self._path(handle).unlink(missing_ok=True)

    def trial(self, handle: int) -> Trial:
        """The live `Trial` behind a handle (e.g. to take the incumbent's model)."""
        if handle in self._trials:
            return self._trials[handle]
        if self._checkpoint_dir is not None and self._path(handle).exists():
            return Trial.load(self._path(handle), self.dataset, device=self.device)
        raise KeyError(f"No open trial with handle {handle}.")


def _check_metric_columns(part: pd.DataFrame, dataset: str, columns: Sequence[str]) -> None:
    """Raise unless the curves of ``dataset`` hold every one of ``columns``, with values."""
    for column in columns:
        if column not in part.columns:
            reason = "has no column"
        elif part[column].isna().all():
            reason = "has only missing values in the column"
        else:
            continue
        raise ValueError(
            f"The curve table of {dataset!r} {reason} {column!r}: it was recorded before tunegym "
            "computed that metric (the shipped snapshot holds losses, accuracies and balanced "
            "accuracies only). Tune metric='val_accuracy', 'val_balanced_accuracy' or "
            "'val_loss' on it, or record new curves (tunegym.envs.record_curves, "
            "'tunegym collect') and replay those."
        )


def _scorer(
    part: pd.DataFrame, metric: str, test_metric: str, direction: str | None
) -> Callable[[pd.Series, str], np.ndarray]:
    """Values of a column → the env's scores in [0, 1].

    The env's metrics use `metric_score`. A table's own metric (``direction`` given) is scaled
    between its worst and best value over the validation column (``max``: larger is better;
    ``min``: smaller is), the test column on the same scale, clipped into [0, 1]; a diverged or
    missing value scores 0.
    """
    if direction is None:
        return lambda values, name: metric_score(values.to_numpy(dtype=np.float64), name)
    finite = part[metric].to_numpy(dtype=np.float64)
    finite = finite[np.isfinite(finite)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (0.0, 1.0)
    span = (high - low) or 1.0

    def scaled(values: pd.Series, name: str) -> np.ndarray:
        array = values.to_numpy(dtype=np.float64)
        unit = (array - low) / span if direction == "max" else (high - array) / span
        unit = np.clip(unit, 0.0, 1.0)
        if name == metric:
            return np.where(np.isfinite(array), unit, 0.0)
        return unit  # the test column: nan stays unknown

    return scaled


def _with_optional_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """A curve table with its optional columns filled: one seed (0), no seconds, no divergence."""
    filled = {"seed": 0, "seconds": 0.0, "diverged": False}
    missing = {k: v for k, v in filled.items() if k not in frame}
    return frame.assign(**missing) if missing else frame


class ReplayBackend:
    """Serves recorded curves of one dataset: exact lookup of grid configurations.

    Args:
        curves: a curve table (`record_curves` / `read_curves`) or the path of a Parquet file.
        dataset: which dataset's curves to serve; may be omitted when the table holds one.
        metric: the validation metric (a key of ``SCORE_METRICS``); the table needs its column
            and its test counterpart's (``val_loss`` is served as ``exp(-val_loss)``).
        space: if given, checked to be fully covered by the table for ``seeds``.
        seeds: trial seeds that must be covered (with ``space``).

    Raises:
        ValueError: the dataset is absent or ambiguous, the grid is not fully recorded, or the
            table lacks the metric (e.g. the macro scores in tables recorded before them).
    """

    def __init__(
        self,
        curves: pd.DataFrame | str | Path,
        dataset: str | None = None,
        *,
        metric: str = "val_accuracy",
        space: SearchSpace | None = None,
        seeds: tuple[int, ...] | None = None,
        direction: str | None = None,
    ) -> None:
        frame = curves if isinstance(curves, pd.DataFrame) else read_curves(curves)
        if "dataset" not in frame:  # a table of one dataset may leave its name out
            frame = frame.assign(dataset=dataset or "table")
        names = sorted(frame["dataset"].unique())
        if dataset is None:
            if len(names) != 1:
                raise ValueError(
                    f"The curve table holds {len(names)} datasets {names[:10]}; name one with dataset=."
                )
            dataset = str(names[0])
        if dataset not in names:
            from tunegym.errors import did_you_mean

            raise ValueError(
                f"No recorded curves for dataset {dataset!r} in this table ({len(names)} datasets)."
                + did_you_mean(dataset, names)
            )
        self.dataset = dataset
        if direction is not None:
            check_direction(metric, direction)
        elif metric not in SCORE_METRICS:
            from tunegym.errors import did_you_mean

            raise ValueError(
                f"Unknown metric {metric!r}; choose one of {sorted(SCORE_METRICS)}, or give a "
                "curve table's own metric with direction='max' or 'min'."
                + did_you_mean(metric, SCORE_METRICS)
            )
        self.metric, self.test_metric = metric, test_metric_of(metric)
        self._search = space or SearchSpace()
        columns = list(self._search.names)
        missing = [c for c in [*columns, "epoch"] if c not in frame]
        if missing:
            raise ValueError(
                f"The curve table lacks the column(s) {missing} of its configurations; a table "
                f"for this search needs {columns} and 'epoch' (docs/CURVES.md)."
            )
        frame = _with_optional_columns(frame)
        part = frame[frame["dataset"] == dataset].sort_values([*columns, "seed", "epoch"])
        _check_metric_columns(part, dataset, (metric,))
        if self.test_metric not in part or part[self.test_metric].isna().all():
            # A benchmark that predicts no test score of the metric (LCBench has no test
            # accuracy): test scores are unknown, tuning is unaffected.
            part = part.assign(**{self.test_metric: np.nan})
        score = _scorer(part, metric, self.test_metric, direction)
        self._curves: dict[tuple[Any, ...], tuple[np.ndarray, np.ndarray, np.ndarray, bool]] = {}
        for key, rows in part.groupby([*columns, "seed"], sort=False):
            config = dict(zip(columns, key[:-1], strict=True))
            epochs = rows["epoch"].to_numpy()
            if not np.array_equal(epochs, np.arange(1, len(epochs) + 1)):
                raise ValueError(f"Curve {config} (seed {key[-1]}) has gaps in its epochs.")
            self._curves[(*self._search.key(config), int(key[-1]))] = (  # type: ignore[call-overload]
                score(rows[metric], metric),
                score(rows[self.test_metric], self.test_metric),
                rows["seconds"].to_numpy(dtype=np.float64),
                bool(rows["diverged"].iloc[-1]),
            )
        self._seeds = sorted({int(s) for s in part["seed"]})
        if space is not None:
            self._check_coverage(space, seeds or (0,))
        scores = score(part[metric], metric)
        self._bounds = (float(np.nanmax(scores)), float(np.nanmin(scores)))
        self._meta = meta_features_of(frame, dataset)
        self._open: dict[int, list] = {}
        self._next = 0

    def _seed(self, seed: int) -> int:
        # A table without a seed column (a deterministic benchmark) serves one curve per config.
        return int(seed) if self._seeds != [0] or seed == 0 else 0

    @property
    def recorded_seeds(self) -> tuple[int, ...]:
        """The seeds the table holds curves of for this dataset (``(0,)`` without a seed
        column): a replayed env's trial seeds unless it is given its own."""
        return tuple(self._seeds)

    def served_seed(self, seed: int) -> int:
        """The recorded seed whose curve a trial of ``seed`` replays: ``seed`` itself, or 0 for
        a table of one curve per configuration. `TuningEnv` counts trial seeds served by one
        curve as one seed, so it never replays a curve twice in an episode."""
        return self._seed(seed)

    def _check_coverage(self, space: SearchSpace, seeds: tuple[int, ...]) -> None:
        missing = [
            (c, s)
            for c in space.candidates
            for s in seeds
            if (*space.key(c), self._seed(s)) not in self._curves
        ]
        if missing:
            raise ValueError(
                f"The curves of {self.dataset!r} do not cover the search space: {len(missing)} of "
                f"{space.n_configs * len(seeds)} (configuration, seed) missing, e.g. "
                f"{missing[:3]}. Record them with tunegym.envs.record_curves (replay never "
                "interpolates)."
            )
        short = [
            key for key, c in self._curves.items() if len(c[0]) < space.max_epochs and not c[3]
        ]
        if short:
            raise ValueError(
                f"{len(short)} curves of {self.dataset!r} stop before E_max={space.max_epochs} "
                f"without diverging, e.g. {short[:3]}; record them with max_epochs >= {space.max_epochs}."
            )

    @property
    def meta_features(self) -> np.ndarray:
        return self._meta

    @property
    def score_bounds(self) -> tuple[float, float] | None:
        return self._bounds

    def truth(self, config: Mapping[str, Any]) -> np.ndarray:
        """The seed-mean validation curve of ``config``: what an incumbent of it is worth.

        Benchmark protocol v2 scores an incumbent by its configuration's mean over every
        recorded seed at its epoch, not by the seed the tuner happened to draw. A curve that
        diverged (or stops) early counts its last score for the epochs it lacks.

        Raises:
            KeyError: no recorded curve of ``config``.

        Example:
            >>> import pandas as pd
            >>> table = pd.DataFrame({"lr": [0.1] * 4, "batch_size": [32] * 4,
            ...                       "seed": [0, 0, 1, 1], "epoch": [1, 2, 1, 2],
            ...                       "val_accuracy": [0.5, 0.7, 0.6, 0.9]})
            >>> ReplayBackend(table).truth({"lr": 0.1, "batch_size": 32}).round(2).tolist()
            [0.55, 0.8]
        """
        key = self._search.key(config)
        curves = [c[0] for k, c in self._curves.items() if k[:-1] == key]
        if not curves:
            raise KeyError(f"No recorded curve for {dict(config)} on {self.dataset!r}.")
        length = max(len(c) for c in curves)
        padded = [np.concatenate([c, np.full(length - len(c), c[-1])]) for c in curves]
        return np.mean(padded, axis=0)

    def start(self, config: Mapping[str, Any], seed: int) -> int:
        curve = self._curves.get((*self._search.key(config), self._seed(seed)))
        if curve is None:
            raise KeyError(
                f"No recorded curve for {dict(config)}, seed={seed} on {self.dataset!r}."
            )
        handle, self._next = self._next, self._next + 1
        self._open[handle] = [curve, 0]
        return handle

    def advance(self, handle: int, k: int) -> Segment:
        entry = self._open.get(handle)
        if entry is None:
            raise KeyError(f"No open trial with handle {handle}.")
        (scores, tests, seconds, diverged), done = entry
        end = min(done + k, len(scores))
        entry[1] = end
        return Segment(
            scores[done:end], tests[done:end], seconds[done:end], diverged and end == len(scores)
        )

    def release(self, handle: int) -> None:
        self._open.pop(handle, None)
