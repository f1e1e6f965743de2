"""Property tests: round trips hold for any valid hyperparameter, value and unit point."""

from __future__ import annotations

import json
import math

import pytest

hypothesis = pytest.importorskip("hypothesis", reason="property tests need hypothesis")
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from tunegym.space import Categorical, Float, Hyperparameter, Int, Space  # noqa: E402

# A decorator, not a loaded profile: loading one would change other suites' settings too.
few = settings(max_examples=60, deadline=None)

names = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
units = st.floats(0.0, 1.0)


@st.composite
def floats(draw: st.DrawFn) -> Float:
    log = draw(st.booleans())
    if log:
        low_exp = draw(st.floats(-8, 4))
        high_exp = draw(st.floats(low_exp + 0.01, low_exp + 8))
        return Float(draw(names), 10.0**low_exp, 10.0**high_exp, log=True)
    low = draw(st.floats(-1e6, 1e6))
    width = draw(st.floats(1e-3, 1e6))
    return Float(draw(names), low, low + width)


@st.composite
def ints(draw: st.DrawFn) -> Int:
    log = draw(st.booleans())
    low = draw(st.integers(1 if log else -1000, 1000))
    return Int(draw(names), low, low + draw(st.integers(1, 5000)), log=log)


choice_values = st.one_of(
    st.text(min_size=1, max_size=6), st.integers(-100, 100), st.floats(-10, 10), st.booleans()
)


@st.composite
def categoricals(draw: st.DrawFn) -> Categorical:
    values = draw(st.lists(choice_values, min_size=1, max_size=6))
    distinct: list[object] = []
    for v in values:
        if not any(v == d and isinstance(v, bool) == isinstance(d, bool) for d in distinct):
            distinct.append(v)
    return Categorical(draw(names), tuple(distinct))  # type: ignore[arg-type]


params = st.one_of(floats(), ints(), categoricals())


@st.composite
def spaces(draw: st.DrawFn) -> Space:
    drawn = draw(st.lists(params, min_size=1, max_size=5, unique_by=lambda p: p.name))
    return Space(tuple(drawn), name=draw(st.sampled_from(["", "s"])))


@few
@given(params, units)
def test_from_unit_lands_inside_and_round_trips(p: Hyperparameter, u: float) -> None:
    value = p.from_unit(u)
    assert p.contains(value)
    assert 0.0 <= p.to_unit(value) <= 1.0
    back = p.from_unit(p.to_unit(value))
    if isinstance(p, Float):
        assert back == pytest.approx(value, rel=1e-9, abs=1e-9)
    else:
        assert back == value and type(back) is type(value)


@few
@given(floats(), units)
def test_float_to_unit_inverts_from_unit(p: Float, u: float) -> None:
    # a linear range far from 0 loses digits: allow a few ulps of the bounds, on the unit scale
    slack = 0.0 if p.log else 8 * 2.3e-16 * max(abs(p.low), abs(p.high)) / (p.high - p.low)
    assert p.to_unit(p.from_unit(u)) == pytest.approx(u, abs=1e-9 + slack)


@few
@given(ints(), st.data())
def test_int_values_round_trip_exactly(p: Int, data: st.DataObject) -> None:
    value = data.draw(st.integers(p.low, p.high))
    assert p.from_unit(p.to_unit(value)) == value


@few
@given(categoricals())
def test_categorical_choices_round_trip(p: Categorical) -> None:
    for choice in p.choices:
        back = p.from_unit(p.to_unit(choice))
        assert back == choice and type(back) is type(choice)


@few
@given(spaces())
def test_space_json_round_trip(space: Space) -> None:
    assert Space.from_json(json.loads(json.dumps(space.to_json()))) == space


@few
@given(spaces())
def test_space_optuna_round_trip(space: Space) -> None:
    assert Space.from_optuna(space.to_optuna(), name=space.name) == space


@few
@given(spaces(), st.integers(0, 2**31 - 1), st.integers(1, 17))
def test_samples_are_valid_and_survive_the_unit_cube(space: Space, seed: int, n: int) -> None:
    configs = space.sample(n, seed=seed)
    assert len(configs) == n
    for config in configs:
        assert space.validate(config) == config
        again = space.from_unit(space.to_unit(config))
        for p in space:
            if isinstance(p, Float):
                assert math.isclose(again[p.name], config[p.name], rel_tol=1e-9, abs_tol=1e-12)
            else:
                assert again[p.name] == config[p.name]
