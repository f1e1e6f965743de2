"""Headroom of a meta-dataset collected in a candidate space: is there anything to tune?

Reads a meta-store filled by ``tunegym collect --space lcbench`` and, per dataset, scores every
configuration by the mean over seeds of its best validation accuracy over the epochs (what a
tuner that keeps its best epoch gets from training it once). It reports, in accuracy points:

* ``best - median``: what tuning gains over a typical configuration;
* ``best - default``: what it gains over the *learned default*, the configuration with the best
  mean rank on the other datasets of the store (leave-one-dataset-out: a default learned on
  meta-train, as v1's headroom measured it);
* the validation rows (a split of fewer than ~200 rows is noise at the 1-point scale).

Writes ``out`` (CSV) and prints a Markdown table. Run (what docs/METADATASET.md quotes):

    .venv/bin/python experiments/pilot_headroom.py --store runs/v2pilot/store.sqlite
    .venv/bin/python experiments/pilot_headroom.py --lcbench 256 --out runs/lcbench_headroom.csv
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pandas as pd
from sqlalchemy import select

from tunegym._args import parse_dataclass_args
from tunegym.metastore import Dataset, Evaluation, Flow, MetaStore, Run, Setup, Task


@dataclasses.dataclass
class Args:
    """Settings (each is a ``--flag`` of the same name with dashes)."""

    store: str = "runs/v2pilot/store.sqlite"
    """The meta-store the collection wrote."""
    out: str = "runs/v2pilot/headroom.csv"
    """Where the per-dataset table goes."""
    lcbench: int = 0
    """Instead of the store: the surrogate's 34 LCBench tasks with this many Sobol candidates."""


def config_scores(store: MetaStore) -> pd.DataFrame:
    """One row per (dataset, configuration): mean over seeds of the best val accuracy."""
    query = (
        select(
            Dataset.spec, Dataset.n_rows, Setup.params, Flow.model_spec, Run.seed,
            Evaluation.epoch, Evaluation.value,
        )
        .join(Task, Task.dataset_id == Dataset.id)
        .join(Run, Run.task_id == Task.id)
        .join(Setup, Setup.id == Run.setup_id)
        .join(Flow, Flow.id == Setup.flow_id)
        .join(Evaluation, Evaluation.run_id == Run.id)
        .where(Evaluation.measure == "predictive_accuracy", Evaluation.split == "val")
        .where(Evaluation.epoch.is_not(None))
    )  # fmt: skip
    with store.engine.connect() as connection:
        rows = pd.DataFrame(connection.execute(query).all(), columns=[
            "dataset", "n_rows", "params", "model", "seed", "epoch", "val",
        ])  # fmt: skip
    keys = [
        str(sorted({**p, **(m or {})}.items()))
        for p, m in zip(rows["params"], rows["model"], strict=True)
    ]
    rows["config"] = keys
    best = rows.groupby(["dataset", "n_rows", "config", "seed"])["val"].max().reset_index()
    return best.groupby(["dataset", "n_rows", "config"])["val"].mean().reset_index()


def lcbench_scores(n_configs: int) -> pd.DataFrame:
    """The same scores for LCBench's surrogate: best val accuracy of ``n_configs`` Sobol points."""
    from tunegym.space import LCBENCH_SPACE
    from tunegym.surrogates import LCBench

    surrogate = LCBench.open()
    configs = LCBENCH_SPACE.sample(n_configs, seed=0)
    parts = []
    for task in surrogate.tasks:
        curves = surrogate.curves(task, configs)
        best = curves.groupby("config")["val_accuracy"].max()
        parts.append(pd.DataFrame({
            "dataset": f"lcbench:{surrogate.task_names[task]}", "n_rows": 0,
            "config": best.index.astype(str), "val": best.to_numpy(),
        }))  # fmt: skip
    return pd.concat(parts, ignore_index=True)


def headroom(scores: pd.DataFrame) -> pd.DataFrame:
    """Per dataset: best, median, learned default (leave-one-dataset-out), in points."""
    scores = scores.assign(rank=scores.groupby("dataset")["val"].rank(ascending=False))
    out = []
    for dataset, part in scores.groupby("dataset"):
        others = scores[scores["dataset"] != dataset]
        shared = set(part["config"])
        mean_rank = others[others["config"].isin(shared)].groupby("config")["rank"].mean()
        default = mean_rank.idxmin() if len(mean_rank) else None
        values = part.set_index("config")["val"]
        best = float(values.max())
        row = {
            "dataset": dataset,
            "rows": int(part["n_rows"].iloc[0]),
            "val_rows": round(0.2 * int(part["n_rows"].iloc[0])),
            "configs": len(values),
            "best": best,
            "best_minus_median": 100 * (best - float(values.median())),
            "best_minus_default": (
                100 * (best - float(values[default])) if default is not None else math.nan
            ),
        }
        out.append(row)
    return pd.DataFrame(out)


def run(args: Args) -> pd.DataFrame:
    """The headroom table of ``args.store`` (also written to ``args.out``)."""
    if args.lcbench:
        table = headroom(lcbench_scores(args.lcbench))
    else:
        with MetaStore(args.store) as store:
            table = headroom(config_scores(store))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(args.out, index=False)
    return table


def markdown(table: pd.DataFrame) -> str:
    """The table in Markdown (points with one decimal)."""
    lines = [
        "| dataset | rows | val rows | configs | best val acc | best - median | best - default |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in table.itertuples():
        lines.append(
            f"| {r.dataset} | {r.rows or '—'} | {r.val_rows or '—'} | {r.configs} | {r.best:.4f} | "
            f"{r.best_minus_median:.1f} | {r.best_minus_default:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(run(parse_dataclass_args(Args))))
