"""The benchmark's peers by name: which library each comes from and whether it is warm-started."""

from __future__ import annotations

import importlib
import importlib.util
from dataclasses import dataclass

from tunegym.bench._episode import Peer
from tunegym.errors import did_you_mean, install_command

__all__ = ["PEERS", "PeerInfo", "get_peer", "peer_names", "unavailable_peers"]


@dataclass(frozen=True)
class PeerInfo:
    """A peer of the benchmark.

    Attributes:
        name: its name in tables and on the command line.
        target: ``module:function`` of the `Peer` (imported when the peer runs).
        library: the library whose code makes the decisions (``tunegym`` for the ones written
            here).
        warm: whether it starts from the suite's meta-train portfolio (it then learns across
            tasks and is reported on meta-test only).
        about: one line for tables.
    """

    name: str
    target: str
    library: str
    warm: bool
    about: str

    def load(self) -> Peer:
        """The peer function (raises `MissingExtraError` when its library is missing)."""
        module, function = self.target.split(":")
        peer: Peer = getattr(importlib.import_module(module), function)
        return peer


_B = "tunegym.bench."
PEERS: dict[str, PeerInfo] = {
    p.name: p
    for p in (
        PeerInfo("random", _B + "_peers:random_search", "tunegym", False, "random search"),
        PeerInfo("hyperband", _B + "_peers:hyperband", "tunegym", False, "Hyperband, eta 3"),
        PeerInfo(
            "top-k-1epoch",
            _B + "_peers:one_epoch_top_k",
            "tunegym",
            False,
            "screen half the budget at 1 epoch, train the best",
        ),
        PeerInfo("asha", _B + "_syne:asha", "syne-tune", False, "Syne Tune ASHA"),
        PeerInfo("bohb", _B + "_syne:bohb", "syne-tune", False, "Syne Tune BOHB (ASHA + KDE)"),
        PeerInfo(
            "smac-hyperband",
            _B + "_smac:smac_hyperband",
            "smac",
            False,
            "SMAC3 multi-fidelity (RF + Hyperband)",
        ),
        PeerInfo("dehb", _B + "_dehb:dehb", "dehb", False, "DEHB (the dehb package)"),
        PeerInfo("tpe", _B + "_optuna:tpe", "optuna", False, "Optuna TPE, full trials"),
        PeerInfo(
            "tpe-hyperband",
            _B + "_optuna:tpe_hyperband",
            "optuna",
            False,
            "Optuna TPE + HyperbandPruner",
        ),
        PeerInfo(
            "tpe-median", _B + "_optuna:tpe_median", "optuna", False, "Optuna TPE + MedianPruner"
        ),
        PeerInfo(
            "fixed-script",
            _B + "_peers:fixed_script",
            "tunegym",
            True,
            "best meta-train default, then the portfolio, then random",
        ),
        PeerInfo(
            "hyperband-ws",
            _B + "_peers:hyperband",
            "tunegym",
            True,
            "Hyperband, the portfolio first",
        ),
        PeerInfo(
            "asha-ws",
            _B + "_syne:asha",
            "syne-tune",
            True,
            "ASHA, the portfolio as points_to_evaluate",
        ),
        PeerInfo(
            "bohb-ws",
            _B + "_syne:bohb",
            "syne-tune",
            True,
            "BOHB, the portfolio as points_to_evaluate",
        ),
        PeerInfo("tpe-ws", _B + "_optuna:tpe", "optuna", True, "TPE, the portfolio enqueued"),
        PeerInfo(
            "tpe-hyperband-ws",
            _B + "_optuna:tpe_hyperband",
            "optuna",
            True,
            "TPE + HyperbandPruner, the portfolio enqueued",
        ),
        PeerInfo(
            "curve-race",
            _B + "_agent:curve_race",
            "tunegym",
            True,
            "the agent's teacher: warm-start order, stop below the best curve",
        ),
        PeerInfo(
            "agent",
            _B + "_agent:agent",
            "tunegym",
            True,
            "tunegym's freeze-thaw agent (MaskablePPO), warm-started",
        ),
        PeerInfo(
            "agent-no-meta",
            _B + "_agent:agent_no_meta",
            "tunegym",
            True,
            "ablation: the agent trained with meta-features zeroed",
        ),
        PeerInfo(
            "agent-no-ws",
            _B + "_agent:agent_no_ws",
            "tunegym",
            False,
            "ablation: the agent trained without a warm start",
        ),
        PeerInfo(
            "oracle",
            _B + "_peers:oracle",
            "tunegym",
            False,
            "the limit: one full trial of the configuration with the lowest expected regret",
        ),
    )
}

# Named by the protocol, not run by this harness, with the reason.
_NOT_HERE: dict[str, str] = {}


def peer_names(*, warm: bool | None = None) -> tuple[str, ...]:
    """Names of the peers (all, or only the warm-started / only the cold ones)."""
    return tuple(n for n, p in PEERS.items() if warm is None or p.warm == warm)


def get_peer(name: str) -> PeerInfo:
    """The peer called ``name``.

    Raises:
        ValueError: an unknown name (with the closest) or a protocol method not run here.
    """
    if name in _NOT_HERE:
        raise ValueError(f"{name!r} does not run in this benchmark: {_NOT_HERE[name]}.")
    if name not in PEERS:
        raise ValueError(
            f"Unknown peer {name!r}; choose from {list(PEERS)}." + did_you_mean(name, PEERS)
        )
    return PEERS[name]


def unavailable_peers() -> dict[str, str]:
    """Peers that cannot run here (their library is missing) or that the protocol names but
    this harness does not run, with the reason."""
    out = dict(_NOT_HERE)
    from tunegym.bench._agent import agent_folder

    for name, info in PEERS.items():
        folder = agent_folder(info.target)
        if folder is not None and not (folder / "weights.pt").is_file():
            out[name] = (
                f"no trained agent in {folder} (python experiments/train_freeze_thaw.py, "
                "see docs/AGENT.md)"
            )
    for name, info in PEERS.items():
        module = _IMPORT_NAMES.get(info.library)
        if module is not None and importlib.util.find_spec(module) is None:
            out[name] = f"{info.library} is not installed ({install_command('peers')})"
    return out


_IMPORT_NAMES = {"syne-tune": "syne_tune", "smac": "smac", "dehb": "dehb", "optuna": "optuna"}
