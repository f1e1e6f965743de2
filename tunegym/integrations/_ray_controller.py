"""`FreezeThawController`: a `FreezeThawEnv` over a Ray search space, driven by Ray's calls.

It mirrors `tunegym.envs.AsyncRunner`: the agent acts whenever fewer than ``workers`` advances
are out; each advance is dispatched to the env (`FreezeThawEnv.dispatch`) and trained by Ray,
its epochs brought in (`FreezeThawEnv.complete`) as the trial's results arrive.
`tunegym.integrations.ray_tune` wraps it in Ray's searcher and scheduler classes.
"""

from __future__ import annotations

import math
import numbers
import time
import warnings
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt
from ray.tune.experiment import Trial
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher

from tunegym.envs import (
    DEFAULT_K,
    GLOBAL_FIELDS,
    META_FEATURE_NAMES,
    ROW_FIELDS,
    FreezeThawEnv,
    Segment,
    priced_stop,
)
from tunegym.integrations._ray_space import has_domains, parse_space

if TYPE_CHECKING:
    from tunegym.agent import FreezeThawAgent

__all__ = ["FreezeThawController", "RayTuneSummary"]


class _Actor(Protocol):
    def act(self, obs: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]) -> int: ...


class _ExternalBackend:
    """The env's backend when Ray trains the epochs: `start` hands out handles; `advance` is
    never called (the controller brings the epochs in with `FreezeThawEnv.complete`)."""

    def __init__(self, meta_features: npt.ArrayLike | None) -> None:
        meta = np.zeros(len(META_FEATURE_NAMES)) if meta_features is None else meta_features
        self._meta = np.asarray(meta, dtype=np.float32).reshape(-1)
        self._next = 0

    @property
    def meta_features(self) -> np.ndarray:
        return self._meta

    @property
    def score_bounds(self) -> tuple[float, float] | None:
        return None

    def start(self, config: Mapping[str, Any], seed: int) -> int:
        self._next += 1
        return self._next - 1

    def advance(self, handle: int, k: int) -> Segment:
        raise RuntimeError("Ray Tune trains these trials; the env's epochs come from its results.")

    def release(self, handle: int) -> None:
        pass


@dataclass(frozen=True)
class RayTuneSummary:
    """What a freeze-thaw run under Ray Tune found and how it spent its budget.

    Attributes:
        best_config: the configuration (as Ray gave it to the trainable) of the best result.
        best_value: its metric, as reported.
        best_epoch: the epoch of that result.
        best_trial: its Ray trial id.
        epochs_used: epochs trained (and counted) in all.
        budget: the budget in epochs.
        trials: candidates started (Ray trials).
        new: decisions that started a candidate.
        continued: decisions that continued one.
        diverged: trials that diverged, errored or ended on their own.
        stopped: the agent stopped before the budget was spent.
    """

    best_config: dict[str, Any] | None
    best_value: float | None
    best_epoch: int | None
    best_trial: str | None
    epochs_used: int
    budget: int
    trials: int
    new: int
    continued: int
    diverged: int
    stopped: bool

    @property
    def share_new(self) -> float:
        """Share of decisions that started a candidate."""
        return self.new / max(self.new + self.continued, 1)

    @property
    def share_continue(self) -> float:
        """Share of decisions that continued a started candidate."""
        return self.continued / max(self.new + self.continued, 1)

    def __str__(self) -> str:
        decisions = self.new + self.continued
        lines = [
            f"best {self.best_value!r} at epoch {self.best_epoch} of trial {self.best_trial}",
            f"  config {self.best_config!r}",
            f"epochs {self.epochs_used}/{self.budget}, {self.trials} trials, "
            f"{self.diverged} diverged or ended early"
            + (", stopped early" if self.stopped else ""),
            f"decisions {decisions}: {self.share_new:.0%} new, {self.share_continue:.0%} continue",
        ]
        return "\n".join(lines)


@dataclass
class _Run:
    """One candidate's Ray trial."""

    trial_id: str
    epochs: int = 0  # time_attr counted so far
    scores: list[float] = field(default_factory=list)  # this advance's epochs
    seconds: list[float] = field(default_factory=list)
    values: dict[int, float] = field(default_factory=dict)  # epoch -> metric as reported
    gone: bool = False  # stopped, errored or removed: it cannot continue


