"""Benchmark the tuning env: replay speed, live overhead, robustness under random and bad actions.

(1) Replay speed: steps per second of a random masked policy (uniform over the True entries of
    ``env.action_masks()``) on a replay env over real curves (sklearn:wine, default 13 x 6 grid,
    E_max 16, seeds 0-2, recorded once and cached as Parquet). Episodes run back to back, resets
    included, for at least ``replay_seconds``; the policy's time (mask + sampling) and the env's
    (``step`` + ``reset``) are clocked apart. Target: >= 20,000 steps/s on one core. A cProfile
    run of the same loop lists the hot spots.
(2) Live overhead: a random masked policy with a fixed seed on a live env; the env's wall time in
    ``step`` against the trainer's own epoch seconds (``info["seconds_used"]``):
    overhead = (step time - trainer seconds) / trainer seconds. Target: <= 5 % on a dataset whose
    epochs take >= ~20 ms (keel:magic). Also measured on a dataset with ~1 ms epochs
    (sklearn:iris), where the fixed per-trial cost is necessarily a larger share.
(3) Robustness: random masked steps on each backend (live on sklearn:iris with learning rates up
    to 1e20, which diverge; replay on that grid's curves, recorded trial by trial so they are
    bitwise what live trains, and on the wine curves; the same seed drives both iris runs),
    with invalid actions (masked indices, out-of-range ints, multi-element or float arrays,
    floats, None) injected at ``invalid_rate`` and valid ones sent in several forms (int,
    numpy int, 0-d and 1-element arrays). Checked on every step: no exception, an invalid action
    charges no epoch, second or trial and leaves the observation as it was, a valid one is
    executed and the epoch budget is never exceeded.

Run (the command that produced docs/ENV_BENCH.md):
    .venv/bin/python experiments/bench_env.py
"""

from __future__ import annotations

import cProfile
import csv
import dataclasses
import json
import os
import platform
import pstats
import shlex
import subprocess
import sys
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
import pandas as pd
import torch

import tunegym
from tunegym._args import parse_dataclass_args
from tunegym.data import TabularDataset, load_dataset
from tunegym.envs import (
    Backend,
    LiveBackend,
    SearchSpace,
    Segment,
    TuningEnv,
    make_tuning_env,
    read_curves,
    record_curves,
    write_curves,
)

REPLAY_TARGET_STEPS_PER_S = 20_000.0
LIVE_TARGET_OVERHEAD = 0.05
LIVE_TARGET_MIN_EPOCH_MS = 20.0  # the overhead target is meant for epochs at least this long

# What an agent may hand to ``env.step``, valid or not.
AgentAction = int | float | np.integer | np.ndarray | None


