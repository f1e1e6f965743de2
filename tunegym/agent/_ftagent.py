"""The freeze-thaw agent (agent v2): its tasks, its episodes, and the agent that ships.

* `TaskSet` holds the curve pools of the suites the agent learns from (LCBench's surrogate and
  meta-dataset v2), each task's warm start — the greedy portfolio and the prior (predicted
  normalised final score of every configuration) from the **other** meta-train tasks of its
  suite, so a meta-train task never sees itself — and its meta-features.
* `episode_candidates` picks an episode's N candidates: the portfolio first, then the prior's
  best (half of them), then a random sample of the task's configurations.
* `task_env` gives an episode a `RankWeightedPrior` where the suite's tasks share their
  configurations: the prior then follows which meta-train tasks the episode's scores resemble.
* `FreezeThawAgent` is the trained `CandidateNet` with its JSON: it acts on a
  `tunegym.envs.FreezeThawEnv` (greedy over the masked logits), saves as ``weights.pt`` (a plain
  ``state_dict``, read with ``torch.load(weights_only=True)``) + ``agent.json``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from tunegym.agent._candidates import CandidateNet, upgrade_state_dict
from tunegym.envs import (
    DEFAULT_K,
    GLOBAL_FIELDS,
    META_FEATURE_NAMES,
    META_GAMMA,
    STOP_WINDOW,
    CurvePool,
    FreezeThawEnv,
    PoolBackend,
    RankWeightedPrior,
    finetune_kinds,
    finetune_prior,
    meta_log_weights,
    priced_stop,
)
from tunegym.envs._pool import nested_portfolio, normalised_finals

_PRICE = GLOBAL_FIELDS.index("price")
_USED = GLOBAL_FIELDS.index("budget_used")

__all__ = [
    "DEFAULT_FT_AGENT_DIR",
    "DEFAULT_TRANSFER_AGENT_DIR",
    "FreezeThawAgent",
    "SuiteTask",
    "TaskSet",
    "episode_candidates",
    "load_ft_agent",
    "run_ft_episode",
]


DEFAULT_FT_AGENT_DIR = Path(__file__).resolve().parent / "pretrained" / "freeze_thaw"
"""Where the shipped freeze-thaw agent lives (``weights.pt`` + ``agent.json``)."""

DEFAULT_TRANSFER_AGENT_DIR = DEFAULT_FT_AGENT_DIR.parent / "freeze_thaw_transfer"
"""Where a transfer agent is installed (none ships; ``tunegym train-agent --v2 --transfer
--ship``): the freeze-thaw agent trained on the meta-dataset of fine-tuning too, which
`tunegym.tune` then uses when some candidates fine-tune a model."""

FORMAT = "tunegym.freeze-thaw-agent"


@dataclass
class SuiteTask:
    """One task with its warm start.

    Attributes:
        pool: the task's curves.
        suite: the suite it belongs to (``lcbench``, ``own``, ``finetune``).
        prior: ``[n]`` predicted normalised final score of each configuration.
        portfolio: pool indices of the warm start's portfolio, best default first.
        meta: the task's meta-features (zeros when unknown).
        warm_tasks: the meta-train tasks its warm start comes from, where they share the task's
            configurations (empty otherwise): `task_env` re-weights them as the episode's
            scores come in (`RankWeightedPrior`).
        warm_finals: ``[len(warm_tasks), n]`` their normalised final scores.
        warm_log_weights: ``[len(warm_tasks)]`` their starting log-weights in the prior, by how
            like the task's their meta-features are (`tunegym.envs.meta_log_weights`; ``None``:
            alike, where the task's meta-features are unknown).
    """

    pool: CurvePool
    suite: str
    prior: npt.NDArray[np.float32]
    portfolio: tuple[int, ...]
    meta: npt.NDArray[np.float32]
    warm_tasks: tuple[CurvePool, ...] = ()
    warm_finals: npt.NDArray[np.float64] | None = field(default=None, repr=False)
    warm_log_weights: npt.NDArray[np.float64] | None = field(default=None, repr=False)
    backend: PoolBackend = field(init=False, repr=False)
    same: npt.NDArray[np.int64] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.backend = PoolBackend(self.pool, self.meta)
        keys = [self.pool.space.key(c) for c in self.pool.configs]
        first: dict[Any, int] = {}
        self.same = np.array([first.setdefault(k, i) for i, k in enumerate(keys)])


class TaskSet:
    """The tasks of one or more suites with their warm starts.

    A meta-train task's prior and portfolio come from the suite's other meta-train tasks
    (leave-one-out); every other task's from all of them. The portfolio is greedy over the
    tasks' configurations by position, so a suite's tasks hold as many configurations, and the
    i-th of each means the same: LCBench's and the meta-dataset's tasks share theirs, the
    fine-tuning meta-dataset's i-th candidate is the same point relative to each target's
    source. Where some configurations fine-tune a model, the portfolio is
    `tunegym.envs._pool.nested_portfolio` (it holds the scratch-only portfolio). Where the
    configurations are shared, a configuration's prior is its mean normalised final score; where
    they differ, `tunegym.envs.finetune_prior` (the nearest configuration of the same kind on
    each task).

    Args:
        suites: suite name → its pools (`tunegym.envs.load_suite`).
        meta: task → meta-features the policy observes (default zeros).
        prior_meta: task → meta-features that weight a task's warm-start tasks in its prior
            (`SuiteTask.warm_log_weights`; default ``meta``).
        gamma: the prior's meta-feature kernel (`tunegym.envs.META_GAMMA`; 0: tasks alike).
        portfolio_size: configurations of each portfolio.
    """

    def __init__(
        self,
        suites: Mapping[str, Sequence[CurvePool]],
        *,
        meta: dict[str, npt.ArrayLike] | None = None,
        prior_meta: Mapping[str, npt.ArrayLike] | None = None,
        gamma: float = META_GAMMA,
        portfolio_size: int = 8,
    ) -> None:
        self.tasks: list[SuiteTask] = []
        meta = meta or {}
        prior_meta = meta if prior_meta is None else prior_meta
        for suite, pools in suites.items():
            train = [p for p in pools if p.part == "meta-train"]
            if not train:
                raise ValueError(f"Suite {suite!r} has no meta-train task to warm-start from.")
            if any(p.n != train[0].n or p.space != train[0].space for p in pools):
                raise ValueError(
                    f"The tasks of suite {suite!r} hold different numbers (or spaces) of "
                    "configurations; a suite's portfolio needs them aligned by position."
                )
            shared = all(p.configs == train[0].configs for p in pools)
            kinds = finetune_kinds(train[0].configs)  # one kind: the greedy portfolio
            table = normalised_finals(train)
            total = table.sum(axis=0)
            where = {p.task: t for t, p in enumerate(train)}
            for pool in pools:
                t = where.get(pool.task)
                if t is None:
                    rest, mean, others = table, total / len(train), train
                else:  # leave the task itself out
                    rest = np.delete(table, t, axis=0)
                    mean = (total - table[t]) / max(len(train) - 1, 1)
                    others = [p for p in train if p.task != pool.task] or train
                prior = mean if shared else finetune_prior(others, pool.configs, space=pool.space)
                aligned = shared and len(rest) == len(others)  # rows of rest are the others
                m = np.asarray(meta.get(pool.task, np.zeros(len(META_FEATURE_NAMES))))
                logw = None
                if aligned:
                    logw = meta_log_weights(prior_meta.get(pool.task),
                                            [prior_meta.get(o.task) for o in others], gamma)  # fmt: skip
                self.tasks.append(
                    SuiteTask(
                        pool,
                        suite,
                        prior.astype(np.float32),
                        tuple(nested_portfolio(rest, kinds, portfolio_size)),
                        m.astype(np.float32),
                        tuple(others) if aligned else (),
                        rest if aligned else None,
                        logw,
                    )
                )

    def part(self, name: str) -> list[SuiteTask]:
        """The tasks of one part of the split (``meta-train``, ``meta-val``, ``meta-test``)."""
        return [t for t in self.tasks if t.pool.part == name]


TOP_SHARE = 0.5
"""The share of an episode's candidates, after the portfolio, that are the prior's best; the
rest are drawn at random. With 256 candidates of LCBench's 2,000 configurations, the best of a
random sample ends 0.025 below the best configuration on meta-val (normalised regret), of the
prior's 128 best 0.005; the random half keeps what the prior misjudges within reach."""


