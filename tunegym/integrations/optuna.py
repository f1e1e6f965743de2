"""Warm-start an Optuna study from the runs of similar datasets, in one call.

`warm_start` asks the warm-start service (over HTTP, or in-process on a meta-store or the
shipped snapshot) for the configurations that did best on the nearest datasets, enqueues them
as the study's first trials (``Study.enqueue_trial(skip_if_exists=True)``) and returns the
search space narrowed to the box those datasets' best configurations span. Optionally it also
imports the neighbours' runs as completed trials with their per-epoch intermediate values
(``optuna.trial.create_trial`` + ``Study.add_trials``)::

    import optuna
    from optuna.distributions import FloatDistribution, IntDistribution
    from tunegym.integrations.optuna import suggest, warm_start

    space = {"lr": FloatDistribution(1e-5, 1.0, log=True),
             "batch_size": IntDistribution(16, 512, log=True)}
    study = optuna.create_study(direction="maximize")
    narrowed = warm_start(study, space, dataset=(X, y), k=8)  # or source="http://host:8000"
    study.optimize(lambda trial: train_and_score(**suggest(trial, narrowed)), n_trials=30)

Any search space: learning rate, batch size and epochs map by role (``lr``, ``batch_size``,
``epochs``, ... or ``roles``), other parameters by their exact name when the service holds a
space with a hyperparameter of that name. A study over LCBench's seven hyperparameters
(``to_optuna(SearchSpaceSpec.from_space(tunegym.space.LCBENCH_SPACE))``: ``batch_size``,
``learning_rate``, ``max_dropout``, ``max_units``, ``momentum``, ``num_layers``,
``weight_decay``) is served meta-dataset v2's configurations, all seven values each; a study
over learning rate and batch size, meta-dataset v1's grid. The space used is recorded in the
study's ``tunegym:warm_start`` attribute (``source_space``).

How imported trials interact with samplers and pruners:

* **Samplers.** Imported trials are ``COMPLETE`` trials like any other: TPE (and GP, CMA-ES)
  fit on them, so the sampler models from the first trial on and they count toward
  ``n_startup_trials``. Their values come from *other* datasets: good when the neighbours are
  close, misleading when they are not — import when the distances are small.
* **Pruners.** ``MedianPruner``/``PercentilePruner`` compare a running trial's intermediate
  value at step *s* with the completed trials' values at *s*, imported ones included (one step
  = one epoch of the neighbour's run); ``SuccessiveHalvingPruner``/``HyperbandPruner`` rank
  rung values the same way. Report intermediate values per epoch, on the same [0, 1] accuracy
  scale, or leave ``import_runs=False``.
* **Best trial.** ``study.best_trial`` may be an imported trial (another dataset's score); use
  `own_trials` / `best_own_trial`, which skip trials with the ``tunegym:imported`` attribute.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import optuna
from optuna.distributions import (
    BaseDistribution,
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

from tunegym.service._schemas import (
    DatasetDescription,
    Parameter,
    SearchSpaceOut,
    SearchSpaceRequest,
    SearchSpaceSpec,
    WarmStartOut,
    WarmStartRequest,
)

if TYPE_CHECKING:
    from tunegym.service._core import WarmStartService

__all__ = [
    "IMPORTED_ATTR",
    "best_own_trial",
    "from_optuna",
    "own_trials",
    "suggest",
    "to_optuna",
    "warm_start",
]

IMPORTED_ATTR: Final = "tunegym:imported"
SOURCE_ATTR: Final = "tunegym:source"


def from_optuna(
    distributions: Mapping[str, BaseDistribution], roles: Mapping[str, str] | None = None
) -> SearchSpaceSpec:
    """Optuna distributions as the service's search space (``roles``: name -> role).

    Raises:
        TypeError: for a distribution type the service does not know.
        ValueError: for categorical choices that are not str/bool/int/float.
    """
    roles = dict(roles or {})
    unknown = sorted(set(roles) - set(distributions))
    if unknown:
        raise ValueError(f"roles names parameters not in the search space: {unknown}.")
    parameters = []
    for name, dist in distributions.items():
        role = roles.get(name)
        if isinstance(dist, FloatDistribution):
            spec: dict[str, Any] = {"type": "float", "low": dist.low, "high": dist.high}
            spec |= {"log": dist.log, "step": dist.step}
        elif isinstance(dist, IntDistribution):
            spec = {"type": "int", "low": dist.low, "high": dist.high, "log": dist.log}
            spec["step"] = None if dist.step == 1 else dist.step
        elif isinstance(dist, CategoricalDistribution):
            bad = [c for c in dist.choices if not isinstance(c, str | bool | int | float)]
            if bad:
                raise ValueError(
                    f"Parameter {name!r}: the service takes str/bool/int/float choices, got {bad!r}."
                )
            spec = {"type": "categorical", "choices": list(dist.choices)}
        else:
            raise TypeError(f"Parameter {name!r}: unsupported distribution {dist!r}.")
        parameters.append(Parameter.model_validate({"name": name, "role": role, **spec}))
    return SearchSpaceSpec(parameters=parameters)


def to_optuna(space: SearchSpaceSpec) -> dict[str, BaseDistribution]:
    """The service's search space as Optuna distributions."""
    out: dict[str, BaseDistribution] = {}
    for p in space.parameters:
        if p.type == "categorical":
            out[p.name] = CategoricalDistribution(p.choices or [])
        elif p.type == "int":
            low, high = _range(p)
            step = int(p.step) if p.step else 1
            out[p.name] = IntDistribution(int(low), int(high), log=p.log, step=step)
        else:
            low, high = _range(p)
            out[p.name] = FloatDistribution(low, high, log=p.log, step=p.step)
    return out


