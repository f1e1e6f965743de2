"""`MultiTaskReplayEnv`: one Gymnasium env over many datasets' recorded curves, for meta-training.

Each ``reset`` draws a dataset and an epoch budget with the env's seeded ``np_random`` and
replays that task through its own `tunegym.envs.TuningEnv` (a `ReplayBackend` over the
dataset's curves, and its leave-one-out warm-start prior). Every task shares the grid and the
number of slots, so the observation and action spaces are the same whatever is drawn: a policy
trained here acts on any `TuningEnv` of that grid, live ones included. The budget is only seen
through the observation's used/left fractions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from tunegym.agent._metadata import MetaDataset
from tunegym.envs import RENDER_MODES, ReplayBackend, SearchSpace, TaskSpec, TuningEnv

__all__ = ["MultiTaskReplayEnv"]


class MultiTaskReplayEnv(gym.Env[np.ndarray, np.int64]):
    """Replay env that draws a dataset and a budget at every reset.

    Args:
        data: the meta-dataset holding the curves.
        datasets: the datasets to draw from (uniformly).
        space: the grid (each dataset's curves must cover it for every trial seed).
        budgets: epoch budgets to draw from (uniformly).
        n_slots: trials kept open for continuation.
        trial_seeds: seeds new trials draw from (recorded for each dataset).
        metric: the validation metric.
        priors: warm-start prior per dataset (e.g. `MetaDataset.priors`); zeros where absent.
        invalid_action_penalty: reward of an invalid action, negated.

    Example:
        >>> env = MultiTaskReplayEnv(data, data.datasets("meta-train"), space=data.space)
        >>> obs, info = env.reset(seed=0)
        >>> info["dataset"] in data.datasets("meta-train")
        True
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 4}  # noqa: RUF012  (gymnasium declares it this way)

    def __init__(
        self,
        data: MetaDataset,
        datasets: Sequence[str],
        *,
        space: SearchSpace,
        budgets: Sequence[int] = (64,),
        n_slots: int = 8,
        trial_seeds: tuple[int, ...] = (0, 1, 2),
        metric: str = "val_accuracy",
        priors: Mapping[str, np.ndarray] | None = None,
        invalid_action_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        if not datasets:
            raise ValueError("MultiTaskReplayEnv needs at least one dataset, got none.")
        if not budgets:
            raise ValueError("MultiTaskReplayEnv needs at least one budget, got none.")
        self.datasets = tuple(datasets)
        self.budgets = tuple(int(b) for b in budgets)
        priors = priors or {}
        self._envs: dict[tuple[str, int], TuningEnv] = {}
        for name in self.datasets:
            backend = ReplayBackend(
                data.curves_of(name), name, metric=metric, space=space, seeds=trial_seeds
            )
            for budget in self.budgets:
                task = TaskSpec(
                    dataset=name,
                    space=space,
                    budget_epochs=budget,
                    n_slots=n_slots,
                    trial_seeds=trial_seeds,
                    metric=metric,
                )
                # One backend per dataset: its envs never run at the same time, and each
                # releases its own trials at reset.
                self._envs[(name, budget)] = TuningEnv(
                    task,
                    backend,
                    prior=priors.get(name),
                    invalid_action_penalty=invalid_action_penalty,
                    render_mode=render_mode,
                )
        self.current = self._envs[(self.datasets[0], self.budgets[0])]
        self.observation_space = self.current.observation_space
        self.action_space = self.current.action_space
        self.render_mode = render_mode

    def task_env(self, dataset: str, budget: int) -> TuningEnv:
        """The single-task env of ``dataset`` at ``budget`` (e.g. to evaluate a policy on it)."""
        try:
            return self._envs[(dataset, int(budget))]
        except KeyError:
            raise ValueError(
                f"No task ({dataset!r}, budget {budget}); datasets {list(self.datasets)[:5]}..., "
                f"budgets {list(self.budgets)}."
            ) from None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        """Draw a task (or take ``options["dataset"]``/``options["budget_epochs"]``) and reset it."""
        super().reset(seed=seed)
        options = options or {}
        rng = self.np_random
        dataset = options.get("dataset", self.datasets[int(rng.integers(len(self.datasets)))])
        budget = options.get("budget_epochs", self.budgets[int(rng.integers(len(self.budgets)))])
        self.current = self.task_env(dataset, budget)
        obs, info = self.current.reset(seed=int(rng.integers(2**31 - 1)))
        return obs, {**info, "dataset": dataset, "budget_epochs": budget}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.current.step(action)
        info["dataset"] = self.current.task.dataset
        return obs, reward, terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Valid actions of the current task (what ``MaskablePPO`` asks for)."""
        return self.current.action_masks()

    @property
    def regret(self) -> float:
        """Normalised regret of the current task's incumbent."""
        return self.current.regret

    def render(self) -> str | np.ndarray | None:
        return self.current.render()

    def close(self) -> None:
        for env in self._envs.values():
            env.close()
        super().close()