def episode_candidates(
    n_pool: int,
    n: int,
    portfolio: Sequence[int],
    rng: np.random.Generator,
    *,
    same: Sequence[int] | npt.NDArray[np.int64] | None = None,
    prior: npt.ArrayLike | None = None,
    top_share: float = TOP_SHARE,
) -> npt.NDArray[np.int64]:
    """``min(n, n_pool)`` distinct pool indices: the portfolio, the prior's best, a random sample.

    ``same[i]``: the first pool index of a configuration equal to ``i``'s (a pool may hold one
    configuration twice); only first indices are drawn, so no configuration is a candidate twice.
    With a ``prior`` (``[n_pool]``), ``top_share`` of the places after the portfolio go to the
    configurations it ranks best.
    """
    first = np.arange(n_pool) if same is None else np.asarray(same)
    pool = np.flatnonzero(first == np.arange(n_pool))
    n = min(n, len(pool))
    head = list(dict.fromkeys(int(first[i]) for i in portfolio))[:n]
    if prior is not None and top_share > 0 and n > len(head):
        p = np.asarray(prior, dtype=np.float64)
        best = pool[np.argsort(-p[pool], kind="stable")]
        k, taken = round(top_share * (n - len(head))), set(head)
        head += [int(i) for i in best if int(i) not in taken][:k]
    rest = np.setdiff1d(pool, head)
    tail = rng.choice(rest, n - len(head), replace=False) if n > len(head) else np.zeros(0)
    return np.concatenate([np.asarray(head, dtype=np.int64), np.asarray(tail, dtype=np.int64)])