def _range(parameter: Parameter) -> tuple[float, float]:
    if parameter.low is None or parameter.high is None:  # the model validator forbids it
        raise ValueError(f"Parameter {parameter.name!r} has no low/high.")
    return parameter.low, parameter.high


def suggest(trial: optuna.Trial, distributions: Mapping[str, BaseDistribution]) -> dict[str, Any]:
    """Suggest every parameter of ``distributions`` with the trial's public ``suggest_*``."""
    params: dict[str, Any] = {}
    for name, dist in distributions.items():
        if isinstance(dist, FloatDistribution):
            params[name] = trial.suggest_float(
                name, dist.low, dist.high, log=dist.log, step=dist.step
            )
        elif isinstance(dist, IntDistribution):
            params[name] = trial.suggest_int(
                name, dist.low, dist.high, log=dist.log, step=dist.step
            )
        elif isinstance(dist, CategoricalDistribution):
            params[name] = trial.suggest_categorical(name, dist.choices)
        else:
            raise TypeError(f"Parameter {name!r}: unsupported distribution {dist!r}.")
    return params


def own_trials(
    study: optuna.Study, states: Sequence[TrialState] | None = None
) -> list[FrozenTrial]:
    """The study's trials without the imported ones (those are other datasets' runs)."""
    return [
        t for t in study.get_trials(deepcopy=False, states=states)
        if not t.user_attrs.get(IMPORTED_ATTR)
    ]  # fmt: skip


def best_own_trial(study: optuna.Study) -> FrozenTrial:
    """``study.best_trial`` among the study's own trials (imported ones skipped).

    Raises:
        ValueError: when no own trial has completed.
    """
    done = [t for t in own_trials(study, (TrialState.COMPLETE,)) if t.value is not None]
    if not done:
        raise ValueError("No own trial of the study has completed yet.")
    pick = max if study.direction == StudyDirection.MAXIMIZE else min
    return pick(done, key=lambda t: float(t.value))  # type: ignore[arg-type]


def _description(dataset: Any) -> DatasetDescription:
    if isinstance(dataset, DatasetDescription):
        return dataset
    if isinstance(dataset, bool):
        raise TypeError(f"dataset must describe a dataset, got {dataset!r}.")
    if isinstance(dataset, int):
        return DatasetDescription(openml_did=dataset)
    if isinstance(dataset, str):
        return DatasetDescription(name=dataset)
    if isinstance(dataset, tuple) and len(dataset) == 2:
        from tunegym.service._describe import describe

        return describe(dataset[0], dataset[1])
    if isinstance(dataset, Mapping):
        if set(dataset) <= {"name", "openml_did", "meta_features"}:
            return DatasetDescription.model_validate(dict(dataset))
        return DatasetDescription(meta_features=dict(dataset))
    raise TypeError(
        "dataset must be an OpenML id (int), a dataset name (str), (X, y), a mapping of "
        f"meta-features or a DatasetDescription; got {type(dataset).__name__}."
    )


