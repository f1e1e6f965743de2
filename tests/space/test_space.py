"""Space: the container, validation, the unit cube, sampling, keys, JSON, grids, narrowing."""

from __future__ import annotations

import json
import warnings
from typing import Any

import numpy as np
import pytest

from tunegym.space import Categorical, Float, Int, Space


@pytest.fixture
def space() -> Space:
    return Space(
        (
            Float("lr", 1e-4, 1e-1, log=True),
            Int("batch_size", 16, 512, log=True),
            Float("dropout", 0.0, 0.5),
            Int("layers", 1, 5),
            Categorical("act", ("relu", "tanh", "gelu")),
        ),
        name="toy",
    )


GOOD = {"lr": 1e-3, "batch_size": 64, "dropout": 0.25, "layers": 3, "act": "tanh"}


class TestContainer:
    def test_names_dim_iter_getitem(self, space: Space) -> None:
        assert space.names == ("lr", "batch_size", "dropout", "layers", "act")
        assert space.dim == len(space) == 5
        assert [p.name for p in space] == list(space.names)
        assert space["layers"] == Int("layers", 1, 5)

    def test_getitem_unknown(self, space: Space) -> None:
        with pytest.raises(KeyError, match=r"No hyperparameter 'layer'.*Did you mean 'layers'"):
            space["layer"]

    def test_list_is_taken_as_tuple_and_hashable(self) -> None:
        s = Space([Float("x", 0.0, 1.0)])  # type: ignore[arg-type]
        assert s.params == (Float("x", 0.0, 1.0),)
        assert hash(s) == hash(Space((Float("x", 0.0, 1.0),)))

    def test_invalid(self) -> None:
        with pytest.raises(ValueError, match=r"names must be distinct; repeated: \['x'\]"):
            Space((Float("x", 0.0, 1.0), Int("x", 1, 2)))
        with pytest.raises(ValueError, match=r"at least one hyperparameter"):
            Space(())
        with pytest.raises(TypeError, match=r"must be Float, Int or Categorical, got dict"):
            Space(({"name": "x"},))  # type: ignore[arg-type]
        with pytest.raises(TypeError, match=r"must be a tuple of hyperparameters"):
            Space(Float("x", 0.0, 1.0))  # type: ignore[arg-type]


class TestValidate:
    def test_normalises_types_and_order(self, space: Space) -> None:
        config = {
            "act": "gelu",
            "layers": 2.0,
            "dropout": 0,
            "batch_size": np.int64(32),
            "lr": np.float32(0.01),
        }
        out = space.validate(config)
        assert list(out) == list(space.names)
        assert type(out["layers"]) is int and type(out["batch_size"]) is int
        assert type(out["dropout"]) is float and type(out["lr"]) is float
        assert config["layers"] == 2.0  # a copy: the input is untouched

    def test_unknown_key(self, space: Space) -> None:
        with pytest.raises(
            ValueError, match=r"Unknown hyperparameter 'dropuot'.*Did you mean 'dropout'"
        ):
            space.validate({**GOOD, "dropuot": 0.1})

    def test_missing_key(self, space: Space) -> None:
        config = {k: v for k, v in GOOD.items() if k != "layers"}
        with pytest.raises(ValueError, match=r"is missing \['layers'\]; space 'toy' needs"):
            space.validate(config)

    def test_out_of_range_names_the_range(self, space: Space) -> None:
        with pytest.raises(ValueError, match=r"'dropout' = 0.7 is outside its range \[0.0, 0.5\]"):
            space.validate({**GOOD, "dropout": 0.7})
        with pytest.raises(
            ValueError, match=r"'batch_size' = 8 is outside its range \[16, 512\] \(log scale\)"
        ):
            space.validate({**GOOD, "batch_size": 8})

    def test_contains(self, space: Space) -> None:
        assert space.contains(GOOD)
        assert not space.contains({**GOOD, "act": "elu"})
        assert not space.contains({**GOOD, "extra": 1})
        assert not space.contains({"lr": 1e-3})
        assert not space.contains([1, 2])  # type: ignore[arg-type]

    def test_not_a_mapping(self, space: Space) -> None:
        with pytest.raises(TypeError, match=r"must be a mapping"):
            space.validate([("lr", 1e-3)])  # type: ignore[arg-type]


