"""The curve race: a hand-written freeze-thaw policy, the agent's teacher and a baseline.

It first probes the warm start's first ``probes`` picks for ``probe_k`` epochs each (a first rung
of successive halving, Jamieson and Talwalkar, 2016: a portfolio pick that is poor on this task
shows it within a few epochs, and the re-weighted prior learns from the probes which meta-train
tasks this one resembles). Then it trains the best probe and the other candidates one after the
other in the warm start's order (the portfolio's picks, then the prior's ranking plus nearness
to the incumbent's configuration) and stops a trial as soon as its score falls below the best
finished trial's score at the same epoch minus ``slack`` (the incumbent's curve is the bar, as
in curve-based early stopping, Domhan et al., 2015). A trial that keeps up is continued
``step`` epochs at a time to ``E_max``. Once every candidate is tried it goes on with the best
one still able to train, so it spends the whole budget. It reads only what the env shows.

Meta-training starts from it (behaviour cloning, `tunegym.agent._fttrain`) so that PPO refines a
sensible policy instead of discovering one from noise; the agent is measured against it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from tunegym.envs import GLOBAL_FIELDS, ROW_FIELDS, FreezeThawEnv, priced_stop

__all__ = ["FIRST", "curve_race", "run_teacher_episode"]

FIRST = ("portfolio", "early")
"""How `curve_race` picks its first probe (its ``first``)."""

_G, _R = len(GLOBAL_FIELDS), len(ROW_FIELDS)


def curve_race(
    env: FreezeThawEnv,
    obs: npt.NDArray[np.float32],
    *,
    slack: float = 0.05,
    step: int = 16,
    local: float = 1.0,
    probes: int = 3,
    probe_k: int = 8,
    first: str = "portfolio",
) -> int:
    """The curve race's action in ``env``'s current state (``obs`` is its observation).

    ``local`` > 0 ranks the candidates after the portfolio by ``prior + local * nearness to
    the incumbent's configuration`` (a local search around the best so far). The defaults
    (slack 0.05, local 1) have the lowest regret area on LCBench's meta-val at 1000 epochs
    within 0.0002 (0.0366; no early stop: 0.0397; slack 0.1: 0.0371; 10 seeds). They were
    first tried on meta-test, a look the report names; the agent itself is selected on
    meta-val only.

    ``probes`` × ``probe_k`` (3 × 8) was chosen on meta-val alone (10 seeds, 256 candidates;
    ``python experiments/teacher_grid.py``),
    by the geometric mean over LCBench and own at 200 and 1000 epochs of the regret area
    relative to no probing (``probes=0``): 0.865, the lowest of 3 × 2 (0.883), 3 × 4 (0.904),
    2 × 8 (0.929), 4 × 4 and 5 × 4; LCBench at 1000 epochs 0.0261 → 0.0210, at 200 0.0762 →
    0.0586, own 0.0035 → 0.0032 and 0.0059 → 0.0058; final regret no higher anywhere.

    ``first="early"`` starts with whichever of the portfolio's first two picks the warm
    start's meta-train tasks, weighted as the prior weighs them (by meta-features before any
    score is seen), show ahead at epoch 8 (the rows' ``prior_early``, `EARLY_EPOCH`; where
    the env holds no meta-train curves the rows show the prior there); the default starts with
    the first pick. The portfolio is greedy over final scores, so its first pick is
    the best on average at the end, not necessarily early on a task like this one, and the first
    probe decides the regret of the first epochs. On meta-val (`python
    experiments/teacher_grid.py --grid 3x8 3x8:early`, 10 seeds, 256 candidates) it lowers the
    area on all four settings, own at 200 epochs most (0.0058 → 0.0036, LCBench at 1000 0.0193
    → 0.0190), the final regret nowhere higher: 0.85 of the first pick's area (geometric mean);
    on meta-train (``--part meta-train``, 3 seeds) 0.91, the final regret higher only on own at
    1000 epochs (0.0084 → 0.0093), where validation saturates. The rows show the look
    (``prior_early``), so a clone can follow the rule.

    With a price of cost it stops where `priced_stop` says the rest is not worth it.
    """
    if first not in FIRST:
        raise ValueError(f"first must be one of {FIRST}, got {first!r}.")
    if priced_stop(env):
        return env.stop_action
    n, ks = env.n, env.k_choices
    rows = obs[_G:].reshape(env.rows, _R)[:n]
    mask = env.action_masks()[: env.stop_action].reshape(env.rows, len(ks))[:n]
    epochs, curves, best = env.epochs_done, env.curves, env.best_scores
    started = epochs > 0
    can_go = mask.any(axis=1)
    finished = np.flatnonzero(started & ~can_go)
    bar = curves[finished[np.argmax(best[finished])]] if len(finished) else None
    racing = np.flatnonzero(started & can_go)
    f = ROW_FIELDS.index
    key = rows[:, f("portfolio")] * 10 + rows[:, f("prior")] + local * rows[:, f("near_incumbent")]
    fresh = np.flatnonzero(~started & mask[:, 0])
    nxt = int(fresh[np.argmax(key[fresh])]) if len(fresh) else None  # the warm start's next
    if (
        nxt is not None
        and started.sum() < probes
        and not len(finished)
        and (epochs <= probe_k).all()
    ):
        if first == "early" and not started.any():
            picks = np.flatnonzero(rows[:, f("portfolio")] > 0)
            two = picks[np.argsort(-rows[picks, f("portfolio")], kind="stable")][:2]
            two = two[mask[two, 0]]
            if len(two):
                nxt = int(two[np.argmax(rows[two, f("prior_early")])])
        short = [j for j, k in enumerate(ks) if mask[nxt, j] and k <= probe_k]
        return nxt * len(ks) + max(short, default=0)  # the first rung: a short look
    for c in racing[np.argsort(-best[racing], kind="stable")]:
        e = int(epochs[c])
        if bar is None or curves[c, e - 1] >= bar[e - 1] - slack:
            fits = [j for j, k in enumerate(ks) if mask[c, j] and k <= step]
            if fits:
                return int(c * len(ks) + max(fits))
    if nxt is not None:
        return nxt * len(ks)
    for c in racing[np.argsort(-best[racing], kind="stable")]:  # every one tried: go on anyway
        return int(c * len(ks) + max(j for j in range(len(ks)) if mask[c, j]))
    return env.stop_action  # nothing can train: the only way out


def run_teacher_episode(env: FreezeThawEnv, seed: int = 0, **kwargs: Any) -> None:
    """Run one episode of ``env`` with `curve_race` (``kwargs``: its settings) to its end."""
    obs, _ = env.reset(seed=seed)
    done = False
    while not done:
        obs, _, terminated, truncated, _ = env.step(curve_race(env, obs, **kwargs))
        done = terminated or truncated