@dataclass
class Args:
    """Benchmark settings (each is a ``--flag`` of the same name with dashes)."""

    replay_dataset: str = "sklearn:wine"
    """Dataset whose curves are recorded (default grid) and replayed in part (1)."""
    max_epochs: int = 16
    """E_max of the replayed grid and of the live env of part (2)."""
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    """Trial seeds (recorded for replay)."""
    budget_epochs: int = 64
    n_slots: int = 8
    replay_seconds: float = 5.0
    """Minimum timed duration of part (1)."""
    profile_steps: int = 20_000
    """Steps of the cProfile run of part (1) (0: no profile)."""
    live_dataset: str = "keel:magic"
    """Part (2): a dataset whose epochs take >= ~20 ms."""
    live_episodes: int = 3
    small_dataset: str = "sklearn:iris"
    """Part (2): a dataset with ~1 ms epochs, to show where the fixed costs dominate."""
    small_episodes: int = 20
    robust_steps: int = 10_000
    """Part (3): steps per backend."""
    robust_dataset: str = "sklearn:iris"
    robust_lrs: list[float] = field(default_factory=lambda: [1e-4, 1e-2, 1.0, 1e2, 1e15, 1e20])
    """Part (3) grid; with Adam only lrs of ~1e15 and above give non-finite losses."""
    robust_batch_sizes: list[int] = field(default_factory=lambda: [16, 64])
    robust_max_epochs: int = 4
    robust_budget_epochs: int = 16
    robust_n_slots: int = 3
    invalid_rate: float = 0.1
    """Part (3): share of steps that send an invalid action."""
    seed: int = 0
    threads: int = 1
    """torch.set_num_threads for everything (one core)."""
    out_dir: Path = Path("experiments/results")
    quick: bool = False
    """Tiny sizes for the smoke test (overrides the sizes above; a few seconds)."""


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line."""
    return parse_dataclass_args(Args, argv, __doc__)


def quick_sizes(args: Args) -> Args:
    """The ``--quick`` variant: every part, on tiny data and budgets."""
    return dataclasses.replace(
        args,
        max_epochs=4,
        seeds=[0],
        budget_epochs=16,
        n_slots=4,
        replay_seconds=0.2,
        profile_steps=200,
        live_dataset="sklearn:iris",
        live_episodes=1,
        small_episodes=1,
        robust_steps=150,
        robust_lrs=[1e-2, 1e20],
        robust_batch_sizes=[64],
    )


# --------------------------------------------------------------------------- helpers


def cached_curves(
    dataset: str, space: SearchSpace, seeds: list[int], out_dir: Path, *, batched: bool = True
) -> Path:
    """Record the grid's curves once; later runs read the Parquet file back.

    ``batched=False`` trains each configuration alone: bitwise what the live env trains.
    """
    grid = f"{len(space.lrs)}x{len(space.batch_sizes)}"
    tag = f"E{space.max_epochs}_s{'-'.join(map(str, seeds))}" + ("" if batched else "_single")
    name = f"curves_{dataset.replace(':', '_')}_{grid}_{tag}.parquet"
    path = out_dir / name
    if path.exists():
        frame = read_curves(path)
        if set(frame["lr"]) == set(space.lrs) and set(frame["batch_size"]) == set(
            space.batch_sizes
        ):
            return path
    frame = record_curves(load_dataset(dataset), space, seeds=tuple(seeds), batched=batched)
    return write_curves(frame, path)


def replay_env(curves: Path, space: SearchSpace, args: Args, **kwargs: Any) -> TuningEnv:
    frame = read_curves(curves)
    return make_tuning_env(
        str(frame["dataset"].iloc[0]),
        "replay",
        curves=frame,
        space=space,
        trial_seeds=tuple(args.seeds),
        **kwargs,
    )


def sample_valid(env: TuningEnv, rng: np.random.Generator) -> int:
    """The random masked policy: uniform over the valid actions."""
    valid = np.flatnonzero(env.action_masks())
    return int(valid[rng.integers(valid.size)])


class TimedBackend:
    """A `Backend` that forwards to another and adds up the wall time of each call."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.seconds = {"start": 0.0, "advance": 0.0, "release": 0.0}
        self.calls = {"start": 0, "advance": 0, "release": 0}

    @property
    def meta_features(self) -> np.ndarray:
        return self.inner.meta_features

    @property
    def score_bounds(self) -> tuple[float, float] | None:
        return self.inner.score_bounds

    def _clock(self, name: str, began: float) -> None:
        self.seconds[name] += time.perf_counter() - began
        self.calls[name] += 1

    def start(self, config: Mapping[str, Any], seed: int) -> int:
        began = time.perf_counter()
        handle = self.inner.start(config, seed)
        self._clock("start", began)
        return handle

    def advance(self, handle: int, k: int) -> Segment:
        began = time.perf_counter()
        segment = self.inner.advance(handle, k)
        self._clock("advance", began)
        return segment

    def release(self, handle: int) -> None:
        began = time.perf_counter()
        self.inner.release(handle)
        self._clock("release", began)

    def reset_clocks(self) -> None:
        self.seconds = dict.fromkeys(self.seconds, 0.0)
        self.calls = dict.fromkeys(self.calls, 0)


# --------------------------------------------------------------------------- (1) replay speed


def bench_replay_speed(env: TuningEnv, args: Args) -> dict[str, Any]:
    """Episodes back to back for >= ``replay_seconds``; policy and env clocked apart."""
    rng = np.random.default_rng(args.seed)
    clock = time.perf_counter
    steps = episodes = 0
    policy_s = step_s = reset_s = 0.0
    began = clock()
    env.reset(seed=args.seed)
    reset_s += clock() - began
    while True:
        t0 = clock()
        action = sample_valid(env, rng)
        t1 = clock()
        _, _, terminated, truncated, _ = env.step(action)
        t2 = clock()
        policy_s += t1 - t0
        step_s += t2 - t1
        steps += 1
        if terminated or truncated:
            episodes += 1
            env.reset()
            reset_s += clock() - t2
            if t2 - began >= args.replay_seconds:
                break
    wall = clock() - began
    return {
        "steps": steps,
        "episodes": episodes,
        "wall_s": wall,
        "steps_per_s": steps / wall,
        "env_steps_per_s": steps / (step_s + reset_s),
        "policy_us_per_step": 1e6 * policy_s / steps,
        "step_us_per_step": 1e6 * step_s / steps,
        "reset_us_per_step": 1e6 * reset_s / steps,
        "reset_us_per_episode": 1e6 * reset_s / (episodes + 1),
        "steps_per_episode": steps / episodes,
    }


