"""The oracle: the task's best grid configuration, trained once for ``E_max`` epochs.

It reads the answer from recorded curves — a curve table or a `tunegym.envs.ReplayBackend`
(by default the env's own replay backend) — and is the limit a tuner can reach with one trial.
A configuration's score is the mean over the task's trial seeds (the env draws the trial's seed
itself) of either its best validation score at any epoch up to ``E_max`` (the incumbent the env
counts, so the default) or its score at its last epoch.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Iterator
from typing import cast

import numpy as np
import pandas as pd

from tunegym.baselines._jobs import Job, JobPolicy
from tunegym.envs import ReplayBackend, TaskSpec, TuningEnv
from tunegym.errors import did_you_mean

__all__ = ["Oracle", "OracleCriterion"]


class OracleCriterion(enum.Enum):
    """How the oracle scores a configuration (mean over the task's trial seeds)."""

    ANY_EPOCH = "any_epoch"  # best validation score at any epoch <= E_max
    FINAL = "final"  # validation score at the last epoch (E_max, or where it diverged)


def _table_curves(table: pd.DataFrame, task: TaskSpec) -> Iterator[tuple[float, int, np.ndarray]]:
    names = sorted(table["dataset"].unique())
    if task.dataset not in names:
        raise ValueError(
            f"The oracle's curve table has no curves of {task.dataset!r} ({len(names)} datasets)."
            + did_you_mean(task.dataset, names)
        )
    part = table[
        (table["dataset"] == task.dataset)
        & table["seed"].isin(task.trial_seeds)
        & (table["epoch"] <= task.space.max_epochs)
    ].sort_values("epoch")
    for key, rows in part.groupby(["lr", "batch_size", "seed"]):
        lr, batch_size, _ = cast(tuple[float, int, int], key)
        yield float(lr), int(batch_size), rows[task.metric].to_numpy(dtype=np.float64)


def _backend_curves(
    backend: ReplayBackend, task: TaskSpec
) -> Iterator[tuple[float, int, np.ndarray]]:
    space = task.space
    for lr in space.lrs:
        for batch_size in space.batch_sizes:
            for seed in task.trial_seeds:
                try:
                    handle = backend.start({"lr": lr, "batch_size": batch_size}, seed)
                except KeyError:
                    continue
                segment = backend.advance(handle, space.max_epochs)
                backend.release(handle)
                yield lr, batch_size, segment.scores


def _grid_index(values: tuple[float, ...], value: float) -> int | None:
    for i, v in enumerate(values):
        if math.isclose(v, value, rel_tol=1e-9):
            return i
    return None


class Oracle(JobPolicy):
    """Trains the task's best grid configuration once for ``E_max`` epochs, then stops.

    Args:
        source: recorded curves of the task: a curve table (`tunegym.envs.record_curves` format)
            or a `ReplayBackend`; ``None`` reads the env's own backend, which must then be a
            `ReplayBackend`.
        criterion: how configurations are scored (see `OracleCriterion`).

    Attributes:
        choice: ``(lr index, batch size index)`` of the configuration chosen for the current
            episode (set by ``reset``).

    Raises:
        ValueError: at ``reset``, when there is no curve to read, or none of the task's grid.
    """

    def __init__(
        self,
        source: pd.DataFrame | ReplayBackend | None = None,
        *,
        criterion: OracleCriterion = OracleCriterion.ANY_EPOCH,
    ) -> None:
        if not isinstance(criterion, OracleCriterion):
            raise TypeError(
                f"criterion must be a tunegym.baselines.OracleCriterion, got {criterion!r}."
            )
        self.source, self.criterion = source, criterion

    def _start(self, env: TuningEnv, seed: int) -> None:
        source = self.source if self.source is not None else env.backend
        task = self.task
        if isinstance(source, pd.DataFrame):
            curves = _table_curves(source, task)
        elif isinstance(source, ReplayBackend):
            curves = _backend_curves(source, task)
        else:
            raise ValueError(
                f"The oracle needs recorded curves: pass Oracle(curve_table) or a ReplayBackend "
                f"(the env's backend is a {type(source).__name__})."
            )
        space = task.space
        totals = np.zeros((len(space.lrs), len(space.batch_sizes)))
        counts = np.zeros_like(totals)
        for lr, batch_size, scores in curves:
            i = _grid_index(space.lrs, lr)
            if i is None or batch_size not in space.batch_sizes or not len(scores):
                continue
            b = space.batch_sizes.index(batch_size)
            totals[i, b] += (
                scores.max() if self.criterion is OracleCriterion.ANY_EPOCH else scores[-1]
            )
            counts[i, b] += 1
        if not counts.any():
            raise ValueError(
                f"No recorded curve of {task.dataset!r} covers the task's grid and trial seeds "
                f"{task.trial_seeds}."
            )
        means = np.where(counts > 0, totals / np.maximum(counts, 1), -np.inf)
        best = int(np.argmax(means))  # the first best in lr-major order
        self.choice = divmod(best, len(space.batch_sizes))
        self._trained = False

    def _next_job(self) -> Job | None:
        if self._trained:
            return None
        self._trained = True
        return Job(*self.choice, self.task.space.max_epochs)
