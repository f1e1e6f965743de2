"""Warm-start an Optuna study from the runs of similar datasets, in one call.

`warm_start` asks the warm-start service (over HTTP, or in-process on a meta-store or the
shipped snapshot) for the configurations that did best on the nearest datasets, enqueues them
as the study's first trials (``Study.enqueue_trial(skip_if_exists=True)``) and returns the
search space narrowed to the box those datasets' best configurations span. Optionally it also
imports the neighbours' runs as pruned trials with their per-epoch intermediate values
(``optuna.trial.create_trial`` + ``Study.add_trials``)::

    import optuna
    from tunegym.integrations.optuna import suggest, warm_start
    from tunegym.space import LR_BS_SPACE

    study = optuna.create_study(direction="maximize")
    narrowed = warm_start(study, LR_BS_SPACE, dataset=(X, y), k=8)  # or source="http://host:8000"
    study.optimize(lambda trial: train_and_score(**suggest(trial, narrowed)), n_trials=30)

(``docs/SERVICE.md`` has the whole runnable example.) The search space is a mapping of Optuna
distributions, a `tunegym.space.Space` (``LR_BS_SPACE``, ``LCBENCH_SPACE``, ...), the env's
`tunegym.envs.SearchSpace` (its lr × batch-size grid as two categoricals, or its candidates'
`Space`) or the service's `SearchSpaceSpec`.

Any search space: learning rate, batch size and epochs map by role (``lr``, ``batch_size``,
``epochs``, ... or ``roles``), other parameters by their exact name when the service holds a
space with a hyperparameter of that name. A study over LCBench's seven hyperparameters
(``tunegym.space.LCBENCH_SPACE``: ``batch_size``, ``learning_rate``, ``max_dropout``,
``max_units``, ``momentum``, ``num_layers``, ``weight_decay``) is served meta-dataset v2's
configurations, all seven values each; a study over learning rate and batch size, meta-dataset
v1's grid. The space used is recorded in the study's ``tunegym:warm_start`` attribute
(``source_space``).

How imported trials interact with Optuna (they are ``PRUNED`` trials, so that the study's
answers stay its own):

* **Best trial.** ``study.best_trial``, ``best_params`` and ``best_value`` consider
  ``COMPLETE`` trials only, so they only ever answer with the study's own trials — never with
  another dataset's run. `own_trials` / `best_own_trial` skip imported trials explicitly (by
  their ``tunegym:imported`` attribute).
* **Samplers.** TPE (the default) fits on pruned trials: they count toward
  ``n_startup_trials``, so it models from the first trial on. It ranks a pruned trial by its
  last intermediate value, below every complete one: the best imported runs are its "good"
  examples only while fewer own trials have completed than its good quantile
  (``min(ceil(0.1 n), 25)`` of ``n`` trials), then they count among the rest.
  ``CmaEsSampler(consider_pruned_trials=True)`` uses them too; ``GPSampler``, random and QMC
  sampling ignore them. Their values come from *other* datasets: good when the neighbours are
  close, misleading when they are not — import when the distances are small.
* **Pruners.** ``MedianPruner``/``PercentilePruner`` compare a running trial with completed
  trials only, ``SuccessiveHalvingPruner``/``HyperbandPruner`` with the rung values they
  recorded themselves: imported runs never prune the study's trials.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, TypeGuard

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
    from typing import TypeAlias

    from tunegym.envs import SearchSpace
    from tunegym.service._core import WarmStartService
    from tunegym.space import Space

    SpaceLike: TypeAlias = Mapping[str, BaseDistribution] | Space | SearchSpace | SearchSpaceSpec

__all__ = [
    "IMPORTED_ATTR",
    "best_own_trial",
    "distributions_of",
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


def distributions_of(search_space: SpaceLike) -> dict[str, BaseDistribution]:
    """Any search space `warm_start` takes, as Optuna distributions (name -> distribution).

    * a mapping of Optuna distributions: as given;
    * a `tunegym.space.Space` (``LR_BS_SPACE``, ``LCBENCH_SPACE``, ...): its ``to_optuna()``;
    * the env's `tunegym.envs.SearchSpace`: on the grid, ``lr`` and ``batch_size`` as
      categoricals of its learning rates and batch sizes (exactly the env's candidates); over
      another space (``SearchSpace.sampled(LCBENCH_SPACE, n)``), that `Space`'s distributions;
    * the service's `SearchSpaceSpec`: `to_optuna`.

    Raises:
        TypeError: for anything else, or a mapping with a value that is no distribution.
    """
    from tunegym.space import Space

    if isinstance(search_space, Space):
        return search_space.to_optuna()
    if isinstance(search_space, SearchSpaceSpec):
        return to_optuna(search_space)
    if _is_env_search_space(search_space):
        if search_space.space is not None:
            return search_space.space.to_optuna()
        return {
            "lr": CategoricalDistribution(list(search_space.lrs)),
            "batch_size": CategoricalDistribution(list(search_space.batch_sizes)),
        }
    if isinstance(search_space, Mapping):
        bad = {
            str(name): type(dist).__name__
            for name, dist in search_space.items()
            if not isinstance(dist, BaseDistribution)
        }
        if bad:
            raise TypeError(
                f"search_space maps names to Optuna distributions, but {bad} are not "
                "(use e.g. FloatDistribution(1e-4, 0.1, log=True), or a tunegym.space.Space)."
            )
        return dict(search_space)
    raise TypeError(
        "search_space must be a mapping of Optuna distributions, a tunegym.space.Space "
        "(e.g. tunegym.space.LR_BS_SPACE or LCBENCH_SPACE), a tunegym.envs.SearchSpace or a "
        f"tunegym.service.SearchSpaceSpec; got {type(search_space).__name__}."
    )


def _is_env_search_space(value: Any) -> TypeGuard[SearchSpace]:
    """Whether ``value`` is a `tunegym.envs.SearchSpace` (without importing the envs to find
    out: one exists only once its module is loaded)."""
    module = sys.modules.get("tunegym.envs._task")
    return module is not None and isinstance(value, module.SearchSpace)


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
    search_space: SpaceLike,
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
        search_space: parameter name -> Optuna distribution, or a `tunegym.space.Space`, a
            `tunegym.envs.SearchSpace` or a `SearchSpaceSpec` (`distributions_of` converts
            it; `suggest` then takes the returned distributions). Learning rate, batch size and
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
        import_runs: also add the served configurations' runs as ``PRUNED`` trials with
            per-epoch intermediate values, flagged ``tunegym:imported``: TPE learns from them,
            while ``study.best_trial``/``best_params``/``best_value`` (complete trials only)
            stay the study's own (see the module notes on samplers and pruners).
        objective_of: maps a run's validation accuracy to the study's objective when importing
            (e.g. ``lambda acc: 1 - acc`` for a minimised error); default: the accuracy itself,
            which needs ``direction="maximize"``.
        api_key: for a service with a read key.

    Returns:
        The search space to suggest from (`suggest` does it): narrowed to the neighbours'
        box where ``narrow``, and always containing every enqueued configuration.

    Raises:
        TypeError: for a search space of another kind (`distributions_of`).
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
    given = distributions_of(search_space)
    spec = from_optuna(given, roles)
    description = _description(dataset)
    warm = WarmStartRequest(
        dataset=description, search_space=spec, k=k, neighbors=neighbors,
        include_self=include_self, include_curves=import_runs,
    )  # fmt: skip
    box = SearchSpaceRequest(
        dataset=description, search_space=spec, neighbors=neighbors, include_self=include_self
    )
    answer, narrowed = _ask(source, warm, box, api_key)
    distributions = to_optuna(narrowed.search_space) if narrow else given
    for config in answer.configurations:
        distributions = _contain(distributions, config.params)
    for config in answer.configurations:
        source_attrs = {
            SOURCE_ATTR: config.provenance.dataset,
            "tunegym:distance": config.provenance.distance,
            "tunegym:expected_score": config.expected_score,
        }
        study.enqueue_trial(dict(config.params), user_attrs=source_attrs, skip_if_exists=True)
    imported = _imported(answer, distributions, objective_of) if import_runs else []
    study.add_trials(imported)
    study.set_user_attr(
        "tunegym:warm_start",
        {
            "neighbors": [n.model_dump() for n in answer.neighbors],
            "narrowed": narrowed.narrowed,
            "enqueued": len(answer.configurations),
            "imported": len(imported),
            "source_space": None if answer.source_space is None else answer.source_space.name,
        },
    )
    return distributions


def _imported(
    answer: WarmStartOut,
    distributions: Mapping[str, BaseDistribution],
    objective_of: Callable[[float], float] | None,
) -> list[FrozenTrial]:
    """The served configurations' runs as ``PRUNED`` trials (see the module notes).

    Pruned, not complete: Optuna's best trial is chosen among complete trials only, so an
    imported run (another dataset's score) can never become the study's answer, while TPE
    still fits on it (it ranks pruned trials by their last intermediate value). Its value is
    that last intermediate value, as Optuna records for a trial pruned at its last step.
    """
    to_objective = objective_of or (lambda v: v)
    trials = []
    for config in answer.configurations:
        curve = config.curve or []
        if not curve or config.clipped:  # a clipped config is not what the neighbour ran
            continue
        trials.append(
            optuna.trial.create_trial(
                params=dict(config.params),
                distributions={name: distributions[name] for name in config.params},
                state=TrialState.PRUNED,
                value=to_objective(curve[-1]),
                intermediate_values={e: to_objective(v) for e, v in enumerate(curve, start=1)},
                user_attrs={
                    IMPORTED_ATTR: True,
                    SOURCE_ATTR: config.provenance.dataset,
                    "tunegym:distance": config.provenance.distance,
                    "tunegym:run_ids": list(config.provenance.run_ids),
                },
            )
        )
    return trials
