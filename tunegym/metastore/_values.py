"""Value objects at the meta-store's API boundary: enums, keys, rows, and the measure mapping."""

from __future__ import annotations

import enum
import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Integral, Real
from typing import TYPE_CHECKING, Any, Final, Protocol, TypeVar

from tunegym.errors import did_you_mean
from tunegym.space import Space

if TYPE_CHECKING:
    import pandas as pd

    from tunegym.data import TabularDataset

__all__ = [
    "CURVE_COLUMNS",
    "ENV_FEATURE_NAMES",
    "ENV_FEATURE_PREFIX",
    "EPOCH_MEASURES",
    "OPTIONAL_CURVE_COLUMNS",
    "DataSplit",
    "DatasetRef",
    "EpochLike",
    "EvaluationRow",
    "FlowRef",
    "Init",
    "MetaFeatureSource",
    "Procedure",
    "RunRecord",
    "RunStatus",
    "SearchGrid",
    "SetupRef",
    "Source",
    "SplitSpec",
    "StoreStats",
    "TableCounts",
    "TaskRef",
    "canonical_params",
    "config_columns",
    "params_hash",
    "parse_enum",
]


class Source(enum.StrEnum):
    """Where a dataset's metadata or a run came from."""

    OPENML = "openml"
    LCDB = "lcdb"
    LOCAL = "local"
    REPORTED = "reported"  # by another tuner, through the warm-start service
    SURROGATE = "surrogate"  # predicted by a surrogate model (YAHPO Gym's LCBench), not trained


class RunStatus(enum.StrEnum):
    """How a run ended: a diverged run is data (its last epoch carries the worst scores)."""

    OK = "ok"
    DIVERGED = "diverged"
    FAILED = "failed"
    # Logged before its last epoch (``log_trial(finished=False)``): still training, or stopped
    # by a kill or Ctrl-C; its curve may grow when the run goes on or is resumed.
    PARTIAL = "partial"


class Init(enum.StrEnum):
    """How a run's weights were initialised."""

    SCRATCH = "scratch"
    CHECKPOINT = "checkpoint"


class Procedure(enum.StrEnum):
    """Estimation procedure of a task: one hold-out split, or one fold of a cross-validation."""

    HOLDOUT = "holdout"
    CV = "cv"
    HOLDOUT_ROWS = "holdout-rows"  # a hold-out split by rows' content (split="rows")
    CV_ROWS = "cv-rows"  # one fold of a cross-validation by rows' content (split="rows")


_FOLDS = (Procedure.CV, Procedure.CV_ROWS)  # the procedures of one fold of several


class DataSplit(enum.StrEnum):
    """The part of the data an evaluation was measured on."""

    TRAIN = "train"
    VAL = "val"
    TEST = "test"


class MetaFeatureSource(enum.StrEnum):
    """Who produced a meta-feature value: computed locally, or published by OpenML."""

    COMPUTED = "computed"
    OPENML = "openml"
    REPORTED = "reported"  # sent with runs reported through the warm-start service


E = TypeVar("E", bound=enum.StrEnum)


def parse_enum(kind: type[E], value: E | str, what: str) -> E:
    """``kind(value)``, or a ``ValueError`` naming ``what``, the allowed values and a near miss."""
    try:
        return kind(value)
    except ValueError:
        allowed = [m.value for m in kind]
        raise ValueError(
            f"Invalid {what} {value!r}; expected one of {allowed}.{did_you_mean(str(value), allowed)}"
        ) from None


# tunegym's EpochRecord fields -> (OpenML measure name, split). OpenML calls balanced accuracy
# `unweighted_recall`; it has no name for the cross-entropy, so those two are local names. Nor
# for the macro scores: OpenML's `f_measure`, `precision` and `recall` are per class and their
# `mean_weighted_*` weighted by support, so the unweighted means over the classes in the labels
# or predictions (scikit-learn's average="macro") are the local `macro_*` (`macro_recall`
# differs from `unweighted_recall` when a class is predicted but absent from the labels).
# `seconds` goes to every row's `elapsed_seconds`, `diverged` to the run's status.
EPOCH_MEASURES: Final[dict[str, tuple[str, DataSplit]]] = {
    "train_loss": ("train_cross_entropy", DataSplit.TRAIN),
    "val_loss": ("cross_entropy", DataSplit.VAL),
    "val_accuracy": ("predictive_accuracy", DataSplit.VAL),
    "val_balanced_accuracy": ("unweighted_recall", DataSplit.VAL),
    "test_loss": ("cross_entropy", DataSplit.TEST),
    "test_accuracy": ("predictive_accuracy", DataSplit.TEST),
    "test_balanced_accuracy": ("unweighted_recall", DataSplit.TEST),
    "val_f1_macro": ("macro_f_measure", DataSplit.VAL),
    "val_precision_macro": ("macro_precision", DataSplit.VAL),
    "val_recall_macro": ("macro_recall", DataSplit.VAL),
    "test_f1_macro": ("macro_f_measure", DataSplit.TEST),
    "test_precision_macro": ("macro_precision", DataSplit.TEST),
    "test_recall_macro": ("macro_recall", DataSplit.TEST),
}