def profile_replay(env: TuningEnv, args: Args, top: int = 15) -> list[dict[str, Any]]:
    """cProfile of the same loop: the functions with the most own time."""
    rng = np.random.default_rng(args.seed)
    env.reset(seed=args.seed)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(args.profile_steps):
        _, _, terminated, truncated, _ = env.step(sample_valid(env, rng))
        if terminated or truncated:
            env.reset()
    profiler.disable()
    stats = pstats.Stats(profiler)
    total = stats.total_tt  # type: ignore[attr-defined]
    rows = []
    for (filename, line, function), (_, calls, own, cumulative, _) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{Path(filename).name}:{line}({function})" if line else function
        rows.append(
            {
                "function": where,
                "calls": calls,
                "own_us_per_step": 1e6 * own / args.profile_steps,
                "cum_us_per_step": 1e6 * cumulative / args.profile_steps,
                "own_share": own / total,
            }
        )
    rows.sort(key=lambda r: -r["own_us_per_step"])
    return rows[:top]


# --------------------------------------------------------------------------- (2) live overhead


def bench_live_overhead(
    dataset: TabularDataset, space: SearchSpace, episodes: int, args: Args
) -> dict[str, Any]:
    """Wall time in ``step`` against the trainer's epoch seconds, split by where it goes."""
    backend = TimedBackend(LiveBackend(dataset, space))
    env = make_tuning_env(
        dataset,
        backend,
        space=space,
        budget_epochs=args.budget_epochs,
        n_slots=args.n_slots,
        trial_seeds=tuple(args.seeds),
    )
    # Warm-up (torch's first-call costs) outside the timing.
    env.reset(seed=args.seed)
    env.step(env.codec.new(0, len(space.batch_sizes) - 1, space.k_choices[0]))
    env.reset(seed=args.seed)
    backend.reset_clocks()

    rng = np.random.default_rng(args.seed)
    step_s = trainer_s = reset_s = 0.0
    epochs = trials = steps = 0
    for episode in range(episodes):
        if episode:
            began = time.perf_counter()
            env.reset()
            reset_s += time.perf_counter() - began
        done = False
        while not done:
            action = sample_valid(env, rng)
            began = time.perf_counter()
            _, _, terminated, truncated, info = env.step(action)
            step_s += time.perf_counter() - began
            steps += 1
            done = terminated or truncated
        trainer_s += info["seconds_used"]
        epochs += info["epochs_used"]
        trials += info["n_trials"]
    backend_s = sum(backend.seconds.values())
    return {
        "dataset": dataset.name,
        "episodes": episodes,
        "steps": steps,
        "trials": trials,
        "epochs": epochs,
        "ms_per_epoch": 1e3 * trainer_s / epochs,
        "step_s": step_s,
        "trainer_s": trainer_s,
        "overhead": (step_s - trainer_s) / trainer_s,
        # where the extra time goes
        "start_ms_per_trial": 1e3 * backend.seconds["start"] / max(backend.calls["start"], 1),
        "advance_extra_ms_per_step": 1e3
        * (backend.seconds["advance"] - trainer_s)
        / max(backend.calls["advance"], 1),
        "env_logic_us_per_step": 1e6 * (step_s - backend_s) / steps,
        "overhead_start": backend.seconds["start"] / trainer_s,
        "overhead_advance": (backend.seconds["advance"] - trainer_s) / trainer_s,
        "overhead_env": (step_s - backend_s) / trainer_s,
        "reset_ms_per_episode": 1e3 * reset_s / max(episodes - 1, 1),
    }


# --------------------------------------------------------------------------- (3) robustness


def invalid_action(env: TuningEnv, rng: np.random.Generator) -> tuple[str, AgentAction]:
    """One action the env must refuse, of a random kind."""
    n = env.codec.n
    masked = np.flatnonzero(~env.action_masks())
    kinds = ["out_of_range", "array", "float_array", "float", "none"]
    if masked.size:
        kinds += ["masked"] * 3  # the likeliest mistake of a real agent
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind == "masked":
        return kind, int(masked[rng.integers(masked.size)])
    if kind == "out_of_range":
        return kind, int(rng.choice([-1, n, n + 1_000_000, -(2**40)]))
    if kind == "array":
        return kind, rng.integers(0, n, size=int(rng.integers(2, 4)))
    if kind == "float_array":
        return kind, np.array([float(sample_valid(env, rng))])
    if kind == "float":
        return kind, float(sample_valid(env, rng))
    return kind, None


