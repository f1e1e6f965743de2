"""The research benchmark's statistics (``BENCHMARK_PROTOCOL.md`` v2).

The v1 harness behind ``tunegym bench`` is `tunegym.bench._harness` (moved from
`tunegym.agent`); issue 14 brings it to the protocol v2. The protocol's arithmetic, independent
of how the episodes were run:

* `hierarchical_bootstrap`: a confidence interval that resamples tasks, then seeds within each
  task, optionally weighting tasks (`family_weights`: each family counts once);
* `mean_ranks`: each method's mean rank over (task, seed) episodes (rank 1 = best, ties shared);
* `critical_difference` and `plot_critical_difference`: the Nemenyi critical difference of mean
  ranks and Demšar's diagram.
"""

from tunegym.bench._stats import (
    critical_difference,
    family_weights,
    hierarchical_bootstrap,
    mean_ranks,
    plot_critical_difference,
)

__all__ = [
    "critical_difference",
    "family_weights",
    "hierarchical_bootstrap",
    "mean_ranks",
    "plot_critical_difference",
]
