"""Check tunegym's meta-features against OpenML's published qualities, and time them.

For every bundled dataset (KEEL, scikit-learn) whose OpenML id is one of LCDB's 219 datasets,
compute the meta-features locally from the raw table and compare them with the values OpenML
published (as LCDB recorded them): counts must be equal, other qualities within ``rel_tol``
(relative). Also times ``compute_meta_features`` on a 20,000 x 20 table on one core, and the
LCDB readers. Writes the per-(dataset, quality) comparison to docs/metafeatures_agreement.csv,
the timings to experiments/results/metafeatures_bench.json, and the tables between the
``verify:start``/``verify:end`` markers of docs/METAFEATURES.md.

Run (the command that produced docs/METAFEATURES.md's tables):
    .venv/bin/python experiments/verify_metafeatures.py
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]

from tunegym._args import parse_dataclass_args
from tunegym.data import RawTable, read_table
from tunegym.data._openml_ids import openml_id_rows
from tunegym.metastore._landmarkers import LANDMARK_PREFIX
from tunegym.metastore._metafeatures import (
    DEFAULT_GROUPS,
    OPENML_QUALITY_NAMES,
    compute_meta_features,
)
from tunegym.metastore.importers import read_lcdb_curves, read_lcdb_qualities

COMMAND = ".venv/bin/python experiments/verify_metafeatures.py"
START, END = "<!-- verify:start -->", "<!-- verify:end -->"

# Qualities compared exactly; the others within rel_tol.
COUNT_QUALITIES = frozenset(
    name
    for name in OPENML_QUALITY_NAMES
    if name.startswith("NumberOf")
    or name in {"MajorityClassSize", "MinorityClassSize"}
    or name in {"MaxNominalAttDistinctValues", "MinNominalAttDistinctValues"}
)

# KEEL's raw tables declare no types, so integer-coded nominal attributes read as numbers.
# These are the KEEL columns OpenML declares nominal; they get the category dtype an
# OpenML-loaded table has (with them, every count of these two datasets agrees).
OPENML_NOMINAL = {
    23: ("f1", "f2", "f4", "f5", "f6", "f7", "f8"),
    40981: ("f0", "f3", "f4", "f5", "f7", "f8", "f10", "f11"),
}

# Why a KEEL table differs from OpenML's, where tunegym/data/openml_ids.csv has no note; each
# is borne out by the published values (counts, means and standard deviations).
KNOWN_CAUSES = {
    3: "OpenML's ARFF declares 3 values for one attribute that uses 2 (binary count)",
    23: "KEEL codes 7 nominal attributes as integers (typed as OpenML's here)",
    31: "KEEL's row order differs (AutoCorrelation)",
    40981: "KEEL codes 8 nominal attributes as integers (typed as OpenML's here); its numeric "
    "attributes hold other values (e.g. A2 ranges 16 to 8025)",
    1120: "OpenML's MagicTelescope has an extra numeric ID attribute (12 features vs 11)",
    182: "OpenML's satimage has 6430 rows (KEEL 6435), standardised attributes, another order",
    1489: "OpenML's phoneme is standardised (means 0, sd 1); KEEL's is not",
}


@dataclass
class Args:
    """Settings (each is a ``--flag`` of the same name with dashes)."""

    out_dir: Path = Path("experiments/results")
    """Where the JSON of timings goes."""
    csv: Path = Path("docs/metafeatures_agreement.csv")
    """The (dataset, quality) comparison, kept beside the doc."""
    doc: Path = Path("docs/METAFEATURES.md")
    rel_tol: float = 0.01
    """Relative tolerance of the agreement of non-count qualities."""
    datasets: str = ""
    """Comma-separated specs to compare; by default every bundled dataset LCDB has."""
    seed: int = 0
    bench_rows: int = 20000
    bench_features: int = 20
    bench_repeats: int = 5


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line."""
    return parse_dataclass_args(Args, argv, __doc__)


def matched_datasets(only: str = "") -> list[tuple[str, int, str]]:
    """``(spec, OpenML id, note)`` of the bundled datasets LCDB has OpenML's qualities of.

    Args:
        only: comma-separated specs to keep; all by default.
    """
    published = {q.openml_did for q in read_lcdb_qualities()}
    wanted = {s.strip() for s in only.split(",") if s.strip()}
    seen: set[str] = set()
    rows = []
    for row in openml_id_rows():
        if wanted and row.spec not in wanted:
            continue
        if row.openml_id in published and row.spec not in seen:
            seen.add(row.spec)
            note = "; ".join(n for n in (row.note, KNOWN_CAUSES.get(row.openml_id, "")) if n)
            rows.append((row.spec, row.openml_id, note))
    return rows


