"""The Optuna helper in-process: space conversion, enqueueing, narrowing, importing runs."""

from __future__ import annotations

import math

import optuna
import pytest
from optuna.distributions import (
    CategoricalDistribution,
    FloatDistribution,
    IntDistribution,
)
from optuna.trial import TrialState

from tunegym.integrations.optuna import (
    IMPORTED_ATTR,
    SOURCE_ATTR,
    best_own_trial,
    from_optuna,
    own_trials,
    suggest,
    to_optuna,
    warm_start,
)
from tunegym.service import WarmStartRequest

optuna.logging.set_verbosity(optuna.logging.WARNING)

SPACE = {
    "learning_rate": FloatDistribution(1e-4, 0.1, log=True),
    "batch_size": CategoricalDistribution([32, 64, 128, 256]),
    "epochs": IntDistribution(2, 20),
    "activation": CategoricalDistribution(["relu", "tanh"]),
}


def test_space_round_trip_keeps_every_distribution() -> None:
    space = {
        **SPACE,
        "wd": FloatDistribution(0.0, 0.1, step=0.01),
        "width": IntDistribution(16, 256, step=16),
        "depth": IntDistribution(1, 8, log=True),
    }
    assert to_optuna(from_optuna(space)) == space


def test_unsupported_choices_and_unknown_roles_are_errors() -> None:
    with pytest.raises(ValueError, match="str/bool/int/float"):
        from_optuna({"x": CategoricalDistribution([None, 1])})
    with pytest.raises(ValueError, match="not in the search space"):
        from_optuna(SPACE, roles={"momentum": "learning_rate"})


def test_enqueued_trials_are_the_served_ones_and_inside_the_returned_space(
    snapshot_service,  # type: ignore[no-untyped-def]
) -> None:
    study = optuna.create_study(direction="maximize")
    narrowed = warm_start(study, SPACE, "keel:german", k=6, source=snapshot_service)
    served = snapshot_service.warm_start(
        WarmStartRequest(dataset={"name": "keel:german"}, search_space=from_optuna(SPACE), k=6)
    ).configurations
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert [t.system_attrs["fixed_params"] for t in waiting] == [c.params for c in served]
    for config in served:
        assert set(config.params) == {"learning_rate", "batch_size", "epochs"}
        assert config.params["batch_size"] in narrowed["batch_size"].choices
        assert narrowed["learning_rate"].low <= config.params["learning_rate"]
        assert config.params["learning_rate"] <= narrowed["learning_rate"].high
    assert narrowed["activation"] == SPACE["activation"]
    assert narrowed["epochs"] == SPACE["epochs"]  # epochs are never narrowed
    # Enqueueing again adds nothing (skip_if_exists).
    warm_start(study, SPACE, "keel:german", k=6, source=snapshot_service)
    assert len(study.get_trials(states=(optuna.trial.TrialState.WAITING,))) == len(waiting)
    # The objective sees exactly the enqueued values.
    study.optimize(lambda t: float(len(suggest(t, narrowed))), n_trials=len(waiting))
    assert [t.params for t in study.trials][: len(waiting)] == [
        {**c.params, "activation": t.params["activation"]}
        for c, t in zip(served, study.trials, strict=False)
    ]


def test_roles_map_parameters_with_other_names(snapshot_service) -> None:  # type: ignore[no-untyped-def]
    space = {"eta": FloatDistribution(1e-4, 1.0, log=True), "mb": IntDistribution(8, 1024)}
    study = optuna.create_study(direction="maximize")
    warm_start(
        study, space, 61, k=3, source=snapshot_service,
        roles={"eta": "learning_rate", "mb": "batch_size"},
    )  # fmt: skip
    params = [t.system_attrs["fixed_params"] for t in study.trials]
    assert len(params) == 3
    assert all(set(p) == {"eta", "mb"} for p in params)


