"""Whether each target's source helps it, before any epoch: the meta-dataset of fine-tuning's
transfer checks (issue 16).

    python experiments/transfer_checks.py            # after experiments/collect_finetune.py

For every (source, target) pair of the collection's manifest, the source model is read from the
collection's store (``--store``, its model zoo) and `tunegym.envs.FineTuneSource.transfer_check`
runs on the target as the collection split it (``split="rows"``, the same rows and seed): a
linear probe on the source's frozen features against one on the raw inputs, both read on the
target's validation rows. Writes ``<snapshot>/transfer_checks.csv`` (target, source, probe, raw,
gain, seconds), which `tunegym.envs.finetune_checks` reads and ``finetune_benchmark.py`` gates
fine-tuning with.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
import torch

from tunegym.data import load_dataset
from tunegym.envs import FINETUNE_SNAPSHOT_DIR, FineTuneSource
from tunegym.envs._finetune import CHECKS_FILE
from tunegym.metastore import MetaStore


def checks(snapshot: Path, store: MetaStore) -> pd.DataFrame:
    manifest = json.loads((snapshot / "manifest.json").read_text(encoding="utf-8"))
    arguments = manifest["arguments"]
    sources: dict[str, FineTuneSource] = {}
    rows = []
    for pair in manifest["pairs"]:
        name = manifest["sources"][pair["source"]]["name"]
        if name not in sources:
            sources[name] = FineTuneSource.from_zoo(store, name)
        dataset = load_dataset(
            pair["target"], max_rows=arguments["max_rows"], seed=0, split="rows"
        )  # fmt: skip  (the collection's split)
        check = sources[name].transfer_check(dataset)
        rows.append({"target": pair["target"], "source": pair["source"], "probe": check.probe,
                     "raw": check.raw, "gain": check.gain, "seconds": check.seconds})  # fmt: skip
        print(f"{pair['target']}: probe {check.probe:.3f}, raw {check.raw:.3f}", flush=True)
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, default=FINETUNE_SNAPSHOT_DIR)
    parser.add_argument("--store", default="runs/finetune/store.db",
                        help="the collection's store (collect_finetune.py --store)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    frame = checks(args.snapshot, MetaStore(args.store))
    frame.to_csv(args.snapshot / CHECKS_FILE, index=False, float_format="%.6g")
    pays = int((frame["gain"] > 0).sum())
    print(f"{len(frame)} targets; the source's features score higher on {pays}: "
          f"{args.snapshot / CHECKS_FILE}")  # fmt: skip


if __name__ == "__main__":
    main()
