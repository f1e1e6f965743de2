"""Optuna distributions and ConfigSpace's JSON, both ways where there are two."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from tunegym.space import CONFIGSPACE_TYPES, LCBENCH_SPACE, Categorical, Float, Int, Space

SPACE = Space(
    (
        Float("lr", 1e-4, 1e-1, log=True),
        Float("momentum", 0.1, 0.99),
        Int("batch_size", 16, 512, log=True),
        Int("layers", 1, 5),
        Categorical("act", ("relu", "tanh")),
    ),
    name="toy",
)


class TestOptuna:
    def test_to_optuna(self) -> None:
        d = SPACE.to_optuna()
        assert d == {
            "lr": FloatDistribution(1e-4, 1e-1, log=True),
            "momentum": FloatDistribution(0.1, 0.99),
            "batch_size": IntDistribution(16, 512, log=True),
            "layers": IntDistribution(1, 5),
            "act": CategoricalDistribution(("relu", "tanh")),
        }

    def test_round_trip(self) -> None:
        assert Space.from_optuna(SPACE.to_optuna(), name="toy") == SPACE
        assert Space.from_optuna(LCBENCH_SPACE.to_optuna(), name="lcbench") == LCBENCH_SPACE

    def test_suggest_in_a_study(self) -> None:
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        seen: list[dict[str, Any]] = []

        def objective(trial: optuna.Trial) -> float:
            config = SPACE.suggest(trial)
            seen.append(config)
            return float(config["lr"])

        study.optimize(objective, n_trials=8)
        assert len(seen) == 8 and all(SPACE.contains(c) for c in seen)
        assert study.trials[0].distributions == SPACE.to_optuna()
        assert [SPACE.validate(t.params) for t in study.trials] == [SPACE.validate(c) for c in seen]

    def test_unsupported(self) -> None:
        with pytest.raises(ValueError, match=r"has step=0.1; tunegym spaces have no steps"):
            Space.from_optuna({"x": FloatDistribution(0.0, 1.0, step=0.1)})
        with pytest.raises(ValueError, match=r"has step=2"):
            Space.from_optuna({"x": IntDistribution(0, 10, step=2)})
        with pytest.raises(ValueError, match=r"is not supported"):
            Space.from_optuna({"x": object()})  # type: ignore[dict-item]


def _doc(*entries: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"hyperparameters": list(entries), "conditions": [], "forbiddens": [], **extra}


class TestConfigSpace:
    def test_all_supported_types(self) -> None:
        doc = _doc(
            {
                "name": "lr",
                "type": "uniform_float",
                "log": True,
                "lower": 1e-4,
                "upper": 0.1,
                "default": 1e-3,
                "q": None,
            },
            {
                "name": "units",
                "type": "uniform_int",
                "log": False,
                "lower": 8,
                "upper": 64,
                "default": 16,
            },
            {
                "name": "act",
                "type": "categorical",
                "choices": ["relu", "tanh"],
                "default": "relu",
                "probabilities": None,
            },
            {"name": "size", "type": "ordinal", "sequence": ["s", "m", "l"], "default": "m"},
            {"name": "opt", "type": "constant", "value": "adam"},
        )
        s = Space.from_configspace(doc, name="cs")
        assert s == Space(
            (
                Float("lr", 1e-4, 0.1, log=True),
                Int("units", 8, 64),
                Categorical("act", ("relu", "tanh")),
                Categorical("size", ("s", "m", "l")),
                Categorical("opt", ("adam",)),
            ),
            name="cs",
        )
        assert set(CONFIGSPACE_TYPES) == {
            "uniform_float",
            "uniform_int",
            "categorical",
            "ordinal",
            "constant",
        }

    def test_reads_a_file_and_drops(self, tmp_path: Path) -> None:
        path = tmp_path / "cs.json"
        doc = _doc(
            {"name": "task", "type": "categorical", "choices": ["1", "2"]},
            {"name": "x", "type": "uniform_float", "lower": 0.0, "upper": 1.0},
        )
        path.write_text(json.dumps(doc))
        assert Space.from_configspace(path, drop=("task",)) == Space((Float("x", 0.0, 1.0),))
        assert Space.from_configspace(str(path)).names == ("task", "x")

    def test_unsupported_type(self) -> None:
        doc = _doc(
            {"name": "x", "type": "normal_float", "mu": 0.0, "sigma": 1.0, "lower": -3, "upper": 3}
        )
        with pytest.raises(
            ValueError,
            match=r"'x' has type 'normal_float', which tunegym does not support; supported: \['uniform_float'",
        ):
            Space.from_configspace(doc)
        # ... but it can be dropped
        assert Space.from_configspace(
            _doc(
                doc["hyperparameters"][0],
                {"name": "y", "type": "uniform_int", "lower": 1, "upper": 3},
            ),
            drop=("x",),
        ).names == ("y",)

    def test_other_errors(self, tmp_path: Path) -> None:
        with pytest.raises(ValueError, match=r"quantised \(q=0.5\)"):
            Space.from_configspace(
                _doc({"name": "x", "type": "uniform_float", "lower": 0, "upper": 1, "q": 0.5})
            )
        with pytest.raises(ValueError, match=r"has conditions"):
            Space.from_configspace(
                _doc(
                    {"name": "x", "type": "uniform_float", "lower": 0, "upper": 1},
                    conditions=[{"child": "x"}],
                )
            )
        with pytest.raises(ValueError, match=r"Cannot drop 'epochs'.*Did you mean 'epoch'"):
            Space.from_configspace(
                _doc({"name": "epoch", "type": "uniform_int", "lower": 1, "upper": 3}),
                drop=("epochs",),
            )
        with pytest.raises(TypeError, match=r"drop takes a sequence of names"):
            Space.from_configspace(
                _doc({"name": "epoch", "type": "uniform_int", "lower": 1, "upper": 3}), drop="epoch"
            )
        with pytest.raises(ValueError, match=r"has no 'upper'"):
            Space.from_configspace(_doc({"name": "x", "type": "uniform_int", "lower": 1}))
        with pytest.raises(ValueError, match=r"needs a 'hyperparameters' list"):
            Space.from_configspace({"params": []})
        with pytest.raises(FileNotFoundError, match=r"No ConfigSpace JSON file"):
            Space.from_configspace(tmp_path / "missing.json")
        bad = tmp_path / "bad.json"
        bad.write_text("{")
        with pytest.raises(ValueError, match=r"is not valid JSON"):
            Space.from_configspace(bad)
