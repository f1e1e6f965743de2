"""Mapping stored configurations into a client's search space, and narrowing that space."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from tunegym.service import Parameter, SearchSpaceSpec
from tunegym.service._space import config_params, infer_role, map_value, narrow, roles_of


def param(name: str = "x", type: str = "float", **fields: Any) -> Parameter:
    return Parameter(name=name, type=type, **fields)  # type: ignore[arg-type]


def unvalidated(*parameters: Parameter) -> SearchSpaceSpec:
    """A space built without its validator, to call `roles_of` on what the model rejects."""
    return SearchSpaceSpec.model_construct(parameters=list(parameters))


class TestInferRole:
    @pytest.mark.parametrize(
        ("name", "role"),
        [
            ("lr", "learning_rate"),
            ("LR", "learning_rate"),
            ("learning_rate_init", "learning_rate"),
            ("optimizer.lr", "learning_rate"),
            ("model/base_lr", "learning_rate"),
            ("batch_size", "batch_size"),
            ("train.bs", "batch_size"),
            ("n_epochs", "epochs"),
            ("trainer/max_epochs", "epochs"),
            ("momentum", None),
            ("lr_schedule", None),  # only the whole last part counts
            ("lr.decay", None),
        ],
    )
    def test_roles_come_from_the_last_part_of_the_name(self, name: str, role: str | None) -> None:
        assert infer_role(name) == role


class TestMapValue:
    def test_float_inside_is_kept_and_outside_is_clipped(self) -> None:
        lr = param("lr", low=1e-4, high=1e-2, log=True)
        assert map_value(lr, 1e-3) == (1e-3, False)
        assert map_value(lr, 0.1) == (1e-2, True)
        assert map_value(lr, 1e-6) == (1e-4, True)

    def test_a_bound_itself_is_not_clipped(self) -> None:
        lr = param("lr", low=1e-4, high=1e-2)
        assert map_value(lr, 1e-2) == (1e-2, False)
        assert map_value(lr, 1e-2 * (1 + 1e-12)) == (1e-2, False)  # rounding noise

    def test_int_is_rounded_to_an_int(self) -> None:
        batch = param("batch_size", "int", low=16, high=512, log=True)
        value, clipped = map_value(batch, 100.4)
        assert (value, clipped) == (100, False)
        assert isinstance(value, int)
        assert map_value(batch, 1024) == (512, True)

    @pytest.mark.parametrize(
        ("fields", "value", "expected"),
        [
            ({"type": "float", "low": 0.0, "high": 1.0, "step": 0.25}, 0.6, (0.5, False)),
            ({"type": "float", "low": 0.0, "high": 1.0, "step": 0.25}, 0.9, (1.0, False)),
            ({"type": "int", "low": 1, "high": 10, "step": 3}, 9, (10, False)),
            # 9 is in range but off the grid 1, 4, 7: the nearest point not above 9
            ({"type": "int", "low": 1, "high": 9, "step": 3}, 9, (7, False)),
            ({"type": "int", "low": 1, "high": 9, "step": 3}, 100, (7, True)),
            ({"type": "int", "low": 0, "high": 100, "step": 10}, 44, (40, False)),
            # negative bounds: the top of the grid is -5, not one step below it
            ({"type": "int", "low": -10, "high": -5, "step": 5}, 4, (-5, True)),
            ({"type": "float", "low": -1e300, "high": 1e300, "step": 1e290}, 0.01, (0.0, False)),
        ],
    )
    def test_values_snap_to_the_step_grid(
        self, fields: dict[str, Any], value: float, expected: tuple[float, bool]
    ) -> None:
        mapped, clipped = map_value(param("epochs", **fields), value)
        assert (mapped, clipped) == pytest.approx(expected)
        assert type(mapped) is (int if fields["type"] == "int" else float)

    def test_categorical_takes_the_nearest_choice_on_a_log_scale(self) -> None:
        choices = param("lr", "categorical", choices=[1, 10, 100])
        # log: 40 is nearer 100 (x2.5) than 10 (x4); linearly it would be 10
        assert map_value(choices, 40) == (100, False)
        assert map_value(choices, 3) == (1, False)
        assert map_value(choices, 1e4) == (100, True)
        assert map_value(choices, 0.01) == (1, True)

    def test_categorical_with_zero_or_negative_choices_is_linear(self) -> None:
        assert map_value(param("b", "categorical", choices=[0, 10, 100]), 40) == (10, False)
        assert map_value(param("b", "categorical", choices=[-1, 10, 100]), 40) == (10, False)

    def test_categorical_returns_the_choice_itself_and_ties_go_to_the_first(self) -> None:
        value, _ = map_value(param("bs", "categorical", choices=[16, 32.0, 64]), 30)
        assert value == 32.0 and isinstance(value, float)
        value, _ = map_value(param("bs", "categorical", choices=[0, 10, 20]), 5)  # a tie
        assert value == 0 and isinstance(value, int)

    def test_config_params_names_and_clips_by_role(self) -> None:
        lr = param("optimizer.lr", low=1e-3, high=1e-1, log=True)
        batch = param("bs", "int", low=32, high=64)
        params, clipped = config_params({"learning_rate": lr, "batch_size": batch}, 1.0, 16, 5)
        assert params == {"optimizer.lr": 0.1, "bs": 32}
        assert clipped == ["optimizer.lr", "bs"]
        params, clipped = config_params({"learning_rate": lr}, 0.01, 16, 5)
        assert (params, clipped) == ({"optimizer.lr": 0.01}, [])


class TestNarrow:
    def test_float_is_cut_to_the_box_and_keeps_its_scale(self) -> None:
        lr = param("lr", low=1e-5, high=1.0, log=True)
        smaller = narrow(lr, 1e-3, 1e-1)
        assert smaller is not None
        assert (smaller.low, smaller.high, smaller.log) == (1e-3, 1e-1, True)
        assert narrow(lr, 1e-7, 1e-1).low == 1e-5  # type: ignore[union-attr]

    def test_int_bounds_move_inwards_to_whole_numbers(self) -> None:
        smaller = narrow(param("bs", "int", low=16, high=512), 20.5, 100.7)
        assert smaller is not None and (smaller.low, smaller.high) == (21, 100)
        assert narrow(param("bs", "int", low=16, high=512), 20.2, 20.8) is None

    @pytest.mark.parametrize(
        ("fields", "box", "expected"),
        [
            ({"type": "int", "low": 0, "high": 100, "step": 10}, (15, 42), (20, 40)),
            ({"type": "float", "low": 0.0, "high": 1.0, "step": 0.25}, (0.3, 0.8), (0.5, 0.75)),
            ({"type": "int", "low": 1, "high": 9, "step": 4}, (2, 9), (5, 9)),
        ],
    )
    def test_stepped_bounds_stay_on_the_grid(
        self, fields: dict[str, Any], box: tuple[float, float], expected: tuple[float, float]
    ) -> None:
        smaller = narrow(param("x", **fields), *box)
        assert smaller is not None
        assert (smaller.low, smaller.high) == pytest.approx(expected)
        assert smaller.step == fields["step"]

    def test_categorical_keeps_the_choices_inside(self) -> None:
        batch = param("bs", "categorical", choices=[16, 32, 64, 128])
        smaller = narrow(batch, 20, 100)
        assert smaller is not None and smaller.choices == [32, 64]
        assert narrow(batch, 32, 32) is not None
        assert narrow(batch, 32, 32).choices == [32]  # type: ignore[union-attr]

    @pytest.mark.parametrize(
        ("parameter", "box"),
        [
            (param("lr", low=1e-3, high=1e-1), (1e-4, 1.0)),  # all of it
            (param("lr", low=1e-3, high=1e-1), (1.0, 10.0)),  # none of it
            (param("lr", low=1e-3, high=1e-1), (1e-5, 1e-4)),
            (param("bs", "int", low=16, high=64, step=16), (33, 47)),  # no grid point inside
            (param("bs", "categorical", choices=[16, 32]), (1, 1000)),
            (param("bs", "categorical", choices=[16, 32]), (100, 1000)),
        ],
    )
    def test_none_when_nothing_or_everything_is_left(
        self, parameter: Parameter, box: tuple[float, float]
    ) -> None:
        assert narrow(parameter, *box) is None

    def test_the_result_is_a_valid_parameter(self) -> None:
        smaller = narrow(param("bs", "int", low=16, high=512, log=True), 20, 100)
        assert smaller is not None
        assert Parameter.model_validate(smaller.model_dump()) == smaller


class TestRolesOf:
    def test_roles_from_names_and_from_role(self) -> None:
        space = SearchSpaceSpec(
            parameters=[
                param("alpha", low=1e-4, high=1.0, role="learning_rate"),
                param("bs", "categorical", choices=[16, 32]),
                param("momentum", low=0.0, high=1.0),
                param("epochs", "categorical", choices=["few", "many"]),  # not numbers: no role
            ]
        )
        roles = roles_of(space)
        assert {role: p.name for role, p in roles.items()} == {
            "learning_rate": "alpha",
            "batch_size": "bs",
        }

    def test_two_parameters_with_one_role_are_refused(self) -> None:
        space = unvalidated(param("lr", low=0.1, high=1.0), param("learning_rate", low=0.1, high=1))
        with pytest.raises(ValueError, match="'lr' and 'learning_rate' both play the role"):
            roles_of(space)
        space = unvalidated(
            param("lr", low=0.1, high=1.0), param("alpha", low=0.1, high=1, role="learning_rate")
        )
        with pytest.raises(ValueError, match="both play the role 'learning_rate'"):
            roles_of(space)

    def test_a_role_on_non_numeric_choices_is_refused(self) -> None:
        space = unvalidated(param("opt", "categorical", choices=["a", 1], role="learning_rate"))
        with pytest.raises(ValueError, match="'opt' has role 'learning_rate' but non-numeric"):
            roles_of(space)
        bools = unvalidated(param("bs", "categorical", choices=[True, False], role="batch_size"))
        with pytest.raises(ValueError, match="non-numeric choices"):
            roles_of(bools)

    def test_the_space_model_runs_the_same_checks(self) -> None:
        with pytest.raises(ValidationError, match="both play the role"):
            SearchSpaceSpec(
                parameters=[param("lr", low=0.1, high=1), param("eta", low=0.1, high=1)]
            )


class TestParameterValidation:
    @pytest.mark.parametrize(
        ("fields", "message"),
        [
            ({"type": "float", "low": 2.0, "high": 1.0}, "needs low <= high"),
            ({"type": "float", "low": 0.0, "high": 1.0, "log": True}, "low must be > 0"),
            ({"type": "float", "low": 0.1, "high": 1.0, "log": True, "step": 0.1}, "cannot be"),
            ({"type": "int", "low": 1.5, "high": 4}, "whole numbers"),
            ({"type": "int", "low": 1, "high": 4, "step": 1.5}, "step must be a whole number"),
            ({"type": "float", "low": 1.0}, "give both 'low' and 'high'"),
            ({"type": "float", "low": 0, "high": 1, "choices": [1]}, "not 'choices'"),
            ({"type": "categorical"}, "give its 'choices'"),
            ({"type": "categorical", "choices": [1, 1]}, "repeated choices"),
            ({"type": "categorical", "choices": [1], "low": 0}, "not 'low'/'high'"),
            ({"type": "float", "low": -1e301, "high": 1.0}, "beyond"),
            ({"type": "float", "low": -1e300, "high": 1e300, "step": 1e-10}, "2\\^53 points"),
            ({"type": "categorical", "choices": [10**400]}, "less than or equal"),
        ],
    )
    def test_inconsistent_parameters_are_refused(
        self, fields: dict[str, Any], message: str
    ) -> None:
        with pytest.raises(ValidationError, match=message):
            Parameter(name="x", **fields)

    def test_numeric_choices_leave_out_booleans_and_strings(self) -> None:
        assert param("x", "categorical", choices=[1, 2.5]).numeric_choices == [1.0, 2.5]
        assert param("x", "categorical", choices=[1, True]).numeric_choices is None
        assert param("x", "categorical", choices=[1, "2"]).numeric_choices is None
        assert param("x", low=0, high=1).numeric_choices is None


def test_the_wire_space_and_tunegym_space_convert_both_ways() -> None:
    from tunegym.service._schemas import SearchSpaceSpec
    from tunegym.space import LCBENCH_SPACE, LR_BS_SPACE, Categorical, Float, Space

    toy = Space((Float("lr", 1e-4, 1e-1, log=True), Categorical("act", ("relu", "tanh"))))
    for space in (LCBENCH_SPACE, LR_BS_SPACE, toy):
        wire = SearchSpaceSpec.from_space(space)
        assert wire.to_space().params == space.params
    from tunegym.service._space import infer_role

    # LCBench's names play the service's roles: its runs map into LCBench's space
    assert [infer_role(n) for n in ("learning_rate", "batch_size", "momentum")] == [
        "learning_rate", "batch_size", None,
    ]  # fmt: skip
