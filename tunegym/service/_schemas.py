"""The warm-start service's wire format: pydantic models, validated where requests enter.

Every number is finite (``allow_inf_nan=False``), every list and mapping is bounded, every
string is bounded; semantic checks (``low <= high``, one parameter per role) raise
``ValueError`` inside validators, which FastAPI answers with a 422 that names the field.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tunegym.space import Space

from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

__all__ = [
    "API_VERSION",
    "MAX_CHOICES",
    "MAX_COUNT",
    "MAX_DID",
    "MAX_GRID_POINTS",
    "MAX_INT",
    "MAX_META_FEATURES",
    "MAX_PARAMETERS",
    "MAX_RUNS",
    "MAX_SCORES",
    "BoxOut",
    "ConfigurationOut",
    "DatasetDescription",
    "ErrorOut",
    "HealthOut",
    "NeighborOut",
    "Parameter",
    "ProvenanceOut",
    "RangeOut",
    "ReportedRun",
    "Role",
    "RunsOut",
    "RunsRequest",
    "SearchSpaceOut",
    "SearchSpaceRequest",
    "SearchSpaceSpec",
    "SourceSpaceOut",
    "WarmStartOut",
    "WarmStartRequest",
]

API_VERSION: Final = "v1"
MAX_META_FEATURES: Final = 512
MAX_PARAMETERS: Final = 64
MAX_CHOICES: Final = 256
MAX_RUNS: Final = 1000
MAX_SCORES: Final = 1000
# Integers a JSON float holds exactly; larger ones would overflow where they meet numpy.
MAX_INT: Final = 2**53
MAX_GRID_POINTS: Final = 2**53
MAX_DID: Final = 2**31 - 1
MAX_COUNT: Final = 2**31 - 1  # a reported batch size or epoch count

# How reported runs store the parameters that play a role, and the stored setup names read back
# as each role (tunegym's curves say ``lr``, OpenML's MLPClassifier flows ``learning_rate_init``).
STORED_AS: Final = {"learning_rate": "lr", "batch_size": "batch_size", "epochs": "max_epochs"}
LR_KEYS: Final = ("lr", "learning_rate", "learning_rate_init")
BATCH_KEYS: Final = ("batch_size",)
_READ_BACK: Final = {
    **dict.fromkeys(LR_KEYS, "learning_rate"),
    **dict.fromkeys(BATCH_KEYS, "batch_size"),
    "max_epochs": "epochs",
}
_STORED_AS = STORED_AS  # the name the tests know

Role = Literal["learning_rate", "batch_size", "epochs"]
Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
ParamName = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z_][A-Za-z0-9_.\-]*$")
]
Choice = (
    Annotated[str, StringConstraints(max_length=100)]
    | bool
    | Annotated[int, Field(ge=-MAX_INT, le=MAX_INT)]
    | float
)
Score = Annotated[float, Field(ge=0.0, le=1.0)]


_INCLUDE_REPORTED = (
    "Also use runs and qualities that tuners reported (POST /v1/runs), pooled with the curated "
    "ones (the shipped meta-datasets, the store's collected and imported runs). Off by default: "
    "reports are unvetted, and a few could otherwise decide what is served."
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class DatasetDescription(_Model):
    """What the service knows the target dataset by: at least one of the three fields.

    ``meta_features`` (OpenML quality names, e.g. from ``tunegym.metastore.compute_meta_features``
    or a small summary such as ``NumberOfInstances``/``NumberOfFeatures``/``NumberOfClasses``)
    take precedence; else the stored qualities of ``openml_did``, else of ``name``.
    """

    name: Name | None = Field(default=None, description="A dataset spec or name, e.g. 'keel:iris'.")
    openml_did: Annotated[int, Field(ge=1, le=MAX_DID)] | None = None
    meta_features: (
        Annotated[dict[Name, float], Field(min_length=1, max_length=MAX_META_FEATURES)] | None
    ) = None

    @model_validator(mode="after")
    def _one_given(self) -> DatasetDescription:
        if self.name is None and self.openml_did is None and self.meta_features is None:
            raise ValueError(
                "Describe the dataset by 'meta_features' (OpenML quality names), 'openml_did' "
                "or 'name'."
            )
        return self


class Parameter(_Model):
    """One hyperparameter of the client's search space.

    ``role`` says what the service's runs know it as; left out, it is inferred from the name
    (``lr``/``learning_rate``/``learning_rate_init`` → learning_rate, ``batch_size`` →
    batch_size, ``epochs``/``n_epochs``/``max_epochs`` → epochs). A parameter with no role maps
    by its exact name to a stored hyperparameter of that name (``momentum``, ``weight_decay``,
    ``num_layers``, ... of LCBench's space, served from meta-dataset v2); the others are left to
    the client's tuner.
    """

    name: ParamName
    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: Annotated[float, Field(gt=0)] | None = None
    choices: Annotated[list[Choice], Field(min_length=1, max_length=MAX_CHOICES)] | None = None
    role: Role | None = Field(
        default=None,
        description="What the stored runs know it as (inferred from the name when left out); "
        "a parameter without a role maps by its exact name to a stored hyperparameter.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> Parameter:
        where = f"Parameter {self.name!r}"
        if self.type == "categorical":
            if self.choices is None:
                raise ValueError(f"{where} is categorical: give its 'choices'.")
            if len({repr(c) for c in self.choices}) != len(self.choices):
                raise ValueError(f"{where} has repeated choices: {self.choices!r}.")
            if self.low is not None or self.high is not None:
                raise ValueError(f"{where} is categorical: give 'choices', not 'low'/'high'.")
            return self
        if self.choices is not None:
            raise ValueError(f"{where} is {self.type}: give 'low'/'high', not 'choices'.")
        if self.low is None or self.high is None:
            raise ValueError(f"{where} is {self.type}: give both 'low' and 'high'.")
        if not self.low <= self.high:
            raise ValueError(f"{where} needs low <= high, got low={self.low}, high={self.high}.")
        if self.log and self.low <= 0:
            raise ValueError(f"{where} is log-scaled: low must be > 0, got {self.low}.")
        if self.log and self.step is not None:
            raise ValueError(f"{where}: 'step' and 'log' cannot be combined (as in Optuna).")
        if self.type == "int" and not (float(self.low).is_integer() and self.high.is_integer()):
            raise ValueError(f"{where} is int: low and high must be whole numbers.")
        if self.type == "int" and self.step is not None and not float(self.step).is_integer():
            raise ValueError(f"{where} is int: step must be a whole number, got {self.step}.")
        if max(abs(self.low), abs(self.high)) > 1e300:
            raise ValueError(f"{where}: bounds beyond ±1e300 are not supported.")
        if self.step is not None and (self.high - self.low) / self.step > MAX_GRID_POINTS:
            raise ValueError(
                f"{where}: step {self.step} splits [{self.low}, {self.high}] into more than 2^53 "
                "points; use a larger step or none."
            )
        return self

    @property
    def numeric_choices(self) -> list[float] | None:
        """The choices as floats when all are numbers (bools excluded), else ``None``."""
        if self.choices is None or any(
            isinstance(c, bool) or not isinstance(c, int | float) for c in self.choices
        ):
            return None
        return [float(c) for c in self.choices]


class SearchSpaceSpec(_Model):
    """The client's search space: its parameters, at most one per role."""

    parameters: Annotated[list[Parameter], Field(min_length=1, max_length=MAX_PARAMETERS)]

    @model_validator(mode="after")
    def _unique(self) -> SearchSpaceSpec:
        names = [p.name for p in self.parameters]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"Parameter names must be unique; repeated: {repeated}.")
        from tunegym.service._space import roles_of

        roles_of(self)  # raises for two parameters with one role
        return self

    @classmethod
    def from_space(cls, space: Space) -> SearchSpaceSpec:
        """The wire form of a `tunegym.space.Space` (roles inferred from the names).

        Example:
            >>> from tunegym.space import LCBENCH_SPACE
            >>> SearchSpaceSpec.from_space(LCBENCH_SPACE).to_space() == LCBENCH_SPACE
            False
            >>> SearchSpaceSpec.from_space(LCBENCH_SPACE).to_space().params == LCBENCH_SPACE.params
            True
        """
        return cls(parameters=[Parameter(**p.to_json()) for p in space])

    def to_space(self) -> Space:
        """The `tunegym.space.Space` of these parameters (steps are dropped: a `Space` has none).

        Raises:
            ValueError: for a parameter a `Space` cannot hold (a one-value range, a name that
                is not an identifier).
        """
        from tunegym.space import Categorical, Float, Hyperparameter, Int, Space

        params: list[Hyperparameter] = []
        for p in self.parameters:
            if p.type == "categorical":
                params.append(Categorical(p.name, tuple(p.choices or ())))
            elif p.type == "int":
                params.append(Int(p.name, int(p.low or 0), int(p.high or 0), log=p.log))
            else:
                params.append(Float(p.name, float(p.low or 0), float(p.high or 0), log=p.log))
        return Space(tuple(params))


