"""Benchmark the trainer against a bare PyTorch loop, and the batched trainer against a loop.

(a) Epoch time of ``Trial`` vs a hand-written loop with the same MLP, Adam (fused), shuffle and
    batch slicing, both with the validation pass per epoch ("train+val") and both without it
    ("train"; the Trial then gets a one-row validation split, so its evaluation costs ~nothing).
    Target: Trial <= 1.2x the bare loop.
(b) Aggregate throughput of one ``BatchedTrial`` of K learning rates vs K ``Trial``s trained one
    after the other (both with their per-epoch validation). Target: >= 3x.

Measurements of the compared implementations are interleaved epoch by epoch, so that load from
other processes hits both alike; each figure is the median over the timed epochs.

Run (the command that produced docs/TRAINER_BENCH.md):
    .venv/bin/python experiments/bench_trainer.py --threads 1 2
"""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import platform
import statistics
import sys
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from tunegym._args import parse_dataclass_args
from tunegym.data import DatasetInfo, TabularDataset
from tunegym.training import BatchedTrial, MLPSpec, TrainConfig, Trial, build_mlp


@dataclass
class Args:
    """Benchmark settings (each is a ``--flag`` of the same name with dashes)."""

    dataset: str = "keel:magic"
    """Dataset spec for ``tunegym.data.load_dataset``; ``synthetic`` (or a failed load) uses
    random data of keel:magic's shape (``synthetic_rows`` rows, 10 features, 2 classes)."""
    synthetic_rows: int = 19020
    batch_sizes: list[int] = field(default_factory=lambda: [32, 256])
    """Batch sizes of part (a)."""
    batched_batch_sizes: list[int] = field(default_factory=lambda: [64, 256])
    """Batch sizes of part (b)."""
    members: int = 8
    """K, the number of learning rates of part (b)."""
    epochs: int = 7
    """Timed epochs per measurement (after one untimed warm-up epoch)."""
    threads: list[int] = field(default_factory=lambda: [1])
    """torch.set_num_threads values to run everything with."""
    device: str = "cpu"
    lr: float = 1e-3
    seed: int = 0
    out_dir: Path = Path("experiments/results")


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line."""
    return parse_dataclass_args(Args, argv, __doc__)


def synthetic_dataset(n: int, n_features: int = 10, n_classes: int = 2) -> TabularDataset:
    """Random data with a learnable linear signal, split 60/20/20 like load_dataset."""
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(n, n_features, generator=generator)
    y = (X @ torch.randn(n_features, n_classes, generator=generator)).argmax(dim=1)
    a, b = int(0.6 * n), int(0.8 * n)
    names = tuple(f"x{i}" for i in range(n_features))
    info = DatasetInfo(
        "array", "synthetic", None, None, n, n_features, n_features, 0, n_classes, names,
        tuple(str(c) for c in range(n_classes)),
    )  # fmt: skip
    rows = np.arange(n)
    return TabularDataset(
        info, X[:a], y[:a], X[a:b], y[a:b], X[b:], y[b:], names, rows[:a], rows[a:b], rows[b:], 0
    )


def load(args: Args) -> TabularDataset:
    if args.dataset != "synthetic":
        try:
            from tunegym.data import load_dataset

            return load_dataset(args.dataset, seed=args.seed)
        except (ImportError, ValueError, OSError) as error:
            warnings.warn(
                f"{args.dataset} unavailable ({error}); using synthetic data", stacklevel=1
            )
    return synthetic_dataset(args.synthetic_rows)


class BareLoop:
    """What one would write by hand: nn.Sequential, fused Adam, a shuffled index, slicing."""

    def __init__(
        self, dataset: TabularDataset, spec: MLPSpec, config: TrainConfig, device: str
    ) -> None:
        sizes = [dataset.n_features] + [spec.width] * spec.depth
        layers: list[nn.Module] = []
        for a, b in itertools.pairwise(sizes):
            layers += [nn.Linear(a, b), nn.ReLU()]
        self.model = nn.Sequential(*layers, nn.Linear(sizes[-1], dataset.n_classes))
        # Same initial weights as the Trial (timing should not hinge on the draw).
        init = build_mlp(spec, dataset.n_features, dataset.n_classes, seed=config.seed)
        self.model.load_state_dict(
            dict(zip(self.model.state_dict(), init.state_dict().values(), strict=True))
        )
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, fused=True)
        self.model.to(device)
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=config.lr, fused=True)
        self.data, self.config, self.epoch = dataset.to(device), config, 0

    def train_epoch(self, evaluate: bool) -> None:
        X, y, n = self.data.X_train, self.data.y_train, len(self.data.y_train)
        order = torch.randperm(n, generator=torch.Generator().manual_seed(self.epoch))
        X, y = X[order.to(X.device)], y[order.to(X.device)]
        self.model.train()
        total = torch.zeros((), device=X.device)
        for lo in range(0, n, self.config.batch_size):
            hi = lo + self.config.batch_size
            loss = F.cross_entropy(self.model(X[lo:hi]), y[lo:hi])
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            total += loss.detach()
        if evaluate:
            self.model.eval()
            with torch.no_grad():
                logits = self.model(self.data.X_val)
                yv = self.data.y_val
                correct = (logits.argmax(dim=1) == yv).float()
                recall = torch.bincount(yv, correct) / torch.bincount(yv).clamp(min=1)
                present = torch.bincount(yv) > 0
                torch.stack(
                    [
                        F.cross_entropy(logits, yv),
                        correct.mean(),
                        recall[present].mean(),
                        total / n,
                    ]
                ).tolist()
        else:
            total.item()  # the one host sync per epoch that Trial makes too
        self.epoch += 1


def interleaved(runners: dict[str, Callable[[], None]], epochs: int) -> dict[str, float]:
    """Median seconds per call of each runner, calls interleaved; one warm-up call each."""
    times: dict[str, list[float]] = {name: [] for name in runners}
    for epoch in range(epochs + 1):
        for name, run_once in runners.items():
            start = time.perf_counter()
            run_once()
            if epoch > 0:
                times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def bench_trial_vs_bare(
    dataset: TabularDataset, args: Args, batch_size: int
) -> list[dict[str, Any]]:
    spec = MLPSpec()
    config = TrainConfig(args.lr, batch_size, args.epochs + 1, args.seed)
    one_row_val = dataclasses.replace(dataset, X_val=dataset.X_val[:1], y_val=dataset.y_val[:1])
    trial = Trial(dataset, config, spec, device=args.device)
    trial_no_val = Trial(one_row_val, config, spec, device=args.device)
    bare = BareLoop(dataset, spec, config, args.device)
    bare_no_val = BareLoop(dataset, spec, config, args.device)
    medians = interleaved(
        {
            "trial train+val": lambda: trial.train(1),
            "bare train+val": lambda: bare.train_epoch(evaluate=True),
            "trial train": lambda: trial_no_val.train(1),
            "bare train": lambda: bare_no_val.train_epoch(evaluate=False),
        },
        args.epochs,
    )
    return [
        {
            "part": "a",
            "variant": variant,
            "batch_size": batch_size,
            "trial_s": medians[f"trial {variant}"],
            "baseline_s": medians[f"bare {variant}"],
            "ratio": medians[f"trial {variant}"] / medians[f"bare {variant}"],
            "target": "<= 1.2",
        }
        for variant in ("train+val", "train")
    ]


def bench_batched_vs_sequential(
    dataset: TabularDataset, args: Args, batch_size: int
) -> dict[str, Any]:
    lrs = np.geomspace(1e-4, 1e-1, args.members).tolist()
    max_epochs = args.epochs + 1
    batched = BatchedTrial(dataset, lrs, batch_size, max_epochs, args.seed, device=args.device)
    trials = [
        Trial(dataset, TrainConfig(lr, batch_size, max_epochs, args.seed), device=args.device)
        for lr in lrs
    ]

    def sequential_epoch() -> None:
        for trial in trials:
            trial.train(1)

    medians = interleaved(
        {"batched": lambda: batched.train(1), "sequential": sequential_epoch}, args.epochs
    )
    return {
        "part": "b",
        "variant": f"K={args.members}",
        "batch_size": batch_size,
        "trial_s": medians["batched"],
        "baseline_s": medians["sequential"],
        "ratio": medians["sequential"] / medians["batched"],
        "target": ">= 3",
    }


def run(args: Args) -> dict[str, Any]:
    """Run every measurement; write CSV and JSON to ``args.out_dir``; return the results."""
    dataset = load(args)
    previous_threads = torch.get_num_threads()
    rows: list[dict[str, Any]] = []
    try:
        for threads in args.threads:
            torch.set_num_threads(threads)
            part_a = [r for bs in args.batch_sizes for r in bench_trial_vs_bare(dataset, args, bs)]
            part_b = [
                bench_batched_vs_sequential(dataset, args, bs) for bs in args.batched_batch_sizes
            ]
            rows += [{"threads": threads, **row} for row in part_a + part_b]
    finally:
        torch.set_num_threads(previous_threads)
    result = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "dataset": repr(dataset),
        "torch": torch.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores",
        "device": torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu",
        "rows": rows,
    }
    args.out_dir.mkdir(parents=True, exist_ok=True)
    with open(args.out_dir / "bench_trainer.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    (args.out_dir / "bench_trainer.json").write_text(json.dumps(result, indent=2))
    return result


def format_table(rows: list[dict[str, Any]]) -> str:
    header = "threads part variant     batch  ours s/epoch  baseline s/epoch  ratio  target"
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r['threads']:>7} {r['part']:>4} {r['variant']:<11} {r['batch_size']:>5} "
            f"{r['trial_s']:>13.4f} {r['baseline_s']:>17.4f} {r['ratio']:>6.2f}  {r['target']}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(run(parse_args())["rows"]))