class EpochLike(Protocol):
    """What the meta-store reads of a per-epoch record; tunegym's ``EpochRecord`` is one."""

    @property
    def epoch(self) -> int: ...
    @property
    def train_loss(self) -> float: ...
    @property
    def val_loss(self) -> float: ...
    @property
    def val_accuracy(self) -> float: ...
    @property
    def val_balanced_accuracy(self) -> float: ...
    @property
    def test_loss(self) -> float | None: ...
    @property
    def test_accuracy(self) -> float | None: ...
    @property
    def test_balanced_accuracy(self) -> float | None: ...
    @property
    def seconds(self) -> float: ...
    @property
    def diverged(self) -> bool: ...
    # The macro scores: None where not evaluated (test) or not recorded (older records).
    @property
    def val_f1_macro(self) -> float | None: ...
    @property
    def val_precision_macro(self) -> float | None: ...
    @property
    def val_recall_macro(self) -> float | None: ...
    @property
    def test_f1_macro(self) -> float | None: ...
    @property
    def test_precision_macro(self) -> float | None: ...
    @property
    def test_recall_macro(self) -> float | None: ...


# Curve-table columns that tables recorded before tunegym computed them lack (the shipped
# snapshot's): `log_curves` takes tables without them, `read_curves` gives NaN for such runs.
OPTIONAL_CURVE_COLUMNS: Final[tuple[str, ...]] = (
    "val_f1_macro",
    "val_precision_macro",
    "val_recall_macro",
    "test_f1_macro",
    "test_precision_macro",
    "test_recall_macro",
)

# The curve-table format of `tunegym.envs` (a test checks it equals `tunegym.envs.CURVE_COLUMNS`;
# the metastore sits below envs and must not import it). The optional columns come last, so an
# older table's columns are the first ones.
CURVE_COLUMNS: Final[tuple[str, ...]] = (
    "dataset",
    "lr",
    "batch_size",
    "seed",
    "epoch",
    *(m for m in EPOCH_MEASURES if m not in OPTIONAL_CURVE_COLUMNS),
    "seconds",
    "diverged",
    *OPTIONAL_CURVE_COLUMNS,
)

# The env's observation meta-features (equal to `tunegym.envs.META_FEATURE_NAMES`, test-checked),
# stored as meta-features named ENV_FEATURE_PREFIX + name so that replayed curves get them back.
ENV_FEATURE_NAMES: Final[tuple[str, ...]] = (
    "log10_rows_over_6",
    "log10_features_over_4",
    "classes_over_50",
    "majority_class_fraction",
    "class_entropy_normalised",
    "categorical_fraction",
)
ENV_FEATURE_PREFIX: Final = "tunegym."


