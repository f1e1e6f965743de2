"""The tuning task: search space and budget, as value objects."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Final

import numpy as np
import numpy.typing as npt

from tunegym.errors import did_you_mean
from tunegym.space import Space
from tunegym.training import METRICS, EpochRecord, MLPSpec

__all__ = [
    "DEFAULT_BATCH_SIZES",
    "DEFAULT_K_CHOICES",
    "DEFAULT_LRS",
    "MINIMISED_METRICS",
    "SCORE_METRICS",
    "SearchSpace",
    "TaskSpec",
    "metric_score",
    "metric_value",
    "score_of",
]

# Half-decades from 1e-5 to 10: wide enough that the top of the grid fails to learn (chance-level
# scores) and, on some data, diverges outright; Adam's useful range sits in the middle.
DEFAULT_LRS: tuple[float, ...] = tuple(float(f"{10 ** (e / 2):.6g}") for e in range(-10, 3))
DEFAULT_BATCH_SIZES: tuple[int, ...] = (16, 32, 64, 128, 256, 512)
DEFAULT_K_CHOICES: tuple[int, ...] = (1, 2, 4, 8, 16)

# Validation metrics a task can be tuned for, with the test metric reported. The env maximises
# a score in [0, 1]: the metric itself, or exp(-loss) for the log loss (see `metric_score`).
SCORE_METRICS: dict[str, str] = {
    "val_accuracy": "test_accuracy",
    "val_balanced_accuracy": "test_balanced_accuracy",
    "val_f1_macro": "test_f1_macro",
    "val_precision_macro": "test_precision_macro",
    "val_recall_macro": "test_recall_macro",
    "val_loss": "test_loss",
}

# The metrics of SCORE_METRICS (either split) that are minimised: the log losses.
MINIMISED_METRICS: Final[frozenset[str]] = frozenset(
    name
    for pair in SCORE_METRICS.items()
    for name in pair
    if not METRICS[name]  # tunegym.training.METRICS: name -> larger is better
)


METRIC_DIRECTIONS: Final = ("max", "min")


def check_direction(metric: str, direction: str) -> None:
    """Check a curve table's own metric and its direction (``"max"`` or ``"min"``)."""
    if direction not in METRIC_DIRECTIONS:
        raise ValueError(
            f"metric_direction must be 'max' or 'min' (for {metric!r}), got {direction!r}."
        )
    if metric in SCORE_METRICS:
        raise ValueError(
            f"{metric!r} is one of the env's metrics, whose direction is known; leave "
            "metric_direction out."
        )


def test_metric_of(metric: str) -> str:
    """The test counterpart of a validation metric: `SCORE_METRICS`, else ``val_x`` → ``test_x``."""
    if metric in SCORE_METRICS:
        return SCORE_METRICS[metric]
    return "test_" + metric.removeprefix("val_")


def _check_metric(metric: str) -> None:
    known = [*SCORE_METRICS, *SCORE_METRICS.values()]
    if metric not in known:
        raise ValueError(
            f"Unknown metric {metric!r}; choose one of {sorted(known)}."
            + did_you_mean(metric, known)
        )


def metric_score(values: npt.ArrayLike, metric: str) -> np.ndarray:
    """The env's score (larger is better, in [0, 1]) of values of ``metric``.

    Scores are the values themselves, except for the log loss (``val_loss``, ``test_loss``),
    whose score is ``exp(-loss)``: the geometric mean of the probability given to the true
    class. A diverged epoch (loss ``inf``) scores 0, as its accuracies do.

    Args:
        values: values of the metric (any shape; ``nan`` stays ``nan``).
        metric: a key or value of :data:`SCORE_METRICS`.

    Returns:
        A float64 array of the shape of ``values`` (0-d for a scalar: ``float()`` it).

    Raises:
        ValueError: for a metric the env cannot tune.

    Example:
        >>> metric_score([0.0, math.log(2), math.inf], "val_loss").tolist()
        [1.0, 0.5, 0.0]
    """
    _check_metric(metric)
    array = np.asarray(values, dtype=np.float64)
    return np.exp(-array) if metric in MINIMISED_METRICS else array


def metric_value(scores: npt.ArrayLike, metric: str) -> np.ndarray:
    """Invert :func:`metric_score`: the metric's own value of env scores, for reports.

    The log loss of a score ``s`` is ``-log(s)`` (``inf`` for 0); other metrics are their score.

    Raises:
        ValueError: for a metric the env cannot tune.

    Example:
        >>> metric_value([1.0, 0.5, 0.0], "test_loss").tolist()
        [0.0, 0.6931471805599453, inf]
    """
    _check_metric(metric)
    array = np.asarray(scores, dtype=np.float64)
    if metric not in MINIMISED_METRICS:
        return array
    with np.errstate(divide="ignore"):
        return -np.log(array) + 0.0  # + 0.0: a score of 1 is a loss of 0.0, not -0.0


