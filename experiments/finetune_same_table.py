"""The user's case of transfer: new rows of the same table, fine-tuned from the old rows' model
or trained from scratch, at equal cost (issue 16).

    python experiments/finetune_same_table.py                  # 9 meta-test tables, ~5 min
    python experiments/finetune_same_table.py --dataset keel:bands --seeds 1

For each table (by default the meta-test families' single tables and sources of
`experiments/collect_finetune.py`), a seeded hash of each row's feature values
(`tunegym.data.row_draws`, another seed than the split's) cuts the rows in two halves: the **old**
rows ("last month") and the **new** ones ("this month"); the halves share no row, so no row the
target is tested on was trained on, and each half is split into its parts by class
(``split="stratified"``). Up to ``--max-rows`` rows per half.

* The source is tuned on the old rows as `experiments/collect_finetune.py` tunes its sources:
  the best validation epoch of meta-dataset v2's 8 portfolio configurations, 25 epochs each.
* On the new rows, 16 scratch candidates (v2's portfolio, then Sobol points) and 16 fine-tuning
  candidates (`tunegym.envs.finetune_configs`) train 25 epochs with 2 seeds. The classes are
  the same, so a fine-tuning candidate keeps the source's output layer (no probe); where a half
  lacks a class the head is new and probed, and the table says so.

Measures, on seed-mean curves as `experiments/finetune_benchmark.py`'s candidate table: the
score after one epoch, epochs to reach scratch's best final score, and the final score. Writes
``<out>/same_table_targets.csv`` and ``<out>/same_table_summary.md``.
"""

from __future__ import annotations

import argparse
import multiprocessing
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from collect_finetune import _portfolio
from finetune_benchmark import candidate_rows

from tunegym.data import load_dataset
from tunegym.data._keel import read_keel, resolve_keel_name
from tunegym.data._rows import row_draws
from tunegym.envs._finetune import (
    finetune_configs,
    record_finetune_curves,
    scratch_configs,
    train_source,
)
from tunegym.envs._pool import table_pools
from tunegym.space import FINE_TUNE_SPACE

TABLES = (
    "keel:bands", "keel:flare-F", "keel:letter", "keel:penbased", "keel:tic-tac-toe",
    "keel:ecoli-0-1-4-7_vs_2-3-5-6", "keel:kddcup-buffer_overflow_vs_back",
    "keel:poker-8-9_vs_5", "keel:shuttle-2_vs_5",
)  # fmt: skip
HALF_SEED = 7  # the old/new cut; the parts of each half use load_dataset's seed 0
SPLIT = "stratified"  # the halves share no row: each is split by class


@dataclass
class Args:
    datasets: tuple[str, ...] = TABLES
    seeds: int = 2
    max_epochs: int = 25
    max_rows: int = 1000
    n_candidates: int = 16
    workers: int = 2
    out: Path = Path("docs/transfer")


def halves(spec: str, folder: Path, max_rows: int) -> tuple[Path, Path]:
    """Write the old and the new rows of ``spec`` (at most ``max_rows`` each) as CSV files."""
    frame = read_keel(*resolve_keel_name(spec.removeprefix("keel:")))
    draws = row_draws(frame.drop(columns="class"), HALF_SEED)
    old = draws[:, 0] < 0.5
    paths = []
    for kind, rows in (("old", old), ("new", ~old)):
        part = frame[rows]
        order = np.argsort(draws[rows, 2], kind="stable")[:max_rows]  # a seeded sample
        path = folder / f"{spec.split(':')[-1]}-{kind}.csv"
        part.iloc[np.sort(order)].to_csv(path, index=False)
        paths.append(path)
    return paths[0], paths[1]


