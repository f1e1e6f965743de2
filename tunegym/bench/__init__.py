"""The research benchmark (``BENCHMARK_PROTOCOL.md`` v2): peers from their own libraries on a
suite's tasks, read per epoch, regret on seed-mean truth (``tunegym bench --suite ...``).

* a task is a `CurvePool` (`lcbench_pools`: the LCBench surrogate; `table_pools`: any curve
  table, e.g. the meta-dataset v2); `load_suite` gives a suite's;
* a `Ledger` charges the epochs a tuner trains (new ones only) and reads the incumbent per epoch;
* a peer is a function of an `Episode` (`PEERS`: Syne Tune ASHA/BOHB, SMAC3, DEHB, Optuna TPE
  with and without pruners, random search, Hyperband, top-K after one epoch, warm-started
  variants, the fixed script, the oracle);
* `run_suite` runs a `BenchPlan` over worker processes, `write_report` writes its tables,
  figures and section of ``docs/BENCHMARKS.md``.

The v1 harness (13 x 6 grid, step-end reading) is `tunegym.bench._harness`
(``tunegym bench --suite v1``). The protocol's arithmetic, independent of how the episodes were
run:

* `hierarchical_bootstrap`: a confidence interval that resamples tasks, then seeds within each
  task, optionally weighting tasks (`family_weights`: each family counts once);
  `hierarchical_ratio` the same for the ratio of two methods' means, on paired episodes;
* `mean_ranks`: each method's mean rank over (task, seed) episodes (rank 1 = best, ties shared);
* `critical_difference` and `plot_critical_difference`: the Nemenyi critical difference of mean
  ranks and Demšar's diagram.
"""

from tunegym.bench._episode import Episode, Peer, portfolio
from tunegym.bench._ledger import BudgetSpent, EpisodeTrace, Ledger
from tunegym.bench._registry import PEERS, PeerInfo, get_peer, peer_names, unavailable_peers
from tunegym.bench._report import merge_results, rank_curves, read_results, summarise, write_report
from tunegym.bench._run import (
    SUITE_BUDGETS,
    BenchPlan,
    checkpoints,
    episode_seed,
    load_suite,
    run_episode,
    run_suite,
)
from tunegym.bench._stats import (
    critical_difference,
    family_weights,
    hierarchical_bootstrap,
    hierarchical_ratio,
    mean_ranks,
    paired_worse,
    plot_critical_difference,
)
from tunegym.envs._pool import CurvePool, lcbench_pools, table_pools

__all__ = [
    "PEERS",
    "SUITE_BUDGETS",
    "BenchPlan",
    "BudgetSpent",
    "CurvePool",
    "Episode",
    "EpisodeTrace",
    "Ledger",
    "Peer",
    "PeerInfo",
    "checkpoints",
    "critical_difference",
    "episode_seed",
    "family_weights",
    "get_peer",
    "hierarchical_bootstrap",
    "hierarchical_ratio",
    "lcbench_pools",
    "load_suite",
    "mean_ranks",
    "merge_results",
    "paired_worse",
    "peer_names",
    "plot_critical_difference",
    "portfolio",
    "rank_curves",
    "read_results",
    "run_episode",
    "run_suite",
    "summarise",
    "table_pools",
    "unavailable_peers",
    "write_report",
]
