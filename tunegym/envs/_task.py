"""The tuning task: search space and budget, as value objects."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from tunegym.errors import did_you_mean
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
    """The grid the tuner searches and how many epochs it may buy at once.

    Attributes:
        lrs: learning rates (increasing), log-spaced by default from 1e-5 to 10.
        batch_sizes: batch sizes (increasing).
        max_epochs: ``E_max``, the most epochs one trial may train (its cosine schedule's length).
        k_choices: epoch increments an action may buy (capped by ``E_max`` and the budget left).
    """

    lrs: tuple[float, ...] = DEFAULT_LRS
    batch_sizes: tuple[int, ...] = DEFAULT_BATCH_SIZES
    max_epochs: int = 16
    k_choices: tuple[int, ...] = DEFAULT_K_CHOICES

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

    @property
    def n_configs(self) -> int:
        """Grid size: learning rates × batch sizes."""
        return len(self.lrs) * len(self.batch_sizes)

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
        trial_seeds: seeds a new trial draws from (its initial weights and batch order); replay
            needs curves recorded for each of them.
        metric: the validation metric tuned (a key of :data:`SCORE_METRICS`); the env maximises
            its score (`metric_score`: ``exp(-loss)`` for ``val_loss``).
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
        if self.metric not in SCORE_METRICS:
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
        return SCORE_METRICS[self.metric]
