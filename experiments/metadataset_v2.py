"""Meta-dataset v2: ship the snapshot of a ``tunegym collect --space lcbench`` store and measure it.

Steps (each reruns from the store; nothing is trained):

1. the datasets whose every (configuration, seed) trial is stored are the complete ones; a
   dataset still in collection is left out and named;
2. their env features (`tunegym.envs.task_meta_features`, of the capped data) are stored where
   a collection made before the collector recorded them lacks them;
3. `write_snapshot` writes them to ``--snapshot`` (the package's
   ``tunegym/metastore/snapshot_lcbench``), split by family with v1's assignment kept
   (``fixed_parts``: a family held out in v1 is held out here);
4. per dataset, every configuration is scored by the mean over seeds of its best validation
   accuracy over the epochs; the headroom is the best minus the median configuration and the
   best minus the **learned default**, the configuration with the best mean rank on the datasets
   of the *other families* (leave-one-family-out); the test accuracy gap at the configurations
   chosen on validation is reported beside it; then the same per family;
5. counts, training seconds per trial and the tables go to ``docs/figures/metadataset_v2_*``
   (CSV, JSON, PNG); the Markdown tables are printed for docs/METADATASET.md.

Run (what docs/METADATASET.md quotes; the store is the collection's, see there):
    .venv/bin/python experiments/metadataset_v2.py --store experiments/results/metadataset_v2.sqlite
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tunegym._args import parse_dataclass_args
from tunegym.data import load_dataset
from tunegym.envs import task_meta_features
from tunegym.metastore import (
    ENV_FEATURE_NAMES,
    ENV_FEATURE_PREFIX,
    LCBENCH_SNAPSHOT_DIR,
    MetaStore,
    config_columns,
    load_snapshot,
    snapshot_split,
    write_snapshot,
)

FIGURES = Path("docs/figures")


def complete_datasets(store: MetaStore, trials: int) -> tuple[list[str], dict[str, int]]:
    """Datasets with ``trials`` runs (configurations × seeds), and the run count of the rest."""
    table = store.datasets()
    labels = table["spec"].where(table["spec"].notna(), table["name"]).astype(str)
    runs = dict(zip(labels, table["runs"].astype(int), strict=True))
    done = sorted(label for label, n in runs.items() if n >= trials)
    return done, {label: n for label, n in runs.items() if 0 < n < trials}


def fill_env_features(store: MetaStore, specs: list[str], max_rows: int) -> int:
    """Store the env features of the datasets that lack them; returns how many were filled."""
    names = [ENV_FEATURE_PREFIX + n for n in ENV_FEATURE_NAMES]
    features = store.meta_features()
    table = store.datasets()
    labels = table["spec"].where(table["spec"].notna(), table["name"]).astype(str)
    filled = 0
    for dataset_id, label in labels.items():
        if label not in specs:
            continue
        have = dataset_id in features.index and all(
            n in features.columns and pd.notna(features.loc[dataset_id, n]) for n in names
        )
        if not have:
            values = task_meta_features(load_dataset(label, max_rows=max_rows, seed=0))
            store.set_meta_features(
                label, dict(zip(names, values.tolist(), strict=True)), source="computed"
            )
            filled += 1
    return filled


def config_scores(curves: pd.DataFrame, config: list[str]) -> pd.DataFrame:
    """Per (dataset, configuration): seed means of the best val accuracy and balanced accuracy,
    and of the test accuracy at the best val epoch."""
    keyed = curves.assign(config=curves[config].astype(str).agg("|".join, axis=1))
    at_best = keyed.loc[keyed.groupby(["dataset", "config", "seed"])["val_accuracy"].idxmax()]
    per_seed = at_best[["dataset", "config", "seed", "val_accuracy", "test_accuracy"]].merge(
        keyed.groupby(["dataset", "config", "seed"])["val_balanced_accuracy"].max().reset_index()
    )
    return per_seed.groupby(["dataset", "config"])[
        ["val_accuracy", "val_balanced_accuracy", "test_accuracy"]
    ].mean().reset_index()  # fmt: skip


def headroom(scores: pd.DataFrame, split: pd.DataFrame) -> pd.DataFrame:
    """Per dataset, in points: best - median and best - learned default (leave-one-family-out)."""
    family = split.set_index("dataset")["family"]
    part = split.set_index("dataset")["part"]
    scores = scores.assign(
        rank=scores.groupby("dataset")["val_accuracy"].rank(ascending=False),
        family=scores["dataset"].map(family),
    )
    rows = []
    for dataset, own in scores.groupby("dataset"):
        others = scores[scores["family"] != family[dataset]]
        default = others.groupby("config")["rank"].mean().idxmin()
        values = own.set_index("config")
        best = values["val_accuracy"].idxmax()
        rows.append({
            "dataset": dataset,
            "family": family[dataset],
            "part": part[dataset],
            "configs": len(values),
            "best_val": values.loc[best, "val_accuracy"],
            "median_val": values["val_accuracy"].median(),
            "default_val": values.loc[default, "val_accuracy"],
            "best_minus_median": 100 * (values.loc[best, "val_accuracy"] - values["val_accuracy"].median()),
            "best_minus_default": 100 * (values.loc[best, "val_accuracy"] - values.loc[default, "val_accuracy"]),
            "test_best_minus_default": 100 * (values.loc[best, "test_accuracy"] - values.loc[default, "test_accuracy"]),
            "bal_best_minus_median": 100 * (values["val_balanced_accuracy"].max() - values["val_balanced_accuracy"].median()),
        })  # fmt: skip
    return pd.DataFrame(rows)


def per_family(table: pd.DataFrame) -> pd.DataFrame:
    columns = ["best_minus_median", "best_minus_default", "test_best_minus_default"]
    grouped = table.groupby(["family", "part"])
    out = grouped[columns].mean()
    out.insert(0, "datasets", grouped.size())
    return out.reset_index().sort_values("best_minus_default", ascending=False)


def markdown(frame: pd.DataFrame) -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---:" if frame[c].dtype.kind in "fi" else "---" for c in frame) + "|"
    formats = ["{:.3f}" if c.endswith("_val") else "{:.1f}" for c in frame.columns]
    body = [
        "| "
        + " | ".join(
            f.format(v) if isinstance(v, float) else str(v)
            for f, v in zip(formats, row, strict=True)
        )
        + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


def plot(table: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    table = table.sort_values("best_minus_median")
    fig, ax = plt.subplots(figsize=(8, 0.22 * len(table) + 1.2))
    y = np.arange(len(table))
    ax.barh(y, table["best_minus_median"], color="#9ecae1", label="best - median config")
    ax.barh(y, table["best_minus_default"], color="#08519c", label="best - learned default")
    ax.set_yticks(y, [f"{d} ({p.removeprefix('meta-')})" for d, p in zip(table["dataset"], table["part"], strict=True)], fontsize=7)  # fmt: skip
    ax.set_xlabel("validation accuracy points (mean of 2 seeds, best epoch)")
    ax.set_title("Meta-dataset v2: what tuning LCBench's space gains, per dataset")
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_curves(curves: pd.DataFrame, table: pd.DataFrame, config: list[str], path: Path) -> None:
    """Seed-mean validation curves of every configuration on four datasets (the two with the
    most and the two with the least headroom over the learned default), coloured by the
    configuration's learning rate."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    ranked = table.sort_values("best_minus_default")["dataset"].tolist()
    shown = list(dict.fromkeys([*ranked[-2:][::-1], *ranked[:2]]))
    fig, axes = plt.subplots(1, len(shown), figsize=(4 * len(shown), 3.4), sharey=True)
    norm = LogNorm(1e-4, 1e-1)
    for ax, dataset in zip(np.atleast_1d(axes), shown, strict=False):
        own = curves[curves["dataset"] == dataset]
        mean = own.groupby([*config, "epoch"], observed=True)["val_accuracy"].mean().reset_index()
        for _, curve in mean.groupby(config, observed=True):
            lr = float(curve["learning_rate"].iloc[0])
            ax.plot(curve["epoch"], curve["val_accuracy"], color=plt.cm.viridis(norm(lr)), lw=0.6,
                    alpha=0.7)  # fmt: skip
        row = table.set_index("dataset").loc[dataset]
        ax.set_title(f"{dataset}\nbest - default {row['best_minus_default']:.1f} pt", fontsize=9)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    np.atleast_1d(axes)[0].set_ylabel("validation accuracy (mean of 2 seeds)")
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap="viridis"), ax=axes, pad=0.01)
    bar.set_label("learning rate")
    fig.suptitle(
        "Meta-dataset v2: 100 configurations of LCBench's space, trained live", fontsize=10, y=1.06
    )
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


