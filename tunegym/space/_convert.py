"""Hyperparameters to and from Optuna's distributions and ConfigSpace.

Optuna and ConfigSpace are imported only inside the functions that use them; reading a
ConfigSpace JSON needs no ConfigSpace (its format is read directly).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from tunegym.errors import did_you_mean
from tunegym.space._params import Categorical, Float, Hyperparameter, Int

if TYPE_CHECKING:
    import optuna
    from ConfigSpace import ConfigurationSpace

__all__ = [
    "CONFIGSPACE_TYPES",
    "from_configspace",
    "from_optuna",
    "suggest",
    "to_configspace",
    "to_optuna",
]

CONFIGSPACE_TYPES: Final[tuple[str, ...]] = (
    "uniform_float",
    "uniform_int",
    "categorical",
    "ordinal",
    "constant",
)


def to_optuna(
    params: Sequence[Hyperparameter],
) -> dict[str, optuna.distributions.BaseDistribution]:
    """Each hyperparameter as the Optuna distribution that samples the same values."""
    from optuna.distributions import (
        BaseDistribution,
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    out: dict[str, BaseDistribution] = {}
    for p in params:
        if isinstance(p, Float):
            out[p.name] = FloatDistribution(p.low, p.high, log=p.log)
        elif isinstance(p, Int):
            out[p.name] = IntDistribution(p.low, p.high, log=p.log)
        else:
            out[p.name] = CategoricalDistribution(p.choices)
    return out


def from_optuna(
    distributions: Mapping[str, optuna.distributions.BaseDistribution],
) -> tuple[Hyperparameter, ...]:
    """The hyperparameters of Optuna distributions (name -> distribution)."""
    from optuna.distributions import (
        CategoricalDistribution,
        FloatDistribution,
        IntDistribution,
    )

    if not isinstance(distributions, Mapping):
        raise TypeError(f"from_optuna takes a mapping name -> distribution, got {distributions!r}.")
    params: list[Hyperparameter] = []
    for name, dist in distributions.items():
        if isinstance(dist, FloatDistribution):
            if dist.step is not None:
                raise ValueError(
                    f"Optuna distribution {name!r} = {dist!r} has step={dist.step}; tunegym "
                    "spaces have no steps: drop the step or list the values as a Categorical."
                )
            params.append(Float(name, dist.low, dist.high, log=dist.log))
        elif isinstance(dist, IntDistribution):
            if dist.step != 1:
                raise ValueError(
                    f"Optuna distribution {name!r} = {dist!r} has step={dist.step}; tunegym "
                    "spaces have no steps: use step=1 or list the values as a Categorical."
                )
            params.append(Int(name, dist.low, dist.high, log=dist.log))
        elif isinstance(dist, CategoricalDistribution):
            params.append(Categorical(name, tuple(dist.choices)))  # type: ignore[arg-type]
        else:
            raise ValueError(
                f"Optuna distribution {name!r} = {dist!r} is not supported; use "
                "FloatDistribution, IntDistribution or CategoricalDistribution."
            )
    return tuple(params)


def suggest(params: Sequence[Hyperparameter], trial: optuna.trial.BaseTrial) -> dict[str, Any]:
    """A configuration drawn by ``trial``, one ``suggest_*`` call per hyperparameter."""
    config: dict[str, Any] = {}
    for p in params:
        if isinstance(p, Float):
            config[p.name] = trial.suggest_float(p.name, p.low, p.high, log=p.log)
        elif isinstance(p, Int):
            config[p.name] = trial.suggest_int(p.name, p.low, p.high, log=p.log)
        else:
            config[p.name] = trial.suggest_categorical(p.name, p.choices)
    return config


def _read_configspace(path_or_dict: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(path_or_dict, Mapping):
        return dict(path_or_dict)
    if not isinstance(path_or_dict, str | os.PathLike):
        raise TypeError(
            f"from_configspace takes a path to a ConfigSpace JSON file or its parsed dict, "
            f"got {path_or_dict!r}."
        )
    path = Path(path_or_dict)
    if not path.is_file():
        raise FileNotFoundError(f"No ConfigSpace JSON file at {str(path)!r}.")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{str(path)!r} is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{str(path)!r} holds {type(data).__name__}, not a ConfigSpace object.")
    return data


def _field(entry: Mapping[str, Any], key: str) -> Any:
    if key not in entry:
        raise ValueError(
            f"ConfigSpace hyperparameter {entry.get('name')!r} of type {entry.get('type')!r} "
            f"has no {key!r}: {dict(entry)!r}."
        )
    return entry[key]


def _from_entry(entry: Mapping[str, Any]) -> Hyperparameter:
    name, kind = entry.get("name"), entry.get("type")
    if kind not in CONFIGSPACE_TYPES:
        hint = did_you_mean(kind, CONFIGSPACE_TYPES) if isinstance(kind, str) else ""
        raise ValueError(
            f"ConfigSpace hyperparameter {name!r} has type {kind!r}, which tunegym does not "
            f"support; supported: {list(CONFIGSPACE_TYPES)}.{hint} Drop it with "
            "drop=(name,) or redefine it with a supported type."
        )
    if kind in ("uniform_float", "uniform_int"):
        if entry.get("q") not in (None, 1 if kind == "uniform_int" else None):
            raise ValueError(
                f"ConfigSpace hyperparameter {name!r} is quantised (q={entry['q']!r}), which "
                "tunegym does not support; list its values in a categorical instead."
            )
        log = bool(entry.get("log", False))
        low, high = _field(entry, "lower"), _field(entry, "upper")
        if kind == "uniform_float":
            return Float(name, low, high, log=log)  # type: ignore[arg-type]
        return Int(name, low, high, log=log)  # type: ignore[arg-type]
    if kind == "categorical":
        return Categorical(name, tuple(_field(entry, "choices")))  # type: ignore[arg-type]
    if kind == "ordinal":
        return Categorical(name, tuple(_field(entry, "sequence")))  # type: ignore[arg-type]
    return Categorical(name, (_field(entry, "value"),))  # type: ignore[arg-type]


def from_configspace(
    path_or_dict: str | os.PathLike[str] | Mapping[str, Any], drop: Sequence[str] = ()
) -> tuple[Hyperparameter, ...]:
    """The hyperparameters of a ConfigSpace JSON document, leaving out ``drop``."""
    data = _read_configspace(path_or_dict)
    entries = data.get("hyperparameters")
    if not isinstance(entries, list):
        raise ValueError(
            f"A ConfigSpace JSON document needs a 'hyperparameters' list, got keys {sorted(data)}."
        )
    for key in ("conditions", "forbiddens"):
        if data.get(key):
            raise ValueError(
                f"The ConfigSpace document has {key} ({len(data[key])}), which tunegym spaces "
                "cannot express; remove them (or the hyperparameters they involve) first."
            )
    if isinstance(drop, str):
        raise TypeError(
            f"drop takes a sequence of names, got the string {drop!r}; use ({drop!r},)."
        )
    names = [e.get("name") for e in entries if isinstance(e, Mapping)]
    for name in drop:
        if name not in names:
            raise ValueError(
                f"Cannot drop {name!r}: the ConfigSpace document has {names}."
                + did_you_mean(str(name), [str(n) for n in names])
            )
    params: list[Hyperparameter] = []
    for entry in entries:
        if not isinstance(entry, Mapping):
            raise ValueError(f"A ConfigSpace hyperparameter must be an object, got {entry!r}.")
        if entry.get("name") not in drop:
            params.append(_from_entry(entry))
    return tuple(params)


def to_configspace(params: Sequence[Hyperparameter], name: str = "") -> ConfigurationSpace:
    """The hyperparameters as a ``ConfigSpace.ConfigurationSpace`` (for SMAC3, DEHB).

    A `Float` becomes a ``Float``, an `Int` an ``Integer`` (bounds included, log scale kept), a
    `Categorical` a ``Categorical`` of the same choices, in order.

    Raises:
        MissingExtraError: ConfigSpace is not installed (the ``peers`` extra).
    """
    try:
        import ConfigSpace as CS
    except ImportError:
        from tunegym.errors import MissingExtraError

        raise MissingExtraError("ConfigSpace", "peers", "Space.to_configspace") from None
    out = CS.ConfigurationSpace(name=name or None)
    for p in params:
        if isinstance(p, Float):
            out.add(CS.Float(p.name, (p.low, p.high), log=p.log))
        elif isinstance(p, Int):
            out.add(CS.Integer(p.name, (p.low, p.high), log=p.log))
        else:
            out.add(CS.Categorical(p.name, list(p.choices)))
    return out