class TestUnit:
    def test_round_trip(self, space: Space) -> None:
        u = space.to_unit(GOOD)
        assert u.dtype == np.float64 and u.shape == (5,)
        assert np.all((u >= 0) & (u <= 1))
        back = space.from_unit(u)
        assert back["batch_size"] == 64 and back["layers"] == 3 and back["act"] == "tanh"
        assert back["lr"] == pytest.approx(1e-3) and back["dropout"] == pytest.approx(0.25)

    def test_corners(self, space: Space) -> None:
        assert space.from_unit(np.zeros(5)) == {
            "lr": 1e-4, "batch_size": 16, "dropout": 0.0, "layers": 1, "act": "relu"
        }  # fmt: skip
        assert space.from_unit([1, 1, 1, 1, 1]) == {
            "lr": 0.1, "batch_size": 512, "dropout": 0.5, "layers": 5, "act": "gelu"
        }  # fmt: skip

    def test_from_unit_errors(self, space: Space) -> None:
        with pytest.raises(ValueError, match=r"has shape \(5,\).*got shape \(4,\)"):
            space.from_unit(np.zeros(4))
        with pytest.raises(
            ValueError, match=r"'dropout': a unit value must be a number in \[0, 1\], got 1.5"
        ):
            space.from_unit([0.5, 0.5, 1.5, 0.5, 0.5])

    def test_to_unit_many(self, space: Space) -> None:
        configs = space.sample(7, seed=1)
        many = space.to_unit_many(configs)
        assert many.shape == (7, 5)
        np.testing.assert_array_equal(many[3], space.to_unit(configs[3]))
        assert space.to_unit_many([]).shape == (0, 5)


class TestSample:
    @pytest.mark.parametrize("method", ["sobol", "random"])
    def test_seeded_in_range(self, space: Space, method: str) -> None:
        a = space.sample(20, seed=3, method=method)
        assert a == space.sample(20, seed=3, method=method)
        assert a != space.sample(20, seed=4, method=method)
        assert len(a) == 20 and all(space.contains(c) for c in a)

    def test_sobol_prefix_of_next_power_of_two(self) -> None:
        s = Space((Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)))
        five, eight = s.sample(5, seed=0), s.sample(8, seed=0)
        assert five == eight[:5]
        assert len({(c["x"], c["y"]) for c in eight}) == 8

    def test_sobol_covers_evenly(self) -> None:
        s = Space((Float("x", 0.0, 1.0), Float("y", 0.0, 1.0)))
        u = s.to_unit_many(s.sample(256, seed=7))
        # 256 Sobol points put exactly 16 in each cell of a 4 x 4 grid (a (0, m, 2)-net)
        counts, _, _ = np.histogram2d(u[:, 0], u[:, 1], bins=4, range=[[0, 1], [0, 1]])
        assert np.all(counts == 16)
        # i.i.d. points are far less even
        r = s.to_unit_many(s.sample(256, seed=7, method="random"))
        counts_r, _, _ = np.histogram2d(r[:, 0], r[:, 1], bins=4, range=[[0, 1], [0, 1]])
        assert counts_r.max() - counts_r.min() > 0

    @pytest.mark.parametrize("n", [1, 3, 5, 100])
    def test_no_balance_warning(self, space: Space, n: int) -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert len(space.sample(n, seed=0)) == n

    def test_zero(self, space: Space) -> None:
        assert space.sample(0, seed=0) == []

    def test_errors(self, space: Space) -> None:
        with pytest.raises(
            ValueError, match=r"Unknown sampling method 'sobel'.*Did you mean 'sobol'"
        ):
            space.sample(4, seed=0, method="sobel")
        with pytest.raises(ValueError, match=r"n must be an int >= 0, got -1"):
            space.sample(-1, seed=0)
        with pytest.raises(TypeError, match=r"seed must be an int, got None"):
            space.sample(4, seed=None)  # type: ignore[arg-type]


class TestKey:
    def test_canonical(self, space: Space) -> None:
        shuffled = dict(reversed(list(GOOD.items())))
        assert space.key(shuffled) == space.key(GOOD) == (0.001, 64, 0.25, 3, "tanh")
        assert space.key({**GOOD, "lr": 0.001 * (1 + 1e-12), "layers": 3.0}) == space.key(GOOD)
        assert space.key({**GOOD, "lr": 0.0011}) != space.key(GOOD)
        hash(space.key(GOOD))

    def test_survives_a_unit_round_trip(self, space: Space) -> None:
        for config in space.sample(50, seed=0):
            assert space.key(space.from_unit(space.to_unit(config))) == space.key(config)


