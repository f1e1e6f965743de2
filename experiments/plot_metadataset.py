"""Look at the meta-dataset: curves, where the best configuration lies, divergence, headroom.

Reads the snapshot (default: the one shipped in tunegym/metastore/snapshot) and writes into
``out_dir`` (docs/figures):

* ``metadataset_curves.png`` — for a few datasets, validation accuracy per epoch of every
  (lr, batch size), mean over seeds: one row of panels per dataset, one panel per batch size,
  one line per learning rate;
* ``metadataset_best_configs.png`` — across datasets, where the best configuration lies on the
  grid (a dataset with k tied best configurations adds 1/k to each);
* ``metadataset_failures.png`` — per learning rate (and batch size), the fraction of runs that
  diverged and the fraction that never beat chance (balanced accuracy of a constant guess);
* ``metadataset_headroom.png`` — per dataset, the best achievable validation accuracy minus that
  of a single fixed default, sorted, for two defaults: Adam's conventional lr=1e-3 with batch
  size 32, and the configuration best on average over meta-train; dashed, the same gap in test
  accuracy (of the configuration chosen on val);
* ``metadataset_summary.json`` and ``metadataset_headroom.csv`` — the numbers docs/METADATASET.md
  quotes.

A configuration's score on a dataset is the mean over seeds of its best validation accuracy over
the epochs (what a tuner that keeps its best epoch gets from training it once); its test score
is the test accuracy at that epoch, averaged the same way.

Run (what produced the figures of docs/METADATASET.md):
    .venv/bin/python experiments/plot_metadataset.py
"""

from __future__ import annotations

import dataclasses
import json
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm

from tunegym._args import parse_dataclass_args
from tunegym.metastore import (
    load_snapshot,
    snapshot_meta_features,
    snapshot_split,
    snapshot_stats,
)


