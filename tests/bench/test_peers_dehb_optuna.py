"""The DEHB and Optuna TPE peers on a small hand-made pool, through the ledger."""

from __future__ import annotations

import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.bench._toy import BUDGET, EPOCHS, POOL, SPACE, RecordingLedger, make_pool, run
from tunegym.bench._episode import Episode, Peer
from tunegym.bench._ledger import Ledger
from tunegym.bench._optuna import tpe, tpe_hyperband, tpe_median
from tunegym.errors import MissingExtraError


def dehb_peer() -> Peer:
    pytest.importorskip("dehb")
    from tunegym.bench._dehb import dehb

    return dehb


PEERS = ["dehb", "tpe", "tpe_hyperband", "tpe_median"]


def get(name: str) -> Peer:
    if name == "dehb":
        return dehb_peer()
    return {"tpe": tpe, "tpe_hyperband": tpe_hyperband, "tpe_median": tpe_median}[name]


# -- every peer --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", PEERS)
def test_spends_the_whole_budget_on_several_configurations(name: str) -> None:
    ledger = run(get(name))
    assert ledger.spent == BUDGET
    assert (ledger.trained > 0).sum() > 1


@pytest.mark.parametrize("name", PEERS)
def test_same_seed_same_episode_other_seed_another(name: str) -> None:
    peer = get(name)
    first, again, other = run(peer, seed=3), run(peer, seed=3), run(peer, seed=4)
    assert first.requests == again.requests
    np.testing.assert_array_equal(first.trace(0.0).regret, again.trace(0.0).regret)
    assert first.requests != other.requests


@pytest.mark.parametrize("name", ["dehb", "tpe_hyperband", "tpe_median"])
def test_multi_fidelity_peers_stop_trials_early(name: str) -> None:
    trained = run(get(name)).trained
    # The trial the budget cut may be partial too: at least two must be.
    assert ((trained > 0) & (trained < EPOCHS)).sum() >= 2


def test_tpe_trains_every_trial_to_the_last_epoch() -> None:
    ledger = run(tpe)
    assert all(epoch == EPOCHS for _, epoch in ledger.requests[EPOCHS - 1 :: EPOCHS])
    assert ((ledger.trained > 0) & (ledger.trained < EPOCHS)).sum() <= 1  # the one cut


# -- Optuna ------------------------------------------------------------------------------------


@pytest.mark.parametrize("peer", [tpe, tpe_hyperband, tpe_median])
def test_tpe_peers_start_from_the_portfolio(peer: Peer) -> None:
    ledger = run(peer, seed=1, portfolio=(17, 4, 22))
    assert ledger.requests[0] == (17, 1)
    tried = list(dict.fromkeys(config for config, _ in ledger.requests))
    assert tried[:3] == [17, 4, 22]


def test_tpe_returns_when_every_configuration_is_trained() -> None:
    pool = make_pool(n=3)
    ledger = Ledger(pool, budget=10 * EPOCHS, seed=0)
    tpe(Episode(ledger, seed=0))  # no BudgetSpent: the pool runs out first
    assert ledger.spent == 3 * EPOCHS


class OneCell(Episode):
    """An episode whose every proposal lands on configuration 0 (a library stuck in one place)."""

    def index_of(self, config: dict[str, Any]) -> int:
        return 0


@pytest.mark.parametrize("name", PEERS)
def test_peers_return_when_every_proposal_is_free(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = get(name)
    module = sys.modules[peer.__module__]
    monkeypatch.setattr(module, "STALL_TRIALS", 20)
    ledger = RecordingLedger(POOL, budget=BUDGET, seed=0)
    peer(OneCell(ledger, seed=0))  # no BudgetSpent: the peer gives up first
    assert ledger.spent == EPOCHS
    assert {config for config, _ in ledger.requests} == {0}


# -- DEHB --------------------------------------------------------------------------------------


def test_dehb_runs_on_numpy_2() -> None:
    # The point of this test: dehb 0.1.2's metadata pins numpy<2, and the peer runs on NumPy 2.
    if int(np.__version__.split(".")[0]) < 2:
        pytest.skip(f"NumPy {np.__version__} < 2")
    ledger = run(dehb_peer())
    assert ledger.spent == BUDGET
    assert sorted({epoch for _, epoch in ledger.requests}) == [1, 3, 9]  # 9 / 3**k epochs


def test_dehb_leaves_no_files_loguru_handlers_or_warnings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = dehb_peer()
    from loguru import logger

    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    messages: list[str] = []
    sink = logger.add(messages.append, level="TRACE", format="{message}")
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            run(peer)
        logger.info("still here")  # DEHB's own set-up would have removed this sink
    finally:
        logger.remove(sink)
    assert [m.strip() for m in messages] == ["still here"]
    assert list(tmp_path.iterdir()) == []
    assert [str(w.message) for w in caught] == []


def test_to_configspace_keeps_ranges_scales_and_choices() -> None:
    CS = pytest.importorskip("ConfigSpace")

    cs = SPACE.to_configspace()
    assert dict(cs) == {
        "lr": CS.Float("lr", (1e-4, 1e-1), log=True),
        "units": CS.Integer("units", (16, 256), log=True),
        "activation": CS.Categorical("activation", ["relu", "tanh"]),
    }
    cs.seed(0)
    assert all(SPACE.contains(dict(c)) for c in cs.sample_configuration(20))


def test_dehb_names_the_missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from tunegym.bench._dehb import dehb

    monkeypatch.setitem(sys.modules, "dehb", None)
    with pytest.raises(MissingExtraError, match=r"'dehb'.*pip install -e '.*\[peers\]'"):
        run(dehb)
