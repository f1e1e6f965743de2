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
    "FREEZE_THAW",
    "LCBENCH_TUNE_CANDIDATES",
    "SEARCH_SPACES",
    "TuneArgs",
    "TuningInterrupted",
    "agent_method",
    "default_checkpoints",
    "is_report",
    "named_search",
    "read_report",
    "resolve_search",
    "write_report",
]

# Named searches of `tune(space=...)` / `tunegym tune --space`.
SEARCH_SPACES: tuple[str, ...] = ("lr-bs", "lcbench")
LCBENCH_TUNE_CANDIDATES = 512
"""Sobol points of LCBench's space that ``space="lcbench"`` samples: as many as the candidates
per episode the shipped freeze-thaw agent scores on the benchmark (`FreezeThawAgent.n_candidates`,
chosen on meta-val; the portfolio among them)."""
DEFAULT_SPACE = "lcbench"
"""What `tune` searches unless told: LCBench's 7 hyperparameters (the v1 agent's lr-bs grid with
``method="agent"``)."""

AUTO = "auto"
FREEZE_THAW = "freeze-thaw"
"""The method of the freeze-thaw agent (agent v2, `tunegym.agent.load_ft_agent`): it tunes any
space of hyperparameters, advancing one of N candidates by k epochs at a time. ``"agent"`` is
the v1 agent, which acts on the lr-bs grid."""

AUTO_METHODS: dict[str, str] = {"lr-bs": "agent", "lcbench": FREEZE_THAW}
"""What ``method="auto"`` runs on each named space (and, for ``"lcbench"``, on any space of
hyperparameters given as candidates). The v1 agent acts on the lr-bs grid only. On LCBench's
space it is the freeze-thaw agent, meta-trained on LCBench's surrogate and meta-dataset v2
(issue 15, docs/AGENT.md), warm-started from meta-dataset v2's portfolio and prior where they
are to be had. On benchmark v2's LCBench meta-test at 1000 epochs its regret area was 0.0211
and final regret 0.0043, against 0.0250 and 0.0092 for Optuna's TPE with its Hyperband pruner
from the same portfolio (``"tpe-hyperband-ws"``, the previous default, still available by name);
on meta-dataset v2's meta-test both end at 0.0050. Without a warm start (a space other than
LCBench's, or no snapshot) ``auto`` runs `AUTO_FALLBACK` instead: the agent's ablation trained
without a warm start did no better than random search. ``method="freeze-thaw"`` runs the agent
there all the same, without portfolio and prior."""

AUTO_FALLBACK = "hyperband"
"""What ``method="auto"`` runs off the grid where its choice gets no warm start (no
meta-dataset v2 installed, data given as a loaded dataset, or a space other than LCBench's):
the best cold tuner."""

DEFAULT_BUDGETS: dict[str, int] = {"lr-bs": 64, "lcbench": 200}
"""Epoch budgets of `tune` unless told: 4 x E_max on the grid, 4 full trials on LCBench's
space (E_max 50)."""


def agent_method(agent: object) -> str | None:
    """The method a given agent runs: `FREEZE_THAW` for a freeze-thaw agent (its folder's
    ``agent.json`` says ``"format": "tunegym.freeze-thaw-agent"``, or a loaded
    `FreezeThawAgent`), ``"agent"`` for any other (a v1 agent; a folder that holds none is
    reported by its loader), ``None`` for no agent."""
    if agent is None:
        return None
    if isinstance(agent, str | os.PathLike):
        path = Path(agent)
        spec = path if path.is_file() else path / "agent.json"
        try:
            payload = json.loads(spec.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            return "agent"
        from tunegym.agent._ftagent import FORMAT

        is_ft = isinstance(payload, dict) and payload.get("format") == FORMAT
        return FREEZE_THAW if is_ft else "agent"
    from tunegym.agent._ftagent import FreezeThawAgent

    return FREEZE_THAW if isinstance(agent, FreezeThawAgent) else "agent"


def resolve_search(
    method: str,
    space: SearchSpace | str | None,
    budget_epochs: int | None,
    *,
    agent_given: bool = False,
    agent: object = None,
) -> tuple[str, SearchSpace | str | None, int]:
    """The method, space and budget a `tune` call runs with, its defaults filled in.

    ``method="auto"`` is the given agent's method (``agent``, or ``agent_given`` for a v1
    agent), else the v1 agent on a grid, else `AUTO_METHODS`' entry of LCBench's space (the
    freeze-thaw agent). ``method="agent"`` with a freeze-thaw agent given is `FREEZE_THAW`.
    ``space=None`` is `DEFAULT_SPACE`, except for the v1 agent, whose own space it stays
    (``None``). ``budget_epochs=None`` is `DEFAULT_BUDGETS`' (4 × E_max for a space given as
    candidates).
    """
    given = agent_method(agent) or ("agent" if agent_given else None)
    grid = space == "lr-bs" or (isinstance(space, SearchSpace) and space.is_grid)
    if method == AUTO:
        method = given or ("agent" if grid else AUTO_METHODS[DEFAULT_SPACE])
    elif method == "agent" and given == FREEZE_THAW:
        method = FREEZE_THAW
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
    from_model: str | int | None = None  # the zoo model fine-tuning candidates start from
    transfer: bool = True  # look for a zoo model of the same feature schema in the store
    transfer_check: bool = True  # add a new-head source's candidates only where its features help
    workers: int = 1  # trials trained at once (the freeze-thaw agent decides asynchronously)
    price: float = 0.0  # a whole budget's worth in validation score: the agent may stop early

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
