"""`FreezeThawEnv`: tuning as advancing one of N candidate configurations at a time.

The env v2 of issue 15, the freeze-thaw view of multi-fidelity tuning (Swersky et al., 2014;
DyHPO; ifBO): an episode holds ``N`` candidate configurations of any `tunegym.space.Space`
(sampled points and the warm start's portfolio); each step advances one candidate by ``k``
epochs — starting its trial the first time, continuing it after — or stops.

Semantics (identical for every backend, live or replay):

* **Actions** — ``Discrete(N * len(k_choices) + 1)``: index ``i * len(k_choices) + j`` advances
  candidate ``i`` by ``k_choices[j]`` epochs; the last index stops. ``action_masks()`` marks the
  valid ones: ``k`` must fit in the epochs the candidate has left to ``E_max`` and in the budget
  left; a diverged candidate, or a padding row (``N`` below the observation's rows), has none.
  Stop is always valid. An invalid action is not executed (no epoch is charged); its reward is
  ``-invalid_action_penalty`` and it counts towards ``step_cap``, which truncates.
* **Trials** — a candidate's trial starts at its first advance, on a seed drawn from
  ``trial_seeds`` with the env's ``np_random``; it is never restarted, so no
  (configuration, seed) is trained twice in an episode.
* **Cost** — an epoch costs 1 (``cost="epochs"``) or its seconds (``cost="seconds"``, measured
  live, recorded in replay); the episode ends when ``budget`` epochs (and ``budget_seconds``, if
  given) are spent, on stop, or when no action but stop is valid.
* **Incumbent** — the candidate and epoch of the best validation score seen, read after each
  epoch (an advance of ``k`` epochs is ``k`` readings).
* **Regret** — the incumbent's worth is its configuration's seed-mean score at its epoch when the
  backend knows it (``backend.truth(config)``: replay and pools), else the score seen; regret is
  ``(best - worth) / (best - worst)`` over the backend's ``score_bounds`` (``1 - worth`` without
  them).
* **Reward** — anytime, in the cost unit: each epoch pays ``-(regret after it + price) * cost /
  budget``; stopping with budget left pays ``-regret * left / budget``. The return is minus the
  area under the regret curve over the whole budget (divided by it), minus ``price`` times the
  budget fraction spent: with ``price = 0`` stopping never pays, with a price it pays once the
  regret the rest of the budget could still remove is worth less than its cost.

* **Asynchronous runs** — with several workers, `dispatch` sends an advance out (its trial
  starts, ``k`` epochs of the budget are reserved, the candidate shows as ``pending`` and has no
  valid action) and `complete` brings its epochs in when they are trained, in the order trials
  finish; `step` is `dispatch` then `complete` at once. `AsyncRunner` drives a policy this way.

Observation: one float32 vector, ``GLOBAL_FIELDS`` then ``rows`` rows of ``ROW_FIELDS``
(`freeze_thaw_layout` names them). The policy reads it as a set of rows plus a context, so one
network serves any ``N``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from tunegym.envs._backends import Backend, Segment
from tunegym.envs._features import META_FEATURE_NAMES
from tunegym.envs._prior import RankWeightedPrior
from tunegym.envs._render import RENDER_MODES, text_frame
from tunegym.space import Space

__all__ = [
    "CONFIG_DIMS",
    "DEFAULT_K",
    "EARLY_EPOCH",
    "GLOBAL_FIELDS",
    "ROW_FIELDS",
    "STOP_WINDOW",
    "FreezeThawEnv",
    "freeze_thaw_layout",
    "priced_stop",
    "recent_gain",
]

CONFIG_DIMS = 8
"""Unit-cube coordinates a row carries (a space with more hyperparameters shows its first 8;
its other ones still reach the policy through the prior)."""

DEFAULT_K = (1, 2, 4, 8, 16)
"""Epochs one action may advance a candidate by."""

GLOBAL_FIELDS: tuple[str, ...] = (
    "budget_used",
    "budget_left",
    "seconds_used",
    "incumbent",
    "started",  # candidates started / N
    "finished",  # candidates at E_max or diverged / N
    "price",
    "budget_runs",  # log2(budget / E_max) / 8: how many full trainings the budget holds
    *(f"meta.{n}" for n in META_FEATURE_NAMES),
    "reserved",  # epochs promised to pending trials / budget (asynchronous runs)
    "recent_gain",  # the incumbent's gain per budget over its last STOP_WINDOW (`recent_gain`)
)

ROW_FIELDS: tuple[str, ...] = (
    "present",
    *(f"u{i}" for i in range(CONFIG_DIMS)),
    "prior",  # predicted normalised final score, [0, 1]
    "prior_rank",  # 1 for the best prior of the episode, 0 for the worst
    "portfolio",  # 1 for the warm start's first pick, falling to 1/P for its last, else 0
    "started",
    "epochs",  # epochs done / E_max
    "log_epochs",  # log2(1 + epochs) / log2(1 + E_max)
    "last",  # last score
    "best",  # best score
    "rel_last",  # (last - incumbent) / spread, in [-1, 0]
    "rel_best",
    "rel_first",  # first epoch's score, same scale
    "slope",  # mean gain per epoch over the last 3 epochs / spread, in [-1, 1]
    "diverged",
    "at_max",
    "incumbent",  # this candidate holds the incumbent
    "near_incumbent",  # 1 - distance to the incumbent's configuration / sqrt(dim)
    "near_started",  # 1 - distance to the nearest started candidate / sqrt(dim)
    "pending",  # its trial is training on a worker (asynchronous runs): no action until it ends
    "vs_finished",  # (last - the best finished trial's score at the same epoch) * 10, in [-1, 1]
    "prior_early",  # the prior's look at epoch EARLY_EPOCH (`RankWeightedPrior.at_epoch`), [0, 1]
)

EARLY_EPOCH = 8
"""The epoch whose meta-train scores a row's ``prior_early`` shows: the teacher's probe length."""

_R = len(ROW_FIELDS)
_G = len(GLOBAL_FIELDS)
_C0 = ROW_FIELDS.index("u0")


def freeze_thaw_layout(rows: int) -> list[str]:
    """Names of the observation's entries for ``rows`` candidate rows, in order."""
    return [*GLOBAL_FIELDS, *(f"c{i}.{f}" for i in range(rows) for f in ROW_FIELDS)]


