"""Meta-train the freeze-thaw agent (issue 15) and ship it.

    python experiments/train_freeze_thaw.py --ship               # the shipped agent (<= 80 min)
    python experiments/train_freeze_thaw.py --no-warm --out runs/ft-no-warm   # ablation
    python experiments/train_freeze_thaw.py --no-meta --out runs/ft-no-meta   # ablation
    python experiments/train_freeze_thaw.py --quick                            # seconds, a smoke run
    python experiments/train_freeze_thaw.py --transfer --seed 1 --out runs/ft-transfer  # <= 32 min

Learns on the meta-train tasks of LCBench's surrogate and meta-dataset v2, selects on their
meta-val tasks (`tunegym.agent._fttrain`), writes ``OUT/weights.pt``, ``OUT/agent.json``,
``OUT/evaluations.csv``; ``--ship`` copies the agent into ``tunegym/agent/pretrained/freeze_thaw``.

``--transfer`` trains a transfer agent (issue 16, `FTTrainConfig.transfer`): PPO starts from
the shipped agent's network and learns on the meta-dataset of fine-tuning's meta-train targets
(budgets 50 and 100 epochs) besides both suites (so that it keeps tuning from scratch); its
return charges ending worse than a scratch-only run (``--worse-weight``), and it is selected on
the fine-tuning meta-train and meta-val targets. ``--ship`` then installs it in
``tunegym/agent/pretrained/freeze_thaw_transfer``, where `tunegym.tune` runs it whenever some
candidates fine-tune a model. None ships: on held-out targets it is worse than scratch more
often than the freeze-thaw agent (docs/TRANSFER.md).
"""

from __future__ import annotations

import argparse
import shutil
import time
from typing import Any

from tunegym.agent._ftagent import DEFAULT_FT_AGENT_DIR, DEFAULT_TRANSFER_AGENT_DIR
from tunegym.agent._fttrain import SELECT_BY, FTTrainConfig, train_ft_agent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default="runs/ft-agent")
    parser.add_argument("--timesteps", type=int, default=FTTrainConfig.timesteps)
    parser.add_argument(
        "--eval-every", type=int, default=None, help="PPO steps between meta-val evaluations"
    )
    parser.add_argument("--n", type=int, default=FTTrainConfig.n, help="candidates per episode")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-minutes", type=float, default=None,
                        help="stop PPO after this many minutes")  # fmt: skip
    parser.add_argument("--no-warm", action="store_true", help="ablation: no portfolio, no prior")
    parser.add_argument("--no-meta", action="store_true", help="ablation: meta-features zeroed")
    parser.add_argument("--quick", action="store_true", help="a seconds-long smoke run")
    parser.add_argument(
        "--transfer", action="store_true",
        help="the transfer agent: from the shipped agent, on the fine-tuning meta-dataset too",
    )  # fmt: skip
    parser.add_argument("--learning-rate", type=float, default=None,
                        help="PPO's step size (default 1e-4, 3e-4 with --transfer)")  # fmt: skip
    parser.add_argument("--finetune-weight", type=float, default=None,
                        help="with --transfer: how much more often a fine-tuning target is drawn "
                        "than a task of each other suite (default 10)")  # fmt: skip
    parser.add_argument("--final-weight", type=float, default=None,
                        help="the return also pays minus this times the final regret")  # fmt: skip
    parser.add_argument("--worse-weight", type=float, default=None,
                        help="the return also pays minus this times how far the final regret "
                        "exceeds a scratch-only run's, where candidates fine-tune")  # fmt: skip
    parser.add_argument("--scratch-better-weight", type=float, default=None,
                        help="how many times as often a fine-tuning meta-train target where "
                        "scratch is better is drawn")  # fmt: skip
    parser.add_argument("--select-by", choices=SELECT_BY, default=None,
                        help="what meta-val selection minimises")  # fmt: skip
    parser.add_argument("--select-on-train", action="store_true",
                        help="select on the meta-train tasks as well as the meta-val ones")  # fmt: skip
    parser.add_argument(
        "--ship", action="store_true",
        help=f"copy the agent to {DEFAULT_FT_AGENT_DIR} ({DEFAULT_TRANSFER_AGENT_DIR} with "
        "--transfer)",
    )  # fmt: skip
    args = parser.parse_args()
    changes: dict[str, Any] = {"seed": args.seed, "warm": not args.no_warm,
                               "use_meta": not args.no_meta}  # fmt: skip
    for name in ("learning_rate", "eval_every", "max_minutes", "final_weight", "worse_weight",
                 "select_by", "scratch_better_weight"):  # fmt: skip
        if getattr(args, name) is not None:
            changes[name] = getattr(args, name)
    if args.select_on_train:
        changes["select_parts"] = ("meta-train", "meta-val")
    if args.finetune_weight is not None:
        changes["suite_weights"] = (1.0, 1.0, args.finetune_weight)
    if args.transfer:
        sizes = {} if args.quick else {"timesteps": args.timesteps, "n": args.n}
        config = FTTrainConfig.transfer(out=args.out, quick=args.quick, **sizes, **changes)
    elif args.quick:
        config = FTTrainConfig.quick(out=args.out, **changes)
    else:
        config = FTTrainConfig(out=args.out, timesteps=args.timesteps, n=args.n, **changes)
    ship_to = DEFAULT_TRANSFER_AGENT_DIR if args.transfer else DEFAULT_FT_AGENT_DIR
    start = time.perf_counter()

    def report(steps: int, row: dict[str, float]) -> None:
        worse = f"  no worse {row['no_worse']:.0%}" if "no_worse" in row else ""
        print(f"{steps:>9,} steps  meta-val area {row['area']:.4f}  final {row['final']:.4f}"
              f"{worse}  {time.perf_counter() - start:6.0f} s{'  *' if row.get('best') else ''}",
              flush=True)  # fmt: skip

    agent, _ = train_ft_agent(config, progress=report)
    print(f"selected: {agent.spec['selected']}  ({agent.spec['train_seconds']} s)")
    if args.ship:
        ship_to.mkdir(parents=True, exist_ok=True)
        for name in ("weights.pt", "agent.json", "evaluations.csv"):
            shutil.copy2(f"{args.out}/{name}", ship_to / name)
        print(f"shipped to {ship_to}")


if __name__ == "__main__":
    main()
