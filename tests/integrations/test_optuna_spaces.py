"""The Optuna helper on LCBench's seven hyperparameters: trials from meta-dataset v2, whole."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tests.service._lcbench import DATASETS, NAMES, build_lcbench_snapshot, stored_configs
from tunegym.integrations.optuna import (
    IMPORTED_ATTR,
    distributions_of,
    suggest,
    to_optuna,
    warm_start,
)
from tunegym.metastore import SNAPSHOT_DIR
from tunegym.service import SearchSpaceSpec, WarmStartService
from tunegym.space import LCBENCH_SPACE, LR_BS_SPACE

optuna.logging.set_verbosity(optuna.logging.WARNING)

LCBENCH = to_optuna(SearchSpaceSpec.from_space(LCBENCH_SPACE))


@pytest.fixture(scope="module")
def v2_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lcbench_snapshot(tmp_path_factory.mktemp("lcbench"))


@pytest.fixture(scope="module")
def service(v2_snapshot: Path) -> WarmStartService:
    """Meta-dataset v1 (shipped) and a small v2, in-process."""
    return WarmStartService.open(store=None, snapshot=[SNAPSHOT_DIR, v2_snapshot])


def test_the_study_space_is_lcbench_s() -> None:
    assert sorted(LCBENCH) == list(NAMES)
    assert LCBENCH["num_layers"] == IntDistribution(1, 5)
    assert LCBENCH["learning_rate"] == FloatDistribution(1e-4, 0.1, log=True)


def test_enqueued_trials_carry_all_seven_stored_values(
    service: WarmStartService, v2_snapshot: Path
) -> None:
    study = optuna.create_study(direction="maximize")
    narrowed = warm_start(study, LCBENCH, "keel:german", k=5, source=service)
    waiting = study.get_trials(states=(optuna.trial.TrialState.WAITING,))
    assert len(waiting) == 3  # the small v2 has three configurations
    stored = stored_configs(v2_snapshot)
    fixed = [t.system_attrs["fixed_params"] for t in waiting]
    assert {tuple(sorted(p.items())) for p in fixed} == stored  # every value, exactly
    assert {t.user_attrs["tunegym:source"] for t in waiting} <= set(DATASETS)
    record = study.user_attrs["tunegym:warm_start"]
    assert (record["source_space"], record["enqueued"]) == ("lcbench", 3)
    assert set(narrowed) == set(NAMES)
    # The objective sees the seven enqueued values, inside the returned distributions.
    seen: list[dict[str, object]] = []

    def objective(trial: optuna.Trial) -> float:
        seen.append(suggest(trial, narrowed))
        return 0.5

    study.optimize(objective, n_trials=3)
    assert seen == fixed
    assert [t.params for t in study.trials] == fixed


def test_imported_lcbench_runs_are_trials_of_the_seven(service: WarmStartService) -> None:
    study = optuna.create_study(direction="maximize")
    warm_start(study, LCBENCH, "keel:german", k=3, source=service, import_runs=True)
    imported = [t for t in study.trials if t.user_attrs.get(IMPORTED_ATTR)]
    assert len(imported) == 3
    for trial in imported:
        assert set(trial.params) == set(NAMES) and set(trial.distributions) == set(NAMES)
        assert trial.value == trial.intermediate_values[max(trial.intermediate_values)]


def test_a_grid_study_still_gets_v1(service: WarmStartService) -> None:
    space = {
        "lr": FloatDistribution(1e-5, 10.0, log=True),
        "batch_size": IntDistribution(16, 512, log=True),
    }
    study = optuna.create_study(direction="maximize")
    warm_start(study, space, "keel:german", k=4, source=service)
    assert study.user_attrs["tunegym:warm_start"]["source_space"] == "lr-bs"
    params = [t.system_attrs["fixed_params"] for t in study.trials]
    assert len(params) == 4 and all(set(p) == {"lr", "batch_size"} for p in params)


# --- every kind of search space --------------------------------------------------------------


def test_a_tunegym_space_is_taken_as_is() -> None:
    assert distributions_of(LCBENCH_SPACE) == LCBENCH
    assert distributions_of(LR_BS_SPACE) == {
        "lr": FloatDistribution(1e-5, 10.0, log=True),
        "batch_size": IntDistribution(16, 512, log=True),
    }
    assert distributions_of(SearchSpaceSpec.from_space(LCBENCH_SPACE)) == LCBENCH
    assert distributions_of(LCBENCH) == LCBENCH


def test_the_env_search_space_is_its_grid_or_its_space() -> None:
    from tunegym.envs import SearchSpace

    grid = SearchSpace()
    assert distributions_of(grid) == {
        "lr": CategoricalDistribution(grid.lrs),
        "batch_size": CategoricalDistribution(grid.batch_sizes),
    }
    sampled = SearchSpace.sampled(LCBENCH_SPACE, 8, seed=0, max_epochs=50)
    assert distributions_of(sampled) == LCBENCH


def test_warm_start_takes_a_space_and_the_env_grid(service: WarmStartService) -> None:
    from tunegym.envs import SearchSpace

    for space in (LR_BS_SPACE, SearchSpace()):
        study = optuna.create_study(direction="maximize")
        narrowed = warm_start(study, space, "keel:german", k=4, source=service)  # type: ignore[arg-type]
        assert study.user_attrs["tunegym:warm_start"]["source_space"] == "lr-bs"
        fixed = [t.system_attrs["fixed_params"] for t in study.trials]
        assert len(fixed) == 4 and all(set(p) == {"lr", "batch_size"} for p in fixed)
        study.optimize(lambda t, d=narrowed: float(len(suggest(t, d))), n_trials=5)
        assert [t.params for t in study.trials[:4]] == fixed
    grid = SearchSpace()
    assert all(p["lr"] in grid.lrs and p["batch_size"] in grid.batch_sizes for p in fixed)


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ([FloatDistribution(0.0, 1.0)], "got list"),
        ("lr-bs", "got str"),
        ({"lr": (1e-4, 0.1)}, r"\{'lr': 'tuple'\} are not"),
    ],
)
def test_other_spaces_are_a_type_error_that_says_what_is_taken(
    service: WarmStartService, space: object, message: str
) -> None:
    study = optuna.create_study(direction="maximize")
    with pytest.raises(TypeError, match=message) as err:
        warm_start(study, space, "keel:german", source=service)  # type: ignore[arg-type]
    assert "tunegym.space.Space" in str(err.value)
    assert study.trials == []
