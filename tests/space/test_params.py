"""Float, Int and Categorical: validation, the unit interval, JSON."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tunegym.space import Categorical, Float, Int, hyperparameter_from_json


class TestFloat:
    def test_linear_unit_round_trip(self) -> None:
        p = Float("momentum", 0.1, 0.99)
        assert p.to_unit(0.1) == 0.0
        assert p.to_unit(0.99) == 1.0
        assert p.to_unit(0.545) == pytest.approx(0.5)
        assert p.from_unit(0.5) == pytest.approx(0.545)

    def test_log_unit_is_log_scaled(self) -> None:
        p = Float("lr", 1e-5, 10.0, log=True)
        assert p.to_unit(1e-2) == pytest.approx(0.5)
        assert p.from_unit(0.5) == pytest.approx(1e-2)
        assert p.from_unit(0.0) == 1e-5
        assert p.from_unit(1.0) == 10.0

    def test_bounds_are_floats(self) -> None:
        p = Float("x", 0, 1)
        assert isinstance(p.low, float) and isinstance(p.high, float)

    @pytest.mark.parametrize(
        ("args", "match"),
        [
            (("x", 1.0, 1.0), "low must be < high, got low=1.0, high=1.0"),
            (("x", 2.0, 1.0), "low must be < high"),
            (("x", 0.0, 1.0, True), "log scale needs low > 0, got low=0.0"),
            (("x", -1.0, 1.0, True), "log scale needs low > 0"),
            (("x", 0.0, math.inf), "high must be a finite number, got inf"),
            (("x", math.nan, 1.0), "low must be a finite number"),
            (("", 0.0, 1.0), r"non-empty identifier \(.*\), got ''"),
            (("learning rate", 0.0, 1.0), r"identifier \(.*\), got 'learning rate'"),
        ],
    )
    def test_invalid(self, args: tuple, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            Float(*args)

    def test_wrong_types(self) -> None:
        with pytest.raises(TypeError, match=r"log must be a bool"):
            Float("x", 1.0, 2.0, log="yes")  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"name must be a str"):
            Float(3, 1.0, 2.0)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"low must be a finite number, got True"):
            Float("x", True, 2.0)

    def test_contains_and_validate(self) -> None:
        p = Float("lr", 1e-4, 1e-1, log=True)
        assert (
            p.contains(1e-3) and p.contains(np.float32(1e-3)) and Float("x", 0.0, 2.0).contains(1)
        )
        assert not p.contains(0.2) and not p.contains(-1.0) and not p.contains(0.0)
        assert not p.contains("0.01") and not p.contains(math.nan) and not p.contains(True)
        with pytest.raises(ValueError, match=r"'lr' = 0.2 is outside its range \[0.0001, 0.1\]"):
            p.validate(0.2)
        with pytest.raises(ValueError, match=r"takes a float in"):
            p.validate("0.01")

    def test_rounding_noise_is_inside_and_clipped(self) -> None:
        # ConfigSpace writes 1e-4 as 0.00010000000000000009; both sides must accept the other.
        p = Float("lr", 0.00010000000000000009, 0.1, log=True)
        assert p.validate(1e-4) == p.low
        assert p.to_unit(1e-4) == 0.0

    def test_from_unit_rejects_outside(self) -> None:
        p = Float("x", 0.0, 1.0)
        for u in (-0.1, 1.5, math.nan):
            with pytest.raises(ValueError, match=r"unit value must be a number in \[0, 1\]"):
                p.from_unit(u)

    def test_json(self) -> None:
        p = Float("lr", 1e-4, 0.1, log=True)
        assert p.to_json() == {"name": "lr", "type": "float", "low": 1e-4, "high": 0.1, "log": True}
        assert hyperparameter_from_json(p.to_json()) == p


class TestInt:
    def test_maps_like_a_float_and_rounds_back(self) -> None:
        p = Int("batch_size", 16, 512, log=True)
        assert p.to_unit(64) == pytest.approx(Float("b", 16, 512, log=True).to_unit(64))
        assert [p.from_unit(p.to_unit(v)) for v in range(16, 513)] == list(range(16, 513))
        assert p.from_unit(0.0) == 16 and p.from_unit(1.0) == 512
        assert isinstance(p.from_unit(0.3), int)

    def test_validate_normalises(self) -> None:
        p = Int("num_layers", 1, 5)
        assert p.validate(3.0) == 3 and isinstance(p.validate(3.0), int)
        assert p.validate(np.int64(2)) == 2 and type(p.validate(np.int64(2))) is int
        with pytest.raises(ValueError, match=r"takes an int in"):
            p.validate(2.5)
        with pytest.raises(ValueError, match=r"'num_layers' = 6 is outside its range \[1, 5\]"):
            p.validate(6)
        assert not p.contains(True) and not p.contains("3")

    def test_invalid(self) -> None:
        with pytest.raises(TypeError, match=r"low must be an int, got 1.5; use Float"):
            Int("x", 1.5, 3)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"log scale needs low > 0, got low=0"):
            Int("x", 0, 3, log=True)
        with pytest.raises(ValueError, match=r"low must be < high"):
            Int("x", 3, 3)

    def test_json(self) -> None:
        p = Int("max_units", 64, 1024, log=True)
        assert p.to_json() == {
            "name": "max_units",
            "type": "int",
            "low": 64,
            "high": 1024,
            "log": True,
        }
        assert hyperparameter_from_json(p.to_json()) == p


class TestCategorical:
    def test_unit_cells(self) -> None:
        p = Categorical("opt", ("adam", "sgd", "rmsprop", "adamw"))
        assert [p.to_unit(c) for c in p.choices] == [0.125, 0.375, 0.625, 0.875]
        assert [p.from_unit(u) for u in (0.0, 0.2499, 0.25, 0.99, 1.0)] == [
            "adam", "adam", "sgd", "adamw", "adamw",
        ]  # fmt: skip
        assert all(p.from_unit(p.to_unit(c)) == c for c in p.choices)

    def test_choices_normalised(self) -> None:
        p = Categorical("x", [np.int64(1), 2])  # type: ignore[arg-type]
        assert p.choices == (1, 2) and type(p.choices[0]) is int
        assert hash(p) == hash(Categorical("x", (1, 2)))

    def test_bool_is_not_int(self) -> None:
        p = Categorical("x", (0, 1))
        assert p.contains(1) and p.contains(1.0) and not p.contains(True)
        assert Categorical("b", (True, False)).validate(True) is True
        assert Categorical("m", (1, True)).choices == (1, True)  # distinct: a bool and an int

    @pytest.mark.parametrize(
        ("choices", "error", "match"),
        [
            ((), ValueError, "at least one choice"),
            (("a", "a"), ValueError, "must be distinct, but 'a' and 'a' are equal"),
            ((1, 1.0), ValueError, "must be distinct, but 1 and 1.0"),
            ((math.nan,), ValueError, "must be finite, got nan"),
            ((None,), TypeError, "str, int, float or bool, got NoneType None"),
            ("abc", TypeError, "must be a tuple of values, got 'abc'"),
        ],
    )
    def test_invalid(self, choices: object, error: type[Exception], match: str) -> None:
        with pytest.raises(error, match=match):
            Categorical("x", choices)  # type: ignore[arg-type]

    def test_unknown_choice_says_did_you_mean(self) -> None:
        p = Categorical("opt", ("adam", "sgd"))
        with pytest.raises(
            ValueError, match=r"takes one of \['adam', 'sgd'\], got 'adma'\. Did you mean 'adam'\?"
        ):
            p.validate("adma")

    def test_json(self) -> None:
        p = Categorical("act", ("relu", "tanh"))
        assert p.to_json() == {"name": "act", "type": "categorical", "choices": ["relu", "tanh"]}
        assert hyperparameter_from_json(p.to_json()) == p


class TestFromJson:
    def test_log_defaults_to_false(self) -> None:
        assert hyperparameter_from_json({"name": "x", "type": "int", "low": 1, "high": 3}) == Int(
            "x", 1, 3
        )

    def test_unknown_type(self) -> None:
        with pytest.raises(
            ValueError, match=r"Unknown hyperparameter type 'flot'.*Did you mean 'float'"
        ):
            hyperparameter_from_json({"name": "x", "type": "flot", "low": 0, "high": 1})
        with pytest.raises(
            ValueError, match=r"ConfigSpace's JSON: read it with Space.from_configspace"
        ):
            hyperparameter_from_json({"name": "x", "type": "uniform_float", "lower": 0, "upper": 1})

    def test_missing_and_unknown_keys(self) -> None:
        with pytest.raises(ValueError, match=r"is missing 'high'"):
            hyperparameter_from_json({"name": "x", "type": "float", "low": 0})
        with pytest.raises(ValueError, match=r"Unknown key 'lo'.*Did you mean 'low'"):
            hyperparameter_from_json({"name": "x", "type": "float", "lo": 0, "high": 1})
        with pytest.raises(TypeError, match=r"must be an object"):
            hyperparameter_from_json([1, 2])  # type: ignore[arg-type]
