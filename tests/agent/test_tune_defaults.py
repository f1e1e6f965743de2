"""What `tune()` runs unless told: the freeze-thaw agent on LCBench's space, the v1 agent on
its grid; the warm-started TPE (the previous default) by name."""

from __future__ import annotations

import numpy as np
import pytest
from typer.testing import CliRunner

from tunegym.agent import AUTO_METHODS, DEFAULT_BUDGETS, resolve_search, tune
from tunegym.agent._tunesetup import _with_portfolio
from tunegym.cli import app
from tunegym.envs import SearchSpace
from tunegym.metastore import PortfolioEntry, WarmStart
from tunegym.space import LCBENCH_SPACE


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (("auto", None, None), ("freeze-thaw", "lcbench", 200)),
        (("auto", "lcbench", 50), ("freeze-thaw", "lcbench", 50)),
        (("freeze-thaw", None, None), ("freeze-thaw", "lcbench", 200)),
        (("tpe-hyperband-ws", None, None), ("tpe-hyperband-ws", "lcbench", 200)),
        (("auto", "lr-bs", None), ("agent", "lr-bs", 64)),
        (("agent", None, None), ("agent", None, 64)),  # the agent's own space
        (("random", None, None), ("random", "lcbench", 200)),
        (("tpe", "lr-bs", 32), ("tpe", "lr-bs", 32)),
    ],
)
def test_defaults_resolve_by_space(given: tuple, expected: tuple) -> None:
    assert resolve_search(*given) == expected


def test_an_agent_given_makes_auto_the_agent_and_a_space_sets_the_budget() -> None:
    assert resolve_search("auto", None, None, agent_given=True) == ("agent", None, 64)
    sampled = SearchSpace.sampled(LCBENCH_SPACE, 4, seed=0, max_epochs=10)
    assert resolve_search("auto", sampled, None) == ("freeze-thaw", sampled, 40)
    grid = SearchSpace(max_epochs=8)
    assert resolve_search("auto", grid, None) == ("agent", grid, 32)
    assert AUTO_METHODS["lcbench"] == "freeze-thaw" and DEFAULT_BUDGETS["lcbench"] == 200


def test_warm_started_tpe_tries_the_portfolio_first_on_lcbench_space() -> None:
    result = tune("sklearn:iris", budget_epochs=12, method="tpe-hyperband-ws")
    assert result.method == "tpe-hyperband-ws"
    assert result.prior.startswith("snapshot v2 (LCBench's space): 5 nearest datasets")
    assert result.best is not None and set(result.best.config) == set(LCBENCH_SPACE.names)
    assert result.epochs_used == 12
    # The portfolio joined the candidates, and TPE tries its first entry first.
    from tunegym.metastore import LCBENCH_SNAPSHOT_DIR, warm_start_snapshot

    ws = warm_start_snapshot("sklearn:iris", (), (), k=5, path=LCBENCH_SNAPSHOT_DIR)
    first = ws.portfolio[0].config
    assert first is not None and result.trials[0].config is not None
    assert LCBENCH_SPACE.key(result.trials[0].config) == LCBENCH_SPACE.key(first)


def test_the_portfolio_joins_the_candidates_first_off_the_grid() -> None:
    search = SearchSpace.sampled(LCBENCH_SPACE, 4, seed=0, max_epochs=50)
    extra = LCBENCH_SPACE.sample(6, seed=9)[5]
    entries = [
        PortfolioEntry(
            lr=extra["learning_rate"],
            batch_size=extra["batch_size"],
            epochs=3,
            expected_score=1.0,
            score=0.9,
            dataset="keel:x",
            distance=0.1,
            config=config,
        )
        for config in (extra, search.candidates[2])  # one new, one already a candidate
    ]
    ws = WarmStart("t", (), tuple(entries), None, np.zeros((0, 0)), (), ())
    joined = _with_portfolio(search, ws)
    assert joined.n_configs == 5
    assert joined.key(joined.candidates[0]) == search.key(extra)
    assert {joined.key(c) for c in search.candidates} <= {joined.key(c) for c in joined.candidates}
    assert _with_portfolio(SearchSpace(), ws).is_grid  # the grid keeps its candidates


def test_cli_says_which_tuner_and_space_it_runs() -> None:
    out = CliRunner().invoke(app, ["tune", "--dataset", "sklearn:iris", "--budget-epochs", "6"])
    assert out.exit_code == 0, out.output
    assert "with freeze-thaw on the lcbench space, budget 6 epochs" in out.output
    out = CliRunner().invoke(
        app, ["tune", "--dataset", "sklearn:iris", "--budget-epochs", "4", "--space", "lr-bs"]
    )
    assert out.exit_code == 0, out.output
    assert "with agent on the lr-bs space" in out.output


def test_auto_falls_back_to_a_cold_tuner_without_a_warm_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from sklearn.datasets import load_iris

    from tunegym.data import load_dataset

    monkeypatch.setitem(AUTO_METHODS, "lcbench", "ws-random")
    loaded = load_dataset(load_iris(return_X_y=True), seed=0)  # no raw table, no meta-features
    result = tune(loaded, budget_epochs=6)
    assert result.method == "hyperband"
    assert "method auto ran hyperband instead of ws-random" in result.prior
    with pytest.raises(ValueError, match="needs a warm start"):
        tune(loaded, budget_epochs=6, method="ws-random")