@functools.cache
def _local(store: str | None) -> WarmStartService:
    from tunegym.service._core import WarmStartService

    return WarmStartService.open(store)


def _is_client(source: Any) -> bool:
    """Whether ``source`` is a `tunegym.service.Client` (without importing httpx to find out:
    a Client exists only once its module is loaded)."""
    module = sys.modules.get("tunegym.service._client")
    return module is not None and isinstance(source, module.Client)


def _ask(
    source: Any, warm: WarmStartRequest, box: SearchSpaceRequest, api_key: str | None
) -> tuple[WarmStartOut, SearchSpaceOut]:
    from tunegym.metastore import MetaStore
    from tunegym.service._core import WarmStartService

    if isinstance(source, str) and source.startswith(("http://", "https://")):
        from tunegym.service._client import Client

        with Client(source, api_key=api_key) as client:
            return _ask(client, warm, box, api_key)
    if _is_client(source):
        answer = source.warm_start(
            warm.dataset, warm.search_space, k=warm.k, neighbors=warm.neighbors,
            include_self=warm.include_self, include_curves=warm.include_curves,
        )  # fmt: skip
        narrowed = source.search_space(
            box.dataset, box.search_space, neighbors=box.neighbors, top=box.top,
            include_self=box.include_self,
        )  # fmt: skip
        return answer, narrowed
    if isinstance(source, WarmStartService):
        service = source
    elif isinstance(source, MetaStore):
        service = WarmStartService.open(source)
    else:
        service = _local(None if source is None else str(source))
    return service.warm_start(warm), service.search_space(box)


def _inside(dist: BaseDistribution, value: Any) -> bool:
    if isinstance(dist, CategoricalDistribution):
        return value in dist.choices
    assert isinstance(dist, FloatDistribution | IntDistribution)
    return dist.low <= value <= dist.high


def _contain(
    distributions: dict[str, BaseDistribution], params: Mapping[str, Any]
) -> dict[str, BaseDistribution]:
    """Widen ``distributions`` so that they contain ``params`` (an enqueued configuration)."""
    out = dict(distributions)
    for name, value in params.items():
        dist = out.get(name)
        if dist is None or _inside(dist, value):
            continue
        if isinstance(dist, CategoricalDistribution):
            out[name] = CategoricalDistribution([*dist.choices, value])
        elif isinstance(dist, IntDistribution):
            ilow, ihigh = min(dist.low, int(value)), max(dist.high, int(value))
            out[name] = IntDistribution(ilow, ihigh, log=dist.log, step=dist.step)
        elif isinstance(dist, FloatDistribution):
            low, high = min(dist.low, float(value)), max(dist.high, float(value))
            out[name] = FloatDistribution(low, high, log=dist.log, step=dist.step)
    return out


