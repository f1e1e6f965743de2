"""`TuningEnv`: tuning a network's training as a sequence of new/continue/stop decisions.

Semantics (identical for every backend):

* **Actions** — one ``Discrete`` space (layout in `tunegym.envs.ActionCodec`): start a new trial
  with (lr, batch size) for ``k`` epochs, continue slot ``j`` for ``k`` more epochs, or stop.
  ``action_masks()`` marks the valid ones: ``k`` must not exceed the budget left nor the epochs
  the trial has left to ``E_max``; a slot can be continued only while it holds a trial that has
  neither diverged nor reached ``E_max``. Stop is always valid.
* **Invalid actions** that arrive anyway (masked, or out of range) are not executed: no epoch is
  trained or charged, the reward is ``-invalid_action_penalty`` (0 by default), the step is logged
  with ``valid=False`` and counts towards the safety cap (``TaskSpec.step_cap``), which truncates.
* **Slots** — a new trial takes the first empty slot; when all ``K`` are full it replaces a trial
  that cannot be continued (diverged or at ``E_max``), else the one with the lowest best score
  (oldest first on ties). A replaced trial stays in the history (and may stay the incumbent) but
  can no longer be continued.
* **Budget** — an epoch costs 1 whatever its batch size; a trial that diverges is charged only
  the epochs it trained. Seconds are measured live and read from the recorded epoch times in
  replay; with ``TaskSpec.budget_seconds`` the episode also ends once they are spent.
* **Trial seeds** — each new trial draws its seed from ``TaskSpec.trial_seeds`` with the env's
  ``np_random`` (so ``reset(seed=...)`` fixes them), without replacement per configuration
  within an episode: starting a configuration again trains it with a seed it has not had yet,
  so no (configuration, seed) is trained twice from scratch. Once a configuration has had every
  seed, its new-trial actions are masked (and invalid if they arrive anyway); its trials that
  are still in a slot can be continued. Seeds that a backend serves with one curve (its
  ``served_seed``: a replayed table of one curve per configuration) count as one seed.
* **Incumbent** — the best validation score of any epoch of any trial so far (with that epoch's
  test score and configuration). Before any trial it is the worst score of the task when known,
  else 0.
* **Reward** — the improvement of the incumbent divided by ``best - worst`` of the task when the
  backend knows those bounds (i.e. the reduction of normalised regret; replay always knows them),
  else the raw improvement. 0 at reset; the rewards of an episode sum to the total improvement.
* **Termination** — ``terminated`` on stop, when the epoch (or seconds) budget is spent, or when
  no action but stop is left; ``truncated`` only at the safety cap.

Observation: one float32 vector (`observation_layout` names each entry): 5 global entries
(budget used and left as fractions, trials started / budget, incumbent score, seconds used /
seconds budget or 0), 9 per slot (occupied, normalised log-lr and log-batch size, epochs done /
``E_max``, last and best score, recent slope, diverged, at ``E_max``), the task's meta-features,
and one warm-start prior entry per grid configuration (zeros unless ``prior`` is given).
"""

from __future__ import annotations

import math
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from tunegym.envs._actions import Action, ActionCodec, ActionKind
from tunegym.envs._backends import Backend
from tunegym.envs._features import META_FEATURE_NAMES
from tunegym.envs._render import RENDER_MODES, text_frame
from tunegym.envs._task import TaskSpec
from tunegym.space import learning_rate_of

__all__ = ["TuningEnv", "observation_layout"]

_GLOBAL = ("budget_used", "budget_left", "trials_started", "incumbent", "seconds_used")
# Per-slot entries; "config" stands for the candidate's coordinates in the unit cube, one entry
# per hyperparameter (on the grid: log_lr and log_batch_size).
_SLOT = (
    "occupied",
    "config",
    "epochs_done",
    "last_score",
    "best_score",
    "slope",
    "diverged",
    "at_max",
)


def _config_names(task: TaskSpec) -> list[str]:
    if task.space.is_grid:
        return ["log_lr", "log_batch_size"]
    return [f"u.{name}" for name in task.space.names]


def _slot_fields(task: TaskSpec) -> list[str]:
    names = _config_names(task)
    return [f for field in _SLOT for f in (names if field == "config" else [field])]


