"""Helpers shared by the tests of `tune` runs: interrupting one, comparing two."""

from __future__ import annotations

from collections.abc import Callable

from tunegym.agent import StepRecord, TuningResult


def interrupt_after(steps: int) -> Callable[[StepRecord], None]:
    """A progress callback that presses Ctrl-C once ``steps`` steps are done."""

    def progress(record: StepRecord) -> None:
        if record.step >= steps:
            raise KeyboardInterrupt

    return progress


def same_run(a: TuningResult, b: TuningResult) -> None:
    """Two runs took the same decisions and found the same model."""
    assert [(r.kind, r.trial, r.epochs, r.val_score) for r in a.history] == [
        (r.kind, r.trial, r.epochs, r.val_score) for r in b.history
    ]
    assert a.best == b.best
    assert a.test_metrics == b.test_metrics
    assert [t.val_scores for t in a.trials] == [t.val_scores for t in b.trials]
