"""Jobs — "train this trial up to n epochs" — turned into the env's new/continue actions.

Every baseline here thinks in jobs: random search runs one job of ``E_max`` epochs per
configuration, successive halving one job per configuration and rung, TPE one per Optuna trial.
`JobPolicy` runs one job at a time and turns it into actions:

* each action buys the largest valid increment ``k`` that does not exceed the epochs the job
  still needs (and the job's ``max_k``); when no valid ``k`` is that small (``k_choices``
  without 1), the smallest valid one, so the trial overshoots its target;
* a job whose trial has lost its slot (the env replaced it, see `tunegym.envs.TuningEnv`)
  restarts: a new trial of the same configuration trained from scratch to the same target,
  counted in ``n_restarts``;
* a job ends when its trial reaches the target, diverges, the policy cuts it (a pruner), or no
  valid action can continue it; the policy stops when it has no job left or its next job cannot
  start (the budget left is smaller than every increment);
* a new job (or a restart) of a configuration that has had every trial seed this episode (the
  env masks its new trials: see `tunegym.envs.TuningEnv`) continues that configuration's trial
  still held in a slot with the most epochs short of the target, if any and if the policy's
  ``continue_held`` allows; else it is skipped (cut before it trained an epoch, counted in
  ``n_skipped``) and the next job starts instead; after ``max_skips`` skips in a row (a policy
  that proposes nothing else) the policy stops;
* a job continuing a trial reads the trial's epochs and score as they are, even when another
  job trained it since.

When the budget runs out in the middle of a job, the env ends the episode: the last trial is a
partial one.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from tunegym.envs import TaskSpec, TuningEnv

__all__ = ["Job", "JobPolicy"]


@dataclass(eq=False)
class Job:
    """Train one trial (new or existing) until it has ``target`` epochs.

    Attributes:
        config: the trial's candidate configuration, as its index in the task's
            `tunegym.envs.SearchSpace` (``candidates[config]``; on the lr × batch-size grid
            ``lr_index * n_batch_sizes + batch_size_index``).
        target: epochs the trial should have when the job ends.
        trial: the env's number of the trial to continue; ``None`` starts a new trial (set once
            the env has started it).
        max_k: the largest increment per action (1 shows the policy every epoch).
        epochs: epochs the trial has trained.
        val: its validation score after its last epoch (``nan`` before any).
        diverged: the trial diverged (it cannot continue).
        cut: the job ended before its target (cut by the policy, or no action could continue it).
    """

    config: int
    target: int
    trial: int | None = None
    max_k: int | None = None
    epochs: int = 0
    val: float = math.nan
    diverged: bool = False
    cut: bool = False

    @property
    def done(self) -> bool:
        """The trial reached the target or diverged."""
        return self.epochs >= self.target or self.diverged

    def extend(self, target: int) -> Job:
        """A job continuing this one's trial up to ``target`` epochs."""
        return Job(
            self.config,
            target,
            trial=self.trial,
            max_k=self.max_k,
            epochs=self.epochs,
            val=self.val,
        )


