"""Meta-train the agent: MaskablePPO on the meta-train datasets, selected on meta-val.

Reads the meta-dataset snapshot shipped with the package (curves of the default 13 x 6 grid,
E_max 16, seeds 0-2, on every bundled dataset; family split into meta-train / meta-val /
meta-test), builds one multi-task replay env per PPO worker (a dataset and a budget of 32, 64
or 128 epochs drawn at each reset, warm-start prior computed leave-one-dataset-out from the
meta-train datasets), trains, evaluates the deterministic masked policy on meta-val every
``eval_every`` steps and keeps the best one. ``tunegym train-agent`` is the same as a command.

Writes, in ``out``: ``agent.json`` + ``policy.pt`` (the agent, with its configuration, seeds,
data version and the selection result), ``evaluations.csv``, ``logs/`` (TensorBoard and CSV)
and ``train_agent.json`` (this record: command, hardware, versions, times). ``--ship`` copies
the agent's two files into ``tunegym/agent/pretrained/``, what ``tunegym.load_agent()`` loads.

Run (what produces the shipped agent; about 20 minutes on 2 CPU cores):
    .venv/bin/python experiments/train_agent.py --ship
"""

from __future__ import annotations

import dataclasses
import json
import platform
import shlex
import shutil
import sys
import time
from dataclasses import dataclass
from typing import Any

import torch

import tunegym
from tunegym._args import parse_dataclass_args
from tunegym.agent import (
    AGENT_FILE,
    PRETRAINED_DIR,
    WEIGHTS_FILE,
    AgentTrainConfig,
    MetaDataset,
    TrainProgress,
    train_agent,
)
from tunegym.metastore import detect_hardware


@dataclass
class Args:
    """Meta-training settings (each is a ``--flag`` of the same name with dashes)."""

    out: str = "experiments/results/agent"
    """Folder for the agent, its logs and evaluations."""
    timesteps: int = AgentTrainConfig.timesteps
    """PPO steps in all."""
    eval_every: int = AgentTrainConfig.eval_every
    """Steps between meta-val evaluations."""
    n_envs: int = AgentTrainConfig.n_envs
    """Environments per rollout step."""
    seed: int = 0
    """Seed of PPO, the environments and the evaluations."""
    snapshot: str = ""
    """Meta-dataset snapshot folder (empty: the one shipped with tunegym)."""
    quick: bool = False
    """A seconds-long run (64 PPO steps, a tiny network, 4 datasets per part)."""
    ship: bool = False
    """Copy the selected agent into tunegym/agent/pretrained/."""
    threads: int = 1
    """torch threads (one is fastest for this small network)."""


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line."""
    return parse_dataclass_args(Args, argv, __doc__)


def config_of(args: Args) -> AgentTrainConfig:
    """The library configuration these arguments ask for."""
    changes = {"seed": args.seed, "snapshot": args.snapshot or None}
    if args.quick:
        return AgentTrainConfig.quick(out=args.out, **changes)
    return AgentTrainConfig(
        out=args.out,
        timesteps=args.timesteps,
        eval_every=args.eval_every,
        n_envs=args.n_envs,
        **changes,
    )


def print_progress(p: TrainProgress) -> None:
    """One line per evaluation (readable in a log file)."""
    if p.evaluation is not None:
        e = p.evaluation
        print(
            f"[{p.seconds:7.1f} s] {e.timesteps:>9,} steps  meta-val regret {e.val_regret:.4f}  "
            f"at 25 %: {e.val_regret_25:.4f}  best {p.best_val_regret:.4f}  "
            f"train return {p.mean_return:.4f}",
            flush=True,
        )


def run(args: Args, data: MetaDataset | None = None) -> dict[str, Any]:
    """Train (on ``data``, default the snapshot), write the record beside the agent, return it."""
    torch.set_num_threads(args.threads)
    config = config_of(args)
    started = time.time()
    trained = train_agent(config, data, progress=print_progress)
    if args.ship:
        PRETRAINED_DIR.mkdir(parents=True, exist_ok=True)
        for name in (AGENT_FILE, WEIGHTS_FILE):
            shutil.copyfile(trained.path / name, PRETRAINED_DIR / name)
    record = {
        "command": shlex.join([sys.executable, *sys.argv]),
        "args": dataclasses.asdict(args),
        "config": dataclasses.asdict(config),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "hardware": detect_hardware(),
        "versions": {
            "tunegym": tunegym.__version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
        },
        "seconds": trained.seconds,
        "timesteps": trained.timesteps,
        "selected": dataclasses.asdict(trained.best),
        "random_val_regret": trained.random_val_regret,
        "evaluations": [dataclasses.asdict(e) for e in trained.evaluations],
        "train_datasets": list(trained.train_datasets),
        "val_datasets": list(trained.val_datasets),
        "shipped": args.ship,
    }
    (trained.path / "train_agent.json").write_text(json.dumps(record, indent=2) + "\n")
    return record


if __name__ == "__main__":
    result = run(parse_args())
    best = result["selected"]
    print(
        f"selected step {best['timesteps']:,}: meta-val regret {best['val_regret']:.4f} "
        f"(random search {result['random_val_regret']:.4f}); {result['seconds'] / 60:.1f} min"
    )
