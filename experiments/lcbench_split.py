"""The LCBench suite's task split (BENCHMARK_PROTOCOL.md: "split the tasks once, a file in the repo").

LCBench's 34 OpenML tasks are split into meta-train / meta-val / meta-test by family, like the
meta-datasets, with their assignment kept: the 8 tasks that are tables of a family tunegym
already has (credit-g = KEEL's german, kr-vs-kp = chess, Australian = credit-approval, car,
phoneme, segment, shuttle, vehicle; `tunegym.metastore.dataset_family`) take that family's part
in v1's split (`snapshot_split()`), so an agent meta-trained on any suite never meets a test
family; the other 26 are split 70/15/15 by `family_split` (seed 0).

Run (what wrote experiments/splits/lcbench_split.json; a test checks the file equals it):
    .venv/bin/python experiments/lcbench_split.py
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tunegym._args import parse_dataclass_args
from tunegym.metastore import snapshot_split, write_split

SPLIT_FILE = Path(__file__).parent / "splits" / "lcbench_split.json"


@dataclass
class Args:
    """Settings (each is a ``--flag`` of the same name with dashes)."""

    out: str = str(SPLIT_FILE)
    """Where the split goes."""
    seed: int = 0
    """Seed of the split of the families tunegym does not have yet."""


def lcbench_specs() -> list[str]:
    """``lcbench:<task name>`` of every task of the surrogate."""
    from tunegym.surrogates import LCBench

    return sorted(f"lcbench:{name}" for name in LCBench.open().task_names.values())


def run(args: Args) -> pd.DataFrame:
    """Write the split; return it (dataset, family, part)."""
    v1 = snapshot_split()
    fixed = dict(zip(v1["family"], v1["part"], strict=True))
    return write_split(args.out, lcbench_specs(), seed=args.seed, fixed=fixed)


if __name__ == "__main__":
    table = run(parse_dataclass_args(Args, description=__doc__))
    print(table.to_string(index=False))
    print(table["part"].value_counts().to_string())