def warm_start(
    study: optuna.Study,
    search_space: Mapping[str, BaseDistribution],
    dataset: Any,
    *,
    k: int = 8,
    source: Any = None,
    neighbors: int = 5,
    roles: Mapping[str, str] | None = None,
    narrow: bool = True,
    include_self: bool = True,
    import_runs: bool = False,
    objective_of: Callable[[float], float] | None = None,
    api_key: str | None = None,
) -> dict[str, BaseDistribution]:
    """Enqueue the neighbours' best configurations and return the narrowed search space.

    Args:
        study: the study to warm-start (single-objective).
        search_space: parameter name -> Optuna distribution. Learning rate, batch size and
            epochs are recognised by name (``lr``, ``learning_rate``, ``batch_size``,
            ``epochs``, ...) or by ``roles``; another parameter is mapped by its exact name
            when the source holds a space with a hyperparameter of that name (``momentum``,
            ``weight_decay``, ``num_layers``, ``max_units``, ``max_dropout`` of LCBench's,
            served from meta-dataset v2); the rest are left to the sampler.
        dataset: the dataset to tune on: an OpenML id, a dataset name the source knows,
            ``(X, y)`` (meta-features are computed here, the data never leaves the process),
            a mapping of meta-features (OpenML names) or a `DatasetDescription`.
        k: configurations to enqueue.
        source: ``"http://host:port"`` of a ``tunegym serve``, a `tunegym.service.Client`, a
            `MetaStore` or its URL/path (served in-process with the shipped snapshot), a
            `WarmStartService`, or ``None`` (the shipped snapshot, in-process).
        neighbors: similar datasets to draw from.
        roles: parameter name -> ``"learning_rate"``, ``"batch_size"`` or ``"epochs"``.
        narrow: return the distributions narrowed to the box (else the given ones).
        include_self: use the dataset's own past runs when the source has them.
        import_runs: also add the served configurations' runs as completed trials with
            per-epoch intermediate values (see the module notes on samplers and pruners).
        objective_of: maps a run's validation accuracy to the study's objective when importing
            (e.g. ``lambda acc: 1 - acc`` for a minimised error); default: the accuracy itself,
            which needs ``direction="maximize"``.
        api_key: for a service with a read key.

    Returns:
        The search space to suggest from (`suggest` does it): narrowed to the neighbours'
        box where ``narrow``, and always containing every enqueued configuration.

    Raises:
        ValueError: for a multi-objective study, or importing into a minimised study
            without ``objective_of``.
        tunegym.service.ServiceRequestError: when the service answers with an error.
    """
    if len(study.directions) != 1:
        raise ValueError("warm_start takes a single-objective study.")
    if import_runs and objective_of is None and study.direction != StudyDirection.MAXIMIZE:
        raise ValueError(
            "Imported runs carry validation accuracy (higher is better) but the study "
            "minimises; pass objective_of (e.g. lambda acc: 1 - acc) or maximise."
        )
    spec = from_optuna(search_space, roles)
    description = _description(dataset)
    warm = WarmStartRequest(
        dataset=description, search_space=spec, k=k, neighbors=neighbors,
        include_self=include_self, include_curves=import_runs,
    )  # fmt: skip
    box = SearchSpaceRequest(
        dataset=description, search_space=spec, neighbors=neighbors, include_self=include_self
    )
    answer, narrowed = _ask(source, warm, box, api_key)
    distributions = to_optuna(narrowed.search_space) if narrow else dict(search_space)
    for config in answer.configurations:
        distributions = _contain(distributions, config.params)
    for config in answer.configurations:
        source_attrs = {
            SOURCE_ATTR: config.provenance.dataset,
            "tunegym:distance": config.provenance.distance,
            "tunegym:expected_score": config.expected_score,
        }
        study.enqueue_trial(dict(config.params), user_attrs=source_attrs, skip_if_exists=True)
    if import_runs:
        study.add_trials(_imported(answer, distributions, objective_of or (lambda v: v)))
    study.set_user_attr(
        "tunegym:warm_start",
        {
            "neighbors": [n.model_dump() for n in answer.neighbors],
            "narrowed": narrowed.narrowed,
            "enqueued": len(answer.configurations),
            "source_space": None if answer.source_space is None else answer.source_space.name,
        },
    )
    return distributions


def _imported(
    answer: WarmStartOut,
    distributions: Mapping[str, BaseDistribution],
    objective_of: Callable[[float], float],
) -> list[FrozenTrial]:
    trials = []
    for config in answer.configurations:
        curve = config.curve or []
        if not curve or config.clipped:  # a clipped config is not what the neighbour ran
            continue
        trials.append(
            optuna.trial.create_trial(
                params=dict(config.params),
                distributions={name: distributions[name] for name in config.params},
                value=objective_of(curve[-1]),
                intermediate_values={e: objective_of(v) for e, v in enumerate(curve, start=1)},
                user_attrs={
                    IMPORTED_ATTR: True,
                    SOURCE_ATTR: config.provenance.dataset,
                    "tunegym:distance": config.provenance.distance,
                    "tunegym:run_ids": list(config.provenance.run_ids),
                },
            )
        )
    return trials
