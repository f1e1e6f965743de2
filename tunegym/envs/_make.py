"""Build a `TuningEnv` from plain arguments (what ``gymnasium.make`` passes)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunegym.data import TabularDataset, load_dataset
from tunegym.envs._backends import Backend, LiveBackend, ReplayBackend, TrialLogger
from tunegym.envs._env import TuningEnv
from tunegym.envs._lcbench import LCBENCH_PREFIX, lcbench_backend
from tunegym.envs._task import SearchSpace, TaskSpec
from tunegym.errors import did_you_mean
from tunegym.training import MLPSpec

__all__ = ["ENV_ID", "lcbench_search", "make_tuning_env"]

ENV_ID = "tunegym/NNTuning-v0"
_BACKENDS = ("live", "replay", "lcbench")

# The candidates of an LCBench env when none are given: Sobol points of its 7 hyperparameters.
LCBENCH_CANDIDATES = 256

# Meta-dataset v2's candidates (`tunegym.metastore.LCBENCH_SNAPSHOT_DIR`): what ``space="lcbench"``
# searches, live or replayed, so that a live env and the replayed snapshot are one task.
V2_CANDIDATES, V2_SEED, V2_EPOCHS = 100, 0, 50


def lcbench_search() -> SearchSpace:
    """The 100 Sobol candidates (seed 0, ``E_max`` 50) of LCBench's space that meta-dataset v2
    recorded on every dataset."""
    from tunegym.space import LCBENCH_SPACE

    return SearchSpace.sampled(LCBENCH_SPACE, V2_CANDIDATES, seed=V2_SEED, max_epochs=V2_EPOCHS)


def make_tuning_env(
    dataset: str | TabularDataset,
    backend: str | Backend = "live",
    *,
    curves: pd.DataFrame | str | Path | None = None,
    space: SearchSpace | str | None = None,
    budget_epochs: int = 64,
    budget_seconds: float | None = None,
    n_slots: int = 8,
    model: MLPSpec | None = None,
    trial_seeds: tuple[int, ...] | None = None,
    metric: str = "val_accuracy",
    max_steps: int | None = None,
    split_seed: int = 0,
    device: str = "cpu",
    prior: np.ndarray | None = None,
    score_bounds: tuple[float, float] | None = None,
    invalid_action_penalty: float = 0.0,
    render_mode: str | None = None,
    store: TrialLogger | None = None,
) -> TuningEnv:
    """A tuning env for one dataset, live or replayed.

    Args:
        dataset: a dataset spec (``"keel:german"``) or a loaded `TabularDataset`. For replay, the
            name under which its curves were recorded.
        backend: ``"live"`` (really train), ``"replay"`` (serve ``curves``), ``"lcbench"``
            (LCBench's surrogate, for ``dataset="lcbench:<task>"``, e.g. ``"lcbench:adult"``:
            `lcbench_backend`; ``"replay"`` of an ``lcbench:`` name does the same), or a
            `Backend`.
        curves: recorded curves (DataFrame or Parquet path) for the replay backend; ``None``
            with a dataset spec replays the meta-dataset snapshot shipped with the package
            (`tunegym.metastore.load_snapshot`: every bundled dataset, the default grid).
        space: the candidates (default `SearchSpace()`, the 13 × 6 grid; for LCBench 256 Sobol
            points of `tunegym.space.LCBENCH_SPACE` with ``E_max`` 52), or ``"lcbench"``:
            meta-dataset v2's 100 candidates of LCBench's space (`lcbench_search`), which
            ``"replay"`` serves from the v2 snapshot (`tunegym.metastore.LCBENCH_SNAPSHOT_DIR`)
            and ``"live"`` trains.
        budget_epochs: epochs the tuner may spend.
        budget_seconds: optional seconds budget.
        n_slots: trials kept open for continuation.
        model: the network (default `MLPSpec()`).
        trial_seeds: seeds new trials draw from (default: in replay the seeds the curves hold,
            e.g. (0, 1) for meta-dataset v2; else (0, 1, 2)).
        metric: a key of `SCORE_METRICS` (``"val_accuracy"``, ``"val_f1_macro"``, ``"val_loss"``, ...).
        max_steps: safety cap on steps (default ``4 * budget_epochs + 16``).
        split_seed: seed of the train/val/test split when ``dataset`` is a spec (live).
        device: training device (live).
        prior: warm-start prior, one value in [0, 1] per grid configuration.
        score_bounds: (best, worst) for the live backend, e.g. from recorded curves, so that its
            rewards are regret reductions as in replay.
        invalid_action_penalty: reward subtracted for an invalid action.
        render_mode: ``None`` or ``"ansi"``.
        store: a `tunegym.metastore.MetaStore` where the live backend logs every trial.

    Example:
        >>> env = make_tuning_env("sklearn:iris", "live", budget_epochs=8,
        ...                       space=SearchSpace(max_epochs=4))
        >>> obs, info = env.reset(seed=0)
    """
    name = dataset if isinstance(dataset, str) else dataset.name
    surrogate = backend == "lcbench" or (backend == "replay" and name.startswith(LCBENCH_PREFIX))
    v2 = space == "lcbench"
    if isinstance(space, str):
        if not v2:
            raise ValueError(
                f"Unknown space {space!r}: give a SearchSpace, or 'lcbench' for meta-dataset "
                "v2's candidates of LCBench's space." + did_you_mean(space, ["lcbench"])
            )
        space = lcbench_search()
    if surrogate and space is None:
        from tunegym.space import LCBENCH_SPACE

        space = SearchSpace.sampled(LCBENCH_SPACE, LCBENCH_CANDIDATES, seed=0, max_epochs=52)
    space = space or SearchSpace()
    model = model or MLPSpec()
    chosen: Backend
    if isinstance(backend, str):
        if surrogate:
            chosen = lcbench_backend(name, space, metric=metric)
        elif backend == "live":
            data = (
                dataset
                if isinstance(dataset, TabularDataset)
                else load_dataset(dataset, seed=split_seed)
            )
            chosen = LiveBackend(
                data,
                space,
                model,
                metric=metric,
                device=device,
                score_bounds=score_bounds,
                store=store,
            )
        elif backend == "replay":
            if curves is None and not isinstance(dataset, str):
                raise ValueError(
                    "The replay backend needs curves= (a curve table or Parquet path) for a "
                    "loaded dataset; give a spec ('keel:german') to replay the shipped snapshot."
                )
            if curves is None:  # the meta-dataset shipped with the package
                from tunegym.metastore import LCBENCH_SNAPSHOT_DIR, load_snapshot

                if not (space.is_grid or v2):
                    raise ValueError(
                        "The shipped meta-datasets replay the lr x batch-size grid and "
                        "space='lcbench' (meta-dataset v2's candidates); give curves= for "
                        "other candidates."
                    )
                curves = load_snapshot([name], path=None if space.is_grid else LCBENCH_SNAPSHOT_DIR)
            chosen = ReplayBackend(curves, name, metric=metric, space=space, seeds=trial_seeds)
            trial_seeds = trial_seeds or chosen.recorded_seeds
        else:
            raise ValueError(
                f"Unknown backend {backend!r}; choose one of {_BACKENDS}."
                + did_you_mean(backend, _BACKENDS)
            )
    else:
        chosen = backend
    task = TaskSpec(
        dataset=name,
        space=space,
        budget_epochs=budget_epochs,
        budget_seconds=budget_seconds,
        n_slots=n_slots,
        model=model,
        trial_seeds=trial_seeds or (0, 1, 2),
        metric=metric,
        max_steps=max_steps,
    )
    kwargs: dict[str, Any] = {
        "prior": prior,
        "invalid_action_penalty": invalid_action_penalty,
        "render_mode": render_mode,
    }
    return TuningEnv(task, chosen, **kwargs)
