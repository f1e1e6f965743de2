"""Benchmark the LCBench surrogate: query speed, per-task sanity numbers, raw output ranges.

(1) Speed, on ``threads`` onnxruntime threads (1 by default): one 52-epoch curve
    (``LCBench.curves(task, [config])``: one model call of 52 rows plus the table), repeated
    ``single_repeats`` times, and ``batch`` curves in one call, repeated ``batch_repeats`` times;
    the model call alone (``LCBench.predict``) is clocked apart. Median and 90th percentile,
    and rows (configuration x epoch) per second.
(2) Sanity, per task: ``sanity_configs`` random configurations (seed ``seed``), their best
    validation accuracy over the 52 epochs (mean, min, max), the final one, and the median
    predicted time of a whole curve.
(3) Raw output ranges (``clip=False``) over ``range_configs`` random configurations and the 128
    corners of the space on all 34 tasks: accuracies outside [0, 1], negative cross-entropies,
    and epochs where the model's cumulative time decreases.

Run (the command that produced docs/LCBENCH.md):
    .venv/bin/python experiments/bench_lcbench.py
"""

from __future__ import annotations

import itertools
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from tunegym._args import parse_dataclass_args
from tunegym.surrogates import LCBENCH_HYPERPARAMETERS, LCBench

ACCURACIES = ["val_accuracy", "val_balanced_accuracy", "test_balanced_accuracy"]
LOSSES = ["val_cross_entropy", "test_cross_entropy"]


@dataclass(frozen=True)
class Args:
    """Arguments of the benchmark."""

    task: int = 126025  # adult, for the speed runs
    threads: int = 1
    single_repeats: int = 300
    batch: int = 1000
    batch_repeats: int = 7
    sanity_configs: int = 100
    range_configs: int = 1000
    seed: int = 0
    out: str = "docs/LCBENCH.md"


@dataclass(frozen=True)
class Timing:
    """Seconds of repeated calls."""

    median: float
    p90: float
    rows: int

    @property
    def rows_per_second(self) -> float:
        """Rows (configuration x epoch) per second at the median."""
        return self.rows / self.median


def _clock(call: Callable[[], object], repeats: int, rows: int) -> Timing:
    call()  # warm-up: the session's first run allocates
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - start)
    return Timing(float(np.median(seconds)), float(np.quantile(seconds, 0.9)), rows)


def measure_speed(bench: LCBench, args: Args) -> dict[str, Timing]:
    """The timings of (1)."""
    one = bench.sample_configs(1, args.seed)
    many = bench.sample_configs(args.batch, args.seed)

    def x_of(configs: list[dict[str, float]]) -> np.ndarray:
        values = np.array([[c[n] for n in LCBENCH_HYPERPARAMETERS] for c in configs])
        epochs = np.tile(np.arange(1, 53), len(configs))
        return np.column_stack([epochs, np.repeat(values, 52, axis=0)]).astype(np.float32)

    x_one, x_many = x_of(one), x_of(many)
    return {
        "one curve, curves()": _clock(
            lambda: bench.curves(args.task, one), args.single_repeats, 52
        ),
        "one curve, model call only": _clock(
            lambda: bench.predict(args.task, x_one), args.single_repeats, 52
        ),
        f"{args.batch} curves batched, curves()": _clock(
            lambda: bench.curves(args.task, many), args.batch_repeats, 52 * args.batch
        ),
        f"{args.batch} curves batched, model call only": _clock(
            lambda: bench.predict(args.task, x_many), args.batch_repeats, 52 * args.batch
        ),
    }


def sanity_table(bench: LCBench, args: Args) -> pd.DataFrame:
    """The per-task numbers of (2)."""
    configs = bench.sample_configs(args.sanity_configs, args.seed)
    rows = []
    for task in bench.tasks:
        frame = bench.curves(task, configs)
        per_config = frame.groupby("config")
        best = per_config["val_accuracy"].max()
        rows.append(
            {
                "task": task,
                "dataset": bench.task_names[task],
                "best val acc mean": best.mean(),
                "min": best.min(),
                "max": best.max(),
                "final val acc mean": per_config["val_accuracy"].last().mean(),
                "final test bal. acc mean": per_config["test_balanced_accuracy"].last().mean(),
                "median curve time (s)": per_config["time"].last().median(),
            }
        )
    return pd.DataFrame(rows)


