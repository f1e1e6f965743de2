"""What `tune` checks and loads before it runs: the methods it accepts and the checks of its
arguments, the data (one split or ``cv`` folds), the warm start, and the freeze-thaw agent with
its search, candidates and prior (the transfer agent where one is installed).
"""

from __future__ import annotations

import functools
import json
import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunegym.agent._session import AUTO, DEFAULT_SPACE, FREEZE_THAW, TuneArgs, named_search
from tunegym.baselines import BASELINE_NAMES
from tunegym.data import TabularDataset, cv_folds, load_dataset
from tunegym.envs import SCORE_METRICS, RankWeightedPrior, SearchSpace, meta_log_weights
from tunegym.errors import did_you_mean

if TYPE_CHECKING:
    import numpy.typing as npt

    from tunegym.agent._ftagent import FreezeThawAgent
    from tunegym.envs import CurvePool
    from tunegym.metastore import WarmStart

__all__ = ["TUNE_METHODS"]

# Baselines that read the answer from recorded curves cannot tune live data.
TUNE_METHODS: tuple[str, ...] = (
    AUTO,
    "agent",
    FREEZE_THAW,
    *(n for n in BASELINE_NAMES if n != "oracle"),
)


def _check_method(method: str) -> None:
    if method not in TUNE_METHODS:
        hint = (
            " (the oracle reads recorded curves; it cannot tune live)" if method == "oracle" else ""
        )
        raise ValueError(
            f"Unknown tuning method {method!r}{hint}; choose one of {list(TUNE_METHODS)}."
            + did_you_mean(method, TUNE_METHODS)
        )


def _warm_start(
    data: Any, target: Any, dataset: TabularDataset, space: SearchSpace, k: int
) -> tuple[WarmStart | None, str]:
    """Warm start from the shipped snapshot; ``(None, reason)`` when there is none."""
    from tunegym.metastore import compute_meta_features, warm_start_snapshot

    path = None
    if not space.is_grid:
        from tunegym.metastore import LCBENCH_SNAPSHOT_DIR
        from tunegym.space import LCBENCH_SPACE

        if space.names != LCBENCH_SPACE.names:
            return None, (
                "none (the shipped meta-datasets cover the lr x batch-size grid and LCBench's "
                f"space, not {list(space.names)})"
            )
        path = LCBENCH_SNAPSHOT_DIR
    if dataset.info.source in ("sklearn", "keel", "openml") and dataset.info.spec:
        what: str | dict[str, float] = dataset.info.spec
    elif isinstance(data, TabularDataset):
        return None, "none (a loaded TabularDataset has no raw table for meta-features)"
    else:
        what = compute_meta_features(data, target)
    try:
        if path is None:
            ws = warm_start_snapshot(what, space.lrs, space.batch_sizes, k=k)
        else:
            ws = warm_start_snapshot(what, (), (), k=k, path=path)
    except FileNotFoundError:
        return None, "none (no meta-dataset snapshot installed)"
    except ValueError as error:
        return None, f"none ({error})"
    names = ", ".join(n.dataset for n in ws.neighbors)
    which = "snapshot" if path is None else "snapshot v2 (LCBench's space)"
    return ws, f"{which}: {len(ws.neighbors)} nearest datasets ({names})"


def _with_portfolio(space: SearchSpace, ws: WarmStart | None) -> SearchSpace:
    """Off the grid, the portfolio's configurations join the candidates (first), so that a
    warm-started tuner can try them; the sampled candidates stay."""
    if ws is None or space.space is None:
        return space
    configs = [dict(e.config) for e in ws.portfolio if e.config is not None]
    if not configs:
        return space
    return SearchSpace.of_configs(
        space.space, [*configs, *space.candidates], max_epochs=space.max_epochs,
        k_choices=space.k_choices,
    )  # fmt: skip


def _transfer_agent(agent: FreezeThawAgent) -> tuple[FreezeThawAgent, str]:
    """The installed transfer agent (meta-trained on the meta-dataset of fine-tuning too) and a
    note; ``agent`` and no note where none is installed (none ships)."""
    from tunegym.agent._ftagent import DEFAULT_TRANSFER_AGENT_DIR

    if not (DEFAULT_TRANSFER_AGENT_DIR / "agent.json").is_file():
        return agent, ""
    return _load_ft_agent(DEFAULT_TRANSFER_AGENT_DIR), "; the transfer agent decides"