def valid_form(action: int, rng: np.random.Generator) -> AgentAction:
    """A valid index as an agent may send it: int, numpy int, 0-d or 1-element array."""
    form = int(rng.integers(4))
    if form == 0:
        return action
    if form == 1:
        return np.int64(action)
    if form == 2:
        return np.array(action)
    return np.array([action], dtype=np.int32)


def stress(env: TuningEnv, steps: int, args: Args) -> dict[str, Any]:
    """Random masked steps with invalid actions injected; every step's effect is checked."""
    rng = np.random.default_rng(args.seed)
    counts: dict[str, Any] = {
        "steps": 0,
        "valid_steps": 0,
        "episodes": 0,
        "truncated": 0,
        "trials": 0,
        "epochs": 0,
        "diverged_trials": 0,
        "invalid_actions": 0,
        "invalid_by_kind": {},
        "violations": 0,
        "exceptions": 0,
        "first_problem": None,
    }

    def problem(message: str) -> None:
        counts["violations"] += 1
        counts["first_problem"] = counts["first_problem"] or message

    obs, info = env.reset(seed=args.seed)
    began = time.perf_counter()
    while counts["steps"] < steps:
        before = (info["epochs_used"], info["seconds_used"], info["n_trials"])
        bad = rng.random() < args.invalid_rate
        if bad:
            kind, action = invalid_action(env, rng)
        else:
            kind, action = "valid", valid_form(sample_valid(env, rng), rng)
        try:
            next_obs, reward, terminated, truncated, info = env.step(action)
        except Exception:
            counts["steps"] += 1
            counts["exceptions"] += 1
            counts["first_problem"] = counts["first_problem"] or traceback.format_exc()
            obs, info = env.reset()
            continue
        counts["steps"] += 1
        entry = info["step"]
        after = (info["epochs_used"], info["seconds_used"], info["n_trials"])
        if bad:
            counts["invalid_actions"] += 1
            counts["invalid_by_kind"][kind] = counts["invalid_by_kind"].get(kind, 0) + 1
            if entry["valid"] or after != before or reward != -env.invalid_action_penalty:
                problem(f"invalid action {action!r} ({kind}) was charged: {before} -> {after}")
            if not np.array_equal(next_obs, obs):
                problem(f"invalid action {action!r} ({kind}) changed the observation")
        else:
            counts["valid_steps"] += 1
            if not entry["valid"] or after[0] != before[0] + entry["epochs"]:
                problem(f"valid action {action!r} was not executed as such: {entry}")
            counts["diverged_trials"] += bool(entry.get("diverged"))
        if info["epochs_used"] > env.task.budget_epochs:
            problem(f"budget exceeded: {info['epochs_used']} > {env.task.budget_epochs}")
        obs = next_obs
        if terminated or truncated:
            counts["episodes"] += 1
            counts["truncated"] += bool(truncated)
            counts["trials"] += info["n_trials"]
            counts["epochs"] += info["epochs_used"]
            obs, info = env.reset()
    counts["wall_s"] = time.perf_counter() - began
    return counts


# --------------------------------------------------------------------------- run