class WarmStartRequest(_Model):
    """``POST /v1/warmstart``."""

    dataset: DatasetDescription
    search_space: SearchSpaceSpec
    k: Annotated[int, Field(ge=1, le=100)] = Field(
        default=8, description="Configurations to return."
    )
    neighbors: Annotated[int, Field(ge=1, le=50)] = Field(
        default=5, description="Similar datasets to draw them from."
    )
    include_self: bool = Field(
        default=True,
        description="Use the target's own past runs when the store has them (distance 0); "
        "false: only other datasets (leave-one-dataset-out, as benchmarks need).",
    )
    include_curves: bool = Field(
        default=False, description="Add each configuration's per-epoch mean validation score."
    )
    include_reported: bool = Field(
        default=False,
        description=_INCLUDE_REPORTED,
    )


class SearchSpaceRequest(_Model):
    """``POST /v1/search-space``."""

    dataset: DatasetDescription
    search_space: SearchSpaceSpec
    neighbors: Annotated[int, Field(ge=1, le=50)] = 5
    top: Annotated[int, Field(ge=1, le=20)] = Field(
        default=3, description="Best configurations per neighbour that span the box."
    )
    include_self: bool = True
    include_reported: bool = Field(
        default=False,
        description=_INCLUDE_REPORTED,
    )


