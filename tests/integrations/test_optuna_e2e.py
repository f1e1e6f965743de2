"""End to end: a real Optuna study warm-started over HTTP from ``tunegym serve`` on loopback."""

from __future__ import annotations

import optuna
import pytest
from optuna.distributions import FloatDistribution, IntDistribution
from sklearn.datasets import load_wine

from tests.integrations.conftest import API_KEY
from tunegym.integrations.optuna import IMPORTED_ATTR, best_own_trial, suggest, warm_start
from tunegym.service import Client, ServiceRequestError

SPACE = {
    "lr": FloatDistribution(1e-5, 1.0, log=True),
    "batch_size": IntDistribution(16, 512, log=True),
    "dropout": FloatDistribution(0.0, 0.5),
}


def _objective(trial: optuna.Trial, distributions: dict) -> float:
    params = suggest(trial, distributions)
    # A cheap stand-in for training: best near lr = 3e-3, small batches, no dropout.
    import math

    return 1.0 - 0.1 * abs(math.log10(params["lr"] / 3e-3)) - params["dropout"] / 10


def test_first_trials_of_a_study_are_the_served_configurations(live_service: str) -> None:
    X, y = load_wine(return_X_y=True)
    from tunegym.metastore import compute_meta_features

    features = {k: v for k, v in compute_meta_features(X, y).items() if v == v}
    with Client(live_service) as client:
        served = client.warm_start({"meta_features": features}, _space_spec(), k=5)
    assert len(served.configurations) == 5
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=0))
    narrowed = warm_start(study, SPACE, (X, y), k=5, source=live_service)
    study.optimize(lambda t: _objective(t, narrowed), n_trials=8)
    first = [{k: t.params[k] for k in ("lr", "batch_size")} for t in study.trials[:5]]
    assert first == [c.params for c in served.configurations]
    assert [t.user_attrs["tunegym:source"] for t in study.trials[:5]] == [
        c.provenance.dataset for c in served.configurations
    ]
    # The narrowed space holds every served configuration and lies inside the given one.
    for config in served.configurations:
        assert narrowed["lr"].low <= config.params["lr"] <= narrowed["lr"].high
    assert SPACE["lr"].low <= narrowed["lr"].low <= narrowed["lr"].high <= SPACE["lr"].high
    assert narrowed["dropout"] == SPACE["dropout"]  # no role: left to the sampler


def test_reported_runs_are_served_back(live_service: str) -> None:
    study = optuna.create_study(direction="maximize")
    narrowed = warm_start(study, SPACE, "sklearn:wine", k=3, source=live_service)
    study.optimize(lambda t: _objective(t, narrowed), n_trials=4)
    best = best_own_trial(study)
    runs = [
        {"params": t.params, "scores": [t.value * 0.9, t.value], "seed": 0}
        for t in study.trials
        if t.value is not None
    ]
    with Client(live_service, api_key=API_KEY) as client:
        stored = client.report_runs(
            {"name": "e2e:wine-copy", "meta_features": {"NumberOfInstances": 178.0}},
            runs,
            tuner="optuna-tpe",
        )
        assert len(stored.run_ids) == len(runs)
        assert stored.candidate
        again = client.warm_start(
            {"name": "e2e:wine-copy"}, _space_spec(), k=1, include_reported=True
        )
    top = again.configurations[0]
    assert top.provenance.dataset == "e2e:wine-copy"
    assert top.provenance.source == "reported"
    assert set(top.provenance.run_ids) <= set(stored.run_ids)
    assert top.params == {"lr": best.params["lr"], "batch_size": best.params["batch_size"]}


def test_reporting_without_the_key_is_refused(live_service: str) -> None:
    with Client(live_service, retries=0) as client, pytest.raises(ServiceRequestError) as err:
        client.report_runs({"name": "x"}, [{"params": {"lr": 0.1}, "final_score": 0.5}])
    assert err.value.status_code == 401
    assert "API key" in str(err.value)


def test_imported_runs_carry_intermediate_values(live_service: str) -> None:
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.MedianPruner())
    warm_start(study, SPACE, 187, k=4, source=live_service, import_runs=True)  # OpenML wine
    imported = [t for t in study.trials if t.user_attrs.get(IMPORTED_ATTR)]
    assert imported
    for trial in imported:
        assert trial.state == optuna.trial.TrialState.PRUNED  # never the study's best
        assert sorted(trial.intermediate_values) == list(range(1, 17))
        assert trial.value == trial.intermediate_values[16]
    with pytest.raises(ValueError, match="No own trial"):
        best_own_trial(study)


def _space_spec() -> dict:
    from tunegym.integrations.optuna import from_optuna

    return from_optuna(SPACE).model_dump(exclude_none=True)