class FreezeThawController:
    """A `FreezeThawEnv` over candidates of a Ray search space, driven by Ray Tune's callbacks.

    `TunegymSearcher` and `TunegymScheduler` forward Ray's calls here; `freeze_thaw` builds
    the three. Use one controller for one ``Tuner.fit``.

    Args:
        param_space: Ray Tune's search space (see `from_ray`).
        metric: the reported metric the agent tunes.
        mode: ``"max"`` or ``"min"``.
        budget: epochs to train in all.
        max_t: the most epochs one trial trains (``E_max``).
        agent: the freeze-thaw agent, its folder, or anything with ``act(obs, mask) -> action``
            (and ``k_choices``); default the shipped agent.
        n_candidates: candidates (default the agent's ``n_candidates``, at least the portfolio).
        portfolio: configurations (in the Ray space's names, see `from_ray`) to hold first,
            e.g. the warm start's; the env marks them as the portfolio.
        prior: predicted normalised final score of each candidate, in [0, 1]: an array (one
            per candidate, in their order) or a function of the candidates' configurations
            that returns it (e.g. `tunegym.envs.config_prior` over meta-train curve pools).
        meta_features: the dataset's (``tunegym.envs.META_FEATURE_NAMES``, scaled into [0, 1];
            default zeros: unknown).
        seed: seeds the candidates' Sobol sample.
        workers: trials trained at once (``TuneConfig.max_concurrent_trials`` overrides it).
        time_attr: the result field that counts a trial's epochs.
        score: maps the metric into the env's [0, 1], larger is better (default: the value
            for ``mode="max"``, ``exp(-value)`` for ``mode="min"``).
        price: the env's price of a whole budget (0: the agent never gains by stopping).

    Raises:
        ValueError: for a bad ``mode``, budget, ``max_t``, ``workers`` or ``n_candidates``,
            a portfolio configuration outside the space, or what `from_ray` rejects.
    """

    def __init__(
        self,
        param_space: Mapping[str, Any],
        *,
        metric: str,
        mode: str = "max",
        budget: int,
        max_t: int,
        agent: FreezeThawAgent | _Actor | str | Path | None = None,
        n_candidates: int | None = None,
        portfolio: Sequence[Mapping[str, Any]] = (),
        prior: npt.ArrayLike | Callable[[list[dict[str, Any]]], npt.ArrayLike] | None = None,
        meta_features: npt.ArrayLike | None = None,
        seed: int = 0,
        workers: int = 1,
        time_attr: str = "training_iteration",
        score: Callable[[float], float] | None = None,
        price: float = 0.0,
    ) -> None:
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}.")
        if not isinstance(metric, str) or not metric:
            raise ValueError(f"metric must name a reported result field, got {metric!r}.")
        for label, value in (("budget", budget), ("max_t", max_t), ("workers", workers)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
                raise ValueError(f"{label} must be an int >= 1, got {value!r}.")
        self.ray_space = parse_space(param_space)
        self.space = self.ray_space.space
        self.metric, self.mode, self.time_attr = metric, mode, time_attr
        self.workers = int(workers)
        self._score = score or (_identity if mode == "max" else _exp_minus)
        self.agent: _Actor = _load_agent(agent)
        k_choices = tuple(getattr(self.agent, "k_choices", DEFAULT_K))
        configs = self._candidates(portfolio, n_candidates, seed)
        if callable(prior):
            prior = prior(configs)
        self.env = FreezeThawEnv(
            self.space, configs, _ExternalBackend(meta_features), budget=int(budget),
            max_epochs=int(max_t), prior=prior, k_choices=k_choices,
            portfolio=range(len(portfolio)), price=price,
        )  # fmt: skip
        _, self._info = self.env.reset(seed=seed)
        self._runs: dict[int, _Run] = {}  # candidate -> its trial
        self._of: dict[str, int] = {}  # trial id -> candidate
        self._to_start: deque[int] = deque()  # new candidates waiting for `suggest`
        self._to_resume: list[int] = []  # continued candidates waiting for their trial to run
        self._stopping = self._done = False
        self.decisions: list[dict[str, Any]] = []
        self._warned = False
        self.scheduler_attached = False
        self.pauses = self.resumes = 0

    # -- construction

    def _candidates(
        self, portfolio: Sequence[Mapping[str, Any]], n: int | None, seed: int
    ) -> list[dict[str, Any]]:
        """The portfolio first, then Sobol points (quantised, distinct): ``n`` in all."""
        if n is not None and (isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1):
            raise ValueError(f"n_candidates must be an int >= 1, got {n!r}.")
        wanted = max(int(n if n is not None else getattr(self.agent, "n_candidates", 128)), 1)
        wanted = max(wanted, len(portfolio))
        keys: dict[tuple[Any, ...], dict[str, Any]] = {}
        for config in portfolio:
            snapped = self.ray_space.snap(self.space.validate(config))
            keys.setdefault(self.space.key(snapped), snapped)
        if len(keys) < len(portfolio):
            raise ValueError("The portfolio holds a configuration twice.")
        extra = 0
        while len(keys) < wanted and extra <= 8 * wanted:
            for config in self.space.sample(wanted + extra, seed=seed):
                snapped = self.ray_space.snap(config)
                keys.setdefault(self.space.key(snapped), snapped)
                if len(keys) == wanted:
                    break
            extra += wanted
        return list(keys.values())  # a small (quantised) space may hold fewer than wanted

    # -- what the agent does

    @property
    def over(self) -> bool:
        """Whether the tuning is over: the budget is spent or the agent stopped."""
        return self._done

    def _decide(self) -> None:
        """Let the agent fill the free workers (`tunegym.envs.AsyncRunner`'s loop)."""
        env = self.env
        while not self._done and not self._stopping and len(env.pending) < self.workers:
            mask = env.action_masks()
            if not mask[: env.stop_action].any() and env.pending:
                break  # every action waits on a pending trial's result (or the budget)
            tick = time.perf_counter()
            # under a price, it stops where the rest of the budget is worth less than the price:
            # by its network where it learned when to stop, else by the rule
            decide = getattr(self.agent, "decide", None)  # FreezeThawAgent.decide
            if decide is not None:
                action = int(decide(env, env.observation, mask))
            elif priced_stop(env):
                action = env.stop_action
            else:
                action = int(self.agent.act(env.observation, mask))
            seconds = time.perf_counter() - tick
            if not 0 <= action < mask.size or not mask[action]:
                raise ValueError(f"The agent chose action {action}, which is masked.")
            if action == env.stop_action:
                self._stopping = True
                break
            i, k = env.dispatch(action)
            run = self._runs.get(i)
            kind = "new" if run is None else "continue"
            self.decisions.append(
                {"kind": kind, "candidate": i, "k": k, "pending": len(env.pending) - 1,
                 "epochs_used": self._info["epochs_used"], "seconds": seconds}
            )  # fmt: skip
            if run is None:
                self._to_start.append(i)
            elif run.gone:  # its trial no longer exists: it ends at once, nothing charged
                self._complete(i, diverged=True)
            else:
                self._to_resume.append(i)
        if self._stopping and not env.pending and not self._done:
            _, _, _, _, self._info = env.step(env.stop_action)
            self._done = True

    def _complete(self, i: int, diverged: bool) -> None:
        run = self._runs.get(i)
        scores = np.asarray(run.scores if run else [], dtype=np.float64)
        seconds = np.asarray(run.seconds if run else [], dtype=np.float64)
        segment = Segment(scores, np.full(len(scores), np.nan), seconds, diverged)
        if run is not None:
            run.scores, run.seconds = [], []
        if i in self._to_resume:
            self._to_resume.remove(i)
        _, _, terminated, truncated, self._info = self.env.complete(i, segment)
        self._done = self._done or terminated or truncated

    def _rest(self, i: int) -> str:
        """What a trial that trained its advance does while it waits for the agent."""
        if i in self.env.pending:
            if i in self._to_resume:
                self._to_resume.remove(i)
            return TrialScheduler.CONTINUE  # the agent continued it at once
        epochs = int(self.env.epochs_done[i])
        if self._done or self._stopping or epochs >= self.env.max_epochs or self._diverged(i):
            self._runs[i].gone = True
            return TrialScheduler.STOP
        self.pauses += 1
        return TrialScheduler.PAUSE

    def _diverged(self, i: int) -> bool:
        """Whether the env holds candidate ``i`` as diverged (it has no action left)."""
        rows = self.env.observation[len(GLOBAL_FIELDS) :].reshape(self.env.rows, len(ROW_FIELDS))
        return bool(rows[i, ROW_FIELDS.index("diverged")] > 0.5)

    # -- Ray's calls

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:
        """A new candidate's configuration, ``Searcher.FINISHED`` when the tuning is over (or
        the agent stopped), else ``None`` (nothing to start now)."""
        if not self.scheduler_attached:
            raise RuntimeError(
                "The TunegymSearcher runs with its TunegymScheduler: pass both, "
                "tune.TuneConfig(search_alg=searcher, scheduler=scheduler)."
            )
        self._decide()
        if self._to_start:
            i = self._to_start.popleft()
            self._runs[i] = _Run(trial_id)
            self._of[trial_id] = i
            return self.ray_space.to_ray(self.env.candidates[i])
        if self._done or self._stopping:
            return Searcher.FINISHED
        return None

    def trial_added(self, trial_id: str) -> None:
        """Ray queued a trial: it must be one `suggest` made."""
        if trial_id not in self._of:
            raise RuntimeError(
                f"Ray added trial {trial_id}, which the TunegymSearcher did not suggest: pass "
                "the searcher with the scheduler, tune.TuneConfig(search_alg=searcher, "
                "scheduler=scheduler)."
            )

    def on_result(self, trial_id: str, result: Mapping[str, Any]) -> str:
        """Count a result's epochs; CONTINUE, PAUSE or STOP the trial."""
        i = self._of.get(trial_id)
        if i is None:
            return TrialScheduler.CONTINUE
        if i in self._to_resume:  # its first result since it resumed
            self._to_resume.remove(i)
            self.resumes += 1
        if i not in self.env.pending:  # a result past its advance: it trains nothing more
            return self._rest(i)
        k = self.env.pending[i]
        if self._ingest(i, result):
            self._complete(i, diverged=True)
        elif len(self._runs[i].scores) >= k:
            self._complete(i, diverged=False)
        else:
            return TrialScheduler.CONTINUE
        self._decide()
        return self._rest(i)

    def _ingest(self, i: int, result: Mapping[str, Any], last: bool = False) -> bool:
        """Add a result's new epochs to candidate ``i``'s advance; whether it diverged.

        ``last``: the result a trial ended with, which Ray may repeat (nothing new then);
        any other result must move ``time_attr`` on.
        """
        run = self._runs[i]
        t = result.get(self.time_attr)
        if t is None or isinstance(t, bool) or not float(t).is_integer():
            raise ValueError(
                f"Trial {run.trial_id}'s result has {self.time_attr}={t!r}; time_attr must "
                "name a result field counting the trial's epochs (an int)."
            )
        t = int(t)
        if t <= run.epochs and last:
            return False
        if t <= run.epochs:
            raise RuntimeError(
                f"Trial {run.trial_id} (candidate {i}) reported {self.time_attr}={t} after "
                f"training {run.epochs} epochs: it did not resume from its checkpoint. A paused "
                "trial resumes from its last checkpoint; report one with every result, "
                "tune.report(metrics, checkpoint=...), and restore it with "
                "tune.get_checkpoint() (docs/RAY_TUNE.md)."
            )
        value = result.get(self.metric)
        number = float(value) if isinstance(value, numbers.Real) else math.nan
        score = float(self._score(number)) if math.isfinite(number) else math.nan
        if math.isfinite(score) and not 0.0 <= score <= 1.0 and not self._warned:
            self._warned = True
            warnings.warn(
                f"{self.metric}={number!r} scores {score!r}, outside the [0, 1] the agent reads "
                "scores on; pass score= to map the metric there (e.g. lambda err: 1 - err).",
                stacklevel=2,
            )
        seconds = float(result.get("time_this_iter_s") or 0.0)
        # One result per epoch is the rule; a result covering several epochs scores each of
        # them, and any beyond the advance's k train uncounted (the env charges k at most).
        new = min(t - run.epochs, self.env.pending[i] - len(run.scores))
        done = int(self.env.epochs_done[i]) + len(run.scores)
        run.values.update({done + e: number for e in range(1, new + 1)})
        run.scores += [score] * new
        run.seconds += [seconds / (t - run.epochs)] * new
        run.epochs = t
        return not math.isfinite(score)

    def trial_ended(self, trial_id: str, result: Mapping[str, Any] | None, error: bool) -> None:
        """A trial stopped, errored or was removed: it cannot continue. If it was training an
        advance, that advance ends with the epochs it brought (diverged)."""
        i = self._of.get(trial_id)
        if i is None or self._runs[i].gone:
            return
        run = self._runs[i]
        run.gone = True
        if i in self.env.pending and i not in self._to_start:
            if result and not error and self.time_attr in result:
                self._ingest(i, result, last=True)
            self._complete(i, diverged=True)
            self._decide()

    def trial_to_run(self, trials: Iterable[Trial], stop: Callable[[Trial], Any]) -> Trial | None:
        """The trial Ray should run next: a new one, else a paused one the agent continues.
        Once the tuning is over, paused trials are stopped (so that Ray finishes)."""
        self._decide()
        listed = list(trials)
        by_id = {t.trial_id: t for t in listed}
        for i in list(self._to_resume):  # a trial that vanished cannot resume: it ends now
            trial = by_id.get(self._runs[i].trial_id)
            if trial is None or trial.status in (Trial.ERROR, Trial.TERMINATED):
                self._runs[i].gone = True
                self._complete(i, diverged=True)
                self._decide()
        if self._done:
            for trial in listed:
                candidate = self._of.get(trial.trial_id)
                if candidate is not None and trial.status == Trial.PAUSED:
                    self._runs[candidate].gone = True
                    stop(trial)
            return None
        for trial in listed:
            if trial.status == Trial.PENDING and trial.trial_id in self._of:
                return trial
        for i in self._to_resume:
            waiting = by_id.get(self._runs[i].trial_id)
            if waiting is not None and waiting.status == Trial.PAUSED:
                return waiting
        return None

    # -- properties Ray passes

    def check_properties(
        self, metric: str | None, mode: str | None, config: Mapping[str, Any] | None = None
    ) -> bool:
        """Whether Ray's metric, mode and ``param_space`` agree with the controller's.

        Raises:
            ValueError: a different metric or mode.
        """
        if (metric and metric != self.metric) or (mode and mode != self.mode):
            raise ValueError(
                f"The Tuner's metric/mode ({metric!r}, {mode!r}) differ from freeze_thaw's "
                f"({self.metric!r}, {self.mode!r}); give them once, to freeze_thaw."
            )
        if config and has_domains(config):
            return parse_space(config).space == self.space
        return True

    def check_samples(self, num_samples: int | None) -> None:
        """Raise when Ray would stop asking for trials before the agent is done.

        Raises:
            ValueError: ``num_samples`` below the trials the agent may start.
        """
        most = min(self.env.n, self.env.budget // self.env.k_choices[0])
        if num_samples is not None and 0 < num_samples < most:
            raise ValueError(
                f"TuneConfig(num_samples={num_samples}) would stop Ray after {num_samples} "
                f"trials, but the agent decides how many it starts (up to {most}); pass "
                "num_samples=-1."
            )

    # -- results

    def summary(self) -> RayTuneSummary:
        """The best result so far and how the budget was spent."""
        info = self._info
        best = info["incumbent"]
        config = value = epoch = trial = None
        if best is not None:
            i, epoch = int(best["candidate"]), int(best["epoch"])
            run = self._runs[i]
            config = self.ray_space.to_ray(self.env.candidates[i])
            value, trial = run.values.get(epoch), run.trial_id
        kinds = [d["kind"] for d in self.decisions]
        used = int(info["epochs_used"])
        return RayTuneSummary(
            best_config=config, best_value=value, best_epoch=epoch, best_trial=trial,
            epochs_used=used, budget=self.env.budget, trials=len(self._runs),
            new=kinds.count("new"), continued=kinds.count("continue"),
            diverged=sum(self._diverged(i) for i in self._runs),
            stopped=self._stopping and used < self.env.budget,
        )  # fmt: skip

    def progress(self) -> str:
        """One line: epochs, trials, what is pending."""
        return (
            f"tunegym freeze-thaw: {self._info['epochs_used']}/{self.env.budget} epochs, "
            f"{len(self._runs)} trials, {len(self.env.pending)} training"
            + (", done" if self._done else "")
        )


def _identity(value: float) -> float:
    return value


def _exp_minus(value: float) -> float:
    return math.exp(-max(value, -50.0))  # a loss below -50 would overflow, and scores 1 anyway


def _load_agent(agent: Any) -> _Actor:
    if agent is None or isinstance(agent, str | Path):
        from tunegym.agent import load_ft_agent

        return load_ft_agent(agent)
    if not callable(getattr(agent, "act", None)):
        raise TypeError(
            f"agent must be a FreezeThawAgent, its folder, or have act(obs, mask); got {agent!r}."
        )
    return agent
