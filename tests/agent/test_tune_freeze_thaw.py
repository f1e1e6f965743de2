"""`tune` with the freeze-thaw agent (agent v2), the default on LCBench's space: live trials,
the warm start, reports and resuming, its folders."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from sklearn.datasets import load_iris

from tests.agent._runs import interrupt_after, same_run
from tunegym.agent import (
    FREEZE_THAW,
    PRETRAINED_DIR,
    StepRecord,
    TuningInterrupted,
    TuningResult,
    load_ft_agent,
    resolve_search,
    tune,
)
from tunegym.agent._ftagent import DEFAULT_FT_AGENT_DIR
from tunegym.data import load_dataset
from tunegym.envs import SearchSpace
from tunegym.space import LCBENCH_SPACE, LR_BS_SPACE

BUDGET = 12


def check_run(result: TuningResult, budget: int) -> None:
    """What any freeze-thaw run satisfies, whatever the agent's quality."""
    assert result.method == FREEZE_THAW
    assert 0 < result.epochs_used <= budget
    assert sum(r.epochs for r in result.history) == result.epochs_used
    assert {r.kind for r in result.history} <= {"new", "continue", "stop"}
    # A candidate's trial is started once: no (configuration, seed) is trained twice.
    keys = [(tuple(sorted(t.config.items())), t.seed) for t in result.trials]
    assert len(set(keys)) == len(keys)
    # Trials are numbered in the order they started; each step names its trial's hyperparameters.
    assert [r.trial for r in result.history if r.kind == "new"] == list(range(len(result.trials)))
    for r in result.history:
        if r.trial is None:
            assert r.kind == "stop" and r.epochs == 0
            continue
        curve = result.trials[r.trial]
        assert (r.lr, r.batch_size) == (curve.lr, curve.batch_size)
        assert r.val_score == curve.val_scores[r.trial_epochs - 1]
    top = max(v for t in result.trials for v in t.val_scores)
    assert result.history[-1].incumbent_val == top
    if result.best is None:  # no epoch scored above 0 (a tiny budget on a poor configuration)
        assert top == 0.0
    else:
        assert result.best.val_score == top


def test_tune_runs_the_freeze_thaw_agent_by_default() -> None:
    steps: list[StepRecord] = []
    result = tune("sklearn:iris", budget_epochs=BUDGET, progress=steps.append)
    check_run(result, BUDGET)
    assert result.best is not None
    assert steps == list(result.history)
    assert result.prior.startswith("snapshot v2 (LCBench's space): 5 nearest datasets")
    assert (
        "prior from meta-dataset v2's 24 meta-train tasks, weighted by how like this data's meta"
        in result.prior
    )
    assert result.best is not None and set(result.best.config) == set(LCBENCH_SPACE.names)
    assert result.best.lr == result.best.config["learning_rate"]
    assert result.best.max_epochs == 50
    assert {t.seed for t in result.trials} == {0}  # trial_seeds=(seed,)


def test_resume_replays_a_finished_run_and_finishes_an_interrupted_one(tmp_path: Path) -> None:
    done = tmp_path / "done.json"
    whole = tune("sklearn:iris", budget_epochs=BUDGET, report=done, keep_checkpoints=True)
    check_run(whole, BUDGET)
    assert json.loads(done.read_text())["arguments"]["method"] == FREEZE_THAW
    replay = tune(resume=done)  # every epoch is served from the checkpoints
    same_run(replay, whole)
    assert replay.epochs_trained == 0 and replay.epochs_resumed == whole.epochs_trained

    report = tmp_path / "cut.json"
    with pytest.raises(TuningInterrupted) as caught:
        tune("sklearn:iris", budget_epochs=BUDGET, report=report, progress=interrupt_after(1))
    partial = json.loads(report.read_text())
    assert partial["status"] == "interrupted" and len(partial["history"]) == 1
    first = caught.value.result.epochs_trained
    assert first > 0
    resumed = tune(resume=report)
    same_run(resumed, whole)
    assert first + resumed.epochs_trained == whole.epochs_trained  # no epoch trained twice
    assert json.loads(report.read_text())["status"] == "finished"


def test_an_agent_folder_says_which_agent_it_holds(tmp_path: Path) -> None:
    assert resolve_search("auto", None, None, agent=DEFAULT_FT_AGENT_DIR) == (
        FREEZE_THAW,
        "lcbench",
        200,
    )
    assert resolve_search("agent", None, 8, agent=str(DEFAULT_FT_AGENT_DIR / "agent.json"))[0] == (
        FREEZE_THAW
    )
    assert resolve_search("auto", None, None, agent=PRETRAINED_DIR) == ("agent", None, 64)
    folder = shutil.copytree(DEFAULT_FT_AGENT_DIR, tmp_path / "mine")
    report = tmp_path / "r.json"
    result = tune("sklearn:iris", budget_epochs=4, agent=folder, report=report)
    check_run(result, 4)
    assert json.loads(report.read_text())["arguments"]["agent"] == str(folder)
    loaded = tune("sklearn:iris", budget_epochs=4, agent=load_ft_agent(folder))
    same_run(loaded, result)


