"""Live tuning with W trials at once: wall time of `tune(workers=W)` against one worker.

Runs the freeze-thaw agent live on one dataset with the same budget and seed, on one worker
(in this process), on W spawned processes and on a local Ray of W CPUs, and prints a table:
wall seconds, the speed-up, training seconds (summed over workers), the number of segments
(advances) and the overhead per segment, ``(W * wall - training seconds) / segments`` — the
time a worker slot is not training (shipping a trial's state, logging, the agent's decisions,
idle slots while the agent waits for a result).

    python experiments/tune_speedup.py                       # breast_cancer, 100 epochs, W=2
    python experiments/tune_speedup.py --data keel:german --budget 200 --workers 2
"""

from __future__ import annotations

import argparse
import time

import torch

from tunegym.agent import tune


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default="sklearn:breast_cancer", help="dataset spec")
    parser.add_argument("--budget", type=int, default=100, help="epochs per run")
    parser.add_argument("--workers", type=int, default=2, help="W")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)

    import ray

    tick = time.perf_counter()
    ray.init(num_cpus=args.workers, include_dashboard=False, log_to_driver=False)
    ray_start = time.perf_counter() - tick
    import tunegym.parallel as parallel

    rows = []
    for label, workers, use_ray in (
        ("1 worker (this process)", 1, False),
        (f"{args.workers} processes", args.workers, False),
        (f"local Ray, {args.workers} CPUs", args.workers, True),
    ):
        available = parallel.ray_available
        if not use_ray:
            parallel.ray_available = lambda: False  # type: ignore[assignment]
        try:
            tick = time.perf_counter()
            result = tune(args.data, budget_epochs=args.budget, seed=args.seed, workers=workers)
            wall = time.perf_counter() - tick
        finally:
            parallel.ray_available = available  # type: ignore[assignment]
        segments = sum(r.kind in ("new", "continue") for r in result.history)
        overhead = (workers * wall - result.seconds) / max(segments, 1)
        rows.append((label, wall, result.seconds, segments, overhead, result.best))
    base = rows[0][1]
    print(f"{args.data}, budget {args.budget} epochs, seed {args.seed}; Ray started in "
          f"{ray_start:.1f} s (not counted)")  # fmt: skip
    print(f"{'run':<26}{'wall s':>8}{'speed-up':>10}{'train s':>9}{'segments':>10}"
          f"{'overhead/segment s':>20}{'best val':>10}")  # fmt: skip
    for label, wall, train, segments, overhead, best in rows:
        val = f"{best.val_score:.4f}" if best is not None else "-"
        print(f"{label:<26}{wall:>8.1f}{base / wall:>10.2f}{train:>9.1f}{segments:>10}"
              f"{overhead:>20.3f}{val:>10}")  # fmt: skip
    ray.shutdown()


if __name__ == "__main__":
    main()