def _load_ft_agent(agent: object) -> FreezeThawAgent:
    """The freeze-thaw agent: given loaded, its folder (or ``agent.json``), or the shipped one.

    Raises:
        FileNotFoundError: the folder lacks ``agent.json`` or ``weights.pt``.
        ValueError: anything else that keeps it from loading (wrong format, altered or
            mismatched weights, corrupt JSON), with the folder named.
    """
    from tunegym.agent._ftagent import (
        DEFAULT_FT_AGENT_DIR,
        FORMAT,
        FreezeThawAgent,
        load_ft_agent,
    )

    if isinstance(agent, FreezeThawAgent):
        return agent
    if agent is not None and not isinstance(agent, str | os.PathLike):
        raise ValueError(
            f"method={FREEZE_THAW!r} needs a freeze-thaw agent (a FreezeThawAgent or its "
            f"folder), not a {type(agent).__name__}; a v1 agent tunes the lr-bs grid with "
            "method='agent'."
        )
    folder = DEFAULT_FT_AGENT_DIR if agent is None else Path(agent)
    folder = folder.parent if folder.is_file() else folder
    spec = folder / "agent.json"
    if spec.is_file():
        try:
            payload = json.loads(spec.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ValueError(
                f"Cannot load the freeze-thaw agent in {folder}: {spec.name} is not valid JSON "
                f"({error})."
            ) from error
        found = payload.get("format") if isinstance(payload, dict) else None
        if found != FORMAT:
            raise ValueError(
                f"{folder} holds no freeze-thaw agent: its {spec.name}'s format is {found!r}, "
                f"not {FORMAT!r} (a v1 agent tunes the lr-bs grid with method='agent')."
            )
    try:
        return load_ft_agent(folder)
    except FileNotFoundError:
        raise
    except Exception as error:  # torch raises many types on a bad file, KeyError on a bad spec
        raise ValueError(
            f"Cannot load the freeze-thaw agent in {folder}: {type(error).__name__}: {error}"
        ) from error


@functools.cache
def _meta_train_pools() -> tuple[CurvePool, ...]:
    """Meta-dataset v2's meta-train tasks as curve pools on LCBench's space (the freeze-thaw
    agent's prior comes from them, as in meta-training); loaded once per process."""
    from tunegym.envs import table_pools
    from tunegym.metastore import LCBENCH_SNAPSHOT_DIR, load_snapshot, snapshot_split
    from tunegym.space import LCBENCH_SPACE

    frame = load_snapshot(path=LCBENCH_SNAPSHOT_DIR)
    split = snapshot_split(LCBENCH_SNAPSHOT_DIR)
    pools = table_pools(frame, split=split, space=LCBENCH_SPACE)
    return tuple(p for p in pools if p.part == "meta-train")


def _ft_prior(
    candidates: Sequence[dict[str, Any]], meta: npt.ArrayLike | None = None
) -> tuple[RankWeightedPrior | None, str]:
    """The freeze-thaw agent's prior of each candidate and how it was had: meta-dataset v2's
    meta-train tasks at each candidate's nearest configuration, first weighted by how like the
    data's ``meta``-features theirs are (`tunegym.envs.meta_log_weights`; ``None``: alike), then
    re-weighted by how they rank the run's scores as they come in
    (`tunegym.envs.RankWeightedPrior`, as in meta-training)."""
    from tunegym.envs._pool import prior_meta_features
    from tunegym.space import LCBENCH_SPACE

    try:
        pools = _meta_train_pools()
        known = prior_meta_features()
        logw = meta_log_weights(meta, [known.get(p.task) for p in pools])
        prior = RankWeightedPrior.from_pools(pools, candidates, LCBENCH_SPACE, log_weights=logw)
    except (FileNotFoundError, ValueError) as error:
        return None, f"; no prior ({error})"
    likeness = "by how like this data's meta-features theirs are, then " if logw is not None else ""
    return prior, (
        f"; prior from meta-dataset v2's {len(pools)} meta-train tasks, weighted {likeness}by "
        "how they rank this run's scores"
    )


def _ft_search(space: SearchSpace | None, args: TuneArgs) -> SearchSpace:
    """The freeze-thaw agent's search: the given one (not the grid), else `DEFAULT_SPACE`'s."""
    space = space or named_search(DEFAULT_SPACE, args.seed)
    if space.is_grid:
        raise ValueError(
            f"The freeze-thaw agent (method={FREEZE_THAW!r}) tunes a space of hyperparameters "
            "(LCBench's by default, or a SearchSpace of candidates), not the lr-bs grid; the "
            "grid is the v1 agent's (method='agent')."
        )
    return space


def _ft_candidates(
    space: SearchSpace, args: TuneArgs, agent: FreezeThawAgent, ws: WarmStart | None
) -> SearchSpace:
    """The named search keeps the agent's number of candidates, the portfolio first (as in
    meta-training); a search given as candidates keeps them all."""
    if not isinstance(args.space, str):
        return space
    assert space.space is not None  # _ft_search rejects the grid
    portfolio = 0 if ws is None else sum(e.config is not None for e in ws.portfolio)
    n = max(agent.n_candidates, portfolio, 1)
    if space.n_configs <= n:
        return space
    return SearchSpace.of_configs(
        space.space, space.candidates[:n], max_epochs=space.max_epochs,
        k_choices=space.k_choices,
    )  # fmt: skip


def _check_args(args: TuneArgs) -> None:
    _check_method(args.method)
    if isinstance(args.workers, bool) or not isinstance(args.workers, int) or args.workers < 1:
        raise ValueError(f"workers must be an int >= 1, got {args.workers!r}.")
    if args.workers > 1 and args.method != FREEZE_THAW and args.fallback is None:
        raise ValueError(
            f"workers={args.workers}: only the freeze-thaw agent trains several trials at once "
            f"(method {FREEZE_THAW!r}, what 'auto' runs on LCBench's space); method "
            f"{args.method!r} decides one trial at a time, so give workers=1."
        )
    if isinstance(args.price, bool) or not isinstance(args.price, int | float):
        raise ValueError(f"price must be a number >= 0, got {args.price!r}.")
    if not (math.isfinite(args.price) and args.price >= 0):
        raise ValueError(
            f"price must be a finite number >= 0 (0: spend the whole budget), got {args.price!r}."
        )
    if args.price > 0 and args.method != FREEZE_THAW and args.fallback is None:
        raise ValueError(
            f"price={args.price:g}: only the freeze-thaw agent stops early when the rest of the "
            f"budget is not worth its price (method {FREEZE_THAW!r}, what 'auto' runs on "
            f"LCBench's space); method {args.method!r} spends the whole budget, so give price=0."
        )
    if isinstance(args.space, str):
        named_search(args.space, args.seed)  # an unknown name fails before any data is read
        if args.method == "agent" and args.space != "lr-bs":
            raise ValueError(
                f"The v1 agent (method='agent') acts on the lr-bs grid only, not on "
                f"space={args.space!r}; tune that space with the freeze-thaw agent "
                f"(method={FREEZE_THAW!r}, what 'auto' runs there) or a baseline "
                "(method='random', 'hyperband', 'tpe', ...)."
            )
        if args.method == FREEZE_THAW and args.space == "lr-bs":
            raise ValueError(
                f"The freeze-thaw agent (method={FREEZE_THAW!r}) tunes a space of "
                "hyperparameters (space='lcbench'), not the lr-bs grid; the grid is the v1 "
                "agent's (method='agent', what 'auto' runs there)."
            )
    if args.metric not in SCORE_METRICS:
        raise ValueError(
            f"Unknown metric {args.metric!r}; choose one of {list(SCORE_METRICS)}."
            + did_you_mean(args.metric, SCORE_METRICS)
        )
    if args.cv is not None and (isinstance(args.cv, bool) or not isinstance(args.cv, int)):
        raise ValueError(f"cv must be an int >= 2 or None, got {args.cv!r}.")
    if args.cv is not None and args.cv < 2:
        raise ValueError(f"cv must be >= 2 folds (or None for one split), got {args.cv}.")
    if args.cv is not None and args.budget_epochs < args.cv:
        raise ValueError(
            f"budget_epochs={args.budget_epochs} cannot buy one epoch of a trial on {args.cv} "
            f"folds (each fold-epoch costs 1); raise budget_epochs to {args.cv} or more."
        )


def _load(data: Any, target: Any, args: TuneArgs) -> list[TabularDataset]:
    if isinstance(data, TabularDataset):
        if args.cv is not None:
            raise ValueError(
                "cv needs the raw data (a spec, file, DataFrame or arrays) to split into folds, "
                "not a loaded TabularDataset."
            )
        return [data]
    if args.cv is not None:
        return cv_folds(
            data, target, n_folds=args.cv, seed=args.seed, test_size=args.test_size,
            max_rows=args.max_rows,
        )  # fmt: skip
    return [
        load_dataset(
            data, target, seed=args.seed, val_size=args.val_size, test_size=args.test_size,
            max_rows=args.max_rows,
        )
    ]  # fmt: skip
