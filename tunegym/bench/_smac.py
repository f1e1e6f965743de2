"""SMAC3's multi-fidelity optimiser as a peer: a random forest proposing, Hyperband deciding.

`smac_hyperband` runs ``MultiFidelityFacade`` with its ``Hyperband`` intensifier (minimum 1
epoch, maximum the curves' length, halving rate ``ep.eta``) through ask and tell: each trial
SMAC asks for trains the pool configuration nearest its point to the trial's budget (rounded to
whole epochs; a promoted configuration continues from its epochs), and SMAC is told the cost
``1 - score``. With a portfolio, the portfolio is SMAC's initial design, in order.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunegym.bench._episode import STALL_TRIALS, Episode
from tunegym.errors import MissingExtraError

if TYPE_CHECKING:
    pass

__all__ = ["smac_hyperband"]

_N_TRIALS = 10**9  # SMAC's own stopping rule; the ledger's budget ends the episode first


def smac_hyperband(ep: Episode) -> None:
    """SMAC3's multi-fidelity facade (random forest, EI, Hyperband) on the episode.

    SMAC's defaults, except that the forest fits on one core (the benchmark runs episodes in
    parallel processes; the forest is the same). Cold, SMAC starts with its random initial
    design (10 configurations per hyperparameter); warm, with the portfolio instead. Returns
    early when SMAC finds no new configuration (a finite space exhausted) or when
    `STALL_TRIALS` trials in a row charged nothing.

    SMAC's choices depend on the interpreter's string hashing (its local search starts from a
    ``set`` of configurations): one episode is reproducible for a fixed ``PYTHONHASHSEED``.

    Raises:
        MissingExtraError: SMAC3 is not installed.
        BudgetSpent: the episode's budget ran out (this ends every episode).
    """
    try:
        from ConfigSpace import Configuration
        from smac import MultiFidelityFacade, Scenario
        from smac.main.exceptions import ConfigurationSpaceExhaustedException
        from smac.model.random_forest.random_forest import RandomForest
        from smac.runhistory.dataclasses import TrialValue
    except ImportError as error:
        raise MissingExtraError("smac", "peers", "The SMAC peer") from error
    configspace = ep.pool.space.to_configspace()
    with tempfile.TemporaryDirectory(prefix="tunegym-smac-") as folder, _quiet("smac"):
        scenario = Scenario(
            configspace,
            deterministic=True,
            n_trials=_N_TRIALS,
            min_budget=1,
            max_budget=ep.max_epochs,
            seed=ep.seed,
            output_directory=Path(folder),
        )
        initial_design = None
        if ep.portfolio:
            initial_design = MultiFidelityFacade.get_initial_design(
                scenario,
                n_configs=0,
                additional_configs=[
                    Configuration(configspace, values=c) for c in ep.portfolio_configs()
                ],
            )
        smac = MultiFidelityFacade(
            scenario,
            target_function=None,  # ask and tell: SMAC never runs a trial itself
            model=RandomForest(  # the facade's get_model, on one core
                configspace,
                log_y=True,
                n_trees=10,
                ratio_features=1.0,
                min_samples_split=2,
                min_samples_leaf=1,
                instance_features=scenario.instance_features,
                seed=scenario.seed,
                n_jobs=1,
            ),
            initial_design=initial_design,
            intensifier=MultiFidelityFacade.get_intensifier(scenario, eta=ep.eta),
            logging_level=False,  # an int would reconfigure the root logger
            overwrite=True,
        )
        free = 0  # trials in a row that charged nothing
        while free < STALL_TRIALS:
            try:
                info = smac.ask()
            except ConfigurationSpaceExhaustedException:
                return
            spent = ep.ledger.spent
            config: dict[str, Any] = dict(info.config)
            epochs = ep.max_epochs if info.budget is None else round(info.budget)
            score = ep.ledger.train(ep.index_of(config), epochs)
            smac.tell(info, TrialValue(cost=1.0 - score), save=False)
            free = free + 1 if ep.ledger.spent == spent else 0


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Only errors from logger ``name`` during the block (its level is restored after)."""
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)