def with_openml_types(table: RawTable, did: int) -> RawTable:
    """``table`` with the columns OpenML declares nominal given the ``category`` dtype."""
    nominal = OPENML_NOMINAL.get(did, ())
    if not nominal:
        return table
    features = table.features.astype(dict.fromkeys(nominal, "category"))
    return dataclasses.replace(table, features=features)


def agrees(quality: str, local: float, published: float, rel_tol: float) -> bool:
    """Whether a local value matches OpenML's: equal counts, else within ``rel_tol``."""
    if math.isnan(local) or math.isnan(published):
        return math.isnan(local) and math.isnan(published)
    if quality in COUNT_QUALITIES:
        return local == published
    return abs(local - published) <= max(rel_tol * abs(published), 1e-12)


def compare(args: Args) -> pd.DataFrame:
    """One row per (dataset, quality) with the local and published values and the verdict."""
    datasets = matched_datasets(args.datasets)
    published: dict[int, dict[str, float]] = {}
    for q in read_lcdb_qualities(datasets=[did for _, did, _ in datasets]):
        published.setdefault(q.openml_did, {})[q.quality] = q.value
    in_lcdb = {q.quality for q in read_lcdb_qualities()}
    rows = []
    for spec, did, note in datasets:
        table = with_openml_types(read_table(spec), did)
        local = compute_meta_features(table, seed=args.seed)
        for name, value in local.items():
            openml_name = name.removeprefix(LANDMARK_PREFIX)
            if openml_name not in in_lcdb:
                continue
            other = published[did].get(openml_name, math.nan)
            rows.append(
                {
                    "spec": spec,
                    "openml_did": did,
                    "quality": name,
                    "local": value,
                    "published": other,
                    "agree": agrees(name, value, other, args.rel_tol),
                    "note": note,
                }
            )
    frame = pd.DataFrame(rows)
    # A KEEL table "is" OpenML's when its size, types and attribute means agree.
    shape = (
        "NumberOfInstances",
        "NumberOfFeatures",
        "NumberOfNumericFeatures",
        "MeanMeansOfNumericAtts",
    )
    same = frame[frame["quality"].isin(shape)].groupby("spec")["agree"].all()
    frame["same_table"] = frame["spec"].map(same)
    return frame


def summarise(frame: pd.DataFrame) -> pd.DataFrame:
    """Per quality: datasets compared, agreeing, agreeing among the same tables, disagreeing."""
    rows = []
    for quality, group in frame.groupby("quality", sort=False):
        same = group[group["same_table"]]
        rows.append(
            {
                "quality": quality,
                "agree": int(group["agree"].sum()),
                "compared": len(group),
                "agree_same_table": int(same["agree"].sum()),
                "compared_same_table": len(same),
                "disagree": ", ".join(
                    s.removeprefix("keel:") for s in group.loc[~group["agree"], "spec"]
                ),
            }
        )
    return pd.DataFrame(rows)


def synthetic_table(rows: int, features: int, seed: int) -> RawTable:
    """A ``rows`` x ``features`` table: 3/4 numeric, 1/4 nominal (6 levels), 3 classes."""
    rng = np.random.default_rng(seed)
    n_nominal = features // 4
    frame = pd.DataFrame(
        rng.normal(size=(rows, features - n_nominal)),
        columns=[f"x{i}" for i in range(features - n_nominal)],
    )
    for j in range(n_nominal):
        frame[f"c{j}"] = pd.Categorical(rng.choice(list("abcdef"), rows))
    target = pd.Series(rng.integers(0, 3, rows), name="class")
    return RawTable(frame, target, source="dataframe", name="synthetic", spec=None)