def test_a_bad_agent_folder_gives_a_clear_error(tmp_path: Path) -> None:
    bad = shutil.copytree(DEFAULT_FT_AGENT_DIR, tmp_path / "bad")
    (bad / "weights.pt").write_bytes(b"not a weights file")
    with pytest.raises(ValueError, match=r"Cannot load the freeze-thaw agent in .*checksum"):
        tune("sklearn:iris", budget_epochs=4, agent=bad)
    spec = json.loads((bad / "agent.json").read_text())
    spec.pop("weights_sha256")
    spec["hidden"] = 8  # the weights do not fit the network
    (bad / "agent.json").write_text(json.dumps(spec))
    shutil.copyfile(DEFAULT_FT_AGENT_DIR / "weights.pt", bad / "weights.pt")
    with pytest.raises(ValueError, match=r"Cannot load the freeze-thaw agent .*RuntimeError"):
        tune("sklearn:iris", budget_epochs=4, agent=bad)
    (bad / "agent.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"Cannot load the freeze-thaw agent .*not valid JSON"):
        tune("sklearn:iris", budget_epochs=4, agent=bad, method=FREEZE_THAW)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match=r"No agent\.json"):
        tune("sklearn:iris", budget_epochs=4, agent=empty, method=FREEZE_THAW)
    with pytest.raises(ValueError, match=r"holds no freeze-thaw agent: its agent\.json's format"):
        tune("sklearn:iris", budget_epochs=4, agent=PRETRAINED_DIR, method=FREEZE_THAW)
    with pytest.raises(ValueError, match="not the lr-bs grid"):
        tune("sklearn:iris", budget_epochs=4, method=FREEZE_THAW, space="lr-bs")
    with pytest.raises(ValueError, match="not the lr-bs grid"):
        tune("sklearn:iris", budget_epochs=4, method=FREEZE_THAW, space=SearchSpace(max_epochs=4))


def test_without_a_warm_start_auto_falls_back_and_the_agent_runs_without_prior() -> None:
    loaded = load_dataset(load_iris(return_X_y=True), seed=0)  # no raw table, no meta-features
    # method="auto": the agent's no-warm-start ablation was no better than random search, so
    # auto runs the best cold tuner where no warm start is to be had, and says so.
    fallback = tune(loaded, budget_epochs=6)
    assert fallback.method == "hyperband"
    assert fallback.prior.startswith("none (a loaded TabularDataset")
    assert fallback.prior.endswith("method auto ran hyperband instead of freeze-thaw")
    # Asked by name, the agent runs without portfolio and prior.
    result = tune(loaded, budget_epochs=6, method=FREEZE_THAW)
    check_run(result, 6)
    assert result.prior.startswith("none (a loaded TabularDataset")
    assert "prior from" not in result.prior
    cold = tune("sklearn:iris", budget_epochs=6, warm_start=False)  # asked for: the agent
    check_run(cold, 6)
    assert cold.prior == "none (warm_start=False)"
    # Another space of hyperparameters: the candidates given, no meta-dataset for it.
    space = SearchSpace.sampled(LR_BS_SPACE, 6, seed=0, max_epochs=4)
    other = tune("sklearn:iris", budget_epochs=6, space=space, method=FREEZE_THAW)
    check_run(other, 6)
    assert other.prior.startswith("none (the shipped meta-datasets cover")
    assert {space.key(t.config) for t in other.trials} <= {space.key(c) for c in space.candidates}
    assert tune("sklearn:iris", budget_epochs=6, space=space).method == "hyperband"


def test_cross_validation_and_a_seconds_budget() -> None:
    result = tune("sklearn:wine", budget_epochs=BUDGET, cv=2)
    assert result.method == FREEZE_THAW and result.cv == 2
    assert 0 < result.epochs_used <= BUDGET and result.epochs_used % 2 == 0
    assert result.history[-1].epochs_used == result.epochs_used
    assert len(result.fold_models) == 2 and result.best is not None
    timed = tune("sklearn:iris", budget_epochs=200, budget_seconds=1e-6)
    assert timed.seconds >= 1e-6 and len(timed.history) == 1  # one step spends the seconds


def test_a_price_of_cost_lets_the_agent_stop_early(tmp_path: Path) -> None:
    report = tmp_path / "priced.json"
    result = tune("sklearn:iris", budget_epochs=40, price=1.0, report=report)
    check_run(result, 40)
    # a whole budget's price of 1 (all the accuracy there is): the shipped agent learned to
    # stop well before the budget is spent (the rule would wait for a whole window)
    assert load_ft_agent().learned_stop
    assert result.history[-1].kind == "stop" and 0 < result.epochs_used < 40
    assert json.loads(report.read_text())["arguments"]["price"] == 1.0
    with pytest.raises(ValueError, match="price must be a finite number >= 0"):
        tune("sklearn:iris", budget_epochs=4, price=-0.1)
    with pytest.raises(ValueError, match="only the freeze-thaw agent stops early"):
        tune("sklearn:iris", budget_epochs=4, price=0.1, method="random")