@dataclass
class Args:
    """Settings (each is a ``--flag`` of the same name with dashes)."""

    store: str = "experiments/results/metadataset_v2.sqlite"
    """The meta-store ``tunegym collect --space lcbench`` wrote."""
    snapshot: str = str(LCBENCH_SNAPSHOT_DIR)
    """Where the snapshot goes (the package's own by default)."""
    configs: int = 100
    """Candidates per dataset: a dataset is complete with configs x seeds runs."""
    seeds: int = 2
    """Trial seeds per candidate."""
    max_rows: int = 1500
    """The row cap of the collection (recorded in the manifest; the env features' data)."""
    figures: str = str(FIGURES)
    """Where the CSV, JSON and PNG go."""


def run(args: Args) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Ship and measure the snapshot; returns the summary, the per-dataset and per-family tables."""
    started = time.perf_counter()
    with MetaStore(args.store) as store:
        done, partial = complete_datasets(store, args.configs * args.seeds)
        if not done:
            raise ValueError(
                f"No dataset of {args.store} has all {args.configs * args.seeds} trials yet; "
                "finish the collection (rerun the same 'tunegym collect' command)."
            )
        filled = fill_env_features(store, done, args.max_rows)
        v1 = snapshot_split()
        fixed = dict(zip(v1["family"], v1["part"], strict=True))
        stats = write_snapshot(
            store, args.snapshot, datasets=done, max_rows=args.max_rows, fixed_parts=fixed
        )
    curves = load_snapshot(path=args.snapshot)
    split = snapshot_split(args.snapshot)
    config = sorted(config_columns(curves))
    table = headroom(config_scores(curves, config), split)
    families = per_family(table)
    runs = curves.groupby(["dataset", *config, "seed"], observed=True)
    trial_seconds = runs["seconds"].sum()
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    table.to_csv(figures / "metadataset_v2_headroom.csv", index=False, float_format="%.4f")
    plot(table, figures / "metadataset_v2_headroom.png")
    plot_curves(curves, table, config, figures / "metadataset_v2_curves.png")
    summary = {
        "datasets": stats.datasets,
        "families": int(split["family"].nunique()),
        "parts": stats.parts,
        "runs": stats.runs,
        "epochs": stats.epochs,
        "diverged_runs": stats.diverged_runs,
        "configs": stats.configs,
        "snapshot_mib": round(stats.size_bytes / 2**20, 2),
        "left_out_in_collection": partial,
        "env_features_filled": filled,
        "training_seconds": {
            "total": round(float(trial_seconds.sum()), 1),
            "per_trial_mean": round(float(trial_seconds.mean()), 3),
            "per_trial_median": round(float(trial_seconds.median()), 3),
            "per_trial_max": round(float(trial_seconds.max()), 3),
        },
        "headroom_points": {
            "best_minus_median_median": round(float(table["best_minus_median"].median()), 2),
            "best_minus_default_median": round(float(table["best_minus_default"].median()), 2),
            "best_minus_default_mean": round(float(table["best_minus_default"].mean()), 2),
            "default_within_1pt": int((table["best_minus_default"] <= 1.0).sum()),
            "family_mean_best_minus_default": round(float(families["best_minus_default"].mean()), 2),
        },
        "seconds_to_build": round(time.perf_counter() - started, 1),
    }  # fmt: skip
    (figures / "metadataset_v2_summary.json").write_text(json.dumps(summary, indent=1) + "\n")
    return summary, table, families


def main() -> None:
    summary, table, families = run(parse_dataclass_args(Args, description=__doc__))
    print(json.dumps(summary, indent=1))
    print(markdown(table.drop(columns=["median_val", "default_val"])))
    print()
    print(markdown(families))


if __name__ == "__main__":
    main()