def test_imported_runs_and_own_trials(snapshot_service) -> None:  # type: ignore[no-untyped-def]
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner())
    warm_start(study, SPACE, "keel:german", k=4, source=snapshot_service, import_runs=True)
    imported = [t for t in study.trials if t.user_attrs.get(IMPORTED_ATTR)]
    assert 1 <= len(imported) <= 4
    record = study.user_attrs["tunegym:warm_start"]
    assert record["imported"] == len(imported)
    neighbours = {n["dataset"] for n in record["neighbors"]}
    for trial in imported:
        assert trial.state == TrialState.PRUNED  # so that best_* never pick one
        assert trial.user_attrs[SOURCE_ATTR] in neighbours
        assert trial.intermediate_values
        assert trial.value == trial.intermediate_values[max(trial.intermediate_values)]
    with pytest.raises(ValueError, match="No trials are completed yet"):
        study.best_trial  # noqa: B018 - the property raises: no own trial has finished
    study.optimize(lambda t: 0.5 + 0 * len(suggest(t, SPACE)), n_trials=2)
    own = own_trials(study)
    assert all(not t.user_attrs.get(IMPORTED_ATTR) for t in own)
    assert max(t.value for t in imported if t.value is not None) > 0.5
    # Imported runs score higher but are another dataset's: the study's answers are its own.
    assert study.best_value == 0.5
    assert not study.best_trial.user_attrs.get(IMPORTED_ATTR)
    assert study.best_params in [t.params for t in own]
    assert best_own_trial(study).number == study.best_trial.number


def test_tpe_fits_on_the_imported_runs(snapshot_service) -> None:  # type: ignore[no-untyped-def]
    """The imported (pruned) trials count for TPE: with n_startup_trials of them it samples
    from its model at once, where the same sampler on a study without them samples at random."""
    space = {
        "lr": FloatDistribution(1e-5, 10.0, log=True),
        "batch_size": IntDistribution(16, 512, log=True),
    }

    def next_lrs(import_runs: bool) -> list[float]:
        sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=4)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        warm_start(
            study, space, "keel:german", k=4, narrow=False, source=snapshot_service,
            import_runs=import_runs,
        )  # fmt: skip
        for _ in study.get_trials(states=(TrialState.WAITING,)):  # the enqueued ones
            study.tell(study.ask(), state=TrialState.FAIL)  # TPE ignores failed trials
        assert len(study.get_trials(states=(TrialState.PRUNED,))) == (4 if import_runs else 0)
        return [study.ask(space).params["lr"] for _ in range(3)]

    assert next_lrs(import_runs=True) != next_lrs(import_runs=False)


def test_minimising_study_needs_a_transform(snapshot_service) -> None:  # type: ignore[no-untyped-def]
    study = optuna.create_study(direction="minimize")
    with pytest.raises(ValueError, match="objective_of"):
        warm_start(study, SPACE, "keel:german", source=snapshot_service, import_runs=True)
    warm_start(
        study, SPACE, "keel:german", k=2, source=snapshot_service, import_runs=True,
        objective_of=lambda acc: 1 - acc,
    )  # fmt: skip
    imported = [t for t in study.trials if t.user_attrs.get(IMPORTED_ATTR)]
    assert imported
    assert all(0 <= t.value <= 1 for t in imported)
    with pytest.raises(ValueError, match="single-objective"):
        warm_start(optuna.create_study(directions=["maximize", "minimize"]), SPACE, 61)


def test_dataset_arguments(snapshot_service) -> None:  # type: ignore[no-untyped-def]
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    by_data = optuna.create_study(direction="maximize")
    warm_start(by_data, SPACE, (X, y), k=2, source=snapshot_service)
    by_name = optuna.create_study(direction="maximize")
    warm_start(by_name, SPACE, "sklearn:iris", k=2, source=snapshot_service)
    assert [t.system_attrs for t in by_data.trials] == [t.system_attrs for t in by_name.trials]
    with pytest.raises(TypeError, match="OpenML id"):
        warm_start(by_name, SPACE, 3.5, source=snapshot_service)
    from tunegym.service import NotFoundError

    with pytest.raises(NotFoundError, match="Did you mean"):
        warm_start(by_name, SPACE, "keel:germn", source=snapshot_service)


def test_default_source_is_the_shipped_snapshot() -> None:
    study = optuna.create_study(direction="maximize")
    narrowed = warm_start(study, SPACE, {"NumberOfInstances": 1000.0, "NumberOfClasses": 2.0})
    assert len(study.trials) == 8
    assert math.isfinite(narrowed["learning_rate"].low)