class FreezeThawEnv(gym.Env[np.ndarray, np.int64]):
    """Gymnasium env over N candidates of one task (semantics in the module docstring).

    Args:
        space: the hyperparameters.
        candidates: the ``N`` configurations (distinct; validated against ``space``).
        backend: where epochs come from (`LiveBackend`, `ReplayBackend`, `PoolBackend`).
        budget: epochs an episode may spend.
        max_epochs: ``E_max``, the most epochs one trial trains.
        prior: ``[N]`` predicted normalised final score per candidate in [0, 1] (the warm start;
            default 0.5 everywhere: no prior), or a `RankWeightedPrior` of the ``N`` candidates,
            which the env asks again after every step (the rows' ``prior`` and ``prior_rank``
            then follow what the episode has seen).
        rows: observation rows (default ``N``; more pads with absent rows so that one
            observation space serves tasks of different ``N``).
        k_choices: epochs one action may advance a candidate by.
        trial_seeds: seeds a trial draws from.
        budget_seconds: also end the episode once this many training seconds are spent.
        cost: ``"epochs"`` or ``"seconds"``, the unit of the reward's area.
        price: cost of a whole budget, in regret units (0: stopping early never pays).
        meta_features: shown in the observation (default: the backend's).
        portfolio: candidates (indices) that are the warm start's portfolio, in its order.
        step_cap: steps after which an episode truncates (default ``4 * budget + 16``).
        invalid_action_penalty: subtracted from the reward of an invalid action.

    Raises:
        ValueError: repeated or invalid candidates, a prior of the wrong shape, or ``rows < N``.
    """

    metadata = {"render_modes": RENDER_MODES, "render_fps": 4}  # noqa: RUF012  (gymnasium declares it this way)

    def __init__(
        self,
        space: Space,
        candidates: Sequence[Mapping[str, Any]],
        backend: Backend,
        *,
        budget: int,
        max_epochs: int,
        prior: npt.ArrayLike | RankWeightedPrior | None = None,
        rows: int | None = None,
        k_choices: Sequence[int] = DEFAULT_K,
        trial_seeds: Sequence[int] = (0,),
        budget_seconds: float | None = None,
        cost: str = "epochs",
        price: float = 0.0,
        meta_features: npt.ArrayLike | None = None,
        portfolio: Sequence[int] = (),
        step_cap: int | None = None,
        invalid_action_penalty: float = 0.0,
        render_mode: str | None = None,
    ) -> None:
        configs = [space.validate(c) for c in candidates]
        n = len(configs)
        if n < 1:
            raise ValueError("A freeze-thaw episode needs at least one candidate.")
        keys = [space.key(c) for c in configs]
        if len(set(keys)) != n:
            raise ValueError(
                f"The {n} candidates hold {n - len(set(keys))} repeated configuration(s); give "
                "each configuration once (a trial continues, it is never restarted)."
            )
        rows = n if rows is None else int(rows)
        if rows < n:
            raise ValueError(f"rows={rows} is fewer than the {n} candidates.")
        if budget < 1 or max_epochs < 1:
            raise ValueError(f"budget and max_epochs must be >= 1, got {budget}, {max_epochs}.")
        if cost not in ("epochs", "seconds"):
            raise ValueError(f"cost must be 'epochs' or 'seconds', got {cost!r}.")
        if cost == "seconds" and not budget_seconds:
            raise ValueError("cost='seconds' needs budget_seconds (the budget in that unit).")
        if price < 0 or not math.isfinite(price):
            raise ValueError(f"price must be a finite value >= 0, got {price!r}.")
        ks = tuple(sorted({int(k) for k in k_choices}))
        if not ks or ks[0] < 1:
            raise ValueError(f"k_choices must be positive epochs, got {tuple(k_choices)}.")
        if not trial_seeds:
            raise ValueError("trial_seeds must hold at least one seed.")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(
                f"render_mode must be one of {self.metadata['render_modes']}, got {render_mode!r}."
            )
        self.space, self.candidates, self.backend = space, configs, backend
        self.n, self.rows, self.k_choices = n, rows, ks
        self.budget, self.max_epochs = int(budget), int(max_epochs)
        self.budget_seconds, self.cost, self.price = budget_seconds, cost, float(price)
        self._cost_budget = float(budget_seconds) if cost == "seconds" and budget_seconds else 1.0
        self.trial_seeds = tuple(int(s) for s in trial_seeds)
        self.step_cap = int(step_cap) if step_cap is not None else 4 * self.budget + 16
        self.invalid_action_penalty = float(invalid_action_penalty)
        self.render_mode = render_mode

        self.prior = np.full(n, 0.5, dtype=np.float32)
        self.prior_model = prior if isinstance(prior, RankWeightedPrior) else None
        if self.prior_model is not None:
            if self.prior_model.n != n:
                raise ValueError(
                    f"The RankWeightedPrior holds {self.prior_model.n} candidates, the env {n}."
                )
            self.prior = self.prior_model.static
        elif prior is not None:
            p = np.asarray(prior, dtype=np.float32).reshape(-1)
            if p.shape != (n,) or not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
                raise ValueError(
                    f"prior must hold {n} finite values in [0, 1] (one per candidate), got "
                    f"shape {p.shape}."
                )
            self.prior = p
        meta = backend.meta_features if meta_features is None else meta_features
        meta = np.asarray(meta, dtype=np.float32).reshape(-1)
        if meta.shape != (len(META_FEATURE_NAMES),):
            raise ValueError(f"meta_features must have {len(META_FEATURE_NAMES)} values.")

        self._truth_of = getattr(backend, "truth", None)
        bounds = backend.score_bounds
        self._best_bound = bounds[0] if bounds is not None else 1.0
        worst = bounds[1] if bounds is not None else 0.0
        self._span = max(self._best_bound - worst, 1e-12)

        nk = len(ks)
        self.action_space = spaces.Discrete(rows * nk + 1)
        self.stop_action = rows * nk
        size = _G + rows * _R
        low = np.zeros(size, dtype=np.float32)
        high = np.ones(size, dtype=np.float32)
        rel = [
            ROW_FIELDS.index(f)
            for f in ("rel_last", "rel_best", "rel_first", "slope", "vs_finished")
        ]
        for f in rel:
            low[_G + f :: _R] = -1.0
        self.observation_space = spaces.Box(low=low, high=high, dtype=np.float32)

        # The static part of every row: presence, coordinates, prior, its rank, portfolio.
        self._obs = np.zeros(size, dtype=np.float32)
        self._rows = self._obs[_G:].reshape(rows, _R)
        full = space.to_unit_many(configs)
        self._unit = full / math.sqrt(max(full.shape[1], 1))  # distances then lie in [0, 1]
        unit = full[:, :CONFIG_DIMS]
        self._rows[:n, 0] = 1.0
        self._rows[:n, _C0 : _C0 + unit.shape[1]] = unit
        self._show_prior(self.prior)
        picks = list(dict.fromkeys(int(i) for i in portfolio))
        if any(not 0 <= i < n for i in picks):
            raise ValueError(f"portfolio holds candidates outside 0..{n - 1}: {picks}.")
        for r, i in enumerate(picks):
            self._rows[i, ROW_FIELDS.index("portfolio")] = 1.0 - r / len(picks)
        g = self._obs[:_G]
        g[GLOBAL_FIELDS.index("price")] = min(self.price, 1.0)
        g[GLOBAL_FIELDS.index("budget_runs")] = min(
            max(math.log2(max(self.budget / self.max_epochs, 1.0)) / 8.0, 0.0), 1.0
        )
        m0 = GLOBAL_FIELDS.index(f"meta.{META_FEATURE_NAMES[0]}")
        g[m0 : m0 + len(META_FEATURE_NAMES)] = np.clip(meta, 0.0, 1.0)
        self._ks = np.asarray(ks)
        self._mask = np.zeros(self.action_space.n, dtype=bool)
        self._mask_k = self._mask[: rows * nk].reshape(rows, nk)
        self._reset_state()

    # ------------------------------------------------------------------ state

    def _reset_state(self) -> None:
        n, e = self.n, self.max_epochs
        self._handle = np.full(n, -1, dtype=np.int64)
        self._seed = np.full(n, -1, dtype=np.int64)
        self._epochs = np.zeros(n, dtype=np.int64)
        self._curve = np.zeros((n, e))  # scores seen, per epoch
        self._best = np.zeros(n)
        self._diverged = np.zeros(n, dtype=bool)
        self._truth: dict[int, npt.NDArray[np.float64]] = {}
        self._inc = (-math.inf, -1, -1)  # (score, candidate, epoch index)
        self._regret = 1.0
        self._used = 0
        self._seconds = 0.0
        self._steps = 0
        self._done = False
        self._log: list[dict[str, Any]] = []
        self._curve_regret: list[float] = []  # regret after each charged epoch
        self._inc_trace: list[float] = []  # incumbent's score seen after each charged epoch
        self._near_started = np.zeros(self.n)  # 1 - distance to the nearest started candidate
        self._pending: dict[int, tuple[str, int, int]] = {}  # candidate -> (kind, k, step)
        self._reserved = 0  # epochs promised to pending trials
        self._rows[:, _C0 + CONFIG_DIMS + 3 :] = 0.0
        self._update()

    def _show_prior(self, prior: npt.NDArray[np.float32]) -> None:
        n = self.n
        self._rows[:n, ROW_FIELDS.index("prior")] = prior
        rank = np.empty(n)
        rank[np.argsort(-prior, kind="stable")] = np.arange(n)
        self._rows[:n, ROW_FIELDS.index("prior_rank")] = 1.0 - rank / max(n - 1, 1)

    def _worth(self, i: int, e: int, seen: float) -> float:
        if self._truth_of is None:
            return seen
        curve = self._truth.get(i)
        if curve is None:
            curve = self._truth[i] = np.asarray(self._truth_of(self.candidates[i]), dtype=float)
        return float(curve[min(e, len(curve) - 1)])

    def _update(self) -> None:
        n, e_max = self.n, self.max_epochs
        rows, epochs = self._rows[:n], self._epochs
        started = self._handle >= 0
        inc = self._inc[0] if self._inc[1] >= 0 else 0.0
        # The spread the relative entries are read on: the incumbent's lead over the median best.
        spread = max(inc - float(np.median(self._best[started])), 0.01) if started.any() else 1.0
        last = np.where(
            started & (epochs > 0), self._curve[np.arange(n), np.maximum(epochs - 1, 0)], 0.0
        )
        back = np.maximum(epochs - 4, 0)
        slope = (last - self._curve[np.arange(n), back]) / np.maximum(epochs - 1 - back, 1)
        f = ROW_FIELDS.index
        rows[:, f("started")] = started
        rows[:, f("epochs")] = epochs / e_max
        rows[:, f("log_epochs")] = np.log2(1 + epochs) / math.log2(1 + e_max)
        rows[:, f("last")] = np.clip(last, 0.0, 1.0)
        rows[:, f("best")] = np.clip(self._best, 0.0, 1.0)
        has = started & (epochs > 0)
        rows[:, f("rel_last")] = np.where(has, np.clip((last - inc) / spread, -1.0, 0.0), 0.0)
        rows[:, f("rel_best")] = np.where(has, np.clip((self._best - inc) / spread, -1.0, 0.0), 0.0)
        rows[:, f("rel_first")] = np.where(
            has, np.clip((self._curve[:, 0] - inc) / spread, -1.0, 0.0), 0.0
        )
        rows[:, f("slope")] = np.where(epochs > 1, np.clip(slope / spread * 4, -1.0, 1.0), 0.0)
        rows[:, f("diverged")] = self._diverged
        at_max = epochs >= e_max
        rows[:, f("at_max")] = at_max
        rows[:, f("incumbent")] = 0.0
        rows[:, f("near_incumbent")] = 0.0
        if self._inc[1] >= 0:
            rows[self._inc[1], f("incumbent")] = 1.0
            gap = np.sqrt(((self._unit - self._unit[self._inc[1]]) ** 2).sum(axis=1))
            rows[:, f("near_incumbent")] = np.clip(1.0 - gap, 0.0, 1.0)
        rows[:, f("near_started")] = self._near_started
        rows[:, f("vs_finished")] = self._vs_finished(last, has & ~at_max, at_max)
        if self.prior_model is not None:
            self._show_prior(self.prior_model.predict(epochs, np.nan_to_num(last)))
        rows[:, f("prior_early")] = (
            self.prior if self.prior_model is None else self.prior_model.at_epoch(EARLY_EPOCH)
        )
        pending = np.zeros(n, dtype=bool)
        pending[list(self._pending)] = True
        rows[:, f("pending")] = pending
        g = self._obs
        used = min(self._used / self.budget, 1.0)
        g[0], g[1] = used, 1.0 - used
        if self.budget_seconds:
            g[2] = min(self._seconds / self.budget_seconds, 1.0)
        g[3] = min(max(inc, 0.0), 1.0)
        g[4] = started.sum() / n
        g[5] = (at_max | self._diverged).sum() / n
        g[GLOBAL_FIELDS.index("reserved")] = min(self._reserved / self.budget, 1.0)
        gain = recent_gain(self)
        g[GLOBAL_FIELDS.index("recent_gain")] = 1.0 if gain is None else min(max(gain, 0.0), 1.0)
        # The mask: k fits the candidate's epochs left and the budget left (less what pending
        # trials will spend); a pending candidate has no action until its result is in.
        left = self.budget - self._used - self._reserved
        room = np.where(self._diverged | pending, 0, np.minimum(e_max - epochs, left))
        np.less_equal(self._ks, room[:, None], out=self._mask_k[:n])
        self._mask[self.stop_action] = True

    def _vs_finished(
        self,
        last: npt.NDArray[np.float64],
        racing: npt.NDArray[np.bool_],
        finished: npt.NDArray[np.bool_],
    ) -> npt.NDArray[np.float64]:
        """How far each racing trial's last score lies above (+) or below (-) the best finished
        trial's score at the same epoch, the bar of curve-based early stopping (Domhan et al.,
        2015), times 10 (a gap of 0.1 reads -1 or 1); 0 until a trial reaches ``E_max``."""
        out = np.zeros(self.n)
        if finished.any() and racing.any():
            done = np.flatnonzero(finished)
            bar = self._curve[done[np.argmax(self._best[done])]]
            gap = last[racing] - bar[self._epochs[racing] - 1]
            out[racing] = np.clip(gap * 10.0, -1.0, 1.0)
        return out

    # ------------------------------------------------------------------ gym API

    def action_masks(self) -> npt.NDArray[np.bool_]:
        """Valid actions, as sb3-contrib's ``MaskablePPO`` expects (a copy)."""
        return self._mask.copy()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._release_all()
        self._reset_state()
        return self._obs.copy(), self._info()

    def close(self) -> None:
        """Release every open trial (a live backend with a store logs them)."""
        self._release_all()
        super().close()

    def _release_all(self) -> None:
        for handle in getattr(self, "_handle", np.zeros(0, dtype=np.int64)):
            if handle >= 0:
                self.backend.release(int(handle))

    def decode(self, action: int) -> tuple[int, int] | None:
        """``(candidate, k)`` of an action, ``None`` for stop."""
        if action == self.stop_action:
            return None
        i, j = divmod(int(action), len(self.k_choices))
        return i, self.k_choices[j]

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if self._done:
            raise RuntimeError("step() called on a finished episode; call reset() first.")
        index = _as_index(action, self._mask.size)
        if index is None or not self._mask[index]:
            self._steps += 1
            entry = {"step": self._steps, "kind": "invalid", "action": repr(action)}
            return self._finish(entry, -self.invalid_action_penalty, terminated=False)
        if index == self.stop_action:
            if self._pending:
                raise RuntimeError(
                    f"stop with {len(self._pending)} trial(s) pending; complete() them first."
                )
            self._steps += 1
            left = self._left_fraction()
            entry = {"step": self._steps, "kind": "stop", "budget_left": left}
            return self._finish(entry, -self._regret * left, terminated=True)
        i, k = self.dispatch(index)
        return self.complete(i, self.backend.advance(int(self._handle[i]), k))

    # ------------------------------------------------------------------ asynchronous API

    @property
    def observation(self) -> np.ndarray:
        """The current observation (a copy), as `step` and `reset` return it."""
        return self._obs.copy()

    @property
    def pending(self) -> dict[int, int]:
        """Candidates whose trial is out on a worker, with the epochs each was sent for."""
        return {i: k for i, (_, k, _) in self._pending.items()}

    def handle(self, candidate: int) -> int:
        """The backend's handle of a candidate's trial (``-1`` before it starts)."""
        return int(self._handle[candidate])

    def dispatch(self, action: Any) -> tuple[int, int]:
        """Send an advance out without waiting for it: ``(candidate, k)`` to train elsewhere.

        The first half of `step` for runs that train several trials at once (`AsyncRunner`,
        Ray Tune's scheduler): the candidate's trial starts on the backend if it is new (its seed
        drawn as `step` draws it), ``k`` epochs of the budget are reserved, and the candidate is
        pending — shown in its row, with no valid action — until `complete` brings its epochs.

        Raises:
            RuntimeError: the episode is over.
            ValueError: ``action`` is stop or not valid now (see `action_masks`).
        """
        if self._done:
            raise RuntimeError("dispatch() called on a finished episode; call reset() first.")
        index = _as_index(action, self._mask.size)
        if index is None or index == self.stop_action or not self._mask[index]:
            raise ValueError(f"Action {action!r} cannot be dispatched: it is stop or masked.")
        self._steps += 1
        decoded = self.decode(index)
        assert decoded is not None
        i, k = decoded
        kind = "continue"
        if self._handle[i] < 0:
            kind = "new"
            seed = self.trial_seeds[int(self.np_random.integers(len(self.trial_seeds)))]
            self._seed[i] = seed
            self._handle[i] = self.backend.start(self.candidates[i], seed)
            gap = np.sqrt(((self._unit - self._unit[i]) ** 2).sum(axis=1))
            np.maximum(self._near_started, np.clip(1.0 - gap, 0.0, 1.0), out=self._near_started)
        self._pending[i] = (kind, k, self._steps)
        self._reserved += k
        self._update()
        return i, k

    def complete(
        self, candidate: int, segment: Segment
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Bring in the epochs of a dispatched advance; the second half of `step`.

        Returns what `step` returns for that advance (its reward charges the epochs as they
        arrive, in the order of completion; its log entry has the step number of its dispatch). The episode terminates when nothing is pending and
        no action but stop is valid, or the seconds are spent.

        Raises:
            KeyError: ``candidate`` is not pending.
        """
        if candidate not in self._pending:
            raise KeyError(f"Candidate {candidate} has no pending advance.")
        kind, k, step = self._pending.pop(candidate)
        self._reserved -= k
        i = candidate
        reward = 0.0
        start = int(self._epochs[i])
        for t, score in enumerate(segment.scores):
            e = start + t
            score = float(score) if math.isfinite(score) else 0.0
            self._curve[i, e] = score
            if e == 0 or score > self._best[i]:
                self._best[i] = score
            if score > self._inc[0]:
                self._inc = (score, i, e)
                worth = self._worth(i, e, score)
                self._regret = min(max((self._best_bound - worth) / self._span, 0.0), 1.0)
            seconds = float(segment.seconds[t])
            self._seconds += seconds
            self._used += 1
            self._curve_regret.append(self._regret)
            self._inc_trace.append(self._inc[0])
            unit = seconds / self._cost_budget if self.cost == "seconds" else 1.0 / self.budget
            reward -= (self._regret + self.price) * unit
        trained = len(segment.scores)
        self._epochs[i] += trained
        if segment.diverged or (trained < k and self._epochs[i] < self.max_epochs):
            self._diverged[i] = True  # the backend trained fewer epochs: the trial cannot go on
        self._update()
        out_of_seconds = self.budget_seconds is not None and self._seconds >= self.budget_seconds
        idle = not self._pending and not self._mask[: self.stop_action].any()
        terminated = out_of_seconds or idle
        if terminated and self._used < self.budget and not out_of_seconds:
            reward -= self._regret * self._left_fraction()  # nothing left to run: the rest idles
        entry = {
            "step": step,
            "kind": kind,
            "candidate": i,
            "k": k,
            "epochs": trained,
            "seed": int(self._seed[i]),
            "epoch_to": int(self._epochs[i]),
            "diverged": bool(self._diverged[i]),
        }
        return self._finish(entry, reward, terminated)

    def _left_fraction(self) -> float:
        if self.cost == "seconds":
            assert self.budget_seconds is not None
            return max(self.budget_seconds - self._seconds, 0.0) / self.budget_seconds
        return (self.budget - self._used) / self.budget

    def _finish(
        self, entry: dict[str, Any], reward: float, terminated: bool
    ) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        entry.update(
            reward=float(reward), epochs_used=self._used, seconds=self._seconds,
            regret=self._regret,
        )  # fmt: skip
        self._log.append(entry)
        truncated = not terminated and self._steps >= self.step_cap
        self._done = terminated or truncated
        info = self._info()
        info["step"] = entry
        if self._done:
            info["step_log"] = list(self._log)
        return self._obs.copy(), float(reward), terminated, truncated, info

    def _info(self) -> dict[str, Any]:
        score, i, e = self._inc
        incumbent = None
        if i >= 0:
            incumbent = {
                "candidate": int(i),
                "config": dict(self.candidates[i]),
                "epoch": int(e) + 1,
                "val_score": float(score),
                "seed": int(self._seed[i]),
            }
        return {
            "incumbent": incumbent,
            "regret": self._regret,
            "epochs_used": self._used,
            "seconds_used": self._seconds,
            "started": int((self._handle >= 0).sum()),
        }

    # ------------------------------------------------------------------ views

    @property
    def regret_curve(self) -> npt.NDArray[np.float64]:
        """Regret after each epoch charged so far."""
        return np.asarray(self._curve_regret)

    @property
    def incumbent_trace(self) -> npt.NDArray[np.float64]:
        """The incumbent's validation score after each epoch charged so far (what a tuner sees,
        where `regret_curve` reads the truth)."""
        return np.asarray(self._inc_trace)

    @property
    def score_span(self) -> float:
        """Validation-score units per regret unit: the backend's ``best - worst`` score bounds
        (1 without them, as live: regret is then ``1 - score``). The price of cost is in regret
        units; times this, in score units."""
        return self._span

    @property
    def step_log(self) -> list[dict[str, Any]]:
        """Every step of the episode so far."""
        return list(self._log)

    @property
    def curves(self) -> npt.NDArray[np.float64]:
        """``[N, E_max]`` the validation scores seen so far (0 where not trained)."""
        return self._curve.copy()

    @property
    def best_scores(self) -> npt.NDArray[np.float64]:
        """``[N]`` each candidate's best score seen (0 before it trains)."""
        return self._best.copy()

    @property
    def epochs_done(self) -> npt.NDArray[np.int64]:
        """Epochs each candidate has trained."""
        return self._epochs.copy()

    def render(self) -> str | np.ndarray | None:
        """The state as text (``ansi``), or that text as an image (``rgb_array``)."""
        if self.render_mode is None:
            return None
        text = self._render_text()
        return text if self.render_mode == "ansi" else text_frame(text)

    def _render_text(self) -> str:
        info = self._info()
        lines = [
            f"epochs {self._used}/{self.budget}  started {info['started']}/{self.n}  "
            f"regret {self._regret:.4f}"
        ]
        for i in np.flatnonzero(self._handle >= 0):
            mark = " *" if i == self._inc[1] else ""
            lines.append(
                f"  c{i}: epochs={self._epochs[i]} best={self._best[i]:.4f}"
                f"{' diverged' if self._diverged[i] else ''}{mark}"
            )
        return "\n".join(lines)


