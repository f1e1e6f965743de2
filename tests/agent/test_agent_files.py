"""Quick meta-training, the pickle-free agent files, and load_agent's errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from sb3_contrib import MaskablePPO

from tests.agent.conftest import BUDGET, N_SLOTS, SEEDS, SPACE
from tunegym.agent import (
    AGENT_FILE,
    PRETRAINED_DIR,
    WEIGHTS_FILE,
    Agent,
    AgentSpec,
    MetaDataset,
    MultiTaskReplayEnv,
    TrainedAgent,
    load_agent,
)
from tunegym.agent._agent import project_increment, relax_increments
from tunegym.baselines import Policy, run_episode
from tunegym.envs import SearchSpace


def val_env(meta: MetaDataset) -> MultiTaskReplayEnv:
    return MultiTaskReplayEnv(
        meta, meta.datasets(), space=SPACE, budgets=(BUDGET,), n_slots=N_SLOTS, trial_seeds=SEEDS
    )


def test_quick_training_writes_an_agent_and_its_logs(quick_agent: TrainedAgent) -> None:
    out = quick_agent.path
    assert {AGENT_FILE, WEIGHTS_FILE, "evaluations.csv", "logs"} <= {p.name for p in out.iterdir()}
    assert (out / "logs" / "progress.csv").exists()
    payload = json.loads((out / AGENT_FILE).read_text())
    config = payload["training"]["config"]
    assert config["seed"] == 0 and config["timesteps"] == 64 and config["net_arch"] == [16]
    assert payload["training"]["train_datasets"] == ["sklearn:iris", "sklearn:wine"]
    assert payload["training"]["val_datasets"] == ["sklearn:breast_cancer"]
    assert payload["data"]["source"] == "curves"
    assert {"torch", "sb3_contrib", "stable_baselines3"} <= set(payload["versions"])
    assert quick_agent.evaluations[0].timesteps == 0
    assert quick_agent.timesteps >= 64
    assert quick_agent.best.val_regret == min(e.val_regret for e in quick_agent.evaluations)
    assert 0.0 <= quick_agent.random_val_regret <= 1.0


def test_weights_are_plain_tensors_loaded_without_pickle(
    agent_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = torch.load(agent_dir / WEIGHTS_FILE, weights_only=True)
    assert state and all(isinstance(v, torch.Tensor) for v in state.values())
    calls: list[dict[str, Any]] = []
    real_load = torch.load

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real_load(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    load_agent(agent_dir)
    assert calls and all(c.get("weights_only") is True for c in calls)


def test_reloaded_agent_acts_like_the_in_memory_policy(meta: MetaDataset, tmp_path: Path) -> None:
    env = val_env(meta)
    spec = AgentSpec(
        space=SPACE, n_slots=N_SLOTS, net_arch=(16,), budgets=(BUDGET,), trial_seeds=SEEDS
    )
    model = MaskablePPO("MlpPolicy", env, n_steps=32, batch_size=32, n_epochs=1,
                        policy_kwargs=spec.policy_kwargs(), seed=1, device="cpu")  # fmt: skip
    model.learn(64)
    Agent(model.policy, spec).save(tmp_path)  # type: ignore[arg-type]
    agent = load_agent(tmp_path / AGENT_FILE)  # the file works as well as its folder
    compared = 0
    for dataset in meta.datasets():
        task_env = env.task_env(dataset, BUDGET)
        obs, _ = task_env.reset(seed=0)
        done = False
        while not done:
            mask = task_env.action_masks()
            n_k = len(SPACE.k_choices)
            preferred, _ = model.predict(
                obs, action_masks=relax_increments(mask, n_k), deterministic=True
            )
            action = agent.act(obs, mask)
            assert action == project_increment(int(preferred), mask, n_k)
            assert mask[action]
            obs, _, terminated, truncated, _ = task_env.step(action)
            done, compared = terminated or truncated, compared + 1
    assert compared > 3


def test_agent_is_a_policy_for_run_episode(meta: MetaDataset, agent_dir: Path) -> None:
    agent = load_agent(agent_dir)
    assert isinstance(agent, Policy)
    result = run_episode(val_env(meta).task_env("sklearn:breast_cancer", BUDGET), agent, seed=0)
    assert result.epochs_used[-1] <= BUDGET
    assert 0.0 <= result.final_regret <= 1.0


def test_agent_refuses_an_env_of_another_grid(meta: MetaDataset, agent_dir: Path) -> None:
    other = SearchSpace(lrs=(1e-3, 1e-2), batch_sizes=(16, 64), max_epochs=4, k_choices=(1, 2, 4))
    env = MultiTaskReplayEnv(
        meta, ["sklearn:iris"], space=other, n_slots=N_SLOTS, trial_seeds=SEEDS
    )
    with pytest.raises(ValueError, match="cannot act on the env"):
        run_episode(env.current, load_agent(agent_dir), seed=0)


def copy_agent(source: Path, target: Path) -> Path:
    target.mkdir()
    for name in (AGENT_FILE, WEIGHTS_FILE):
        shutil.copyfile(source / name, target / name)
    return target


def test_missing_files_name_the_fix(agent_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"agent\.json is missing.*train-agent"):
        load_agent(tmp_path)
    folder = copy_agent(agent_dir, tmp_path / "a")
    (folder / WEIGHTS_FILE).unlink()
    with pytest.raises(FileNotFoundError, match=r"policy\.pt is missing"):
        load_agent(folder)


def test_corrupt_or_mismatched_files_are_refused(agent_dir: Path, tmp_path: Path) -> None:
    folder = copy_agent(agent_dir, tmp_path / "weights")
    weights = folder / WEIGHTS_FILE
    weights.write_bytes(weights.read_bytes()[:-100])
    with pytest.raises(ValueError, match="SHA-256"):
        load_agent(folder)

    folder = copy_agent(agent_dir, tmp_path / "json")
    (folder / AGENT_FILE).write_text("{ not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_agent(folder)

    folder = copy_agent(agent_dir, tmp_path / "arch")
    payload = json.loads((folder / AGENT_FILE).read_text())
    payload["net_arch"] = [32]  # the checksum still matches: the shapes do not
    (folder / AGENT_FILE).write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="do not fit the network"):
        load_agent(folder)

    payload["n_actions"] += 1
    (folder / AGENT_FILE).write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="declares"):
        load_agent(folder)

    payload["format"] = "something.else"
    (folder / AGENT_FILE).write_text(json.dumps(payload))
    with pytest.raises(ValueError, match="Not a tunegym agent"):
        load_agent(folder)


def test_shipped_agent_loads_and_fits_the_default_grid() -> None:
    agent = load_agent()
    assert (PRETRAINED_DIR / AGENT_FILE).exists()
    assert agent.spec.space == SearchSpace()
    assert agent.spec.n_slots == 8
    obs = np.zeros(len(agent.spec.observation_names), dtype=np.float32)
    mask = np.zeros(agent.spec.n_actions, dtype=bool)
    mask[-1] = True  # only stop
    assert agent.act(obs, mask) == agent.spec.n_actions - 1


def test_increments_are_relaxed_per_trial_and_projected_down() -> None:
    n_k = 3  # two new-trial configurations, one slot, then stop
    mask = np.array([1, 1, 0, 0, 0, 0, 1, 0, 0, 1], dtype=bool)
    relaxed = relax_increments(mask, n_k)
    assert relaxed.tolist() == [True] * 3 + [False] * 3 + [True] * 3 + [True]
    assert project_increment(2, mask, n_k) == 1  # k cut to the largest valid one below
    assert project_increment(1, mask, n_k) == 1  # a valid action is kept
    assert project_increment(8, mask, n_k) == 6
    assert project_increment(9, mask, n_k) == 9  # stop
