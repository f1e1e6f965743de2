"""Collect the meta-dataset of fine-tuning: curves of scratch and fine-tuning candidates on KEEL
family targets (issue 16).

    python experiments/collect_finetune.py                      # every KEEL family, ~20 min
    python experiments/collect_finetune.py --family iris --family vehicle --out /tmp/ft
    python experiments/transfer_checks.py                       # then: each target's check

Per family and feature schema (`tunegym.envs.transfer_pairs`), the member with the most rows is
the source: a funnel MLP tuned on its rows-split training part (``split="rows"``: a row is in
one part in every member of the family, so no target test row is ever seen by a source) — the
best validation epoch of meta-dataset v2's 8 portfolio configurations — kept in the model zoo
of ``--store``. On every other member (the targets) every candidate is trained
``--max-epochs`` epochs per seed: ``--n-scratch`` from scratch (v2's portfolio, then Sobol
points of LCBench's space; the same on every target) and ``--n-finetune`` fine-tuned from the
source (its network, a learning rate within 1/30 of its own, `tunegym.envs.finetune_configs`;
a new output layer, as siblings' labels mean other classes).

Writes ``<out>/curves.parquet`` (the curve table, ``fine_tune`` a hyperparameter column),
``<out>/split.json`` (meta-dataset v1's family split: a family held out there is held out here)
and ``<out>/manifest.json`` (sources, pairs, counts, the command), and logs every run to the
store (fine-tuning runs with ``init="checkpoint"``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import pandas as pd

from tunegym.data import list_datasets, load_dataset, schema_fingerprint
from tunegym.envs._backends import trial_setup
from tunegym.envs._finetune import (
    FineTuneSource,
    TransferPair,
    finetune_configs,
    record_finetune_curves,
    scratch_configs,
    source_json,
    train_source,
    transfer_pairs,
)
from tunegym.metastore import MetaStore, dataset_family, snapshot_split

DEFAULT_OUT = Path("tunegym/metastore/snapshot_finetune")


@dataclass
class Args:
    out: Path = DEFAULT_OUT
    store: Path = Path("runs/finetune/store.db")
    family: list[str] = field(default_factory=list)  # empty: every KEEL family
    n_scratch: int = 16
    n_finetune: int = 16
    seeds: tuple[int, ...] = (0, 1)
    max_epochs: int = 25
    max_rows: int = 1000
    workers: int = 2
    sample_seed: int = 0


def _portfolio(k: int) -> list[dict[str, Any]]:
    from tunegym.agent._tunesetup import _meta_train_pools
    from tunegym.envs._pool import greedy_portfolio, normalised_finals

    pools = _meta_train_pools()
    return [dict(pools[0].configs[i]) for i in greedy_portfolio(normalised_finals(pools), k)]


def _source(name: str, configs: list[dict[str, Any]], args: Args) -> tuple[Any, Any]:
    import torch

    torch.set_num_threads(1)
    return train_source(name, configs, max_epochs=args.max_epochs, max_rows=args.max_rows)


def _unit(
    pair: TransferPair, source: FineTuneSource, configs: list[dict[str, Any]], seed: int,
    max_epochs: int, max_rows: int,
) -> pd.DataFrame:  # fmt: skip
    import torch

    torch.set_num_threads(1)
    return record_finetune_curves(
        pair.target, source, configs, seed=seed, max_epochs=max_epochs, max_rows=max_rows
    )


def _log(store: MetaStore, frame: pd.DataFrame, source: FineTuneSource, args: Args) -> None:
    """Log a unit's curves to the store as runs (fine-tuning ones from the source's zoo name)."""
    from tunegym.space import FINE_TUNE, LCBENCH_SPACE
    from tunegym.training import EpochRecord

    dataset = load_dataset(frame["dataset"].iloc[0], max_rows=args.max_rows, seed=0, split="rows")
    keys = [*LCBENCH_SPACE.names, FINE_TUNE]
    for key, run in frame.groupby(keys, sort=False):
        config = dict(zip(keys, key, strict=True))
        seed = int(run["seed"].iloc[0])
        train, net = trial_setup(config, args.max_epochs, seed)
        history = [
            EpochRecord(
                epoch=int(r.epoch), train_loss=float(r.train_loss), val_loss=float(r.val_loss),
                val_accuracy=float(r.val_accuracy),
                val_balanced_accuracy=float(r.val_balanced_accuracy), test_loss=None,
                test_accuracy=float(r.test_accuracy),
                test_balanced_accuracy=float(r.test_balanced_accuracy), seconds=float(r.seconds),
                diverged=bool(r.diverged),
            )
            for r in run.itertuples()
        ]  # fmt: skip
        fine = int(config[FINE_TUNE]) == 1
        net = source.trial_spec() if fine else net
        store.log_trial(dataset, train, net, history, checkpoint=source.name if fine else None)


def collect(args: Args) -> pd.DataFrame:
    """Train the sources, record every target's curves, write the snapshot; return the curves."""
    started = time.perf_counter()
    specs = [d.spec for d in list_datasets() if d.source == "keel"]
    if args.family:
        specs = [s for s in specs if dataset_family(s) in args.family]
    pairs = transfer_pairs(
        specs, max_rows=args.max_rows,
        on_skip=lambda s, why: print(f"skip {s}: {why}", file=sys.stderr),
    )  # fmt: skip
    if not pairs:
        raise SystemExit(f"No family among {len(specs)} datasets has two members of one schema.")
    portfolio = _portfolio(8)
    scratch = scratch_configs(args.n_scratch, args.sample_seed, portfolio)
    args.store.parent.mkdir(parents=True, exist_ok=True)
    sources: dict[str, FineTuneSource] = {}
    context = multiprocessing.get_context("spawn")
    with MetaStore(args.store) as store, ProcessPoolExecutor(args.workers, context) as pool:
        names = list(dict.fromkeys(p.source for p in pairs))
        for name, (source, history) in zip(
            names, pool.map(_source, names, [portfolio] * len(names), [args] * len(names)),
            strict=True,
        ):  # fmt: skip
            dataset = load_dataset(name, max_rows=args.max_rows, seed=0, split="rows")
            train, net = trial_setup(source.config, args.max_epochs, 0)
            run_id = store.log_trial(dataset, train, net, history)
            entry = store.zoo_add(
                source.weights, dataset=name, schema=schema_fingerprint(dataset.info),
                feature_names=list(dataset.info.feature_names),
                feature_names_out=list(source.inputs), class_names=list(source.classes),
                spec=source_json(source)["spec"], config=dict(source.config),
                scores={"val_accuracy": float(source.score or 0.0)},
                epochs=len(history), run_id=run_id, note="experiments/collect_finetune.py",
            )  # fmt: skip
            sources[name] = replace(source, name=entry.name, keep_head=False)
            print(f"source {name}: val {source.score:.3f} -> zoo {entry.name}", flush=True)
        configs = {
            n: scratch + finetune_configs(s.config, args.n_finetune, args.sample_seed)
            for n, s in sources.items()
        }
        units = [(p, s) for p in pairs for s in args.seeds]
        frames: list[pd.DataFrame] = []
        failed: list[str] = []
        pending = {
            pool.submit(
                _unit,
                p,
                sources[p.source],
                configs[p.source],
                s,
                args.max_epochs,
                args.max_rows,
            ): (p, s)
            for p, s in units
        }
        done = 0
        while pending:
            finished, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in finished:
                pair, seed = pending.pop(future)
                done += 1
                try:
                    frame = future.result()
                    _log(store, frame, sources[pair.source], args)
                except Exception as error:  # one target's failure loses only that target
                    print(
                        f"[{done}/{len(units)}] {pair.target} seed {seed} FAILED: "
                        f"{type(error).__name__}: {error}",
                        file=sys.stderr,
                        flush=True,
                    )
                    failed.append(pair.target)
                    continue
                frames.append(frame)
                minutes = (time.perf_counter() - started) / 60
                print(f"[{done}/{len(units)}] {pair.target} seed {seed} "
                      f"({minutes:.1f} min)", flush=True)  # fmt: skip
    curves = pd.concat(frames, ignore_index=True).sort_values(["dataset", "seed", "epoch"])
    curves = curves[~curves["dataset"].isin(failed)]  # a pool needs every seed of a target
    _write(args, curves, pairs, sources, time.perf_counter() - started)
    return curves


