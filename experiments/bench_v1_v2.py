"""Each peer's figures in the v1 harness beside the same peer under protocol v2.

v1 (``tunegym bench --suite v1 --publish``, docs/BENCHMARKS_V1.md): the env baselines on the
13 x 6 grid of meta-dataset v1, 37 meta-test datasets x 10 seeds, 64 epochs, step-end reading,
one tuner seed for every dataset, regret on pooled seeds, a plain bootstrap. v2 (``tunegym bench
--suite lcbench --publish`` and ``--suite own --publish``, docs/BENCHMARKS.md): the peers' own
libraries, per-epoch reading, seed-mean truth, per-episode seeds, hierarchical bootstrap, family
weights. The suites differ, so the numbers say how each peer's standing moves, not that one
protocol is easier.

Reads the kept summaries (no run) and writes ``docs/benchmarks/v2/v1_vs_v2.csv`` and the table
between the ``v1-vs-v2`` markers of docs/BENCHMARKS.md.

Run:
    .venv/bin/python experiments/bench_v1_v2.py
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tunegym._args import parse_dataclass_args


@dataclass
class Args:
    """Settings (each is a ``--flag`` of the same name with dashes)."""

    v1: str = "docs/benchmarks/summary.csv"
    """The v1 harness's summary."""
    v2: str = "docs/benchmarks/v2"
    """Folder of the v2 summaries."""
    doc: str = "docs/BENCHMARKS.md"
    """The report whose v1-vs-v2 section is rewritten (empty: none)."""


# v1's names of the same peers (v1's DEHB is tunegym's own implementation; v2's the package's).
_SAME = {
    "random": "random",
    "hyperband": "hyperband",
    "tpe": "tpe",
    "tpe-hyperband": "tpe-hyperband",
    "tpe-median": "tpe-median",
    "dehb": "dehb",
    "tpe-ws": "tpe-ws",
    "tpe-hyperband-ws": "tpe-hyperband-ws",
    "fixed-script": "ws-random",
    "oracle": "oracle",
}


def run(args: Args) -> pd.DataFrame:
    """The table: one row per peer, v1's final regret and rank beside v2's at 1000 epochs."""
    v1 = pd.read_csv(args.v1).set_index("method")
    rows = []
    for v2_name, v1_name in _SAME.items():
        row: dict[str, object] = {"peer": v2_name, "v1 name": v1_name}
        if v1_name in v1.index:
            r = v1.loc[v1_name]
            row["v1 regret@100"] = (
                f"{r.regret_100:.4f} [{r.regret_100_lo:.4f}, {r.regret_100_hi:.4f}]"
            )
            row["v1 rank"] = f"{r['rank']:.2f} of {len(v1)}"
        for suite, scope in (("lcbench", "all"), ("lcbench", "meta-test"), ("own", "all"),
                             ("own", "meta-test")):  # fmt: skip
            path = Path(args.v2) / f"{suite}_{scope}_summary.csv"
            if not path.is_file():
                continue
            v2 = pd.read_csv(path)
            v2 = v2[v2["budget"] == v2["budget"].max()].set_index("peer")
            if v2_name in v2.index:
                r = v2.loc[v2_name]
                row[f"{suite} {scope} regret@100"] = (
                    f"{r['regret@100']:.4f} [{r.ci_low:.4f}, {r.ci_high:.4f}]"
                )
                row[f"{suite} {scope} rank"] = f"{r['rank']:.2f} of {len(v2)}"
        rows.append(row)
    table = pd.DataFrame(rows)
    table.to_csv(Path(args.v2) / "v1_vs_v2.csv", index=False)
    if args.doc:
        _write(Path(args.doc), table)
    return table


def _write(doc: Path, table: pd.DataFrame) -> None:
    text = doc.read_text()
    cells = table.fillna("-").astype(str)
    lines = ["| " + " | ".join(cells.columns) + " |", "|" + " --- |" * len(cells.columns)]
    lines += ["| " + " | ".join(row) + " |" for row in cells.itertuples(index=False)]
    body = (
        "<!-- v1-vs-v2 -->\n## The same peers in the v1 harness\n\n"
        "Written by `experiments/bench_v1_v2.py` from the kept summaries: v1's final regret "
        "(64 epochs, grid, 37 datasets) beside v2's at 1000 epochs. v1's `ws-random` is the "
        "fixed script's twin (portfolio first, then random); v1's DEHB was tunegym's own, v2's "
        "is the `dehb` package.\n\n" + "\n".join(lines) + "\n<!-- /v1-vs-v2 -->\n"
    )
    pattern = re.compile(r"<!-- v1-vs-v2 -->.*?<!-- /v1-vs-v2 -->\n", re.S)
    text = (
        pattern.sub(lambda _: body, text) if pattern.search(text) else text.rstrip() + "\n\n" + body
    )
    doc.write_text(text)


if __name__ == "__main__":
    print(run(parse_dataclass_args(Args, description=__doc__)).to_string(index=False))