@dataclass
class Args:
    """Plot settings (each is a ``--flag`` of the same name with dashes)."""

    snapshot: str = ""
    """Snapshot folder (empty: the shipped one)."""
    out_dir: str = "docs/figures"
    """Where figures and summary go."""
    curve_datasets: list[str] = field(
        default_factory=lambda: ["keel:german", "keel:magic", "sklearn:digits", "keel:yeast1"]
    )
    """Datasets whose curves are drawn."""
    default_lr: float = 1e-3
    """The conventional default's learning rate (Adam)."""
    default_batch_size: int = 32
    """The conventional default's batch size."""


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line."""
    return parse_dataclass_args(Args, argv, __doc__)


def config_scores(curves: pd.DataFrame) -> pd.DataFrame:
    """Per (dataset, lr, batch size): ``val`` and ``test`` (means over seeds at the best epoch)."""
    best = curves.loc[
        curves.groupby(["dataset", "lr", "batch_size", "seed"])["val_accuracy"].idxmax()
    ]
    return (
        best.groupby(["dataset", "lr", "batch_size"])[["val_accuracy", "test_accuracy"]]
        .mean()
        .rename(columns={"val_accuracy": "val", "test_accuracy": "test"})
        .astype(np.float64)
    )


def plot_curves(curves: pd.DataFrame, datasets: list[str], path: Path) -> None:
    lrs = np.sort(curves["lr"].unique())
    sizes = np.sort(curves["batch_size"].unique())
    norm = LogNorm(lrs.min(), lrs.max())
    fig, axes = plt.subplots(
        len(datasets), len(sizes), figsize=(2.3 * len(sizes) + 1, 2.1 * len(datasets)),
        sharex=True, sharey="row", constrained_layout=True, squeeze=False,
    )  # fmt: skip
    mean = curves.groupby(["dataset", "batch_size", "lr", "epoch"])["val_accuracy"].mean()
    for row, name in enumerate(datasets):
        for col, size in enumerate(sizes):
            ax = axes[row, col]
            for lr in lrs:
                line = mean.loc[(name, size, lr)]
                ax.plot(line.index, line.to_numpy(), color=plt.cm.viridis(norm(lr)), lw=1.2)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(f"batch size {size}", fontsize=10)
            if col == 0:
                ax.set_ylabel(f"{name}\nval accuracy", fontsize=9)
            if row == len(datasets) - 1:
                ax.set_xlabel("epoch")
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=axes, shrink=0.6)
    bar.set_label("learning rate (Adam, cosine schedule)")
    fig.suptitle("Validation accuracy per epoch, mean over 3 seeds")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def best_config_counts(scores: pd.DataFrame) -> pd.DataFrame:
    """lr × batch size: datasets whose best configuration it is (ties share one dataset)."""
    top = scores["val"] >= scores.groupby("dataset")["val"].transform("max") - 1e-9
    weights = top / top.groupby("dataset").transform("sum")
    return weights.groupby(["lr", "batch_size"]).sum().unstack("batch_size")


def plot_best_configs(counts: pd.DataFrame, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.5, 6), constrained_layout=True)
    image = ax.imshow(counts.to_numpy(), cmap="magma_r", aspect="auto", origin="lower")
    ax.set_xticks(range(counts.shape[1]), [str(c) for c in counts.columns])
    ax.set_yticks(range(counts.shape[0]), [f"{v:.2g}" for v in counts.index])
    for (i, j), value in np.ndenumerate(counts.to_numpy()):
        if value >= 0.05:
            color = "white" if value > counts.to_numpy().max() / 2 else "black"
            ax.text(j, i, f"{value:.1f}", ha="center", va="center", fontsize=8, color=color)
    ax.set_xlabel("batch size")
    ax.set_ylabel("learning rate")
    ax.set_title(f"Where the best configuration lies ({counts.to_numpy().sum():.0f} datasets)")
    fig.colorbar(image, ax=ax, label="datasets (ties split)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def failure_fractions(curves: pd.DataFrame, n_classes: pd.Series) -> dict[str, pd.DataFrame]:
    """lr × batch size: fraction of runs (datasets × seeds) that diverged, and that never beat
    chance (best val balanced accuracy <= 1 / classes + 1 point: a constant predictor)."""
    runs = curves.groupby(["dataset", "lr", "batch_size", "seed"]).agg(
        diverged=("diverged", "any"), best=("val_balanced_accuracy", "max")
    )
    chance = 1.0 / n_classes.reindex(runs.index.get_level_values("dataset")).to_numpy()
    runs["no_learning"] = runs["best"].to_numpy() <= chance + 0.01
    return {
        kind: runs[kind].groupby(["lr", "batch_size"]).mean().unstack("batch_size")
        for kind in ("diverged", "no_learning")
    }


def plot_failures(fractions: dict[str, pd.DataFrame], path: Path) -> None:
    titles = {
        "diverged": "diverged (non-finite loss or weights)",
        "no_learning": "never beat chance (balanced accuracy <= 1/classes + 1 point)",
    }
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=True, constrained_layout=True)
    for ax, (kind, fraction) in zip(axes, fractions.items(), strict=True):
        for size in fraction.columns:
            ax.plot(fraction.index, fraction[size], marker="o", ms=3, label=f"batch size {size}")
        ax.plot(fraction.index, fraction.mean(axis=1), color="black", lw=2.5, label="all")
        ax.set_xscale("log")
        ax.set_xlabel("learning rate")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
        ax.set_title(f"Runs {titles[kind]}", fontsize=10)
    axes[0].set_ylabel("fraction of runs (datasets x seeds)")
    axes[1].legend(fontsize=8)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def headroom(
    scores: pd.DataFrame, defaults: dict[str, tuple[float, int]], parts: pd.Series
) -> pd.DataFrame:
    """Per dataset: best val/test score and each default's, with the gaps and regret."""
    best_index = scores.groupby("dataset")["val"].idxmax()
    worst = scores.groupby("dataset")["val"].min()
    table = pd.DataFrame(
        {
            "part": parts,
            "best_val": scores.loc[best_index, "val"].droplevel([1, 2]),
            "best_test": scores.loc[best_index, "test"].droplevel([1, 2]),
        }
    )
    for name, (lr, size) in defaults.items():
        chosen = scores.xs((lr, size), level=["lr", "batch_size"])
        table[f"{name}_val"] = chosen["val"]
        table[f"{name}_test"] = chosen["test"]
        table[f"{name}_gap_val"] = table["best_val"] - chosen["val"]
        table[f"{name}_gap_test"] = table["best_test"] - chosen["test"]
        span = (table["best_val"] - worst).replace(0.0, np.nan)
        table[f"{name}_regret"] = (table[f"{name}_gap_val"] / span).fillna(0.0)
    return table


