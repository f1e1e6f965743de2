"""Tiny meta-dataset (three sklearn datasets, a 3 x 2 grid, 4 epochs) and a quick agent on it."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tunegym.agent import AgentTrainConfig, MetaDataset, TrainedAgent, train_agent
from tunegym.data import load_dataset
from tunegym.envs import SearchSpace, record_curves

SPACE = SearchSpace(lrs=(1e-3, 1e-2, 1e-1), batch_sizes=(16, 64), max_epochs=4, k_choices=(1, 2, 4))
SEEDS = (0, 1)
PARTS = {
    "sklearn:iris": "meta-train",
    "sklearn:wine": "meta-train",
    "sklearn:breast_cancer": "meta-val",
}
N_SLOTS = 2
BUDGET = 8


def tiny_curves() -> pd.DataFrame:
    """Curves of the three datasets in one table, with the merged header."""
    frames = [record_curves(load_dataset(spec), SPACE, seeds=SEEDS) for spec in PARTS]
    curves = pd.concat(frames, ignore_index=True)
    stored = {k: v for f in frames for k, v in f.attrs["tunegym"]["datasets"].items()}
    curves.attrs["tunegym"] = {**frames[0].attrs["tunegym"], "datasets": stored}
    return curves


@pytest.fixture(scope="session")
def meta() -> MetaDataset:
    return MetaDataset.from_curves(tiny_curves(), PARTS)


@pytest.fixture(scope="session")
def quick_agent(meta: MetaDataset, tmp_path_factory: pytest.TempPathFactory) -> TrainedAgent:
    out = tmp_path_factory.mktemp("agent") / "quick"
    config = AgentTrainConfig.quick(
        out=str(out), budgets=(BUDGET,), eval_budget=BUDGET, n_slots=N_SLOTS
    )
    return train_agent(config, meta)


@pytest.fixture
def agent_dir(quick_agent: TrainedAgent) -> Path:
    return quick_agent.path