def timed(call: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one untimed warm-up call."""
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench(args: Args) -> dict[str, Any]:
    """Time the meta-features (per group and all) on one core, and the LCDB readers."""
    table = synthetic_table(args.bench_rows, args.bench_features, args.seed)
    result: dict[str, Any] = {
        "table": f"{args.bench_rows} x {args.bench_features}",
        "threads": 1,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        "seconds": {},
    }
    for label in ("simple", "statistical", "information", "landmarking", "all"):
        groups = DEFAULT_GROUPS if label == "all" else (label,)
        result["seconds"][label] = timed(
            partial(compute_meta_features, table, groups=groups, seed=args.seed),
            args.bench_repeats,
        )
    start = time.perf_counter()
    n_points = sum(1 for _ in read_lcdb_curves())
    result["lcdb_mlp_accuracy_curves"] = {"rows": n_points, "seconds": time.perf_counter() - start}
    start = time.perf_counter()
    n_qualities = sum(1 for _ in read_lcdb_qualities())
    result["lcdb_qualities"] = {"rows": n_qualities, "seconds": time.perf_counter() - start}
    return result


def markdown(frame: pd.DataFrame, summary: pd.DataFrame, timings: dict[str, Any]) -> str:
    """The tables written between the markers of docs/METAFEATURES.md."""
    datasets = frame.drop_duplicates("spec")
    lines = [
        f"Generated by `{COMMAND}`; agreement: counts equal, other qualities within 1 % "
        "(relative), both undefined (NaN) counting as agreement. *Same table*: the "
        "datasets whose KEEL copy has OpenML's numbers of rows, features and numeric "
        "features, and the same mean of attribute means "
        f"({int(datasets['same_table'].sum())} of {len(datasets)}).",
        "",
        "| dataset | OpenML id | same table | qualities agreeing | why the tables differ |",
        "| --- | ---: | :---: | ---: | --- |",
    ]
    openml_only = frame[~frame["quality"].str.startswith(LANDMARK_PREFIX)]
    for spec, group in openml_only.groupby("spec", sort=False):
        first = group.iloc[0]
        lines.append(
            f"| `{spec}` | {first['openml_did']} | {'yes' if first['same_table'] else 'no'} "
            f"| {int(group['agree'].sum())} / {len(group)} | {first['note']} |"
        )
    lines += [
        "",
        "The `tunegym.` landmarkers are set beside OpenML's Weka landmarker of the same name for "
        "reference only: they are not expected to agree.",
        "",
        "| quality | agree (all) | agree (same table) | datasets that disagree |",
        "| --- | ---: | ---: | --- |",
    ]
    for row in summary.itertuples(index=False):
        lines.append(
            f"| `{row.quality}` | {row.agree} / {row.compared} "
            f"| {row.agree_same_table} / {row.compared_same_table} | {row.disagree} |"
        )
    seconds = timings["seconds"]
    lines += [
        "",
        f"Time of `compute_meta_features` on a {timings['table']} table (15 numeric, 5 nominal "
        f"attributes, 3 classes), one thread, median of the timed calls ({timings['machine']}):",
        "",
        "| groups | seconds |",
        "| --- | ---: |",
        *(f"| {label} | {value:.3f} |" for label, value in seconds.items()),
        "",
        f"LCDB readers: the MLP's accuracy curves ({timings['lcdb_mlp_accuracy_curves']['rows']:,} "
        f"points out of the 150 MB `database-accuracy.csv`) in "
        f"{timings['lcdb_mlp_accuracy_curves']['seconds']:.2f} s; OpenML's qualities of the 219 "
        f"datasets ({timings['lcdb_qualities']['rows']:,} rows) in "
        f"{timings['lcdb_qualities']['seconds']:.2f} s.",
    ]
    return "\n".join(lines)


def write_doc(path: Path, body: str) -> None:
    """Replace what lies between the markers of ``path`` with ``body``."""
    text = path.read_text(encoding="utf-8")
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"{path} lacks the {START} / {END} markers.")
    path.write_text(f"{head}{START}\n{body}\n{END}{tail}", encoding="utf-8")


def main(args: Args) -> pd.DataFrame:
    """Compare, time, and write the CSV, the JSON and the doc tables; returns the summary."""
    with threadpool_limits(1):
        frame = compare(args)
        timings = bench(args)
    summary = summarise(frame)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    frame.drop(columns=["note"]).to_csv(args.csv, index=False, float_format="%.10g")
    (args.out_dir / "metafeatures_bench.json").write_text(json.dumps(timings, indent=2) + "\n")
    write_doc(args.doc, markdown(frame, summary, timings))
    return summary


if __name__ == "__main__":
    print(main(parse_args()).to_string(index=False))
