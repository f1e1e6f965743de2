"""`record_curves` reports its progress: a callable's (done, total), or a bar on a terminal."""

from __future__ import annotations

import io

import pytest

from tunegym.data import TabularDataset
from tunegym.envs import SearchSpace, record_curves

SPACE = SearchSpace(lrs=(1e-2, 1e-1), batch_sizes=(16, 64), max_epochs=2)
SEEDS = (0, 1)
TOTAL = 2 * 2 * 2  # lrs x batch sizes x seeds


@pytest.mark.parametrize("batched", [True, False])
def test_the_callable_gets_increasing_counts_ending_at_the_total(
    iris: TabularDataset, batched: bool
) -> None:
    calls: list[tuple[int, int]] = []
    record_curves(iris, SPACE, seeds=SEEDS, batched=batched,
                  progress=lambda done, total: calls.append((done, total)))  # fmt: skip
    done = [d for d, _ in calls]
    assert {total for _, total in calls} == {TOTAL}
    assert done == sorted(set(done)) and done[0] == 0 and done[-1] == TOTAL
    assert len(calls) == 1 + (TOTAL // len(SPACE.lrs) if batched else TOTAL)
    old: list[tuple[int, int]] = []  # the former name still works
    record_curves(iris, SPACE, seeds=(0,), on_config=lambda d, n: old.append((d, n)))
    assert old[-1] == (TOTAL // 2, TOTAL // 2)


class _Terminal(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize("tty", [True, False])
def test_auto_draws_a_bar_on_a_terminal_only(
    iris: TabularDataset, tty: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    stderr = _Terminal(tty)
    monkeypatch.setattr("sys.stderr", stderr)
    monkeypatch.delenv("TTY_COMPATIBLE", raising=False)  # rich would trust these over isatty
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    record_curves(iris, SPACE, seeds=(0,))
    shown = stderr.getvalue()
    if tty:
        assert f"record_curves {iris.name}" in shown and f"{TOTAL // 2}/{TOTAL // 2}" in shown
    else:
        assert shown == ""
    silent = _Terminal(True)
    monkeypatch.setattr("sys.stderr", silent)
    record_curves(iris, SPACE, seeds=(0,), progress=None)
    assert silent.getvalue() == ""


def test_bad_progress_arguments_are_named(iris: TabularDataset) -> None:
    with pytest.raises(ValueError, match="callable\\(done, total\\), 'auto' or None, got 'bar'"):
        record_curves(iris, SPACE, progress="bar")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="both progress and on_config"):
        record_curves(iris, SPACE, progress=None, on_config=lambda d, n: None)