def observation_layout(task: TaskSpec) -> list[str]:
    """Names of the observation's entries, in order."""
    names = list(_GLOBAL)
    names += [f"slot{j}.{f}" for j in range(task.n_slots) for f in _slot_fields(task)]
    names += [f"meta.{n}" for n in META_FEATURE_NAMES]
    if task.space.is_grid:
        names += [
            f"prior.lr{i}.bs{b}"
            for i in range(len(task.space.lrs))
            for b in range(len(task.space.batch_sizes))
        ]
    else:
        names += [f"prior.c{i}" for i in range(task.space.n_configs)]
    return names


def _known(value: float) -> float | None:
    # A benchmark without test scores (LCBench predicts no test accuracy) gives None, not nan.
    return None if math.isnan(value) else value


class TuningEnv(gym.Env[np.ndarray, np.int64]):
    """Gymnasium env over one tuning task (see the module docstring for the semantics).

    Args:
        task: the task (grid, budget, slots, seeds, metric).
        backend: where epochs come from (`LiveBackend` or `ReplayBackend`).
        prior: optional warm-start prior, one value in [0, 1] per grid configuration (shape
            ``(n_lrs, n_batch_sizes)`` or flat), e.g. the meta-store's predicted score.
        invalid_action_penalty: subtracted from the reward of an invalid action.
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 4}  # noqa: RUF012  (gymnasium declares it this way)

    def __init__(
        self,
        task: TaskSpec,
        backend: Backend,
        *,
        prior: np.ndarray | None = None,
        invalid_action_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        space = task.space
        self.task, self.backend = task, backend
        if space.is_grid:
            self.codec = ActionCodec(
                len(space.lrs), len(space.batch_sizes), task.n_slots, space.k_choices
            )
        else:
            self.codec = ActionCodec.for_configs(space.n_configs, task.n_slots, space.k_choices)
        self.action_space = spaces.Discrete(self.codec.n)
        self.invalid_action_penalty = float(invalid_action_penalty)
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}."
            )
        self.render_mode = render_mode

        n_prior = space.n_configs
        self._prior = np.zeros(n_prior, dtype=np.float32)
        if prior is not None:
            flat = np.asarray(prior, dtype=np.float32).reshape(-1)
            if (
                flat.shape != (n_prior,)
                or not np.all(np.isfinite(flat))
                or flat.min() < 0
                or flat.max() > 1
            ):
                raise ValueError(
                    f"prior must hold {n_prior} finite values in [0, 1] (one per grid configuration), "
                    f"got shape {np.shape(prior)} with range [{flat.min():.3g}, {flat.max():.3g}]."
                )
            self._prior = flat
        meta = np.asarray(backend.meta_features, dtype=np.float32)
        if meta.shape != (len(META_FEATURE_NAMES),):
            raise ValueError(
                f"backend.meta_features must have shape ({len(META_FEATURE_NAMES)},), got {meta.shape}."
            )

        fields = _slot_fields(task)
        n_slot = self._slot_size = len(fields)
        self._dim = len(space.names)
        self._slot0 = len(_GLOBAL)
        self._meta0 = self._slot0 + task.n_slots * n_slot
        self._prior0 = self._meta0 + len(META_FEATURE_NAMES)
        size = self._prior0 + n_prior
        low = np.zeros(size, dtype=np.float32)
        low[self._slot0 + fields.index("slope") : self._meta0 : n_slot] = -1.0
        self.observation_space = spaces.Box(
            low=low, high=np.ones(size, dtype=np.float32), dtype=np.float32
        )
        self._obs = np.zeros(size, dtype=np.float32)
        self._obs[self._meta0 : self._prior0] = np.clip(meta, 0.0, 1.0)
        self._obs[self._prior0 :] = self._prior

        self._unit = space.unit
        # A step entry has "lr" and "batch_size"; the other hyperparameters join it by name.
        self._extra_names = tuple(n for n in space.names if n not in ("lr", "batch_size"))
        self._k = np.asarray(space.k_choices)
        bounds = backend.score_bounds
        self._worst = bounds[1] if bounds is not None else 0.0
        self._scale = (
            (bounds[0] - bounds[1]) if bounds is not None and bounds[0] > bounds[1] else 1.0
        )
        # Each trial seed's identity at the backend: seeds that replay one curve are one seed.
        served = getattr(backend, "served_seed", None)
        self._served = {s: int(served(s)) if served else s for s in task.trial_seeds}
        self._n_seeds = len(set(self._served.values()))
        self._mask = np.zeros(self.codec.n, dtype=bool)
        self._bind_mask_views()
        self._reset_state()

    def _bind_mask_views(self) -> None:
        # Views of the mask's new-trial and continue blocks, one row of k's each, written in place.
        n_k = len(self._k)
        self._mask_new = self._mask[: self.codec.n_new].reshape(-1, n_k)
        self._mask_continue = self._mask[self.codec.n_new : self.codec.stop_index].reshape(-1, n_k)

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Restore a copy (``copy.deepcopy``, pickle: a vectorised env's workers) with its mask
        views bound to its own mask: a copy of a view is an array of its own, which the mask
        would never see."""
        self.__dict__.update(state)
        self._bind_mask_views()

    # ------------------------------------------------------------------ state

    def _reset_state(self) -> None:
        s = self.task.n_slots
        self._handle = np.full(s, -1, dtype=np.int64)
        self._trial_of = np.full(s, -1, dtype=np.int64)
        self._config = np.zeros(s, dtype=np.int64)  # the candidate in each slot
        self._epochs = np.zeros(s, dtype=np.int64)
        self._last = np.zeros(s)
        self._best = np.zeros(s)
        self._slope = np.zeros(s)
        self._diverged = np.zeros(s, dtype=bool)
        # Served trial seeds each candidate has had this episode, and how many (for the mask).
        self._seeds_of: dict[int, set[int]] = {}
        self._seeds_used = np.zeros(self.task.space.n_configs, dtype=np.int64)
        self._epochs_used = 0
        self._seconds_used = 0.0
        self._n_trials = 0
        self._steps = 0
        self._done = False
        self._incumbent = self._worst
        self._incumbent_info: dict[str, Any] = {
            "val_score": self._worst,
            "test_score": None,
            "trial": None,
        }
        self._trials: list[dict[str, Any]] = []
        self._log: list[dict[str, Any]] = []
        self._obs[: self._meta0] = 0.0
        self._update_global()
        self._update_mask()

    def _update_global(self) -> None:
        budget = self.task.budget_epochs
        used = min(self._epochs_used / budget, 1.0)
        o = self._obs
        o[0], o[1], o[2] = used, 1.0 - used, min(self._n_trials / budget, 1.0)
        o[3] = min(max(self._incumbent, 0.0), 1.0)
        if self.task.budget_seconds is not None:
            o[4] = min(self._seconds_used / self.task.budget_seconds, 1.0)

    def _update_slot(self, j: int) -> None:
        n = self._slot_size
        base = self._slot0 + j * n
        e_max = self.task.space.max_epochs
        if self._handle[j] < 0:
            self._obs[base : base + n] = 0.0
            return
        # Entry by entry: assigning a tuple of numpy scalars to a slice costs several times more.
        o, epochs, d = self._obs, int(self._epochs[j]), self._dim
        o[base] = 1.0
        if d == 2:
            unit = self._unit[self._config[j]]
            o[base + 1], o[base + 2] = unit[0], unit[1]
        else:
            o[base + 1 : base + 1 + d] = self._unit[self._config[j]]
        o[base + d + 1] = epochs / e_max
        o[base + d + 2] = min(max(float(self._last[j]), 0.0), 1.0)
        o[base + d + 3] = min(max(float(self._best[j]), 0.0), 1.0)
        o[base + d + 4] = max(-1.0, min(1.0, float(self._slope[j])))
        o[base + d + 5] = float(self._diverged[j])
        o[base + d + 6] = float(epochs >= e_max)

    def _continuable(self) -> np.ndarray:
        return (self._handle >= 0) & ~self._diverged & (self._epochs < self.task.space.max_epochs)

    def _update_mask(self) -> None:
        left = self.task.budget_epochs - self._epochs_used
        e_max = self.task.space.max_epochs
        self._mask_new[:] = self._k <= min(e_max, left)  # broadcast over every (lr, batch size)
        self._mask_new[self._seeds_used >= self._n_seeds] = False
        cap = np.where(self._continuable(), np.minimum(e_max - self._epochs, left), 0)
        np.less_equal(self._k, cap[:, None], out=self._mask_continue)
        self._mask[self.codec.stop_index] = True

    # ------------------------------------------------------------------ gym API

    def close(self) -> None:
        """Release every open trial (a live backend with a store logs them)."""
        for handle in self._handle[self._handle >= 0]:
            self.backend.release(int(handle))
        self._handle[:] = -1
        super().close()

    def action_masks(self) -> np.ndarray:
        """Valid actions, as sb3-contrib's ``MaskablePPO`` expects (a copy)."""
        return self._mask.copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        for handle in self._handle[self._handle >= 0]:
            self.backend.release(int(handle))
        self._reset_state()
        return self._obs.copy(), self._info()

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first.")
        self._steps += 1
        index = self._as_index(action)
        if index is None or not self._mask[index]:
            return self._invalid(action)
        act = self.codec.decode(index)
        if act.kind is ActionKind.STOP:
            entry = self._entry(index, act, slot=-1, trial=None, epochs=0, reward=0.0)
            self._done = True
            return self._finish(entry, reward=0.0, terminated=True)

        if act.kind is ActionKind.NEW:
            j = self._free_slot()
            config = self.task.space.candidates[act.config]
            seed = self._draw_seed(act.config)
            if self._handle[j] >= 0:
                self.backend.release(int(self._handle[j]))
            self._handle[j] = self.backend.start(config, seed)
            self._trial_of[j] = self._n_trials
            self._trials.append(
                {"trial": self._n_trials, **config, "seed": seed, "config": act.config}
            )
            self._n_trials += 1
            self._config[j] = act.config
            self._epochs[j], self._last[j], self._best[j], self._slope[j] = 0, 0.0, 0.0, 0.0
            self._diverged[j] = False
        else:
            j = act.slot
        segment = self.backend.advance(int(self._handle[j]), act.k)
        scores = segment.scores
        trained = len(scores)
        start_epoch = int(self._epochs[j])
        reward = 0.0
        if trained:
            i = int(scores.argmax())  # the first best epoch of the segment
            top = float(scores[i])
            prev = self._last[j] if start_epoch else scores[0]
            self._slope[j] = scores[-1] - (scores[-2] if trained > 1 else prev)
            self._last[j] = scores[-1]
            self._best[j] = max(self._best[j], top) if start_epoch else top
            self._epochs[j] += trained
            self._diverged[j] = segment.diverged
            self._epochs_used += trained
            self._seconds_used += float(segment.seconds.sum())
            if top > self._incumbent:
                reward = (top - self._incumbent) / self._scale
                self._incumbent = top
                self._incumbent_info = {
                    "val_score": top,
                    "test_score": _known(float(segment.test_scores[i])),
                    "trial": int(self._trial_of[j]),
                    "epoch": start_epoch + i + 1,
                    **{k: v for k, v in self._trials[self._trial_of[j]].items() if k != "trial"},
                }
        self._update_slot(j)
        self._update_global()
        self._update_mask()
        out_of_seconds = (
            self.task.budget_seconds is not None and self._seconds_used >= self.task.budget_seconds
        )
        terminated = out_of_seconds or not self._mask[: self.codec.stop_index].any()
        entry = self._entry(
            index, act, slot=j, trial=int(self._trial_of[j]), epochs=trained, reward=reward
        )
        entry["val_score"] = float(self._last[j])
        entry["epoch_scores"] = scores.tolist()  # per-epoch reading of the anytime curve
        entry["diverged"] = bool(self._diverged[j])
        return self._finish(entry, reward, terminated)

    # ------------------------------------------------------------------ helpers

    def _as_index(self, action: Any) -> int | None:
        if type(action) is int or isinstance(action, np.integer):  # the usual case: no array
            index = int(action)
            return index if 0 <= index < self.codec.n else None
        try:
            value = np.asarray(action).reshape(-1)
            if value.size != 1 or not np.issubdtype(value.dtype, np.integer):
                return None
            index = int(value[0])
        except (TypeError, ValueError):
            return None
        return index if 0 <= index < self.codec.n else None

    def _draw_seed(self, config: int) -> int:
        """A trial seed ``config`` has not had this episode, drawn uniformly with ``np_random``.

        The mask guarantees one is left. On a configuration's first trial the draw is the one
        the env always made (an index into ``trial_seeds``), so episodes without restarts are
        unchanged.
        """
        used = self._seeds_of.setdefault(config, set())  # served seeds
        left = [s for s in self.task.trial_seeds if self._served[s] not in used]
        seed = left[int(self.np_random.integers(len(left)))]
        used.add(self._served[seed])
        self._seeds_used[config] += 1
        return seed

    def _free_slot(self) -> int:
        empty = self._handle < 0
        if empty.any():
            return int(empty.argmax())  # the first empty slot
        stuck = ~self._continuable()
        candidates = np.flatnonzero(stuck) if stuck.any() else np.arange(self.task.n_slots)
        # lowest best score first, then the oldest trial
        order = np.lexsort((self._trial_of[candidates], self._best[candidates]))
        return int(candidates[order[0]])

    def _entry(
        self, index: int, act: Action, *, slot: int, trial: int | None, epochs: int, reward: float
    ) -> dict[str, Any]:
        info = self._trials[trial] if trial is not None else {}
        return {
            # the configuration's values first: the entry's own keys win over a namesake
            **{k: info.get(k) for k in self._extra_names},
            "step": self._steps,
            "action": index,
            "kind": act.kind.name.lower(),
            "valid": True,
            "slot": slot,
            "trial": trial,
            "lr": learning_rate_of(info) if info else None,
            "batch_size": info.get("batch_size"),
            "config": info.get("config"),
            "seed": info.get("seed"),
            "k": act.k,
            "epochs": epochs,
            "val_score": None,
            "epoch_scores": [],
            "diverged": False,
            "incumbent_val": self._incumbent,
            "epochs_used": self._epochs_used,
            "seconds": self._seconds_used,
            "reward": reward,
        }

    def _invalid(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        entry = {
            "step": self._steps,
            "action": repr(action),
            "kind": "invalid",
            "valid": False,
            "incumbent_val": self._incumbent,
            "epochs_used": self._epochs_used,
            "seconds": self._seconds_used,
            "reward": -self.invalid_action_penalty,
        }
        return self._finish(entry, -self.invalid_action_penalty, terminated=False)

    def _finish(
        self, entry: dict[str, Any], reward: float, terminated: bool
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._log.append(entry)
        truncated = not terminated and self._steps >= self.task.step_cap
        self._done = terminated or truncated
        info = self._info()
        info["step"] = entry
        if self._done:
            info["step_log"] = list(self._log)
            info["regret"] = self.regret
        return self._obs.copy(), float(reward), terminated, truncated, info

    def _info(self) -> dict[str, Any]:
        return {
            "incumbent": dict(self._incumbent_info),
            "epochs_used": self._epochs_used,
            "seconds_used": self._seconds_used,
            "n_trials": self._n_trials,
        }

    # ------------------------------------------------------------------ views

    @property
    def step_log(self) -> list[dict[str, Any]]:
        """Every step of the episode so far (also in ``info["step_log"]`` at its end)."""
        return list(self._log)

    @property
    def trials(self) -> list[dict[str, Any]]:
        """Every trial started this episode: its number, lr, batch size and seed."""
        return [dict(t) for t in self._trials]

    @property
    def regret(self) -> float:
        """Normalised regret of the incumbent, ``nan`` when the score bounds are unknown."""
        bounds = self.backend.score_bounds
        if bounds is None:
            return math.nan
        best, worst = bounds
        return (best - self._incumbent) / (best - worst) if best > worst else 0.0

    def render(self) -> str | np.ndarray | None:
        """The state as text (``ansi``), or that text as an image (``rgb_array``)."""
        if self.render_mode is None:
            return None
        text = self._render_text()
        return text if self.render_mode == "ansi" else text_frame(text)

    def _render_text(self) -> str:
        lines = [
            f"epochs {self._epochs_used}/{self.task.budget_epochs}  trials {self._n_trials}  "
            f"incumbent {self._incumbent:.4f}"
        ]
        for j in range(self.task.n_slots):
            if self._handle[j] >= 0:
                lines.append(
                    f"  slot {j}: trial {self._trial_of[j]} "
                    + " ".join(
                        f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                        for k, v in self.task.space.candidates[self._config[j]].items()
                    )
                    + f" epochs={self._epochs[j]} "
                    f"last={self._last[j]:.4f} best={self._best[j]:.4f}"
                    + (" diverged" if self._diverged[j] else "")
                )
        return "\n".join(lines)