class ReportedRun(_Model):
    """One finished run a tuner reports: its configuration and its validation scores."""

    params: Annotated[dict[ParamName, Choice], Field(min_length=1, max_length=MAX_PARAMETERS)]
    scores: Annotated[list[Score], Field(min_length=1, max_length=MAX_SCORES)] | None = Field(
        default=None, description="Validation score after each epoch (1, 2, ...), in [0, 1]."
    )
    final_score: Score | None = Field(
        default=None, description="Final validation score, in [0, 1]."
    )
    seed: Annotated[int, Field(ge=0, le=2**31 - 1)] = 0
    status: Literal["ok", "diverged", "failed"] = "ok"
    seconds: Annotated[float, Field(ge=0, le=1e9)] | None = None

    @model_validator(mode="after")
    def _scored(self) -> ReportedRun:
        if self.scores is None and self.final_score is None and self.status == "ok":
            raise ValueError("A finished run needs 'scores' (per epoch) or 'final_score'.")
        return self


class RunsRequest(_Model):
    """``POST /v1/runs`` (needs the API key)."""

    dataset: DatasetDescription
    search_space: SearchSpaceSpec | None = Field(
        default=None,
        description="Gives the parameters' roles; without it, roles come from the names.",
    )
    tuner: Annotated[
        str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")
    ] = "external"
    metric: Literal["val_accuracy", "val_balanced_accuracy"] = "val_accuracy"
    runs: Annotated[list[ReportedRun], Field(min_length=1, max_length=MAX_RUNS)]

    @model_validator(mode="after")
    def _named(self) -> RunsRequest:
        name, did = self.dataset.name, self.dataset.openml_did
        if name is None and did is None:
            raise ValueError(
                "Reported runs need the dataset's 'name' or 'openml_did' to be stored under."
            )
        if name is not None and ":" in name:
            source, rest = name.split(":", 1)
            if not source.strip() or not rest.strip():
                raise ValueError(
                    f"Dataset name {name!r}: a spec needs text on both sides of ':' "
                    "('keel:iris', 'openml:61'), or give a plain name."
                )
            if source == "openml" and rest.isdigit():
                number = int(rest) if rest.isascii() else None
                if number is None or not 1 <= number <= MAX_DID:
                    raise ValueError(
                        f"Dataset name {name!r}: an OpenML id is a whole number from 1 to "
                        f"{MAX_DID}."
                    )
                if did is not None and did != number:
                    raise ValueError(
                        f"Dataset name {name!r} and openml_did {did} name two datasets; "
                        "send one of them."
                    )
        return self

    def renames(self) -> dict[str, str]:
        """Client parameter name -> the name it is stored under, for those playing a role.

        Roles come from ``search_space`` when given, else from the parameter names (two names
        with one role then map to one stored name: the service refuses that request).
        """
        from tunegym.service._space import infer_role, roles_of

        if self.search_space is not None:
            return {p.name: STORED_AS[r] for r, p in roles_of(self.search_space).items()}
        names = sorted({name for run in self.runs for name in run.params})
        return {n: STORED_AS[r] for n in names if (r := infer_role(n)) is not None}

    @model_validator(mode="after")
    def _counts(self) -> RunsRequest:
        """Checks the values the service will read as learning rate, batch size and epochs.

        The service stores a parameter playing a role under tunegym's name (``lr``,
        ``batch_size``, ``max_epochs``) and reads those names back (and a learning rate also
        under ``learning_rate``/``learning_rate_init``); what it reads as a batch size or an
        epoch count must be a whole number >= 1, and none of them a boolean. Strings are
        stored but never served.
        """
        renames = self.renames()
        for i, run in enumerate(self.runs):
            for name, value in run.params.items():
                stored = renames.get(name, name)
                if stored not in _READ_BACK or isinstance(value, str):
                    continue
                role = _READ_BACK[stored]
                if isinstance(value, bool):
                    raise ValueError(
                        f"Run {i}: {name!r} plays the role {role!r} and cannot be a boolean."
                    )
                if role != "learning_rate" and not (
                    float(value).is_integer() and 1 <= value <= MAX_COUNT
                ):
                    raise ValueError(
                        f"Run {i}: {name!r} plays the role {role!r}: a whole number from 1 to "
                        f"{MAX_COUNT}, got {value!r}."
                    )
        return self


