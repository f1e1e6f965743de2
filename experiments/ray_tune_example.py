"""The freeze-thaw agent tuning under Ray Tune, W trials at once: a synthetic curve or iris.

``--task synthetic`` trains nothing: each epoch reports a deterministic learning curve of the
configuration (best near lr = 1e-2, wider nets learn faster), so a run takes seconds.
``--task iris`` trains tunegym's MLP on sklearn's iris (``tunegym.training.Trial``), one epoch
per report. Both checkpoint every epoch, as a paused trial needs (docs/RAY_TUNE.md).

Writes into ``--out``: ``decisions.csv`` (each decision of the agent), ``best.csv`` (the best
score seen after each epoch of the budget), ``best.png``, ``summary.json`` (with the command).

Run:
    .venv/bin/python experiments/ray_tune_example.py --task synthetic --workers 2 --budget 60
    .venv/bin/python experiments/ray_tune_example.py --task iris --workers 2 --budget 48 --max-t 12
"""

from __future__ import annotations

import json
import math
import shlex
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from tunegym._args import parse_dataclass_args


@dataclass
class Args:
    """Settings (each is a ``--flag`` of the same name with dashes)."""

    task: str = "synthetic"
    """``synthetic`` (a learning curve, no training) or ``iris`` (tunegym's MLP, really trained)."""
    workers: int = 2
    """Trials trained at once (``TuneConfig.max_concurrent_trials``)."""
    budget: int = 60
    """Epochs to train in all."""
    max_t: int = 12
    """The most epochs one trial trains."""
    n_candidates: int = 64
    """Candidate configurations the agent chooses from (0: the agent's own number)."""
    seed: int = 0
    """Seeds the candidates' Sobol sample."""
    cpus: int = 2
    """CPUs of the local Ray started when none is running."""
    out: Path = Path("runs/ray_tune_example")
    """Where the CSVs, the plot and the summary go."""


def synthetic(config: dict[str, Any]) -> None:
    """A function trainable reporting a learning curve, checkpointing its epoch each report."""
    from ray import tune
    from ray.tune import Checkpoint

    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            start = json.loads((Path(folder) / "state.json").read_text())["epoch"]
    final = max(0.9 - 0.1 * (math.log10(config["lr"]) + 2.0) ** 2, 0.1)
    for epoch in range(start + 1, config["max_t"] + 1):
        time.sleep(0.05)  # an epoch takes a little while
        accuracy = final * (1.0 - math.exp(-epoch / (1.0 + 64.0 / config["width"])))
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "state.json").write_text(json.dumps({"epoch": epoch}))
            tune.report({"val_accuracy": accuracy}, checkpoint=Checkpoint.from_directory(folder))


def iris(config: dict[str, Any]) -> None:
    """tunegym's MLP on iris, one epoch per report; the trial (weights, optimiser, epoch) is
    the checkpoint. A diverged epoch reports NaN: the agent stops the trial and goes on."""
    import torch
    from ray import tune
    from ray.tune import Checkpoint

    from tunegym.data import load_dataset
    from tunegym.training import MLPSpec, TrainConfig, Trial

    torch.set_num_threads(1)
    dataset = load_dataset("sklearn:iris", seed=0)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            trial = Trial.load(Path(folder) / "trial.pt", dataset)
    else:
        train = TrainConfig(config["lr"], config["batch_size"], max_epochs=config["max_t"])
        trial = Trial(dataset, train, MLPSpec(depth=1, width=config["width"]))
    while not trial.finished:
        (record,) = trial.train(1)
        with tempfile.TemporaryDirectory() as folder:
            trial.save(Path(folder) / "trial.pt")
            accuracy = math.nan if record.diverged else record.val_accuracy
            tune.report({"val_accuracy": accuracy}, checkpoint=Checkpoint.from_directory(folder))


TASKS = {"synthetic": synthetic, "iris": iris}


def run(args: Args) -> dict[str, Any]:
    """Tune ``args.task`` with the shipped agent on a local Ray; write and return the summary."""
    if args.task not in TASKS:
        raise ValueError(f"--task must be one of {sorted(TASKS)}, got {args.task!r}.")
    import ray
    from ray import tune

    from tunegym.integrations.ray_tune import freeze_thaw

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=args.cpus, include_dashboard=False, log_to_driver=False)
    param_space = {
        "lr": tune.loguniform(1e-4, 1.0),
        "width": tune.lograndint(8, 257),
        "batch_size": tune.choice([8, 16, 32]),
        "max_t": args.max_t,  # a constant: the trainables loop up to it
    }
    searcher, scheduler = freeze_thaw(
        param_space, metric="val_accuracy", mode="max", budget=args.budget, max_t=args.max_t,
        seed=args.seed, n_candidates=args.n_candidates or None,
    )  # fmt: skip
    args.out.mkdir(parents=True, exist_ok=True)
    tick = time.perf_counter()
    try:
        grid = tune.Tuner(
            TASKS[args.task],
            tune_config=tune.TuneConfig(
                search_alg=searcher,
                scheduler=scheduler,
                num_samples=-1,
                max_concurrent_trials=args.workers,
                reuse_actors=True,
            ),
            run_config=tune.RunConfig(storage_path=str(args.out.resolve() / "ray"), verbose=0),
        ).fit()
    finally:
        if started:
            ray.shutdown()
    seconds = time.perf_counter() - tick
    controller = searcher.controller
    summary = controller.summary()
    pd.DataFrame(controller.decisions).to_csv(args.out / "decisions.csv", index=False)
    best = 1.0 - controller.env.regret_curve  # no score bounds: regret is 1 - best score
    frame = pd.DataFrame({"epoch": range(1, len(best) + 1), "best_score": best})
    frame.to_csv(args.out / "best.csv", index=False)
    _plot(frame, args, args.out / "best.png")
    result = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "args": {k: str(v) for k, v in asdict(args).items()},
        "wall_seconds": round(seconds, 1),
        "ray_trials": len(grid),
        "ray_errors": len(grid.errors),
        "pauses": controller.pauses,
        "resumes": controller.resumes,
        **asdict(summary),
        "share_new": summary.share_new,
        "share_continue": summary.share_continue,
    }
    (args.out / "summary.json").write_text(json.dumps(result, indent=1, default=str) + "\n")
    return result


def _plot(frame: pd.DataFrame, args: Args, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    ax.plot(frame["epoch"], frame["best_score"])
    ax.set(xlabel="epochs spent", ylabel="best val_accuracy so far",
           title=f"{args.task}, {args.workers} workers")  # fmt: skip
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


if __name__ == "__main__":
    outcome = run(parse_dataclass_args(Args, description=__doc__))
    print(json.dumps(outcome, indent=1, default=str))
