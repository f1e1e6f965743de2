"""Trials of LCBench's space in the store: one flow for the family, the shape in the setup."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegym.data import load_dataset
from tunegym.envs import ReplayBackend, SearchSpace, TaskSpec, TuningEnv, trial_setup
from tunegym.metastore import FlowSpace, MetaStore, SearchGrid, trial_identity
from tunegym.space import LCBENCH_SPACE, LR_BS_SPACE
from tunegym.training import MLPSpec, TrainConfig, Trial


def test_a_funnel_is_a_family_flow_with_its_shape_in_the_setup() -> None:
    config = LCBENCH_SPACE.sample(1, seed=0)[0]
    model, params = trial_identity(*trial_setup(config, 50, seed=3))
    assert model == {"kind": "funnel", "activation": "relu"}
    assert {"num_layers", "max_units", "max_dropout", "momentum", "lr"} <= set(params)
    assert "seed" not in params
    brick, grid_params = trial_identity(TrainConfig(1e-2, 16, 4), MLPSpec())
    assert "kind" not in brick and set(grid_params) >= {"lr", "batch_size", "max_epochs"}


def test_lcbench_trials_read_back_as_a_table_of_its_space_and_replay() -> None:
    dataset = load_dataset("sklearn:iris")
    search = SearchSpace.sampled(LCBENCH_SPACE, 3, seed=0, max_epochs=2, k_choices=(1, 2))
    with MetaStore(":memory:") as store:
        for config in search.candidates:
            for seed in (0, 1):
                train, spec = trial_setup(config, 2, seed)
                history = Trial(dataset, train, spec, eval_test=True).train(2)
                store.log_trial(dataset, train, spec, history)
        assert store.stats().flows == 1 and store.stats().runs == 6
        table = store.curves("sklearn:iris")
    assert list(table.columns[:8]) == ["dataset", *sorted(LCBENCH_SPACE.names)]
    assert len(table) == 12
    backend = ReplayBackend(table, space=search, seeds=(0, 1))
    task = TaskSpec("sklearn:iris", space=search, budget_epochs=4, trial_seeds=(0, 1))
    env = TuningEnv(task, backend)
    env.reset(seed=0)
    *_, info = env.step(env.codec.new_config(1, 2))
    assert (
        info["step"]["epochs"] == 2
        and info["step"]["num_layers"] == search.candidates[1]["num_layers"]
    )
    with pytest.raises(ValueError, match="lacks the column"):  # no grid columns in it
        ReplayBackend(table, space=SearchSpace())


def test_a_funnel_flow_records_its_space_and_it_survives_export(tmp_path: Path) -> None:
    dataset = load_dataset("sklearn:iris")
    config = LCBENCH_SPACE.sample(1, seed=0)[0]
    name = "tunegym.mlp(activation=relu,kind=funnel)"
    with MetaStore(tmp_path / "a.sqlite") as store:
        for epochs in (2, 3):
            train, spec = trial_setup(config, epochs, seed=0)
            store.log_trial(dataset, train, spec, Trial(dataset, train, spec).train(1))
        assert store.get_or_create_flow(name).search_space == FlowSpace(LCBENCH_SPACE, 3)
        store.export_parquet(tmp_path / "export")
        with pytest.raises(ValueError, match="a grid and a space do not mix"):
            store.get_or_create_flow(name, search_space=SearchGrid((1e-3,), (16,), 4))
    with MetaStore(tmp_path / "b.sqlite") as other:
        other.import_parquet(tmp_path / "export")
        assert other.get_or_create_flow(name).search_space == FlowSpace(LCBENCH_SPACE, 3)
    with pytest.raises(ValueError, match="A flow searches one space"):
        FlowSpace(LCBENCH_SPACE, 3).union(FlowSpace(LR_BS_SPACE, 3))
