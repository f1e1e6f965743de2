"""Value objects of the task: validation and the action codec."""

from __future__ import annotations

import pytest

from tunegym.envs import DEFAULT_LRS, Action, ActionCodec, ActionKind, SearchSpace, TaskSpec


def test_default_grid_spans_useful_and_failing_learning_rates() -> None:
    assert DEFAULT_LRS[0] == pytest.approx(1e-5)
    assert DEFAULT_LRS[-1] == pytest.approx(10.0)
    assert SearchSpace().n_configs == 13 * 6


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"lrs": ()}, "must not be empty"),
        ({"lrs": (1e-3, -1.0)}, "finite positive"),
        ({"lrs": (1e-2, 1e-3)}, "strictly increasing"),
        ({"batch_sizes": (32, 32)}, "strictly increasing"),
        ({"max_epochs": 0}, "max_epochs must be an int >= 1, got 0"),
        ({"max_epochs": 4, "k_choices": (8, 16)}, "no increment <= max_epochs"),
    ],
)
def test_search_space_rejects_bad_grids(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SearchSpace(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"budget_epochs": 0}, "budget_epochs must be an int >= 1, got 0"),
        ({"budget_seconds": -1.0}, "budget_seconds must be positive"),
        ({"n_slots": 0}, "n_slots"),
        ({"trial_seeds": ()}, "trial_seeds"),
        ({"metric": "val_acc"}, "Did you mean 'val_accuracy'"),
        ({"max_steps": 0}, "max_steps"),
    ],
)
def test_task_spec_rejects_bad_values(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TaskSpec(dataset="x", **kwargs)


def test_step_cap_default() -> None:
    assert TaskSpec(dataset="x", budget_epochs=10).step_cap == 56
    assert TaskSpec(dataset="x", max_steps=5).step_cap == 5


def test_grid_lookup() -> None:
    space = SearchSpace()
    assert space.lrs[space.lr_index(1e-3)] == pytest.approx(1e-3)
    assert space.batch_size_index(64) == 2
    with pytest.raises(ValueError, match="not on the grid"):
        space.lr_index(2e-3)


def test_codec_round_trips_every_index() -> None:
    codec = ActionCodec(3, 2, 4, (1, 2, 4))
    assert codec.n == 3 * 2 * 3 + 4 * 3 + 1
    for index in range(codec.n):
        assert codec.encode(codec.decode(index)) == index
    assert codec.decode(codec.stop_index).kind is ActionKind.STOP
    assert codec.decode(codec.new(2, 1, 4)) == Action(
        ActionKind.NEW, k=4, lr_index=2, batch_size_index=1, config=5
    )
    assert codec.new_config(5, 4) == codec.new(2, 1, 4)  # candidate 2 * 2 + 1
    assert codec.decode(codec.cont(3, 2)) == Action(ActionKind.CONTINUE, k=2, slot=3)
    general = ActionCodec.for_configs(6, 4, (1, 2, 4))
    assert general.n == codec.n
    assert general.decode(general.new_config(5, 4)) == Action(ActionKind.NEW, k=4, config=5)
    for index in range(general.n):
        assert general.encode(general.decode(index)) == index
    with pytest.raises(ValueError, match="k=3"):
        codec.cont(0, 3)
    with pytest.raises(ValueError, match="in \\[0, 31\\)"):
        codec.decode(31)
