"""The oracle: the task's best candidate configuration, trained once for ``E_max`` epochs.

It reads the answer from recorded curves — a curve table or a `tunegym.envs.ReplayBackend`
(by default the env's own replay backend) — and is the limit a tuner can reach with one trial.
A configuration's score is the mean over the task's trial seeds (the env draws the trial's seed
itself) of either its best validation score at any epoch up to ``E_max`` (the incumbent the env
counts, so the default) or its score at its last epoch. Scores are the env's
(`tunegym.envs.metric_score`: ``exp(-loss)`` for the log loss). The candidates are the search's,
on the lr × batch-size grid or off it; a curve of a configuration that is not a candidate is
ignored.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from typing import Any, cast

import numpy as np
import pandas as pd

from tunegym.baselines._jobs import Job, JobPolicy
from tunegym.envs import ReplayBackend, TaskSpec, TuningEnv, metric_score
from tunegym.errors import did_you_mean

__all__ = ["Oracle", "OracleCriterion"]


class OracleCriterion(enum.Enum):
    """How the oracle scores a configuration (mean over the task's trial seeds)."""

    ANY_EPOCH = "any_epoch"  # best validation score at any epoch <= E_max
    FINAL = "final"  # validation score at the last epoch (E_max, or where it diverged)


def _table_curves(table: pd.DataFrame, task: TaskSpec) -> Iterator[tuple[int, np.ndarray]]:
    """(candidate index, scores by epoch) of each recorded (candidate, trial seed) curve."""
    names = sorted(table["dataset"].unique())
    if task.dataset not in names:
        raise ValueError(
            f"The oracle's curve table has no curves of {task.dataset!r} ({len(names)} datasets)."
            + did_you_mean(task.dataset, names)
        )
    space = task.space
    columns = list(space.names)
    missing = [c for c in (*columns, "epoch", task.metric) if c not in table]
    if missing:
        raise ValueError(
            f"The oracle's curve table lacks the column(s) {missing} (the search's "
            f"hyperparameters are {columns})."
        )
    part = table[(table["dataset"] == task.dataset) & (table["epoch"] <= space.max_epochs)]
    by = columns
    if "seed" in part:  # a table without seeds holds one curve per configuration
        part, by = part[part["seed"].isin(task.trial_seeds)], [*columns, "seed"]
    for key, rows in part.sort_values("epoch").groupby(by):
        values = cast(tuple[Any, ...], key)
        try:
            index = space.index_of(dict(zip(columns, values, strict=False)))
        except ValueError:
            continue  # not a candidate of this search
        yield index, metric_score(rows[task.metric].to_numpy(), task.metric)


def _backend_curves(backend: ReplayBackend, task: TaskSpec) -> Iterator[tuple[int, np.ndarray]]:
    """(candidate index, scores by epoch) of each candidate and trial seed the backend has."""
    space = task.space
    for index, config in enumerate(space.candidates):
        for seed in task.trial_seeds:
            try:
                handle = backend.start(config, seed)
            except KeyError:
                continue
            segment = backend.advance(handle, space.max_epochs)
            backend.release(handle)
            yield index, segment.scores


class Oracle(JobPolicy):
    """Trains the task's best candidate configuration once for ``E_max`` epochs, then stops.

    Args:
        source: recorded curves of the task: a curve table (`tunegym.envs.record_curves` format)
            or a `ReplayBackend`; ``None`` reads the env's own backend, which must then be a
            `ReplayBackend`.
        criterion: how configurations are scored (see `OracleCriterion`).

    Attributes:
        choice: the candidate index of the configuration chosen for the current episode (set
            by ``reset``; on the grid ``lr_index * n_batch_sizes + batch_size_index``).

    Raises:
        ValueError: at ``reset``, when there is no curve to read, or none of the task's
            candidates.
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
        totals = np.zeros(space.n_configs)
        counts = np.zeros_like(totals)
        for index, scores in curves:
            if not len(scores):
                continue
            any_epoch = self.criterion is OracleCriterion.ANY_EPOCH
            totals[index] += scores.max() if any_epoch else scores[-1]
            counts[index] += 1
        if not counts.any():
            raise ValueError(
                f"No recorded curve of {task.dataset!r} covers the task's candidates and trial "
                f"seeds {task.trial_seeds}."
            )
        means = np.where(counts > 0, totals / np.maximum(counts, 1), -np.inf)
        self.choice = int(np.argmax(means))  # the first best in candidate (grid: lr-major) order
        self._trained = False

    def _next_job(self) -> Job | None:
        if self._trained:
            return None
        self._trained = True
        return Job(self.choice, self.task.space.max_epochs)