class JobPolicy(abc.ABC):
    """A `tunegym.baselines.Policy` that runs one `Job` at a time.

    Subclasses implement ``_next_job`` and may override the hooks ``_start`` (episode set-up),
    ``_on_step`` (after each step of a job; return True to cut it) and ``_job_done``.

    Attributes:
        task: the episode's task (set by ``reset``).
        rng: the episode's random generator, seeded by ``reset``.
        n_restarts: jobs restarted from scratch this episode because their trial lost its slot.
        n_skipped: jobs skipped this episode because their configuration had had every trial
            seed.
    """

    task: TaskSpec
    rng: np.random.Generator
    n_restarts: int
    n_skipped: int
    # Whether a job of an exhausted configuration may continue a trial an earlier job trained.
    continue_held: bool = True

    def reset(self, env: TuningEnv, seed: int) -> None:
        """Start an episode on ``env``, seeded with ``seed``."""
        self.task = env.task
        self.rng = np.random.default_rng(seed)
        self.n_restarts = 0
        self.n_skipped = 0
        self._codec = env.codec
        self._mask = np.ones(self._codec.n, dtype=bool)  # the latest mask `act` was given
        self._slot_of: dict[int, int] = {}  # env trial number -> slot, for trials still held
        # env trial number -> (candidate, epochs, last score, diverged), for every trial started
        self._progress: dict[int, tuple[int, int, float, bool]] = {}
        self._job: Job | None = None
        self._start(env, seed)

    def act(self, obs: np.ndarray, mask: np.ndarray) -> int:
        """The next action of the current job (starting the next job when needed)."""
        self._mask = mask
        skips = 0
        while True:
            if self._job is None:
                self._job = self._next_job()
                if self._job is None:
                    return self._codec.stop_index
            job = self._job
            self._sync(job)
            if self.continue_held and job.trial is None and not self._startable()[job.config]:
                self._adopt(job)
            action = self._action(job, mask)
            if action is not None:
                return action
            if job.trial is None:
                if not self._startable().any() or skips >= self.max_skips:
                    # No new trial fits the budget left, or the policy proposes none that can
                    # start: the job ends untrained (a tuner that tells scores fails it).
                    job.cut = True
                    self._finish(job)
                    return self._codec.stop_index
                skips += 1  # its configuration has had every trial seed: on to the next job
                self.n_skipped += 1
            job.cut = not job.done
            self._finish(job)

    @property
    def max_skips(self) -> int:
        """Jobs of exhausted configurations skipped in a row before the policy stops."""
        return 4 * self.task.space.n_configs + 16

    def _startable(self) -> np.ndarray:
        """Per candidate configuration, whether a new trial of it is valid now (by the mask)."""
        codec = self._codec
        n_k = len(codec.k_choices)
        blocks = np.asarray(self._mask[: codec.n_new], dtype=bool).reshape(-1, n_k)
        return np.any(blocks, axis=1)

    def observe(self, info: dict[str, Any]) -> None:
        """Update the current job with the step's outcome."""
        step = info["step"]
        job = self._job
        if job is None or not step["valid"] or step["kind"] == "stop":
            return
        if step["kind"] == "new":
            slot = step["slot"]
            self._slot_of = {t: s for t, s in self._slot_of.items() if s != slot}
            self._slot_of[step["trial"]] = slot
            job.trial = step["trial"]
        job.epochs += step["epochs"]
        job.val = step["val_score"]
        job.diverged = step["diverged"]
        self._progress[step["trial"]] = (job.config, job.epochs, job.val, job.diverged)
        if self._on_step(job):
            job.cut = not job.done
        if job.done or job.cut:
            self._finish(job)

    # ------------------------------------------------------------------ hooks

    def _start(self, env: TuningEnv, seed: int) -> None:  # noqa: B027  (optional hook)
        """Episode set-up, after the common state is reset."""

    @abc.abstractmethod
    def _next_job(self) -> Job | None:
        """The next job, or ``None`` to stop."""

    def _on_step(self, job: Job) -> bool:
        """Called after each step of ``job``; return True to end it now."""
        return False

    def _job_done(self, job: Job) -> None:  # noqa: B027  (optional hook)
        """Called once ``job`` has ended (``job.cut`` says whether early)."""

    # ------------------------------------------------------------------ helpers

    def _finish(self, job: Job) -> None:
        self._job = None
        self._job_done(job)

    def _sync(self, job: Job) -> None:
        """Restart a job whose trial lost its slot; else read its trial's progress."""
        if job.trial is None:
            return
        if job.trial not in self._slot_of:
            job.trial, job.epochs, job.val = None, 0, math.nan
            self.n_restarts += 1
        elif job.trial in self._progress:
            _, job.epochs, job.val, job.diverged = self._progress[job.trial]

    def _adopt(self, job: Job) -> None:
        """Give a new job of an exhausted configuration that configuration's held trial with
        the most epochs short of the job's target, if there is one."""
        held = [
            (epochs, trial)
            for trial, (config, epochs, _, diverged) in self._progress.items()
            if config == job.config
            and trial in self._slot_of
            and not diverged
            and epochs < job.target
        ]
        if held:
            trial = max(held)[1]
            job.trial = trial
            _, job.epochs, job.val, job.diverged = self._progress[trial]

    def _action(self, job: Job, mask: np.ndarray) -> int | None:
        codec = self._codec
        need = job.target - job.epochs
        if job.trial is not None and need <= 0:
            return None  # another job trained its trial past this one's target
        cap = need if job.max_k is None else min(need, job.max_k)
        if job.trial is None:
            indices = [codec.new_config(job.config, k) for k in codec.k_choices]
        else:
            slot = self._slot_of[job.trial]
            indices = [codec.cont(slot, k) for k in codec.k_choices]
        valid = [(k, i) for k, i in zip(codec.k_choices, indices, strict=True) if mask[i]]
        if not valid:
            return None
        fitting = [i for k, i in valid if k <= cap]
        return fitting[-1] if fitting else valid[0][1]