# --- responses ---------------------------------------------------------------------------


class NeighborOut(BaseModel):
    """A past dataset near the target."""

    dataset: str
    distance: float
    openml_did: int | None = None


class ProvenanceOut(BaseModel):
    """Where a configuration comes from: the neighbour, its runs and the config there."""

    dataset: str
    openml_did: int | None = None
    distance: float
    source: Literal["snapshot", "store", "reported"] = Field(
        description="The shipped snapshot (no run ids), the meta-store's own runs, or runs "
        "reported by tuners (only with include_reported; also a configuration whose curated "
        "runs were pooled with reported ones)."
    )
    run_ids: list[int] = Field(description="The meta-store runs behind it.")
    seeds: list[int] = Field(description="The seeds behind it (its score is their mean).")
    learning_rate: float
    batch_size: int
    epochs: int
    config: dict[str, float | int] | None = Field(
        default=None,
        description="The stored configuration, every hyperparameter of its space by name "
        "(a learning rate is 'learning_rate', a batch size 'batch_size').",
    )


class ConfigurationOut(BaseModel):
    """A configuration to try, mapped into the client's space."""

    params: dict[str, Any]
    expected_score: float = Field(
        ge=0.0,
        le=1.0,
        description="Predicted normalised score on your dataset, in [0, 1]: the mean over the "
        "answer's neighbours that ran this configuration, weighted by 1 / (distance + 0.001), "
        "of its final validation score there scaled between that dataset's worst (0) and best "
        "(1) configuration. Ranks the served configurations; not an accuracy.",
    )
    score: float = Field(
        description="Raw mean validation score (accuracy) on the neighbour it comes from, at "
        "'epochs'."
    )
    provenance: ProvenanceOut
    clipped: list[str] = Field(description="Parameters whose value was moved into the range.")
    curve: list[float] | None = Field(default=None, description="Mean validation score per epoch.")


