"""Baseline tuners as policies over the tuning env's actions and budget.

Every baseline implements `Policy` (``reset(env, seed)``, ``act(obs, mask)``,
``observe(info)``), so random search, grid search, successive halving, Hyperband, Optuna's TPE
(with or without a pruner), DEHB, the warm-started variants and the oracle spend the same epochs
through the same new/continue/stop actions as the agent, on any `tunegym.envs.SearchSpace` (the
lr × batch-size grid, or candidates of a `tunegym.space.Space`). `run_episode` runs one episode
and returns its anytime curve with the policy's own decision time; ``docs/BASELINES.md``
describes each baseline::

    from tunegym.baselines import make_baseline, run_episode
    from tunegym.data import load_dataset
    from tunegym.envs import SearchSpace, make_tuning_env, record_curves

    ds = load_dataset("sklearn:iris", seed=0)
    space = SearchSpace(lrs=(1e-3, 1e-2, 1e-1), batch_sizes=(16, 64), max_epochs=4)
    curves = record_curves(ds, space, seeds=(0,))
    env = make_tuning_env(ds, "replay", curves=curves, space=space, trial_seeds=(0,),
                          budget_epochs=16)
    result = run_episode(env, make_baseline("hyperband"), seed=0)
    print(result.final_regret, result.decision_seconds)
"""

from tunegym.baselines._dehb import DEHB
from tunegym.baselines._hyperband import Bracket, Hyperband, SuccessiveHalving, hyperband_brackets
from tunegym.baselines._jobs import Job, JobPolicy
from tunegym.baselines._optuna import Pruner, TPESearch
from tunegym.baselines._oracle import Oracle, OracleCriterion
from tunegym.baselines._policy import EpisodeResult, Incumbent, Policy, run_episode
from tunegym.baselines._registry import BASELINE_NAMES, WARM_STARTED, make_baseline
from tunegym.baselines._search import (
    BoxRandomSearch,
    GridSearch,
    RandomSearch,
    WarmStartRandomSearch,
)

__all__ = [
    "BASELINE_NAMES",
    "DEHB",
    "WARM_STARTED",
    "BoxRandomSearch",
    "Bracket",
    "EpisodeResult",
    "GridSearch",
    "Hyperband",
    "Incumbent",
    "Job",
    "JobPolicy",
    "Oracle",
    "OracleCriterion",
    "Policy",
    "Pruner",
    "RandomSearch",
    "SuccessiveHalving",
    "TPESearch",
    "WarmStartRandomSearch",
    "hyperband_brackets",
    "make_baseline",
    "run_episode",
]