def _normalise(value: Any, where: str) -> Any:
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, Integral):
        return int(value)
    if isinstance(value, Real):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"Hyperparameter {where} must be finite, got {number!r}.")
        # 15 significant digits: 0.1 + 0.2 and 0.3 are the same setup.
        return float(f"{number:.15g}")
    if isinstance(value, Mapping):
        return {str(k): _normalise(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_normalise(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(
        f"Hyperparameter {where} has the unsupported type {type(value).__name__}; "
        "use numbers, strings, booleans, None, lists or dicts."
    )


def canonical_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Hyperparameter values as stored: plain JSON types, floats to 15 significant digits."""
    return {str(k): _normalise(v, str(k)) for k, v in sorted(params.items())}


def params_hash(params: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON (sorted keys) of ``params``: a setup's identity."""
    text = json.dumps(canonical_params(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _check_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}.")


def _check_share(name: str, value: object) -> None:
    if value is not None and (
        isinstance(value, bool) or not isinstance(value, Real) or not 0.0 < float(value) < 1.0
    ):
        raise ValueError(f"{name} must be a share in (0, 1), got {value!r}.")


@dataclass(frozen=True)
class SplitSpec:
    """How a task splits its dataset (what `tunegym.data.load_dataset` was given).

    Attributes:
        procedure: one hold-out split or one fold of a cross-validation.
        seed: the split's seed (``None`` where unknown, e.g. OpenML's fixed splits).
        val_size: share of all rows for validation.
        test_size: share of all rows for test (hold-out only).
        n_folds: number of folds (cross-validation only).
        fold: the test fold (cross-validation only; ``None``: all folds, as an OpenML task).
            With ``test_size`` set (and ``val_size`` ``None``) it is the *validation* fold of a
            k-fold split of the rows beside a hold-out test part (`tunegym.data.cv_folds`:
            cross-validation inside tuning).

    Example:
        >>> SplitSpec(Procedure.CV, seed=0, n_folds=5, fold=2, test_size=None).key
        'cv|seed=0|folds=5|fold=2|val=0.2|test=None'
    """

    procedure: Procedure = Procedure.HOLDOUT
    seed: int | None = 0
    val_size: float | None = 0.2
    test_size: float | None = 0.2
    n_folds: int | None = None
    fold: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "procedure", parse_enum(Procedure, self.procedure, "procedure"))
        if self.seed is not None:
            _check_int("SplitSpec.seed", self.seed, 0)
        for name in ("val_size", "test_size"):
            share = getattr(self, name)
            _check_share(f"SplitSpec.{name}", share)
            if share is not None:  # 15 digits, as setups: 0.1 + 0.2 is the share 0.3
                object.__setattr__(self, name, float(f"{share:.15g}"))
        folds = self.procedure in _FOLDS
        if not folds and (self.n_folds, self.fold) != (None, None):
            raise ValueError("A hold-out SplitSpec takes no n_folds/fold; use Procedure.CV.")
        if folds:
            _check_int("SplitSpec.n_folds", self.n_folds, 2)
            if self.fold is not None:
                _check_int("SplitSpec.fold", self.fold, 0)
                if self.fold >= (self.n_folds or 0):
                    raise ValueError(
                        f"SplitSpec.fold must be < n_folds ({self.n_folds}), got {self.fold}."
                    )

    @property
    def key(self) -> str:
        """The task's natural key within its dataset (NULLs spelled out, so it can be unique)."""
        parts = [self.procedure.value, f"seed={self.seed}"]
        if self.procedure in _FOLDS:
            parts += [f"folds={self.n_folds}", f"fold={self.fold}"]
        return "|".join([*parts, f"val={self.val_size!r}", f"test={self.test_size!r}"])

    @classmethod
    def of_dataset(
        cls, dataset: TabularDataset, *, val_size: float = 0.2, test_size: float = 0.2
    ) -> SplitSpec:
        """The split of a loaded dataset: seed and fold from it, shares checked against its sizes.

        ``load_dataset`` does not keep the shares it was given; the defaults are its defaults and
        a share is accepted when it gives the dataset's row counts (``round(share * rows)``).

        Raises:
            ValueError: if ``val_size``/``test_size`` do not give the dataset's split sizes.
        """
        if dataset.split == "rows":
            # Parts by rows' hash draws: the shares are the draws' thresholds, not row counts.
            if not dataset.n_folds:
                return cls(Procedure.HOLDOUT_ROWS, dataset.seed, val_size, test_size)
            if dataset.fold_part == "val":  # validation folds beside a hold-out test part
                return cls(Procedure.CV_ROWS, dataset.seed, None, test_size, dataset.n_folds,
                           dataset.fold)  # fmt: skip
            return cls(Procedure.CV_ROWS, dataset.seed, val_size, None, dataset.n_folds,
                       dataset.fold)  # fmt: skip
        sizes = {"val": len(dataset.indices_val), "test": len(dataset.indices_test)}
        rows = sum(sizes.values()) + len(dataset.indices_train)
        validation_folds = bool(dataset.n_folds) and dataset.fold_part == "val"
        if validation_folds:  # cv_folds: the fold validates, beside a hold-out test part
            shares = {"test": test_size}
        elif dataset.n_folds:
            shares = {"val": val_size}
        else:
            shares = {"val": val_size, "test": test_size}
        for part, share in shares.items():
            if max(1, round(share * rows)) != sizes[part]:
                raise ValueError(
                    f"{dataset.name} has {sizes[part]} of {rows} rows in {part}, which "
                    f"{part}_size={share} does not give; pass the {part}_size it was loaded with."
                )
        if validation_folds:
            return cls(Procedure.CV, dataset.seed, None, test_size, dataset.n_folds, dataset.fold)
        if dataset.n_folds:
            return cls(Procedure.CV, dataset.seed, val_size, None, dataset.n_folds, dataset.fold)
        return cls(Procedure.HOLDOUT, dataset.seed, val_size, test_size)


@dataclass(frozen=True)
class SearchGrid:
    """A flow's search space: the grid of learning rates and batch sizes, and ``E_max``."""

    lrs: tuple[float, ...]
    batch_sizes: tuple[int, ...]
    max_epochs: int

    def __post_init__(self) -> None:
        object.__setattr__(self, "lrs", tuple(sorted({float(v) for v in self.lrs})))
        object.__setattr__(self, "batch_sizes", tuple(sorted({int(v) for v in self.batch_sizes})))
        _check_int("SearchGrid.max_epochs", self.max_epochs, 1)

    def union(self, other: SearchGrid) -> SearchGrid:
        """The smallest grid holding both."""
        return SearchGrid(
            self.lrs + other.lrs,
            self.batch_sizes + other.batch_sizes,
            max(self.max_epochs, other.max_epochs),
        )

    def to_json(self) -> dict[str, Any]:
        """As stored in ``flow.search_space``."""
        return {
            "lrs": list(self.lrs),
            "batch_sizes": list(self.batch_sizes),
            "max_epochs": self.max_epochs,
        }


@dataclass(frozen=True)
class FlowSpace:
    """A flow's search space off the grid: a `tunegym.space.Space` and ``E_max``.

    Stored in ``flow.search_space`` as ``{"space": Space.to_json(), "max_epochs": E_max}``
    (a grid flow stores `SearchGrid`'s ``lrs``/``batch_sizes``/``max_epochs``); the setups of
    the flow are configurations of the space (LCBench's 7 hyperparameters for a funnel flow).
    """

    space: Space
    max_epochs: int

    def __post_init__(self) -> None:
        _check_int("FlowSpace.max_epochs", self.max_epochs, 1)

    def union(self, other: FlowSpace) -> FlowSpace:
        """The same space with the larger ``E_max``.

        Raises:
            ValueError: for another space (a flow's setups come from one space).
        """
        if other.space.to_json() != self.space.to_json():
            raise ValueError(
                f"A flow searches one space: stored {list(self.space.names)}, got "
                f"{list(other.space.names)}; store the other space under another flow version."
            )
        return FlowSpace(self.space, max(self.max_epochs, other.max_epochs))

    def to_json(self) -> dict[str, Any]:
        """As stored in ``flow.search_space``."""
        return {"space": self.space.to_json(), "max_epochs": self.max_epochs}


def flow_space_from_json(data: Mapping[str, Any] | None) -> SearchGrid | FlowSpace | None:
    """A flow's stored ``search_space`` JSON as a `SearchGrid` or a `FlowSpace`."""
    if not data:
        return None
    if "space" in data:
        return FlowSpace(Space.from_json(data["space"]), int(data["max_epochs"]))
    return SearchGrid(data["lrs"], data["batch_sizes"], data["max_epochs"])


@dataclass(frozen=True)
class DatasetRef:
    """A stored dataset: its internal id and what identifies it outside the store."""

    id: int
    name: str
    spec: str | None
    openml_did: int | None
    source: Source

    @property
    def label(self) -> str:
        """The name curve tables use: the spec where there is one."""
        return self.spec or self.name


@dataclass(frozen=True)
class TaskRef:
    """A stored task: a dataset and a split."""

    id: int
    dataset_id: int
    split: SplitSpec
    openml_task_id: int | None = None


@dataclass(frozen=True)
class FlowRef:
    """A stored flow: a model family with a fixed model spec and its search space."""

    id: int
    name: str
    version: str
    family: str
    model_spec: dict[str, Any] | None = None
    search_space: SearchGrid | FlowSpace | None = None
    openml_flow_id: int | None = None


@dataclass(frozen=True)
class SetupRef:
    """A stored setup: a flow's hyperparameter values (canonical)."""

    id: int
    flow_id: int
    params: dict[str, Any]
    hash: str


@dataclass(frozen=True)
class EvaluationRow:
    """One measured value of a run.

    Attributes:
        measure: OpenML measure name (``predictive_accuracy``, ``unweighted_recall``) or a local
            one (``cross_entropy``, ``train_cross_entropy``, ``macro_f_measure``,
            ``macro_precision``, ``macro_recall``); see `EPOCH_MEASURES`.
        split: what it was measured on.
        value: the value (``nan`` is stored as NULL and read back as ``nan``).
        epoch: 1-based epoch, or ``None`` for the run's final value.
        elapsed_seconds: wall time of that epoch.
    """

    measure: str
    split: DataSplit
    value: float
    epoch: int | None = None
    elapsed_seconds: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.measure, str) or not self.measure:
            raise ValueError(
                f"EvaluationRow.measure must be a non-empty str, got {self.measure!r}."
            )
        object.__setattr__(self, "split", parse_enum(DataSplit, self.split, "split"))
        if self.epoch is not None:
            _check_int("EvaluationRow.epoch", self.epoch, 1)


@dataclass(frozen=True)
class RunRecord:
    """A run to store with its evaluations (the input of `MetaStore.add_runs`).

    Attributes:
        task: the task (a reference or its id).
        setup: the setup (a reference or its id).
        seed: the run's seed (initial weights, batch order).
        status: how it ended.
        evaluations: `EvaluationRow`s, or tunegym `EpochRecord`s (mapped with `EPOCH_MEASURES`,
            the last epoch's values also stored as the final ones, ``epoch`` NULL).
        init: from scratch or from ``checkpoint``.
        checkpoint: reference of the starting checkpoint (with ``Init.CHECKPOINT`` only).
        source: where the run comes from.
        openml_run_id: the run's OpenML id, if it has one.
        hardware: where it ran (platform, CPU/GPU name).
        total_seconds: wall time of the whole run.
    """

    task: TaskRef | int
    setup: SetupRef | int
    seed: int
    status: RunStatus
    evaluations: Sequence[EvaluationRow] | Sequence[EpochLike] = ()
    init: Init = Init.SCRATCH
    checkpoint: str | None = None
    source: Source = Source.LOCAL
    openml_run_id: int | None = None
    hardware: str | None = None
    total_seconds: float | None = None

    def __post_init__(self) -> None:
        _check_int("RunRecord.seed", self.seed, 0)
        object.__setattr__(self, "status", parse_enum(RunStatus, self.status, "run status"))
        object.__setattr__(self, "init", parse_enum(Init, self.init, "init"))
        object.__setattr__(self, "source", parse_enum(Source, self.source, "run source"))
        if self.checkpoint is not None and self.init is not Init.CHECKPOINT:
            raise ValueError(
                f"RunRecord.checkpoint={self.checkpoint!r} needs init=Init.CHECKPOINT."
            )

    @property
    def task_id(self) -> int:
        """The task's id."""
        return self.task if isinstance(self.task, int) else self.task.id

    @property
    def setup_id(self) -> int:
        """The setup's id."""
        return self.setup if isinstance(self.setup, int) else self.setup.id


@dataclass(frozen=True)
class TableCounts:
    """Rows per table (of a store, an export, or added by an import)."""

    datasets: int = 0
    meta_features: int = 0
    tasks: int = 0
    flows: int = 0
    setups: int = 0
    runs: int = 0
    evaluations: int = 0
    zoo_models: int = 0


@dataclass(frozen=True)
class StoreStats:
    """What a store holds (`MetaStore.stats`)."""

    datasets: int
    tasks: int
    flows: int
    setups: int
    runs: int
    runs_by_source: dict[str, int] = field(default_factory=dict)
    runs_by_status: dict[str, int] = field(default_factory=dict)
    evaluations: int = 0
    epochs: int = 0
    """Distinct (run, epoch) pairs: the epochs trained."""


def config_columns(frame: pd.DataFrame) -> list[str]:
    """The hyperparameter columns of a curve table: those that are neither keys nor measures.

    On the grid these are ``lr`` and ``batch_size``; a store's funnel trials (LCBench's space)
    give its seven hyperparameters.
    """
    fixed = {*CURVE_COLUMNS, "run_id"} - {"lr", "batch_size"}
    return [str(c) for c in frame.columns if c not in fixed]
