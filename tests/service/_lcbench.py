"""A small meta-dataset v2 (LCBench's space) for the service's tests: 3 datasets, 3 configs.

Built by training (a few seconds), so the tests do not depend on whether the shipped v2
snapshot (`tunegym.metastore.LCBENCH_SNAPSHOT_DIR`) is installed, nor on its contents.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tunegym.space import LCBENCH_SPACE

DATASETS = ("sklearn:iris", "sklearn:wine", "sklearn:breast_cancer")
NAMES = tuple(sorted(LCBENCH_SPACE.names))


def build_lcbench_snapshot(folder: Path) -> Path:
    """Train 3 LCBench-space configurations × 2 seeds × 2 epochs on 3 datasets; snapshot them."""
    import torch

    from tunegym.envs import SearchSpace, collect
    from tunegym.metastore import MetaStore, write_snapshot

    torch.set_num_threads(1)
    search = SearchSpace.sampled(LCBENCH_SPACE, 3, seed=0, max_epochs=2, k_choices=(1, 2))
    with MetaStore(folder / "store.sqlite") as store:
        summary = collect(DATASETS, search, seeds=(0, 1), store=store)
        assert summary.runs_logged == 3 * 3 * 2 and not summary.failures
        write_snapshot(store, folder / "snapshot")
    return folder / "snapshot"


def stored_configs(snapshot: Path) -> set[tuple[tuple[str, float | int], ...]]:
    """The snapshot's configurations, each as sorted (name, value) pairs, values as stored."""
    from tunegym.metastore import load_snapshot

    frame: pd.DataFrame = load_snapshot(path=snapshot)[list(NAMES)].drop_duplicates()
    return {
        tuple((n, v.item() if hasattr(v, "item") else v) for n, v in zip(NAMES, row, strict=True))
        for row in frame.itertuples(index=False)
    }
