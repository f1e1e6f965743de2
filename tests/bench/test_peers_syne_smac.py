"""Syne Tune's ASHA and BOHB and SMAC3's Hyperband as peers, on a small hand-made pool."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from tests.bench._toy import BUDGET, EPOCHS, SPACE, make_pool, run
from tunegym.bench._episode import Peer
from tunegym.space import Categorical, Space

# SMAC's own meta data calls ConfigSpace's deprecated get_dictionary on a warm start.
pytestmark = pytest.mark.filterwarnings("ignore:Please use `dict\\(config\\)`:DeprecationWarning")


def load(name: str) -> Peer:
    """The peer ``name``, skipping the test when its library is missing."""
    if name == "smac_hyperband":
        pytest.importorskip("smac")
        from tunegym.bench._smac import smac_hyperband

        return smac_hyperband
    pytest.importorskip("syne_tune")
    if name == "bohb":
        pytest.importorskip("statsmodels")
    from tunegym.bench import _syne

    peer: Peer = getattr(_syne, name)
    return peer


PEERS = ["asha", "bohb", "smac_hyperband"]


@pytest.mark.parametrize("name", PEERS)
def test_spends_the_budget_on_several_configurations_stopped_at_several_fidelities(
    name: str,
) -> None:
    ledger = run(load(name))
    assert ledger.spent == BUDGET
    trained = ledger.trained[ledger.trained > 0]
    assert len(trained) > 1
    # Successive halving: some trials stop early, some continue past the first rung.
    assert (trained < EPOCHS).any()
    assert (trained > 1).any()
    assert len(set(trained.tolist())) >= 2
    # A continued trial asks for more epochs of a configuration it trained before.
    continued = [c for k, (c, e) in enumerate(ledger.requests)
                 if any(c == c0 and e0 < e for c0, e0 in ledger.requests[:k])]  # fmt: skip
    assert continued


@pytest.fixture
def global_numpy() -> Iterator[None]:
    """Give numpy's global generator its state back after the test."""
    state = np.random.get_state()  # noqa: NPY002 - the peers must not depend on it
    yield
    np.random.set_state(state)  # noqa: NPY002


@pytest.mark.usefixtures("global_numpy")
@pytest.mark.parametrize("name", PEERS)
def test_one_seed_gives_one_episode_and_another_seed_another(name: str) -> None:
    peer = load(name)
    first = run(peer, seed=3)
    np.random.seed(99)  # noqa: NPY002 - whatever the caller did with the global generator
    again, other = run(peer, seed=3), run(peer, seed=4)
    assert first.requests == again.requests
    assert first.requests != other.requests


@pytest.mark.parametrize("name", PEERS)
def test_the_portfolio_is_trained_first_in_order(name: str) -> None:
    portfolio = (17, 4, 25)
    ledger = run(load(name), portfolio=portfolio)
    firsts = list(dict.fromkeys(c for c, _ in ledger.requests))
    assert firsts[0] == portfolio[0]
    assert firsts[: len(portfolio)] == list(portfolio)
    assert ledger.spent == BUDGET


@pytest.mark.parametrize("name", PEERS)
def test_returns_when_nothing_it_proposes_costs_anything(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 4 configurations x 9 epochs < the budget: once the library proposes only what it has
    # trained, the peer must return rather than loop for ever.
    peer = load(name)
    monkeypatch.setattr(peer.__module__ + ".STALL_TRIALS", 10)
    ledger = run(peer, pool=make_pool(n=4), budget=200)
    assert 0 < ledger.spent < 200
    assert (ledger.trained > 0).sum() == 4


def test_the_peers_leave_numpy_global_state_and_the_smac_logger_as_they_were() -> None:
    import logging

    state = np.random.get_state()[1].copy()  # noqa: NPY002 - checking the peers leave it alone
    level = logging.getLogger("smac").level
    for name in PEERS:
        run(load(name))
    assert np.array_equal(np.random.get_state()[1], state)  # noqa: NPY002
    assert logging.getLogger("smac").level == level


def test_the_spaces_convert_with_their_ranges_and_scales() -> None:
    pytest.importorskip("syne_tune")
    pytest.importorskip("ConfigSpace")
    from syne_tune import config_space as sc

    from tunegym.bench._syne import to_syne_space

    syne = to_syne_space(SPACE)
    assert list(syne) == list(SPACE.names)
    assert (syne["lr"].lower, syne["lr"].upper) == (1e-4, 1e-1)
    assert sc.is_log_space(syne["lr"]) and sc.is_log_space(syne["units"])
    assert isinstance(syne["units"], sc.Integer) and syne["units"].upper == 256
    assert syne["activation"].categories == ["relu", "tanh"]

    cs = SPACE.to_configspace()
    assert sorted(cs) == sorted(SPACE.names)
    assert (cs["units"].lower, cs["units"].upper, cs["units"].log) == (16, 256, True)
    assert list(cs["activation"].choices) == ["relu", "tanh"]
    for config in cs.sample_configuration(20):
        assert SPACE.contains(dict(config))


def test_a_categorical_of_mixed_types_is_refused_by_name() -> None:
    pytest.importorskip("syne_tune")
    from tunegym.bench._syne import to_syne_space

    with pytest.raises(ValueError, match="'opt' mixes value types"):
        to_syne_space(Space((Categorical("opt", ("adam", 1)),)))
