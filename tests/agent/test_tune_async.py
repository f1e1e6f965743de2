"""`tune(workers=W)`: the freeze-thaw agent deciding while W trials train (issue 17)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tunegym.agent import FREEZE_THAW, TuningResult, tune
from tunegym.agent._live import SegmentJob, TuneBackend, train_segment
from tunegym.data import load_dataset
from tunegym.envs import SearchSpace
from tunegym.space import LCBENCH_SPACE
from tunegym.training import MLPSpec

BUDGET = 24


def check_async_run(result: TuningResult, budget: int) -> None:
    assert result.method == FREEZE_THAW
    assert result.epochs_used == budget
    assert sum(r.epochs for r in result.history) == budget
    keys = [(tuple(sorted(t.config.items())), t.seed) for t in result.trials]
    assert len(set(keys)) == len(keys)  # no (configuration, seed) trained twice
    for r in result.history:
        if r.trial is not None:
            assert r.val_score == result.trials[r.trial].val_scores[r.trial_epochs - 1]
    top = max(v for t in result.trials for v in t.val_scores)
    assert result.history[-1].incumbent_val == top
    assert result.best is not None and result.best.val_score == top


def curves(result: TuningResult) -> dict[tuple, list[float]]:
    return {(tuple(sorted(t.config.items())), t.seed): t.val_scores for t in result.trials}


@pytest.mark.usefixtures("ray_local")
def test_two_workers_on_ray_spend_the_budget_with_trials_pending() -> None:
    result = tune("sklearn:iris", budget_epochs=BUDGET, workers=2)
    check_async_run(result, BUDGET)
    assert max(r.pending for r in result.history) == 1  # it decided while a trial trained
    # Every epoch is the epoch one worker would have trained: trials that a one-worker run
    # also trained have the same curves (the trainer's determinism contract, across processes).
    one = curves(tune("sklearn:iris", budget_epochs=BUDGET, workers=1))
    shared = [key for key in curves(result) if key in one]
    assert shared
    for key in shared:
        a, b = curves(result)[key], one[key]
        n = min(len(a), len(b))
        assert a[:n] == pytest.approx(b[:n], abs=1e-6)


def test_processes_run_when_ray_is_not_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    import tunegym.parallel

    monkeypatch.setattr(tunegym.parallel, "ray_available", lambda: False)
    assert tunegym.parallel.Workers(2).kind == "processes"
    result = tune("sklearn:iris", budget_epochs=12, workers=2)
    check_async_run(result, 12)


def test_a_worker_segment_is_the_epochs_advance_trains() -> None:
    """`train_segment` (what workers run) gives `TuneBackend.advance`'s epochs and weights."""
    dataset = load_dataset("sklearn:iris", seed=0)
    space = SearchSpace.sampled(LCBENCH_SPACE, 2, max_epochs=6, seed=0)
    backends = [TuneBackend([dataset], space, MLPSpec(), metric="val_accuracy") for _ in range(2)]
    handles = [b.start(space.candidates[0], 0) for b in backends]
    inline = backends[0].advance(handles[0], 3)
    job = backends[1].segment_job(handles[1], 3)
    assert isinstance(job, SegmentJob)
    remote = backends[1].finish_segment(handles[1], train_segment(job))
    assert list(inline.scores) == list(remote.scores)
    assert backends[0].best_epoch == backends[1].best_epoch
    assert backends[0].best_states is not None and backends[1].best_states is not None
    first, second = (b.best_states[0] for b in backends)
    assert first.keys() == second.keys()
    assert all((first[name] == second[name]).all() for name in first)
    # and the trial goes on from the worker's state exactly as from its own
    more = [backends[0].advance(handles[0], 2), backends[1].advance(handles[1], 2)]
    assert list(more[0].scores) == list(more[1].scores)


def test_only_the_freeze_thaw_agent_trains_trials_at_once() -> None:
    with pytest.raises(ValueError, match="one trial at a time"):
        tune("sklearn:iris", budget_epochs=8, method="random", workers=2)
    with pytest.raises(ValueError, match="workers must be"):
        tune("sklearn:iris", budget_epochs=8, workers=0)


def test_the_step_line_says_how_many_trials_are_still_training() -> None:
    from tunegym._tune_cli import _step_line
    from tunegym.agent import StepRecord

    step = StepRecord(
        step=3, action=7, kind="continue", trial=1, lr=0.01, batch_size=32, epochs=2,
        trial_epochs=5, val_score=0.8, incumbent_val=0.9, epochs_used=12, seconds=1.0,
        decision_seconds=0.001, pending=1,
    )  # fmt: skip
    assert _step_line(step).endswith("(1 still training)")
    assert "still training" not in _step_line(replace(step, pending=0))


def test_trials_beyond_max_thawed_are_frozen_and_thawed_to_the_same_epochs(tmp_path) -> None:
    """With a cache, the least recently trained trial leaves memory and continues from its
    checkpoint exactly as if it had stayed (the trainer's determinism contract)."""
    from tunegym.agent._live import TrialCache
    from tunegym.metastore import MetaStore

    dataset = load_dataset("sklearn:iris", seed=0)
    space = SearchSpace.sampled(LCBENCH_SPACE, 3, max_epochs=6, seed=0)
    kept = TuneBackend([dataset], space, MLPSpec(), metric="val_accuracy")
    store = MetaStore(f"sqlite:///{tmp_path / 'store.sqlite'}")
    frozen = TuneBackend([dataset], space, MLPSpec(), metric="val_accuracy", store=store,
                         cache=TrialCache(tmp_path / "c"), max_thawed=1)  # fmt: skip
    scores: dict[str, list[float]] = {"kept": [], "frozen": []}
    for name, backend in (("kept", kept), ("frozen", frozen)):
        handles = [backend.start(c, 0) for c in space.candidates]
        for h in (0, 1, 2, 0, 1, 0):
            scores[name] += list(backend.advance(handles[h], 2).scores)
        if name == "frozen":
            in_memory = [p.trial is not None for h in handles for p in backend._open[h]]
            assert in_memory == [True, False, False]  # only the last one trained
            # a frozen trial goes out to a worker from its checkpoint, too
            job = backend.segment_job(handles[2], 2)
            assert isinstance(job, SegmentJob) and job.folds[0].state is not None
    assert scores["frozen"] == scores["kept"]
    # a frozen trial whose checkpoint is gone is trained again to where it was, then goes on
    (part,) = frozen._open[1]
    assert part.frozen
    (tmp_path / "c" / f"trial-{part.key}.pt").unlink()
    assert list(frozen.advance(1, 2).scores) == list(kept.advance(1, 2).scores)
    frozen.finish()  # frozen trials are logged as ended from the records they keep
    assert store.stats().epochs == 14
    store.close()
    with pytest.raises(ValueError, match="max_thawed"):
        TuneBackend([dataset], space, MLPSpec(), metric="val_accuracy", max_thawed=0)