def _as_index(action: Any, n: int) -> int | None:
    if type(action) is int or isinstance(action, np.integer):
        index = int(action)
    else:
        try:
            value = np.asarray(action).reshape(-1)
        except (TypeError, ValueError):
            return None
        if value.size != 1 or not np.issubdtype(value.dtype, np.integer):
            return None
        index = int(value[0])
    return index if 0 <= index < n else None


STOP_WINDOW = 0.4
"""The share of the budget over which `priced_stop` measures how fast the search improves.

Chosen on meta-val alone (`experiments/price_sweep.py --part meta-val`, the shipped agent, 5
seeds, prices 0.003 to 0.1): the lowest mean cost (regret area + price times the budget share
spent, relative to spending the whole budget; geometric mean over LCBench and meta-dataset v2
at 200 and 1000 epochs and the four prices) of the windows that cost no more than spending
everything at any of them: 0.708 (0.35: 0.692, but 1.085 on LCBench at 1000 epochs and price 0.003, whose
validation plateaus outlast shorter windows; 0.5: 0.770; 0.65: 0.847)."""


def recent_gain(env: FreezeThawEnv, window: float = STOP_WINDOW) -> float | None:
    """How fast ``env``'s search has lately been improving: the incumbent's validation gain
    over the last ``window`` of the budget, in regret units (over `FreezeThawEnv.score_span`)
    per whole budget, so that it reads on the price's scale; ``None`` until a whole window has
    been spent. The observation shows it (``recent_gain``, clipped to [0, 1]; 1 before a
    window) for a network that learns when to stop."""
    trace = env.incumbent_trace
    w = max(round(window * env.budget), 1)
    if len(trace) <= w:
        return None
    return float((trace[-1] - trace[-1 - w]) / env.score_span * env.budget / w)


def priced_stop(env: FreezeThawEnv, window: float = STOP_WINDOW) -> bool:
    """Whether the rest of ``env``'s budget is worth less than its price of cost.

    With a price ``p`` (regret units per whole budget, `FreezeThawEnv`'s ``price``), the last
    ``window`` of the budget cost ``p * window``; it bought the incumbent's validation gain over
    those epochs (in regret units: the gain over `FreezeThawEnv.score_span`). Once a whole window
    has been spent, the search stops when that gain is below its cost (`recent_gain` below the
    price): it improves more slowly than the budget is worth, the marginal rule of optimal
    stopping, read on the scores a tuner sees (never the truth). Never with no price (then
    stopping never pays).
    """
    if env.price <= 0:
        return False
    gain = recent_gain(env, window)
    return gain is not None and gain < env.price