class TestJson:
    def test_round_trip(self, space: Space) -> None:
        text = json.dumps(space.to_json())
        assert Space.from_json(json.loads(text)) == space

    def test_shape(self) -> None:
        s = Space((Int("n", 1, 3),), name="s")
        assert s.to_json() == {
            "name": "s", "params": [{"name": "n", "type": "int", "low": 1, "high": 3, "log": False}]
        }  # fmt: skip

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match=r"Unknown key 'hyperparameters'.*from_configspace"):
            Space.from_json({"hyperparameters": []})
        with pytest.raises(ValueError, match=r"needs 'params'"):
            Space.from_json({"name": "x"})
        with pytest.raises(ValueError, match=r"'params' must be a list"):
            Space.from_json({"params": "x"})


class TestGrid:
    def test_from_grid_kinds(self) -> None:
        s = Space.from_grid(
            {
                "lr": [1e-3, 1e-2, 0.1],
                "momentum": [0.5, 0.9],
                "width": [64, 128, 1024],
                "layers": [1, 2, 3],
                "act": ["relu", "tanh", "relu"],
                "bn": [True, False],
                "seed": [7],
            },
            name="g",
        )
        assert s.params == (
            Float("lr", 1e-3, 0.1, log=True),
            Float("momentum", 0.5, 0.9),
            Int("width", 64, 1024, log=True),
            Int("layers", 1, 3),
            Categorical("act", ("relu", "tanh")),
            Categorical("bn", (True, False)),
            Categorical("seed", (7,)),
        )
        assert s.name == "g"

    def test_log_needs_positive_and_ratio_ten(self) -> None:
        assert Space.from_grid({"x": [1, 10]})["x"] == Int("x", 1, 10, log=True)
        assert Space.from_grid({"x": [1, 9]})["x"] == Int("x", 1, 9)
        assert Space.from_grid({"x": [-1.0, 100.0]})["x"] == Float("x", -1.0, 100.0)
        assert Space.from_grid({"x": [0.0, 100.0]})["x"] == Float("x", 0.0, 100.0)

    def test_grid_holds_its_values(self) -> None:
        values: dict[str, list[Any]] = {
            "lr": [1e-4, 1e-3, 1e-2],
            "bs": [16, 32],
            "act": ["relu", "tanh"],
        }
        s = Space.from_grid(values)
        assert all(s.contains(c) for c in Space.grid(values))

    def test_grid_row_major(self) -> None:
        g = Space.grid({"a": [1, 2], "b": ["x", "y", "z"]})
        assert [(c["a"], c["b"]) for c in g] == [
            (1, "x"), (1, "y"), (1, "z"), (2, "x"), (2, "y"), (2, "z"),
        ]  # fmt: skip

    def test_errors(self) -> None:
        with pytest.raises(ValueError, match=r"Grid values for 'a' are empty"):
            Space.from_grid({"a": []})
        with pytest.raises(TypeError, match=r"must be a sequence"):
            Space.grid({"a": "abc"})


class TestNarrow:
    def test_narrow_each_kind(self, space: Space) -> None:
        n = space.narrow({"lr": (1e-3, 1.0), "layers": (1.5, 4.2), "act": ["gelu", "relu"]})
        assert n["lr"] == Float("lr", 1e-3, 0.1, log=True)  # intersected with the range
        assert n["layers"] == Int("layers", 2, 4)
        assert n["act"] == Categorical("act", ("relu", "gelu"))  # the space's order
        assert n["batch_size"] == space["batch_size"] and n.name == space.name
        assert all(space.contains(c) for c in n.sample(16, seed=0))

    def test_errors(self, space: Space) -> None:
        with pytest.raises(ValueError, match=r"unknown hyperparameter 'lrr'.*Did you mean 'lr'"):
            space.narrow({"lrr": (1e-3, 1e-2)})
        with pytest.raises(ValueError, match=r"leaves \[0.5, 0.5\], not a range; widen the box"):
            space.narrow({"dropout": (0.5, 0.9)})
        with pytest.raises(ValueError, match=r"with a \(low, high\) pair"):
            space.narrow({"dropout": 0.3})
        with pytest.raises(ValueError, match=r"takes one of"):
            space.narrow({"act": ["elu"]})


def test_describe(space: Space) -> None:
    lines = space.describe().splitlines()
    assert len(lines) == space.dim
    assert lines[0].split() == ["lr", "float", "[0.0001,", "0.1]", "log"]
    assert lines[4].split() == ["act", "categorical", "{'relu',", "'tanh',", "'gelu'}"]