def raw_ranges(bench: LCBench, args: Args) -> pd.DataFrame:
    """The counts of (3), for random configurations and for the corners of the space."""
    corners = [
        {
            h.name: (h.upper if bit else h.lower)
            for h, bit in zip(bench.hyperparameters, bits, strict=True)
        }
        for bits in itertools.product([0, 1], repeat=len(bench.hyperparameters))
    ]
    sets = {
        f"{args.range_configs} random configs": bench.sample_configs(
            args.range_configs, args.seed + 1
        ),
        f"{len(corners)} corners": corners,
    }
    rows = []
    for name, configs in sets.items():
        counts = {"rows": 0, "steps": 0, "acc": 0, "ce": 0, "dips": 0}
        low, high, worst = np.inf, -np.inf, 0.0
        for task in bench.tasks:
            frame = bench.curves(task, configs, clip=False)
            accuracies = frame[ACCURACIES].to_numpy()
            later = frame["epoch"].to_numpy() > 1
            steps = frame["seconds"].to_numpy()[later]
            counts["rows"] += len(frame)
            counts["steps"] += int(later.sum())
            counts["acc"] += int(((accuracies < 0) | (accuracies > 1)).sum())
            counts["ce"] += int((frame[LOSSES].to_numpy() < 0).sum())
            counts["dips"] += int((steps < 0).sum())
            low, high = min(low, accuracies.min()), max(high, accuracies.max())
            worst = min(worst, float(steps.min()))
        rows.append(
            {
                "configurations (x 34 tasks x 52 epochs)": name,
                "rows": counts["rows"],
                "accuracy values outside [0, 1]": counts["acc"],
                "accuracy range": f"{low:.3g} .. {high:.4f}",
                "negative cross-entropies": counts["ce"],
                "epoch steps where the time decreases": (
                    f"{counts['dips']} of {counts['steps']} "
                    f"({100 * counts['dips'] / counts['steps']:.2f} %)"
                ),
                "largest decrease (s)": f"{-worst:.1f}",
            }
        )
    return pd.DataFrame(rows)


def _markdown(frame: pd.DataFrame, floats: str = "{:.3f}") -> str:
    head = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(floats.format(v) if isinstance(v, float) else str(v) for v in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([head, rule, *body])


def run(args: Args, command: str = "") -> str:
    """Measure everything and return the report (Markdown); ``command`` is recorded in it."""
    import onnxruntime

    bench = LCBench.open(threads=args.threads)
    speed = measure_speed(bench, args)
    sanity = sanity_table(bench, args)
    ranges = raw_ranges(bench, args)
    timing = pd.DataFrame(
        [
            {
                "query": name,
                "rows": t.rows,
                "median (ms)": f"{1000 * t.median:.2f}",
                "p90 (ms)": f"{1000 * t.p90:.2f}",
                "rows/s": f"{t.rows_per_second:,.0f}",
            }
            for name, t in speed.items()
        ]
    )
    means = sanity["best val acc mean"].to_numpy()
    names = sanity["dataset"].tolist()
    guarded = (
        ranges["accuracy values outside [0, 1]"].sum() == 0
        and ranges["negative cross-entropies"].sum() == 0
    )
    verdict = (
        "So the clipping of scores is a guard that did not fire here; the time is the one "
        "output that leaves its physical range (a decreasing cumulative time), which the "
        "clipped `seconds` absorb."
        if guarded
        else "The raw scores do leave their ranges (counts above): the clipping matters."
    )
    return "\n".join(
        [
            "# LCBench surrogate (YAHPO Gym) in tunegym",
            "",
            "`tunegym.surrogates.LCBench` reads YAHPO Gym's LCBench model (`model.onnx`, sha256-"
            "checked) with onnxruntime and predicts, per epoch, LCBench's scores and time for a "
            "task and the 7 hyperparameters (`batch_size, learning_rate, momentum, weight_decay, "
            "num_layers, max_units, max_dropout`). Results obtained with it are labelled "
            '"LCBench (YAHPO surrogate)". `tunegym metastore import lcbench` stores its curves '
            "as `surrogate` runs.",
            "",
            f"Command: `{command}`",
            "",
            f"Machine: {platform.processor() or platform.machine()}, {platform.system()}; "
            f"Python {platform.python_version()}, onnxruntime {onnxruntime.__version__}, "
            f"{args.threads} intra-op thread(s), CPU execution provider.",
            "",
            "## Query speed",
            "",
            f"Task {args.task} ({bench.task_names[args.task]}); `curves()` includes checking the "
            'configurations and building the table, "model call only" is `predict()` on the '
            "prepared input.",
            "",
            _markdown(timing),
            "",
            f"## Sanity: {args.sanity_configs} random configurations per task (seed {args.seed})",
            "",
            "Best = the highest validation accuracy over the 52 epochs of a configuration.",
            "",
            _markdown(sanity),
            "",
            f"Over the 34 tasks: mean best val accuracy {means.mean():.3f}; lowest task mean "
            f"{means.min():.3f} ({names[int(np.argmin(means))]}), highest {means.max():.3f} "
            f"({names[int(np.argmax(means))]}).",
            "",
            "## The raw model's outputs (`clip=False`)",
            "",
            "The model gives the *cumulative* time and val_accuracy in 0..100 (divided by 100 "
            "here). `curves()` clips accuracies into [0, 1] and cross-entropies at >= 0, sets "
            "`seconds` = max(0, increase of the model's time) and `time` = their running sum.",
            "",
            _markdown(ranges),
            "",
            verdict,
            "",
        ]
    )


def main(argv: list[str] | None = None) -> None:
    """Parse the arguments, run, write the report."""
    flags = sys.argv[1:] if argv is None else list(argv)
    args = parse_dataclass_args(Args, flags, __doc__)
    report = run(args, " ".join([".venv/bin/python", "experiments/bench_lcbench.py", *flags]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)
    print(report)


if __name__ == "__main__":
    main()
