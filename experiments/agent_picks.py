"""Which candidates the agent trains, against its teacher, on one benchmark task (issue 15).

    python experiments/agent_picks.py                            # lcbench:shuttle, 1000 epochs
    python experiments/agent_picks.py --task lcbench:albert --budget 200 --seeds 0 1 2
    python experiments/agent_picks.py --task keel:shuttle-c0-vs-c4 --peer agent --peer agent-no-ws
    python experiments/agent_picks.py --candidates 256 --peer agent --peer curve-race

Runs the benchmark's agent peers (default ``agent`` and ``curve-race``) on the same episodes as
``tunegym bench`` (the same tuner seeds, portfolio and prior) and reads each episode's ledger:
the configurations trained, how many reached E_max, their median rank in the warm-start prior
(0 = the prior's favourite), how many of the pool's best configurations (seed-mean validation
above ``--good``'s quantile of the pool) each trained, and to E_max, and the incumbent it ends
on: its configuration and the epoch its validation score was reached, that validation score,
and the seed-mean score (the protocol's truth) there. It answers whether a gap between two
peers is the candidates the policy picks, how long it trains them, or which tie of validation
scores it reaches first (the first to reach the best score holds it). ``--candidates`` makes
every peer score the same number of candidates (the benchmark's curve race scores 128, the
agents their ``agent.json``'s ``n``), to tell the policy from the candidate set it was dealt.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from tunegym.bench import _agent
from tunegym.bench._episode import Episode, portfolio
from tunegym.bench._ledger import EpisodeTrace, Ledger
from tunegym.bench._run import episode_seed, run_episode
from tunegym.envs._pool import CurvePool, config_prior, load_suite
from tunegym.errors import did_you_mean

PEERS = {"agent": _agent.agent, "agent-no-ws": _agent.agent_no_ws,
         "agent-no-meta": _agent.agent_no_meta, "curve-race": _agent.curve_race}  # fmt: skip


def at_candidates(name: str, n: int) -> Callable[[Episode], None]:
    """Peer ``name`` as the benchmark runs it, but scoring ``n`` candidates (the agents' ``n``
    is their ``agent.json``'s, the curve race's 128)."""
    if name == "curve-race":
        return lambda episode: _agent.curve_race(episode, n)
    folder = _agent.agent_folder(f"{_agent.__name__}:{name.replace('-', '_')}")
    return lambda episode: _agent.run_agent(episode, str(folder), n)


def watched(
    peer: Callable[[Episode], None],
    pool: CurvePool,
    budget: int,
    seed: int,
    folio: Sequence[int],
    prior: Any,
    train: Sequence[CurvePool],
) -> tuple[Ledger, EpisodeTrace]:
    """`run_episode`'s trace of ``peer``, with the ledger it charged (which holds what each
    configuration trained)."""
    ledgers: list[Ledger] = []

    def kept(episode: Episode) -> None:
        ledgers.append(episode.ledger)
        peer(episode)

    trace = run_episode(kept, pool, budget, seed, folio, prior=prior, warm_tasks=train)
    return ledgers[0], trace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="lcbench:shuttle")
    parser.add_argument("--budget", type=int, default=1000)
    parser.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    parser.add_argument("--good", type=float, default=0.98,
                        help="the pool's best configurations: this quantile of the seed-mean "
                        "best validation score and above")  # fmt: skip
    parser.add_argument("--peer", action="append", choices=list(PEERS),
                        help="a peer to run (repeatable; default: agent and curve-race)")  # fmt: skip
    parser.add_argument("--candidates", type=int, help="the candidates every peer scores "
                        "(default: as the benchmark runs each)")  # fmt: skip
    args = parser.parse_args()
    torch.set_num_threads(1)
    suite = args.task.split(":")[0] if args.task.startswith("lcbench:") else "own"
    pools = {p.task: p for p in load_suite(suite)}
    if args.task not in pools:
        parser.error(
            f"no task {args.task!r} in the {suite} suite." + did_you_mean(args.task, pools)
        )
    pool = pools[args.task]
    train = [p for p in pools.values() if p.part == "meta-train"]
    folio, prior = portfolio(train, 8), config_prior(train, pool.configs, pool.space)
    prior_rank = np.argsort(np.argsort(-np.asarray(prior)))
    best = pool.truth.max(axis=1)
    good = best >= np.quantile(best, args.good)
    print(f"{args.task}, {args.budget} epochs: {good.sum()} of {pool.n} configurations are the "
          f"pool's best (seed-mean validation >= {best[good].min():.4f}); their median prior "
          f"rank is {int(np.median(prior_rank[good]))}")  # fmt: skip
    print("| seed | peer | final val | configs | to E_max | median prior rank | best ones "
          "trained | best ones to E_max | incumbent @ epoch | its truth | final regret |\n"
          + "|---" * 11 + "|")  # fmt: skip
    for seed in args.seeds:
        tuner_seed = episode_seed(0, pool.task, seed)
        for name in args.peer or ["agent", "curve-race"]:
            peer = PEERS[name] if args.candidates is None else at_candidates(name, args.candidates)
            ledger, trace = watched(peer, pool, args.budget, tuner_seed, folio, prior, train)
            trained = np.asarray(ledger.trained)
            tried, full = trained > 0, trained == pool.max_epochs
            val = trace.val[-1]
            print(f"| {seed} | {name} | {val:.4f} | {tried.sum()} | {full.sum()} | "
                  f"{int(np.median(prior_rank[tried]))} | {(good & tried).sum()} | "
                  f"{(good & full).sum()} | {ledger.incumbent} @ {ledger.incumbent_epoch} | "
                  f"{pool.truth[ledger.incumbent, ledger.incumbent_epoch - 1]:.4f} | "
                  f"{trace.regret[-1]:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