def task_env(
    task: SuiteTask,
    budget: int,
    rng: np.random.Generator,
    *,
    n: int = 128,
    rows: int | None = None,
    warm: bool = True,
    price: float = 0.0,
    k_choices: Sequence[int] = DEFAULT_K,
    scratch_only: bool = False,
    adaptive: bool = True,
    meta_prior: bool = True,
) -> FreezeThawEnv:
    """A freeze-thaw episode on a pool task: ``n`` candidates (portfolio, the prior's best,
    a random sample) and its prior.

    ``warm=False`` is the "no warm start" ablation: no portfolio, no prior (random candidates).
    ``scratch_only``: the task's configurations that fine-tune a model are left out (the
    portfolio keeps its other members, in order): what a run without a pre-trained model gets.
    ``adaptive``: where the task has them (`SuiteTask.warm_tasks`), the prior is a
    `RankWeightedPrior` over its meta-train tasks (``False``: the static prior), starting
    from their meta-features' likeness to the task's (`SuiteTask.warm_log_weights`; ``meta_prior
    =False``: alike, the "no meta-features" ablation).
    """
    pool = task.pool
    folio, same = (task.portfolio if warm else ()), task.same
    if scratch_only:
        fine = finetune_kinds(pool.configs) == 1
        folio = tuple(i for i in folio if not fine[i])
        same = np.where(fine, -1, same)  # never a first index: never drawn
    index = episode_candidates(pool.n, n, folio, rng, same=same, prior=task.prior if warm else None)
    prior: npt.NDArray[np.float32] | RankWeightedPrior | None = None
    if warm:
        prior = task.prior[index]
        if adaptive and task.warm_tasks and task.warm_finals is not None:
            curves = np.stack([p.truth[index] for p in task.warm_tasks])
            logw = task.warm_log_weights if meta_prior else None
            prior = RankWeightedPrior(curves, task.warm_finals[:, index], log_weights=logw)
    return FreezeThawEnv(
        pool.space,
        [pool.configs[i] for i in index],
        task.backend,
        budget=budget,
        max_epochs=pool.max_epochs,
        prior=prior,
        rows=rows,
        k_choices=k_choices,
        trial_seeds=tuple(range(pool.n_seeds)),
        price=price,
        portfolio=range(min(len(folio), len(index))),
    )