class SourceSpaceOut(BaseModel):
    """The space (meta-dataset) the answer's configurations come from.

    The service holds configurations of several spaces — meta-dataset v1's learning rate ×
    batch size (``lr-bs``: Adam MLPs on a grid), meta-dataset v2's LCBench space (``lcbench``:
    funnel MLPs trained with SGD, 7 hyperparameters), and those of reported runs — and answers
    from one: the one whose hyperparameters cover most of the client's parameters (ties: the one
    with fewest hyperparameters left unmapped, then the most datasets).
    """

    name: str = Field(
        description="'lr-bs' (meta-dataset v1's space), 'lcbench' (meta-dataset v2's, "
        "LCBench's 7 hyperparameters), or another space's hyperparameter names joined by '+'."
    )
    meta_datasets: list[str] = Field(
        description="Where its configurations come from: 'v1', 'v2' (the shipped "
        "meta-datasets), 'snapshot' (another snapshot folder), 'store' (the meta-store)."
    )
    hyperparameters: list[str] = Field(
        description="Its hyperparameters ('learning_rate' and 'batch_size' whatever the runs "
        "called them)."
    )
    flows: list[str] = Field(description="The flows (models) that trained its runs.")
    mapped: dict[str, str] = Field(
        description="Client parameter -> what it takes its value from: a role "
        "('learning_rate', 'batch_size', 'epochs') or the stored hyperparameter of its name."
    )


class WarmStartOut(BaseModel):
    """``POST /v1/warmstart`` answer."""

    configurations: list[ConfigurationOut]
    neighbors: list[NeighborOut]
    unmapped: list[str] = Field(
        description="Parameters left to the client's tuner (no role, no stored hyperparameter "
        "of that name in the source space)."
    )
    metric: str
    source_space: SourceSpaceOut | None = Field(
        default=None,
        description="The space (meta-dataset) the configurations come from; absent when the "
        "service holds no configurations.",
    )


class RangeOut(BaseModel):
    """The range of one hyperparameter over the neighbours' best configurations."""

    min: float
    max: float


class BoxOut(BaseModel):
    """Ranges spanned by the neighbours' best configurations."""

    learning_rate_min: float
    learning_rate_max: float
    batch_size_min: int
    batch_size_max: int
    hyperparameters: dict[str, RangeOut] = Field(
        default_factory=dict,
        description="The other hyperparameters the client's parameters map to by name "
        "(stored name -> range; a range of one value is widened, see the route).",
    )


class SearchSpaceOut(BaseModel):
    """``POST /v1/search-space`` answer: the client's space with roles narrowed to the box."""

    search_space: SearchSpaceSpec
    narrowed: list[str]
    box: BoxOut | None = Field(None, description="Absent when no neighbour was found.")
    neighbors: list[NeighborOut]
    source_space: SourceSpaceOut | None = Field(
        default=None,
        description="The space (meta-dataset) the box comes from; absent when the service "
        "holds no configurations.",
    )


class RunsOut(BaseModel):
    """``POST /v1/runs`` answer."""

    run_ids: list[int]
    dataset: str
    candidate: bool = Field(
        description="Whether the dataset now serves as a neighbour to requests that include "
        "reported runs (it has meta-features and servable runs)."
    )


class HealthOut(BaseModel):
    """``GET /v1/health`` answer."""

    status: Literal["ok", "degraded"] = Field(
        description="'degraded' when the store cannot be read, its checks fail or its last "
        "write failed ('store_error' says how); reads are served from memory all the same."
    )
    version: str
    api: str
    store: str | None = None
    store_reachable: bool | None = None
    store_writable: bool | None = Field(
        default=None,
        description="Whether reports can be stored: the store's checks pass and its last "
        "write did not fail (null: no store).",
    )
    store_error: str | None = Field(
        default=None, description="What is wrong with the store and what to do, on one line."
    )
    datasets: int
    configurations: int
    runs: int
    reported_runs: int = Field(
        default=0,
        description="Runs reported by tuners among 'runs' (served only to requests with "
        "include_reported).",
    )
    writes_enabled: bool
    spaces: list[str] = Field(
        default_factory=list,
        description="The spaces it serves configurations of ('lr-bs': meta-dataset v1's, "
        "'lcbench': v2's, ...).",
    )


class ErrorOut(BaseModel):
    """Every 4xx answer (but 422) carries one message saying what to do."""

    detail: str