def _write(
    args: Args, curves: pd.DataFrame, pairs: list[TransferPair],
    sources: dict[str, FineTuneSource], seconds: float,
) -> None:  # fmt: skip
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    table = curves.drop(columns=["diverged"]).reset_index(drop=True)
    table.to_parquet(out / "curves.parquet", compression="zstd", index=False)
    v1 = snapshot_split()
    parts = dict(zip(v1["family"], v1["part"], strict=False))
    targets = sorted({p.target for p in pairs})
    split = [{"dataset": t, "family": dataset_family(t),
              "part": parts.get(dataset_family(t), "meta-train")} for t in targets]  # fmt: skip
    (out / "split.json").write_text(json.dumps(split, indent=1) + "\n", encoding="utf-8")
    manifest = {
        "format": "tunegym.finetune-snapshot",
        "version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "command": "python " + " ".join(sys.argv),
        "arguments": {k: str(v) if isinstance(v, Path) else v for k, v in asdict(args).items()},
        "minutes": round(seconds / 60, 1),
        "sources": {s: source_json(src) for s, src in sources.items()},
        "pairs": [asdict(p) for p in pairs],
        "counts": {
            "targets": len(targets),
            "configs": int(args.n_scratch + args.n_finetune),
            "epochs": len(curves),
        },
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = Args()
    parser.add_argument("--out", type=Path, default=defaults.out)
    parser.add_argument("--store", type=Path, default=defaults.store)
    parser.add_argument("--family", action="append", default=[], help="only these families")
    parser.add_argument("--n-scratch", type=int, default=defaults.n_scratch)
    parser.add_argument("--n-finetune", type=int, default=defaults.n_finetune)
    parser.add_argument("--seeds", type=int, default=len(defaults.seeds), help="trial seeds")
    parser.add_argument("--max-epochs", type=int, default=defaults.max_epochs)
    parser.add_argument("--max-rows", type=int, default=defaults.max_rows)
    parser.add_argument("--workers", type=int, default=defaults.workers)
    ns = parser.parse_args()
    args = Args(
        out=ns.out, store=ns.store, family=ns.family, n_scratch=ns.n_scratch,
        n_finetune=ns.n_finetune, seeds=tuple(range(ns.seeds)), max_epochs=ns.max_epochs,
        max_rows=ns.max_rows, workers=ns.workers,
    )  # fmt: skip
    curves = collect(args)
    print(f"wrote {args.out}: {curves['dataset'].nunique()} targets, {len(curves)} epochs")


if __name__ == "__main__":
    main()