class FreezeThawAgent:
    """The trained candidate network and what it was trained with.

    Args:
        net: the network.
        spec: its JSON (``n_k``, ``hidden``, ``use_meta``, ``k_choices``, ``n`` (candidates per
            episode), ``warm`` and what training recorded).
    """

    def __init__(self, net: CandidateNet, spec: dict[str, Any]) -> None:
        self.net = net.eval()
        self.spec = dict(spec)

    @property
    def k_choices(self) -> tuple[int, ...]:
        """The env's ``k_choices`` the net was trained with."""
        return tuple(self.spec.get("k_choices", DEFAULT_K))

    @property
    def n_candidates(self) -> int:
        """Candidates per episode the net was trained with."""
        return int(self.spec.get("n", 128))

    @property
    def learned_stop(self) -> bool:
        """Whether the network learned when to stop under a price of cost (`tunegym train-agent
        --v2 --learn-stop`; ``agent.json`` then holds ``stop``), rather than `priced_stop`."""
        return "stop" in self.spec

    @torch.no_grad()
    def act(self, obs: npt.NDArray[np.float32], mask: npt.NDArray[np.bool_]) -> int:
        """The network's greedy valid action.

        With no price of cost stopping never pays (the incumbent's regret can only fall), so the
        agent does not stop while an epoch can still be bought; nor does a network trained with
        no price (`decide` then stops by `priced_stop`). One that learned when to stop
        (`learned_stop`) may stop under a price, once an epoch has been trained: a tuning run
        returns a model, and a gate asked about a price above the ones it was trained on (0.001
        to 0.3) may want to stop before the first. The price reaches only the stop logit
        (`CandidateNet`), so the candidates advanced are the same at every price.
        """
        valid = torch.as_tensor(mask).clone()
        can_advance = bool(valid[:-1].any())
        may_stop = (
            self.learned_stop and bool(obs[_PRICE] > 0) and bool(obs[_USED] > 0) and can_advance
        )
        if can_advance:
            valid[-1] = False  # the last action is stop
        x = torch.as_tensor(obs, dtype=torch.float32).unsqueeze(0)
        logits, _ = self.net(x)
        logits = logits[0]
        if may_stop:  # the gate: stop when the masked policy stops with probability > 1/2
            advance = logits[:-1].masked_fill(~valid[:-1], -torch.inf)
            if logits[-1] > torch.logsumexp(advance, dim=0):
                return len(logits) - 1
        return int(torch.argmax(logits.masked_fill(~valid, -torch.inf)))

    def decide(
        self,
        env: FreezeThawEnv,
        obs: npt.NDArray[np.float32],
        mask: npt.NDArray[np.bool_] | None = None,
        *,
        window: float = STOP_WINDOW,
    ) -> int:
        """The agent's action in ``env``: stop where its price of cost says the rest of the
        budget is not worth it (`priced_stop` over ``window``, unless the network learned when
        to stop), else the network's action (`act`)."""
        if not self.learned_stop and priced_stop(env, window):
            return env.stop_action
        return self.act(obs, env.action_masks() if mask is None else mask)

    def save(self, folder: str | Path) -> Path:
        """Write ``weights.pt`` and ``agent.json`` into ``folder``; the folder."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        weights = folder / "weights.pt"
        torch.save(self.net.state_dict(), weights)
        payload = {
            "format": FORMAT,
            "version": 1,
            **self.spec,
            "weights_sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        }
        (folder / "agent.json").write_text(json.dumps(payload, indent=1, default=str) + "\n")
        return folder


def load_ft_agent(path: str | Path | None = None) -> FreezeThawAgent:
    """Load a freeze-thaw agent (default: the shipped one) from ``weights.pt`` + ``agent.json``.

    Only tensors are read (``torch.load(weights_only=True)``) and their checksum is checked.

    Raises:
        FileNotFoundError: the folder lacks ``agent.json`` or ``weights.pt``.
        ValueError: not a freeze-thaw agent, or the weights do not match their checksum.
    """
    folder = Path(path) if path is not None else DEFAULT_FT_AGENT_DIR
    spec_file, weights = folder / "agent.json", folder / "weights.pt"
    for f in (spec_file, weights):
        if not f.is_file():
            raise FileNotFoundError(
                f"No {f.name} in {folder}: train an agent with `tunegym train-agent --v2` or give the folder it wrote."
            )
    spec = json.loads(spec_file.read_text())
    if spec.get("format") != FORMAT:
        raise ValueError(f"{spec_file} is not a freeze-thaw agent (format {spec.get('format')!r}).")
    digest = hashlib.sha256(weights.read_bytes()).hexdigest()
    if spec.get("weights_sha256") not in (None, digest):
        raise ValueError(f"{weights} does not match the checksum in {spec_file}; it was altered.")
    net = CandidateNet(int(spec["n_k"]), int(spec["hidden"]), bool(spec.get("use_meta", True)),
                       stop_gate="stop" in spec)  # fmt: skip
    state = torch.load(weights, map_location="cpu", weights_only=True)
    net.load_state_dict(upgrade_state_dict(state))
    return FreezeThawAgent(net, spec)


def run_ft_episode(agent: FreezeThawAgent, env: FreezeThawEnv, seed: int = 0) -> dict[str, Any]:
    """Run one episode greedily; the env's last ``info`` with ``return`` and ``decisions`` (s)."""
    obs, info = env.reset(seed=seed)
    total, decisions = 0.0, []
    done = False
    while not done:
        start = time.perf_counter()
        action = agent.decide(env, obs)
        decisions.append(time.perf_counter() - start)
        obs, reward, terminated, truncated, info = env.step(action)
        total += reward
        done = terminated or truncated
    info["return"] = total
    info["decisions"] = decisions
    return info