def one_table(spec: str, args: Args) -> pd.DataFrame:
    """Curves of every candidate on ``spec``'s new rows, with a ``head`` column."""
    import torch

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        old, new = halves(spec, Path(tmp), args.max_rows)
        portfolio = _portfolio(8)
        source, _ = train_source(str(old), portfolio, max_epochs=args.max_epochs,
                                 target="class", name=f"{spec}-old", split=SPLIT)  # fmt: skip
        source = replace(source, keep_head=None)  # same table: the classes mean the same
        target = load_dataset(str(new), "class", seed=0, split=SPLIT)
        head = "kept" if source.keeps_head(target) else "new, probed"
        configs = scratch_configs(args.n_candidates, 0, portfolio) + finetune_configs(
            source.config, args.n_candidates, 0
        )
        frames = [
            record_finetune_curves(str(new), source, configs, seed=seed, split=SPLIT,
                                   max_epochs=args.max_epochs, target_column="class")
            for seed in range(args.seeds)
        ]  # fmt: skip
    frame = pd.concat(frames, ignore_index=True).drop(columns="diverged")
    return frame.assign(dataset=spec, head=head)


def summarise(frames: list[pd.DataFrame]) -> tuple[pd.DataFrame, str]:
    rows: list[dict[str, Any]] = []
    for frame in frames:
        (pool,) = table_pools(frame.drop(columns="head"), space=FINE_TUNE_SPACE)
        rows.append({"task": pool.task, "head": frame["head"].iloc[0], **candidate_rows(pool)})
    table = pd.DataFrame(rows)
    reach = table["finetune_epochs_to_scratch_best"]
    table["speedup"] = (table["scratch_epochs_to_best"] / reach).fillna(0.0)
    lines = [
        "| table | head | epoch-1 score scratch | fine-tune | final scratch | fine-tune | "
        "epochs to scratch's best: scratch | fine-tune | ratio |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        fine = "never" if np.isnan(r.finetune_epochs_to_scratch_best) else (
            f"{int(r.finetune_epochs_to_scratch_best)}")  # fmt: skip
        lines.append(
            f"| {r.task} | {r.head} | {r.scratch_epoch1:.3f} | {r.finetune_epoch1:.3f} | "
            f"{r.scratch_final:.3f} | {r.finetune_final:.3f} | {r.scratch_epochs_to_best} | "
            f"{fine} | {r.speedup:.1f}x |"
        )
    lines += [
        f"| **all {len(table)}** | | {table['scratch_epoch1'].mean():.3f} | "
        f"{table['finetune_epoch1'].mean():.3f} | {table['scratch_final'].mean():.3f} | "
        f"{table['finetune_final'].mean():.3f} | | | median "
        f"{table['speedup'].median():.1f}x; ≥ 2x on {int((table['speedup'] >= 2).sum())} |",
    ]
    return table, "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Args()
    parser.add_argument("--dataset", action="append", help="a KEEL table (repeatable)")
    parser.add_argument("--seeds", type=int, default=defaults.seeds)
    parser.add_argument("--max-rows", type=int, default=defaults.max_rows, help="per half")
    parser.add_argument("--workers", type=int, default=defaults.workers)
    parser.add_argument("--out", type=Path, default=defaults.out)
    ns = parser.parse_args()
    args = Args(datasets=tuple(ns.dataset or TABLES), seeds=ns.seeds, max_rows=ns.max_rows,
                workers=ns.workers, out=ns.out)  # fmt: skip
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    frames = []
    with ProcessPoolExecutor(args.workers, context) as pool:
        for spec, frame in zip(
            args.datasets, pool.map(one_table, args.datasets, [args] * len(args.datasets)),
            strict=True,
        ):  # fmt: skip
            frames.append(frame)
            print(f"{spec}: done ({(time.perf_counter() - started) / 60:.1f} min)", flush=True)
    table, text = summarise(frames)
    args.out.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out / "same_table_targets.csv", index=False)
    command = "python " + " ".join(sys.argv)
    header = (f"# New rows of the same table: fine-tuning vs scratch ({args.seeds} seeds)\n\n"
              f"`{command}`\n\n")  # fmt: skip
    (args.out / "same_table_summary.md").write_text(header + text + "\n", encoding="utf-8")
    print(header + text)


if __name__ == "__main__":
    main()