def versions() -> dict[str, str]:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            cwd=Path(__file__).parent,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    return {
        "tunegym": tunegym.__version__,
        "commit": commit,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {cpu_model()}",
    }


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def summary_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per headline figure, with its target where it has one."""
    speed = result["replay_speed"]
    rows: list[dict[str, Any]] = [
        {
            "part": "1 replay",
            "figure": "steps/s, policy + env",
            "value": speed["steps_per_s"],
            "target": f">= {REPLAY_TARGET_STEPS_PER_S:,.0f}",
            "met": speed["steps_per_s"] >= REPLAY_TARGET_STEPS_PER_S,
        },
        {
            "part": "1 replay",
            "figure": "steps/s, env only (step + reset)",
            "value": speed["env_steps_per_s"],
            "target": f">= {REPLAY_TARGET_STEPS_PER_S:,.0f}",
            "met": speed["env_steps_per_s"] >= REPLAY_TARGET_STEPS_PER_S,
        },
        {"part": "1 replay", "figure": "us/step in policy", "value": speed["policy_us_per_step"]},
        {"part": "1 replay", "figure": "us/step in env.step", "value": speed["step_us_per_step"]},
    ]
    for key in ("live_overhead", "small_overhead"):
        r = result[key]
        meaningful = r["ms_per_epoch"] >= LIVE_TARGET_MIN_EPOCH_MS
        rows.append(
            {
                "part": "2 live",
                "figure": f"overhead, {r['dataset']} ({r['ms_per_epoch']:.1f} ms/epoch)",
                "value": r["overhead"],
                "target": f"<= {LIVE_TARGET_OVERHEAD:.0%}" if meaningful else "(epochs too short)",
                "met": r["overhead"] <= LIVE_TARGET_OVERHEAD if meaningful else None,
            }
        )
    for name, r in result["robustness"].items():
        rows.append(
            {
                "part": "3 robust",
                "figure": f"{name}: {r['steps']} steps, {r['episodes']} ep., "
                f"{r['diverged_trials']} diverged, {r['invalid_actions']} invalid",
                "value": r["exceptions"] + r["violations"],
                "target": "0 exceptions or violations",
                "met": r["exceptions"] == 0 and r["violations"] == 0,
            }
        )
    return rows


def run(args: Args) -> dict[str, Any]:
    """Run the three parts; write JSON and CSV to ``args.out_dir``; return the results."""
    if args.quick:
        args = quick_sizes(args)
    args.out_dir.mkdir(parents=True, exist_ok=True)
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    try:
        # (1) replay speed on real curves
        space = SearchSpace(max_epochs=args.max_epochs)
        curves = cached_curves(args.replay_dataset, space, args.seeds, args.out_dir)
        env_options: dict[str, Any] = {"budget_epochs": args.budget_epochs, "n_slots": args.n_slots}
        speed = bench_replay_speed(replay_env(curves, space, args, **env_options), args)
        hot_spots = (
            profile_replay(replay_env(curves, space, args, **env_options), args)
            if args.profile_steps
            else []
        )

        # (2) live overhead, on meaningful epochs and on tiny ones
        live = bench_live_overhead(load_dataset(args.live_dataset), space, args.live_episodes, args)
        small = bench_live_overhead(
            load_dataset(args.small_dataset), space, args.small_episodes, args
        )

        # (3) robustness on both backends, with diverging learning rates
        robust_space = SearchSpace(
            lrs=tuple(args.robust_lrs),
            batch_sizes=tuple(args.robust_batch_sizes),
            max_epochs=args.robust_max_epochs,
        )
        robust_options: dict[str, Any] = {
            "budget_epochs": args.robust_budget_epochs,
            "n_slots": args.robust_n_slots,
        }
        robust_curves = cached_curves(
            args.robust_dataset, robust_space, args.seeds, args.out_dir, batched=False
        )
        robust_envs = {
            f"live {args.robust_dataset}": make_tuning_env(
                args.robust_dataset,
                "live",
                space=robust_space,
                trial_seeds=tuple(args.seeds),
                **robust_options,
            ),
            f"replay {args.robust_dataset}": replay_env(
                robust_curves, robust_space, args, **robust_options
            ),
            f"replay {args.replay_dataset}": replay_env(curves, space, args, **env_options),
        }
        robustness = {
            name: stress(env, args.robust_steps, args) for name, env in robust_envs.items()
        }
    finally:
        torch.set_num_threads(previous_threads)

    result: dict[str, Any] = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "versions": versions(),
        "replay_curves": str(curves),
        "replay_speed": speed,
        "replay_hot_spots": hot_spots,
        "live_overhead": live,
        "small_overhead": small,
        "robustness": robustness,
    }
    result["summary"] = summary_rows(result)
    (args.out_dir / "bench_env.json").write_text(json.dumps(result, indent=2))
    with open(args.out_dir / "bench_env.csv", "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=["part", "figure", "value", "target", "met"])
        writer.writeheader()
        writer.writerows(result["summary"])
    return result


def format_table(result: dict[str, Any]) -> str:
    lines = [f"{'part':<9} {'figure':<72} {'value':>10}  target"]
    lines.append("-" * (len(lines[0]) + 20))
    for r in result["summary"]:
        mark = {True: " ✓", False: " ✗", None: ""}[r.get("met")]
        value = r["value"]
        shown = f"{value:>10.1%}" if r["part"] == "2 live" else f"{value:>10,.1f}"
        lines.append(f"{r['part']:<9} {r['figure']:<72} {shown}  {r.get('target', '')}{mark}")
    lines.append("\nreplay hot spots (own time per step, cProfile):")
    for h in result["replay_hot_spots"][:10]:
        lines.append(f"  {h['own_us_per_step']:6.2f} us  {h['calls']:>8} calls  {h['function']}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(run(parse_args())))
