"""Optuna's TPE as peers, with no pruner, a Hyperband pruner or a median pruner, asked and told.

Each Optuna trial trains one pool configuration epoch by epoch: after each epoch the trial
reports its validation score and asks its pruner whether to stop; a stopped trial is told
``PRUNED``, one that reaches the last epoch is told its score. The study maximises.

TPE samples the space (``study.ask(space.to_optuna())``); the trial trains the pool
configuration `Episode.index_of` maps TPE's proposal to (for a new point, the nearest
configuration not trained yet) and TPE is told the scores at its proposal. A trial on a
configuration that trained before (a point proposed again) reads the epochs it has for free, the
ledger charging only new epochs; should a study run `STALL_TRIALS` trials in a row that charge
nothing, TPE has nothing more to propose and the peer returns.

With a warm start (``tpe-ws``, ``tpe-hyperband-ws``) the portfolio is enqueued as the study's
first trials (``Study.enqueue_trial``), the best meta-train default first; TPE takes over after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from tunegym.bench._episode import STALL_TRIALS, Episode

if TYPE_CHECKING:
    import optuna

__all__ = ["tpe", "tpe_hyperband", "tpe_median"]


def tpe(ep: Episode) -> None:
    """TPE (``TPESampler(seed=ep.seed)``, Optuna's defaults), every trial to the last epoch."""
    import optuna

    _run(ep, optuna.pruners.NopPruner())


def tpe_hyperband(ep: Episode) -> None:
    """TPE with ``HyperbandPruner(min_resource=1, max_resource=ep.max_epochs,
    reduction_factor=ep.eta)`` (Optuna's recommended pairing for TPE)."""
    import optuna

    pruner = optuna.pruners.HyperbandPruner(
        min_resource=1, max_resource=ep.max_epochs, reduction_factor=ep.eta
    )
    _run(ep, pruner)


def tpe_median(ep: Episode) -> None:
    """TPE with ``MedianPruner``: a trial below the median of the completed trials at the same
    epoch stops, once 5 trials completed (Optuna's default) and after a warm-up of
    ``max_epochs // eta**2`` epochs (at least 1).

    Without a warm-up a curve is judged on its first epoch, which stops the slow starters whose
    curves cross the others later; ``max_epochs / eta**2`` is DEHB's second fidelity (5 of
    LCBench's 52 epochs at ``eta = 3``).
    """
    import optuna

    warm_up = max(1, ep.max_epochs // ep.eta**2)
    _run(ep, optuna.pruners.MedianPruner(n_warmup_steps=warm_up))


def _run(ep: Episode, pruner: optuna.pruners.BasePruner) -> None:
    """Ask TPE for trials and train them epoch by epoch until the budget (or TPE) ends."""
    import optuna

    with _quiet_optuna():
        study = optuna.create_study(
            direction="maximize",
            sampler=optuna.samplers.TPESampler(seed=ep.seed),
            pruner=pruner,
            # A fixed name: HyperbandPruner draws each trial's bracket from a hash of the study's
            # name and the trial's number, and Optuna's default name is random.
            study_name=f"tunegym-bench-{ep.seed}",
        )
        for values in ep.portfolio_configs():
            study.enqueue_trial(values)
        ledger = ep.ledger
        idle = 0
        while idle < STALL_TRIALS and not (ledger.trained >= ep.max_epochs).all():
            trial, config = _ask(study, ep)
            spent = ledger.spent
            for epoch in range(1, ep.max_epochs + 1):
                score = ledger.train(config, epoch)
                trial.report(score, epoch)
                if epoch < ep.max_epochs and trial.should_prune():
                    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                    break
            else:
                study.tell(trial, score)
            idle = 0 if ledger.spent > spent else idle + 1


def _ask(study: optuna.Study, ep: Episode) -> tuple[optuna.Trial, int]:
    """A trial of TPE's proposal, and the index of the pool configuration it stands for."""
    trial = study.ask(ep.pool.space.to_optuna())
    return trial, ep.index_of(trial.params)


@contextmanager
def _quiet_optuna() -> Iterator[None]:
    """Optuna's INFO lines (``A new study created``) off while the peer runs; warnings stay."""
    import optuna

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(verbosity)