def plot_headroom(table: pd.DataFrame, labels: dict[str, str], path: Path) -> None:
    fig, ax = plt.subplots(figsize=(8, 4.5), constrained_layout=True)
    for (name, label), color in zip(labels.items(), ("C0", "C1"), strict=True):
        for split, style in (("val", "-"), ("test", "--")):
            gaps = np.sort(table[f"{name}_gap_{split}"].to_numpy())[::-1] * 100
            ax.plot(
                np.arange(1, len(gaps) + 1), gaps, style, color=color, lw=2 if split == "val" else 1.2,
                label=f"{label}, {split}: mean {gaps.mean():+.1f}",
            )  # fmt: skip
    ax.set_xlabel("datasets, each curve sorted by its own headroom")
    ax.set_ylabel("best config - default (accuracy points)")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    ax.set_title("Headroom: the best configuration on val (and its test score) vs a fixed default")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _gap_summary(table: pd.DataFrame, name: str) -> dict[str, float]:
    gaps = table[f"{name}_gap_val"]
    return {
        "mean_gap_val": float(gaps.mean()),
        "median_gap_val": float(gaps.median()),
        "mean_gap_test": float(table[f"{name}_gap_test"].mean()),
        "median_regret": float(table[f"{name}_regret"].median()),
        "share_gap_over_1pt": float((gaps > 0.01).mean()),
        "share_gap_over_5pt": float((gaps > 0.05).mean()),
    }


def run(args: Args) -> dict[str, Any]:
    """Write the figures and the summary; return the summary."""
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    path = args.snapshot or None
    curves = load_snapshot(path=path)
    scores = config_scores(curves)
    split = snapshot_split(path).set_index("dataset")["part"]
    parts = split.reindex(scores.index.get_level_values("dataset").unique())  # twins left out
    train = scores[
        scores.index.get_level_values("dataset").isin(parts[parts == "meta-train"].index)
    ]
    mean_train = train.groupby(["lr", "batch_size"])["val"].mean()
    best_on_train = mean_train.idxmax()
    defaults = {
        "conventional": (args.default_lr, args.default_batch_size),
        "train_best": (float(best_on_train[0]), int(best_on_train[1])),
    }
    table = headroom(scores, defaults, parts)
    table.to_csv(out / "metadataset_headroom.csv", float_format="%.5f", index_label="dataset")
    labels = {
        "conventional": f"Adam lr={args.default_lr:g}, batch size {args.default_batch_size}",
        "train_best": f"best on meta-train: lr={defaults['train_best'][0]:g}, "
        f"batch size {defaults['train_best'][1]}",
    }
    counts = best_config_counts(scores)
    failures = failure_fractions(curves, snapshot_meta_features(path)["NumberOfClasses"])
    plot_curves(curves, args.curve_datasets, out / "metadataset_curves.png")
    plot_best_configs(counts, out / "metadataset_best_configs.png")
    plot_failures(failures, out / "metadataset_failures.png")
    plot_headroom(table, labels, out / "metadataset_headroom.png")
    held_out = table[table["part"] != "meta-train"]
    stats = snapshot_stats(path)
    summary = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "snapshot": dataclasses.asdict(stats),
        **{
            f"{kind}_per_lr": {f"{lr:g}": float(v) for lr, v in table_.mean(axis=1).items()}
            for kind, table_ in failures.items()
        },
        "diverged_runs": stats.diverged_runs / stats.runs,
        "best_config_counts": {
            f"lr={lr:g},bs={bs}": round(float(v), 2)
            for (lr, bs), v in counts.stack().items()
            if v > 0
        },
        "defaults": {k: {"lr": v[0], "batch_size": v[1]} for k, v in defaults.items()},
        "headroom_all": {k: _gap_summary(table, k) for k in defaults},
        "headroom_held_out": {k: _gap_summary(held_out, k) for k in defaults},
        "datasets_held_out": len(held_out),
    }
    (out / "metadataset_summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    return summary


if __name__ == "__main__":
    print(json.dumps(run(parse_args()), indent=2))
