"""DEHB (Awad et al., 2021) as a peer: the ``dehb`` package's own optimiser, asked and told.

DEHB proposes a configuration of the space and a fidelity (epochs, from ``max_epochs /
eta**k`` up to ``max_epochs``); the peer trains the pool configuration `Episode.index_of` maps
the proposal to (a promotion continues its configuration, a new point takes the nearest one not
trained yet) to that many epochs (rounded), and tells DEHB ``1 - score`` (DEHB minimises) and
the epochs the ledger charged. A job on a configuration already trained that far costs nothing;
after `STALL_TRIALS` such jobs in a row DEHB is taken to have nothing more to propose and the peer
returns.

The ``dehb`` package (0.1.2) pins ``numpy<2`` in its metadata but runs on NumPy 2 as it is (it
uses none of the removed aliases); install it with ``--no-deps``. Its ConfigSpace calls are the
1.x deprecated ones, whose warnings the peer drops. Three things it does on its own are turned
off here:

* its constructor reconfigures loguru's global logger (``logger.configure`` replaces every
  handler, then a file handler with a writer thread is added per optimiser); `_QuietDEHB` skips
  that set-up and gives DEHB a logger that drops every message;
* it writes its state, history and incumbent to ``output_path`` whenever the incumbent changes
  (``save_freq="incumbent"``); with ``save_freq="end"`` it saves only at the end of its own
  ``run`` loop, which ask-and-tell never calls;
* it creates ``output_path`` (default: the working directory); the peer points it at a temporary
  directory removed at the end of the episode.

DEHB has no way to start from given configurations through ask-and-tell (``tell`` before
``ask`` is refused), so it is a cold-start peer: ``Episode.portfolio`` is ignored.
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path
from typing import Any

from tunegym.bench._episode import STALL_TRIALS, Episode
from tunegym.errors import MissingExtraError

__all__ = ["dehb"]


def dehb(ep: Episode) -> None:
    """DEHB over the episode's pool until the ledger's budget ends.

    ``min_fidelity=1``, ``max_fidelity=ep.max_epochs``, ``eta=ep.eta``, ``seed=ep.seed``, one
    worker; DEHB's other settings are its defaults.

    Raises:
        MissingExtraError: ``dehb`` or one of its dependencies is not installed.
        ValueError: the pool's curves have a single epoch (DEHB needs a range of fidelities).
    """
    if ep.max_epochs < 2:
        raise ValueError(
            f"DEHB needs curves of at least 2 epochs (a range of fidelities); {ep.pool.task} has "
            f"{ep.max_epochs}."
        )
    quiet_dehb = _quiet_dehb_class()
    cs = ep.pool.space.to_configspace()
    ledger = ep.ledger
    with tempfile.TemporaryDirectory(prefix="tunegym-dehb-") as folder, warnings.catch_warnings():
        # dehb 0.1.2 calls ConfigSpace 1.x's deprecated accessors on every ask.
        warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"dehb\.")
        optimiser = quiet_dehb(
            cs=cs,
            min_fidelity=1,
            max_fidelity=ep.max_epochs,
            eta=ep.eta,
            seed=int(ep.seed),
            n_workers=1,
            output_path=Path(folder) / "dehb",
            save_freq="end",
        )
        idle = 0
        while idle < STALL_TRIALS and not (ledger.trained >= ep.max_epochs).all():
            job = optimiser.ask()
            config = ep.index_of(dict(job["config"]))
            epochs = min(max(1, round(float(job["fidelity"]))), ep.max_epochs)
            spent = ledger.spent
            score = ledger.train(config, epochs)
            charged = ledger.spent - spent
            optimiser.tell(job, {"fitness": 1.0 - score, "cost": float(charged)})
            idle = 0 if charged else idle + 1


class _SilentLogger:
    """Stands in for loguru's logger inside DEHB: every logging call does nothing."""

    def __getattr__(self, name: str) -> Any:
        return _ignore


def _ignore(*args: object, **kwargs: object) -> None:
    """A logging call that logs nothing."""


def _quiet_dehb_class() -> Any:
    """DEHB's optimiser class with its logger set-up replaced (see the module's docstring).

    Raises:
        MissingExtraError: ``dehb`` or one of its dependencies is not installed.
    """
    try:
        from dehb import DEHB  # type: ignore[import-untyped]
    except ModuleNotFoundError as error:
        raise MissingExtraError(error.name or "dehb", "peers", "The dehb peer") from None

    class _QuietDEHB(DEHB):
        """DEHB that leaves loguru's handlers alone and keeps no log file."""

        def _setup_logger(self, resume: bool, kwargs: dict[str, Any]) -> None:
            # What DEHBBase._setup_logger sets, less logger.configure and the file handler.
            self.output_path = Path(kwargs["output_path"])
            self.output_path.mkdir(parents=True, exist_ok=True)
            self.logger = _SilentLogger()
            self.log_filename = str(self.output_path / "dehb.log")

    return _QuietDEHB