def score_of(record: EpochRecord, metric: str) -> float:
    """The env's score of one epoch record for ``metric`` (see :func:`metric_score`).

    Raises:
        ValueError: for a metric the env cannot tune, or one the record does not hold (a test
            metric of a trial trained without ``eval_test``, or a record older than the metric).
    """
    _check_metric(metric)
    value = getattr(record, metric)
    if value is None:
        raise ValueError(
            f"Epoch {record.epoch}'s record has no {metric!r}: train with eval_test=True for "
            "test metrics, and retrain records older than the metric."
        )
    return float(metric_score(value, metric))


def _check_positive_sorted(name: str, values: tuple[float, ...] | tuple[int, ...]) -> None:
    if not values:
        raise ValueError(f"SearchSpace.{name} must not be empty.")
    if any(not math.isfinite(v) or v <= 0 for v in values):
        raise ValueError(f"SearchSpace.{name} must hold finite positive values, got {values!r}.")
    if list(values) != sorted(set(values)):
        raise ValueError(f"SearchSpace.{name} must be strictly increasing, got {values!r}.")


@dataclass(frozen=True)
class SearchSpace:
    """The candidates the tuner searches and how many epochs it may buy at once.

    Two kinds, one interface (`candidates`, `unit`, `index_of`):

    * **a grid** of learning rates × batch sizes (the default: 13 × 6; `lrs`, `batch_sizes`),
      candidates enumerated learning rate first;
    * **candidates of any space** (`space` a `tunegym.space.Space` of float, int and categorical
      hyperparameters, `configs` its configurations): e.g. `SearchSpace.sampled(LCBENCH_SPACE,
      64, seed=0)`, Sobol points of LCBench's 7 hyperparameters.

    Attributes:
        lrs: learning rates (increasing), log-spaced by default from 1e-5 to 10 (grid only).
        batch_sizes: batch sizes (increasing; grid only).
        max_epochs: ``E_max``, the most epochs one trial may train (its cosine schedule's length).
        k_choices: epoch increments an action may buy (capped by ``E_max`` and the budget left).
        space: the hyperparameters of the candidates, ``None`` for the grid.
        configs: the candidates as `Space.key` tuples (values in ``space.names`` order); set
            them with `sampled` or `of_configs`.
    """

    lrs: tuple[float, ...] = DEFAULT_LRS
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    max_epochs: int = 16
    k_choices: tuple[int, ...] = DEFAULT_K_CHOICES
    space: Space | None = None
    configs: tuple[tuple[Any, ...], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "lrs", tuple(float(v) for v in self.lrs))
        object.__setattr__(self, "batch_sizes", tuple(int(v) for v in self.batch_sizes))
        object.__setattr__(self, "k_choices", tuple(int(v) for v in self.k_choices))
        _check_positive_sorted("lrs", self.lrs)
        _check_positive_sorted("batch_sizes", self.batch_sizes)
        _check_positive_sorted("k_choices", self.k_choices)
        if (
            isinstance(self.max_epochs, bool)
            or not isinstance(self.max_epochs, int)
            or self.max_epochs < 1
        ):
            raise ValueError(
                f"SearchSpace.max_epochs must be an int >= 1, got {self.max_epochs!r}."
            )
        if self.k_choices[0] > self.max_epochs:
            raise ValueError(
                f"SearchSpace.k_choices {self.k_choices!r} has no increment <= max_epochs "
                f"({self.max_epochs}); add 1 to k_choices."
            )
        if self.space is None and self.configs:
            raise ValueError("SearchSpace.configs need their space= (a tunegym.space.Space).")
        if self.space is not None:
            if not self.configs:
                raise ValueError(
                    "SearchSpace(space=...) needs candidate configs; build it with "
                    "SearchSpace.sampled(space, n) or SearchSpace.of_configs(space, configs)."
                )
            keys = tuple(tuple(c) for c in self.configs)
            if len(set(keys)) != len(keys):
                raise ValueError("SearchSpace.configs holds a configuration twice.")
            object.__setattr__(self, "configs", keys)

    # -- construction -----------------------------------------------------------------------

    @classmethod
    def of_configs(
        cls,
        space: Space,
        configs: Sequence[Mapping[str, Any]],
        *,
        max_epochs: int = 16,
        k_choices: tuple[int, ...] = DEFAULT_K_CHOICES,
    ) -> SearchSpace:
        """Candidates given as configurations of ``space`` (validated; duplicates dropped).

        Raises:
            ValueError: for an invalid configuration (the message names the hyperparameter).
        """
        keys: dict[tuple[Any, ...], None] = {}
        for config in configs:
            keys[space.key(space.validate(config))] = None
        return cls(max_epochs=max_epochs, k_choices=k_choices, space=space, configs=tuple(keys))

    @classmethod
    def sampled(
        cls,
        space: Space,
        n: int,
        seed: int = 0,
        *,
        include: Sequence[Mapping[str, Any]] = (),
        max_epochs: int = 16,
        k_choices: tuple[int, ...] = DEFAULT_K_CHOICES,
    ) -> SearchSpace:
        """``n`` candidates: ``include`` first (e.g. a warm-start portfolio), then Sobol points.

        Example:
            >>> from tunegym.space import LCBENCH_SPACE
            >>> SearchSpace.sampled(LCBENCH_SPACE, 8, seed=0, max_epochs=50).n_configs
            8
        """
        if n < max(1, len(include)):
            raise ValueError(f"sampled: n must be >= 1 and >= len(include), got n={n}.")
        keys: dict[tuple[Any, ...], None] = {space.key(space.validate(c)): None for c in include}
        extra = 0
        while len(keys) < n:  # Sobol points are distinct; a portfolio entry may repeat one
            for config in space.sample(n - len(include) + extra, seed=seed):
                keys.setdefault(space.key(config), None)
                if len(keys) == n:
                    break
            extra += n
        return cls(max_epochs=max_epochs, k_choices=k_choices, space=space, configs=tuple(keys))

    # -- the candidates ---------------------------------------------------------------------

    @property
    def is_grid(self) -> bool:
        """Whether the candidates are the lr × batch-size grid."""
        return self.space is None

    @property
    def names(self) -> tuple[str, ...]:
        """The hyperparameters of a candidate."""
        return ("lr", "batch_size") if self.space is None else self.space.names

    @cached_property
    def candidates(self) -> tuple[dict[str, Any], ...]:
        """Every candidate configuration, in action order."""
        if self.space is None:
            return tuple(
                {"lr": lr, "batch_size": batch_size}
                for lr in self.lrs
                for batch_size in self.batch_sizes
            )
        names = self.space.names
        return tuple(dict(zip(names, key, strict=True)) for key in self.configs)

    @cached_property
    def unit(self) -> np.ndarray:
        """The candidates in the unit cube, ``(n_configs, len(names))`` float32.

        On the grid: log learning rate and log batch size scaled from the grid's first to its
        last value (0.5 for a one-value axis); else `Space.to_unit`.
        """
        if self.space is None:
            lr, bs = _unit(self.lrs), _unit(self.batch_sizes)
            grid = np.stack(np.meshgrid(lr, bs, indexing="ij"), axis=-1).reshape(-1, 2)
            return grid.astype(np.float32)
        return self.space.to_unit_many(self.candidates).astype(np.float32)

    @cached_property
    def _index(self) -> dict[tuple[Any, ...], int]:
        return {self.key(c): i for i, c in enumerate(self.candidates)}

    def key(self, config: Mapping[str, Any]) -> tuple[Any, ...]:
        """A hashable identity of a configuration (numbers to 9 significant digits)."""
        if self.space is not None:
            return self.space.key(config)
        return (float(f"{float(config['lr']):.9g}"), int(config["batch_size"]))

    def index_of(self, config: Mapping[str, Any]) -> int:
        """The action index of a candidate; ``ValueError`` when it is not one."""
        try:
            return self._index[self.key(config)]
        except (KeyError, TypeError, ValueError):
            raise ValueError(
                f"{dict(config)!r} is not one of the {self.n_configs} candidates of this search."
            ) from None

    @property
    def n_configs(self) -> int:
        """How many candidates (grid: learning rates × batch sizes)."""
        if self.space is None:
            return len(self.lrs) * len(self.batch_sizes)
        return len(self.configs)

    def lr_index(self, lr: float) -> int:
        """Index of ``lr`` in the grid (relative tolerance 1e-9); ``ValueError`` if absent."""
        for i, value in enumerate(self.lrs):
            if math.isclose(value, lr, rel_tol=1e-9):
                return i
        raise ValueError(f"Learning rate {lr!r} is not on the grid {self.lrs!r}.")

    def batch_size_index(self, batch_size: int) -> int:
        """Index of ``batch_size`` in the grid; ``ValueError`` if absent."""
        try:
            return self.batch_sizes.index(int(batch_size))
        except ValueError:
            raise ValueError(
                f"Batch size {batch_size!r} is not on the grid {self.batch_sizes!r}."
            ) from None

    # -- JSON ---------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict that `from_json` reads back."""
        out: dict[str, Any] = {"max_epochs": self.max_epochs, "k_choices": list(self.k_choices)}
        if self.space is None:
            return {"lrs": list(self.lrs), "batch_sizes": list(self.batch_sizes), **out}
        return {**out, "space": self.space.to_json(), "configs": list(self.candidates)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> SearchSpace:
        """Read `to_json`'s dict (a grid's dict is also what ``asdict`` gave before)."""
        if "space" in data:
            return cls.of_configs(
                Space.from_json(data["space"]), data["configs"],
                max_epochs=int(data["max_epochs"]), k_choices=tuple(data["k_choices"]),
            )  # fmt: skip
        fields = {
            k: data[k] for k in ("lrs", "batch_sizes", "max_epochs", "k_choices") if k in data
        }
        return cls(**fields)


def _unit(values: tuple[float, ...] | tuple[int, ...]) -> np.ndarray:
    logs = np.log(np.asarray(values, dtype=np.float64))
    span = logs[-1] - logs[0]
    return (logs - logs[0]) / span if span > 0 else np.full(len(values), 0.5)


@dataclass(frozen=True)
class TaskSpec:
    """One tuning task: what is tuned, over which grid, with which budget.

    Attributes:
        dataset: the dataset's name or spec (``"keel:german"``); identifies the replay curves.
        space: the search grid and ``E_max``.
        budget_epochs: total epochs the tuner may spend (an epoch of any batch size costs 1).
        budget_seconds: optional wall-clock budget; the episode also ends when it is spent.
        n_slots: trials the tuner can keep open to continue later (``K``).
        model: the network that every trial trains.
        trial_seeds: seeds a new trial draws from (its initial weights and batch order), distinct;
            replay needs curves recorded for each of them. A configuration draws them without
            replacement within an episode, so it can start at most ``len(trial_seeds)`` trials.
        metric: the validation metric tuned (a key of :data:`SCORE_METRICS`); the env maximises
            its score (`metric_score`: ``exp(-loss)`` for ``val_loss``). With
            ``metric_direction``, any column of a replayed curve table (a benchmark's own metric).
        metric_direction: ``None`` for the env's metrics; ``"max"`` or ``"min"`` for a curve
            table's own metric, which the replay backend scales to [0, 1] over the table.
        max_steps: safety cap on steps per episode (invalid actions included): the episode is
            truncated there. ``None`` means ``4 * budget_epochs + 16``.
    """

    dataset: str
    space: SearchSpace = field(default_factory=SearchSpace)
    budget_epochs: int = 64
    budget_seconds: float | None = None
    n_slots: int = 8
    model: MLPSpec = field(default_factory=MLPSpec)
    trial_seeds: tuple[int, ...] = (0, 1, 2)
    metric: str = "val_accuracy"
    max_steps: int | None = None
    metric_direction: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "trial_seeds", tuple(int(s) for s in self.trial_seeds))
        if (
            isinstance(self.budget_epochs, bool)
            or not isinstance(self.budget_epochs, int)
            or self.budget_epochs < 1
        ):
            raise ValueError(
                f"TaskSpec.budget_epochs must be an int >= 1, got {self.budget_epochs!r}."
            )
        if self.budget_seconds is not None and not (
            math.isfinite(self.budget_seconds) and self.budget_seconds > 0
        ):
            raise ValueError(
                f"TaskSpec.budget_seconds must be positive and finite or None, got {self.budget_seconds!r}."
            )
        if isinstance(self.n_slots, bool) or not isinstance(self.n_slots, int) or self.n_slots < 1:
            raise ValueError(f"TaskSpec.n_slots must be an int >= 1, got {self.n_slots!r}.")
        if not self.trial_seeds or any(s < 0 for s in self.trial_seeds):
            raise ValueError(
                f"TaskSpec.trial_seeds must be non-negative ints, got {self.trial_seeds!r}."
            )
        if len(set(self.trial_seeds)) != len(self.trial_seeds):
            raise ValueError(
                f"TaskSpec.trial_seeds must be distinct, got {self.trial_seeds!r}: a configuration "
                "draws them without replacement, so a repeated seed would retrain the same trial. "
                "Drop the duplicates."
            )
        if self.metric_direction is not None:
            check_direction(self.metric, self.metric_direction)
        elif self.metric not in SCORE_METRICS:
            raise ValueError(
                f"Unknown metric {self.metric!r}; choose one of {sorted(SCORE_METRICS)}."
                + did_you_mean(self.metric, SCORE_METRICS)
            )
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"TaskSpec.max_steps must be >= 1 or None, got {self.max_steps!r}.")

    @property
    def step_cap(self) -> int:
        """The safety cap on steps per episode actually in force."""
        return self.max_steps if self.max_steps is not None else 4 * self.budget_epochs + 16

    @property
    def test_metric(self) -> str:
        """The test-split counterpart of ``metric``, reported for the incumbent."""
        return test_metric_of(self.metric)
