"""Optuna's TPE, with or without a pruner, driven through its ask-and-tell interface.

Each Optuna trial that is told a score is one env trial; ``study.tell`` reports its validation
score after its last epoch. What TPE samples depends on the search:

* **The lr × batch-size grid.** ``study.ask()`` starts the trial and ``trial.suggest_int`` picks
  the learning-rate and batch-size grid indices (integers, so that TPE sees the grids' order:
  both grids are log-spaced).
* **Candidates of a space** (`tunegym.envs.SearchSpace.space`). TPE samples in the real space
  (``study.ask(space.to_optuna())``) and the proposal is mapped to the nearest candidate in the
  unit cube (L2 on `tunegym.envs.SearchSpace.unit`, the first on ties; a repeated candidate is
  fine). TPE is then told the configuration actually trained: unless the proposal *is* the
  candidate, the proposal's trial is told ``FAIL`` (TPE models only complete and pruned trials,
  so it is ignored) and the candidate's own values are enqueued and asked for at once: the
  trial told its score holds exactly what was trained. A categorical candidate index would be as
  honest but would hide the space's geometry from TPE (every candidate an unordered choice);
  telling the proposal the candidate's score would teach TPE a score at a point never trained.
  ``study.trials`` therefore holds these ``FAIL`` proposals between the trials that ran.

* Without a pruner a trial is one job of ``E_max`` epochs (largest valid increments).
* With a pruner it trains one epoch per action (``k = 1``), so the pruner sees every epoch:
  ``trial.report(val, epoch)`` then ``trial.should_prune()``; a pruned trial is told
  ``TrialState.PRUNED`` and the next one starts.

A diverged trial is told its (worst) score: divergence is data. A trial cut by the end of the
budget is never told (the study ends with the episode).

Given a warm start (``tpe-ws``, ``tpe-hyperband-ws``), its portfolio is enqueued as the study's
first trials (``Study.enqueue_trial``) — what `tunegym.integrations.optuna.warm_start` does for
an Optuna user — and TPE takes over from there. On the grid, entries off it are skipped; off the
grid, the entries that are candidates are enqueued (with their values), and a portfolio none of
whose entries is a candidate is refused (``ValueError``: the warm start cannot apply).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from tunegym.baselines._candidates import nearest_candidate, space_of
from tunegym.baselines._hyperband import _check_int
from tunegym.baselines._jobs import Job, JobPolicy
from tunegym.baselines._warm import portfolio_candidates
from tunegym.envs import TuningEnv

if TYPE_CHECKING:
    import optuna

    from tunegym.metastore import WarmStart

__all__ = ["Pruner", "TPESearch"]


class Pruner(enum.Enum):
    """Which Optuna pruner `TPESearch` uses."""

    NONE = "none"
    HYPERBAND = "hyperband"
    MEDIAN = "median"


class TPESearch(JobPolicy):
    """Optuna's ``TPESampler`` (seeded with the episode's seed) through ask-and-tell.

    Args:
        pruner: ``Pruner.NONE`` (full ``E_max`` trials), ``Pruner.HYPERBAND``
            (``HyperbandPruner(min_resource=1, max_resource=E_max, reduction_factor=eta)``) or
            ``Pruner.MEDIAN`` (``MedianPruner()``, Optuna's defaults: 5 startup trials, no
            warm-up).
        n_startup_trials: random trials before TPE models the results (Optuna's default, 10).
        eta: the Hyperband pruner's reduction factor.
        warm_start: a warm start whose portfolio becomes the first trials (entries that are
            candidates only; ``None``: a cold start).

    Attributes:
        study: the current episode's Optuna study (set by ``reset``).
    """

    study: optuna.Study
    _trial: optuna.trial.Trial  # the Optuna trial of the current job
    # An Optuna trial is one env trial: a proposal of a configuration that has had every trial
    # seed fails (it is not told the score of a trial that an earlier proposal trained).
    continue_held = False
    # The space's distributions off the grid; None on the grid (suggest_int of the indices).
    _distributions: dict[str, optuna.distributions.BaseDistribution] | None

    def __init__(
        self,
        pruner: Pruner = Pruner.NONE,
        *,
        n_startup_trials: int = 10,
        eta: int = 3,
        warm_start: WarmStart | None = None,
    ) -> None:
        if not isinstance(pruner, Pruner):
            raise TypeError(f"pruner must be a tunegym.baselines.Pruner, got {pruner!r}.")
        _check_int("n_startup_trials", n_startup_trials, 0)
        _check_int("eta", eta, 2)
        self.pruner, self.n_startup_trials, self.eta = pruner, n_startup_trials, eta
        self.warm_start = warm_start

    def _make_pruner(self) -> optuna.pruners.BasePruner:
        import optuna

        if self.pruner is Pruner.HYPERBAND:
            return optuna.pruners.HyperbandPruner(
                min_resource=1,
                max_resource=self.task.space.max_epochs,
                reduction_factor=self.eta,
            )
        if self.pruner is Pruner.MEDIAN:
            return optuna.pruners.MedianPruner()
        return optuna.pruners.NopPruner()

    def _start(self, env: TuningEnv, seed: int) -> None:
        import optuna

        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials)
        verbosity = optuna.logging.get_verbosity()
        optuna.logging.set_verbosity(optuna.logging.WARNING)  # no "study created" line per episode
        try:
            # A fixed name: HyperbandPruner assigns brackets from a hash of name and trial number.
            self.study = optuna.create_study(
                direction="maximize",
                sampler=sampler,
                pruner=self._make_pruner(),
                study_name=f"tunegym-{seed}",
            )
        finally:
            optuna.logging.set_verbosity(verbosity)
        self._pruned = optuna.trial.TrialState.PRUNED
        self._failed = optuna.trial.TrialState.FAIL
        space = self.task.space
        if space.is_grid:
            self._distributions = None
            for lr_index, bs_index in self._grid_portfolio():
                self.study.enqueue_trial(
                    {"lr_index": lr_index, "batch_size_index": bs_index}, skip_if_exists=True
                )
            return
        self._distributions = space_of(space).to_optuna()
        if self.warm_start is not None:
            for config in portfolio_candidates(self.warm_start, space):
                self.study.enqueue_trial(dict(space.candidates[config]), skip_if_exists=True)

    def _grid_portfolio(self) -> list[tuple[int, int]]:
        """The warm start's portfolio as grid indices (entries off the grid are skipped)."""
        if self.warm_start is None:
            return []
        space = self.task.space
        lrs = [float(f"{v:.9g}") for v in space.lrs]
        indices = []
        for entry in self.warm_start.portfolio:
            lr = float(f"{entry.lr:.9g}")
            if lr in lrs and entry.batch_size in space.batch_sizes:
                indices.append((lrs.index(lr), space.batch_sizes.index(entry.batch_size)))
        return indices

    def _next_job(self) -> Job | None:
        space = self.task.space
        if self._distributions is None:
            trial = self._trial = self.study.ask()
            lr_index = trial.suggest_int("lr_index", 0, len(space.lrs) - 1)
            bs_index = trial.suggest_int("batch_size_index", 0, len(space.batch_sizes) - 1)
            config = lr_index * len(space.batch_sizes) + bs_index
        else:
            config = self._ask_candidate()
        max_k = None if self.pruner is Pruner.NONE else 1
        return Job(config, space.max_epochs, max_k=max_k)

    def _ask_candidate(self) -> int:
        """Ask TPE for a configuration; the nearest candidate's index, its trial in ``_trial``."""
        space = self.task.space
        trial = self.study.ask(self._distributions)
        config = nearest_candidate(space, space_of(space).to_unit(trial.params))
        candidate = space.candidates[config]
        if space.key(trial.params) != space.key(candidate):
            # The trial told a score must hold what was trained (see the module's docstring).
            self.study.tell(trial, state=self._failed)
            self.study.enqueue_trial(dict(candidate))
            trial = self.study.ask(self._distributions)
        self._trial = trial
        return config

    def _on_step(self, job: Job) -> bool:
        if self.pruner is Pruner.NONE:
            return False
        self._trial.report(job.val, job.epochs)
        return not job.done and self._trial.should_prune()

    def _job_done(self, job: Job) -> None:
        if job.trial is None:  # skipped: its configuration had had every trial seed
            self.study.tell(self._trial, state=self._failed)
        elif job.cut and self.pruner is not Pruner.NONE:
            self.study.tell(self._trial, state=self._pruned)
        else:
            self.study.tell(self._trial, job.val)
