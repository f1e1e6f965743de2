"""What a `tune` run is made of beyond its loop: its arguments, its report file, its searches.

* `TuneArgs` — the arguments that determine a run, what its report records so that
  ``resume=`` can replay it;
* the report file, written atomically (`write_report`) and read back (`read_report`);
* where trial checkpoints go (`default_checkpoints`), the named searches (`named_search`) and
  `TuningInterrupted`, the Ctrl-C that carries the partial result.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tunegym.agent._result import TuningResult
from tunegym.envs import SearchSpace
from tunegym.errors import did_you_mean
from tunegym.training import MLPSpec

__all__ = [
    "AUTO",
    "AUTO_FALLBACK",
    "AUTO_METHODS",
    "CHECKPOINTS_ENV",
    "DEFAULT_BUDGETS",
    "DEFAULT_SPACE",
    "LCBENCH_TUNE_CANDIDATES",
    "SEARCH_SPACES",
    "TuneArgs",
    "TuningInterrupted",
    "default_checkpoints",
    "is_report",
    "named_search",
    "read_report",
    "resolve_search",
    "write_report",
]

# Named searches of `tune(space=...)` / `tunegym tune --space`.
SEARCH_SPACES: tuple[str, ...] = ("lr-bs", "lcbench")
LCBENCH_TUNE_CANDIDATES = 64
DEFAULT_SPACE = "lcbench"
"""What `tune` searches unless told: LCBench's 7 hyperparameters (the agent's grid with
``method="agent"``)."""

AUTO = "auto"
AUTO_METHODS: dict[str, str] = {"lr-bs": "agent", "lcbench": "tpe-hyperband-ws"}
"""What ``method="auto"`` runs on each named space. The shipped agent acts on the lr-bs grid
only. On LCBench's space, Optuna's TPE with its Hyperband pruner, started from meta-dataset
v2's portfolio, had the lowest regret area on every one of v2's 32 datasets at the default
budget (0.024 against 0.082 for Hyperband, the best cold tuner, which was also the best on
LCBench's surrogate; 10 seeds, ``experiments/choose_space_tuner.py``, docs/METADATASET.md)."""

AUTO_FALLBACK = "hyperband"
"""What ``method="auto"`` runs off the grid where its warm-started choice gets no warm start
(no meta-dataset v2 installed, or a space other than LCBench's): the best cold tuner."""

DEFAULT_BUDGETS: dict[str, int] = {"lr-bs": 64, "lcbench": 200}
"""Epoch budgets of `tune` unless told: 4 x E_max on the grid, 4 full trials on LCBench's
space (E_max 50)."""


def resolve_search(
    method: str,
    space: SearchSpace | str | None,
    budget_epochs: int | None,
    *,
    agent_given: bool = False,
) -> tuple[str, SearchSpace | str | None, int]:
    """The method, space and budget a `tune` call runs with, its defaults filled in.

    ``method="auto"`` is the agent when one is given (``agent_given``) or the space is a grid,
    else `AUTO_METHODS`' entry of the space (warm-started TPE with Hyperband pruning on
    LCBench's space; `tune` falls back to `AUTO_FALLBACK` where no warm start is to be had). ``space=None`` is
    `DEFAULT_SPACE`, except for the agent, whose own space it stays (``None``).
    ``budget_epochs=None`` is `DEFAULT_BUDGETS`' (4 × E_max for a space given as candidates).
    """
    grid = space == "lr-bs" or (isinstance(space, SearchSpace) and space.is_grid)
    if method == AUTO:
        method = "agent" if agent_given or grid else AUTO_METHODS[DEFAULT_SPACE]
    if space is None and method != "agent":
        space = DEFAULT_SPACE
    if budget_epochs is None:
        if isinstance(space, SearchSpace):
            budget_epochs = 4 * space.max_epochs
        else:
            budget_epochs = DEFAULT_BUDGETS.get(space or "lr-bs", DEFAULT_BUDGETS[DEFAULT_SPACE])
    return method, space, budget_epochs


def named_search(name: str, seed: int = 0) -> SearchSpace:
    """The search a name stands for (`SEARCH_SPACES`); ``ValueError`` with near misses."""
    if name == "lr-bs":
        return SearchSpace()
    if name == "lcbench":
        from tunegym.space import LCBENCH_SPACE

        return SearchSpace.sampled(LCBENCH_SPACE, LCBENCH_TUNE_CANDIDATES, seed=seed, max_epochs=50)
    raise ValueError(
        f"Unknown search space {name!r}; choose one of {list(SEARCH_SPACES)} or pass a "
        "tunegym.envs.SearchSpace." + did_you_mean(name, SEARCH_SPACES)
    )


# Where trial checkpoints go when a run logs to a store but writes no report.
CHECKPOINTS_ENV = "TUNEGYM_CHECKPOINTS"


class TuningInterrupted(KeyboardInterrupt):
    """Ctrl-C during `tune`: carries the partial result (also written to the report, if any).

    Attributes:
        result: what the run had found when it was interrupted (``status="interrupted"``).
    """

    def __init__(self, result: TuningResult) -> None:
        super().__init__("tuning interrupted")
        self.result = result


@dataclass(frozen=True)
class TuneArgs:
    """The arguments that determine a tuning run: what a report records to resume it.

    Attributes mirror `tune`'s; ``data`` is the spec or file path (``None`` for data given in
    memory, which must then be passed again to resume), ``space`` and ``model`` are ``None``
    for the defaults and ``agent`` the folder of a non-shipped agent.
    """

    data: str | None
    target: str | None
    budget_epochs: int
    budget_seconds: float | None
    seed: int
    method: str
    cv: int | None
    metric: str
    warm_start: bool
    val_size: float
    test_size: float
    max_rows: int | None
    n_slots: int | None
    device: str
    space: dict[str, Any] | str | None
    model: dict[str, Any] | None
    agent: str | None
    fallback: str | None = None  # method="auto": what runs where no warm start is to be had

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (tuples as lists)."""
        return json.loads(json.dumps(asdict(self)))

    @classmethod
    def from_json(cls, payload: dict[str, Any]) -> TuneArgs:
        """Parse `to_json`'s dict; ``ValueError`` for a missing or unknown entry."""
        try:
            return cls(**payload)
        except TypeError as error:
            raise ValueError(
                f"The report's 'arguments' do not describe a tuning run: {error}"
            ) from None

    @property
    def search_space(self) -> SearchSpace | None:
        """The candidates, or ``None`` for the method's default."""
        if self.space is None:
            return None
        if isinstance(self.space, str):
            return named_search(self.space, self.seed)
        return SearchSpace.from_json(self.space)

    @property
    def network(self) -> MLPSpec | None:
        """The network, or ``None`` for the default."""
        return None if self.model is None else MLPSpec(**self.model)


def read_report(path: Path) -> dict[str, Any]:
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(f"No report to resume at {path}.") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"{path} is not a tunegym report (not JSON: {error}).") from error
    if not isinstance(payload, dict) or "arguments" not in payload:
        raise ValueError(
            f"{path} is not a resumable tunegym report (it has no 'arguments': reports written "
            "before tunegym could resume runs lack them); run the tuning again."
        )
    return payload


def write_report(result: TuningResult, path: Path) -> None:
    # Atomic: a run killed while writing leaves the previous report whole.
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(result.to_json(), encoding="utf-8")
    os.replace(partial, path)


def default_checkpoints(report: Path | None) -> Path:
    """Where a run keeps its trial checkpoints: beside the report, else the user's cache."""
    if report is not None:
        return report.with_name(report.name.removesuffix(".json") + ".checkpoints")
    if os.environ.get(CHECKPOINTS_ENV):
        return Path(os.environ[CHECKPOINTS_ENV])
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "tunegym" / "checkpoints"


def is_report(path: str | Path) -> bool:
    return str(path).endswith(".json")
