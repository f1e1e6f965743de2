"""Mapping the service's configurations into a client's search space, and narrowing it.

The service knows every run by learning rate, batch size and epochs. A client's parameter plays
one of these *roles* (given, or inferred from its name); a parameter without a role maps by its
exact name to a stored hyperparameter of that name (``momentum``, ``weight_decay``, ... of
LCBench's space). A value is mapped into the parameter by clipping into its range, rounding
(``int``), snapping to its ``step`` and, for categorical parameters with numeric choices, taking
the nearest choice (on a log scale when all choices are positive). Parameters mapped neither way
are the client tuner's to sample.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from tunegym.service._schemas import Parameter, Role, SearchSpaceSpec

__all__ = [
    "ROLE_NAMES",
    "config_params",
    "infer_role",
    "map_value",
    "named_of",
    "narrow",
    "roles_of",
    "widened",
]

ROLE_NAMES: Final[dict[str, tuple[str, ...]]] = {
    "learning_rate": ("lr", "learning_rate", "learning_rate_init", "lr_init", "base_lr", "eta"),
    "batch_size": ("batch_size", "batchsize", "bs", "train_batch_size"),
    "epochs": ("epochs", "n_epochs", "num_epochs", "max_epochs", "epoch"),
}
_TOL: Final = 1e-9


def _slack(bound: float) -> float:
    """Rounding slack around ``bound``: relative, but never below ``_TOL`` (and never negative)."""
    return _TOL * max(1.0, abs(bound))


def infer_role(name: str) -> Role | None:
    """The role a parameter name suggests (last dotted/slashed part, case-insensitive)."""
    base = name.replace("/", ".").rsplit(".", 1)[-1].lower()
    for role, names in ROLE_NAMES.items():
        if base in names:
            return role  # type: ignore[return-value]
    return None


def roles_of(space: SearchSpaceSpec) -> dict[Role, Parameter]:
    """Each role's parameter in ``space``.

    Raises:
        ValueError: for two parameters with one role, or a role on a parameter whose values
            are not numbers.
    """
    found: dict[Role, Parameter] = {}
    for parameter in space.parameters:
        role = parameter.role or infer_role(parameter.name)
        if role is None:
            continue
        if role in found:
            raise ValueError(
                f"Parameters {found[role].name!r} and {parameter.name!r} both play the role "
                f"{role!r}; set 'role' on the one you mean (and give the other a name without "
                "a role or role=null is inferred from the name)."
            )
        if parameter.type == "categorical" and parameter.numeric_choices is None:
            if parameter.role is None:
                continue  # a name that looks like a role, with non-numeric choices: not mapped
            raise ValueError(
                f"Parameter {parameter.name!r} has role {role!r} but non-numeric choices."
            )
        found[role] = parameter
    return found


def named_of(
    space: SearchSpaceSpec, hyperparameters: Collection[str], roles: Mapping[Role, Parameter]
) -> dict[str, Parameter]:
    """The parameters of ``space`` that map by name: stored name -> parameter.

    A parameter maps by its exact name when it plays no role (``roles``, from `roles_of`), one
    of ``hyperparameters`` (a stored space's names) has that name, and its values are numbers
    (a categorical with non-numeric choices is not mapped, as for roles).

    Example:
        >>> from tunegym.service import SearchSpaceSpec
        >>> spec = SearchSpaceSpec.model_validate({"parameters": [
        ...     {"name": "lr", "type": "float", "low": 1e-4, "high": 0.1, "log": True},
        ...     {"name": "momentum", "type": "float", "low": 0.1, "high": 0.99},
        ...     {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5}]})
        >>> sorted(named_of(spec, ["learning_rate", "momentum"], roles_of(spec)))
        ['momentum']
    """
    taken = {p.name for p in roles.values()}
    stored = set(hyperparameters)
    return {
        p.name: p
        for p in space.parameters
        if p.name not in taken
        and p.name in stored
        and (p.type != "categorical" or p.numeric_choices is not None)
    }


def _bounds(parameter: Parameter) -> tuple[float, float]:
    choices = parameter.numeric_choices
    if choices is not None:
        return min(choices), max(choices)
    if parameter.low is None or parameter.high is None:  # the model validator forbids it
        raise ValueError(f"Parameter {parameter.name!r} has no low/high.")
    return parameter.low, parameter.high


def _snap(parameter: Parameter, value: float) -> float:
    low, high = _bounds(parameter)
    if parameter.step is not None:
        # ``value`` is inside [low, high], whose grid is bounded (validated): n is finite.
        n = round((value - low) / parameter.step)
        value = low + n * parameter.step
        if value > high + _slack(high):
            value -= parameter.step
    if parameter.type == "int":
        value = float(round(value))
    return min(max(value, low), high)


def map_value(parameter: Parameter, value: float) -> tuple[Any, bool]:
    """``value`` mapped into ``parameter`` and whether it lay outside its range.

    Example:
        >>> from tunegym.service import Parameter
        >>> lr = Parameter(name="lr", type="float", low=1e-4, high=1e-2, log=True)
        >>> map_value(lr, 0.1)
        (0.01, True)
    """
    low, high = _bounds(parameter)
    outside = value < low - _TOL * abs(low) or value > high + _TOL * abs(high)
    choices = parameter.numeric_choices
    if choices is not None:
        assert parameter.choices is not None
        use_log = value > 0 and all(c > 0 for c in choices)

        def gap(c: float) -> float:
            return abs(math.log(c) - math.log(value)) if use_log else abs(c - value)

        best = min(range(len(choices)), key=lambda i: (gap(choices[i]), i))
        return parameter.choices[best], outside
    clipped = _snap(parameter, min(max(value, low), high))
    return (int(clipped) if parameter.type == "int" else float(clipped)), outside


def narrow(parameter: Parameter, low: float, high: float) -> Parameter | None:
    """``parameter`` restricted to [low, high], or ``None`` when that leaves nothing or all.

    Integer bounds move inwards to whole numbers (and onto the ``step`` grid); categorical
    parameters keep the numeric choices inside.
    """
    if parameter.type == "categorical":
        assert parameter.choices is not None
        kept = [
            c
            for c, v in zip(parameter.choices, parameter.numeric_choices or [], strict=True)
            if low - _slack(low) <= v <= high + _slack(high)
        ]
        if not kept or len(kept) == len(parameter.choices):
            return None
        return parameter.model_copy(update={"choices": kept})
    old_low, old_high = _bounds(parameter)
    new_low, new_high = max(old_low, low), min(old_high, high)
    if new_low > new_high:  # disjoint: checked first, so the grid arithmetic stays finite
        return None
    if parameter.type == "int":
        new_low, new_high = float(math.ceil(new_low - _TOL)), float(math.floor(new_high + _TOL))
    if parameter.step is not None:
        step = parameter.step
        new_low = old_low + math.ceil((new_low - old_low) / step - _TOL) * step
        new_high = old_low + math.floor((new_high - old_low) / step + _TOL) * step
        # Float grid points carry rounding (0.1 + 2 * 0.3): keep them inside the given range.
        new_low, new_high = max(new_low, old_low), min(new_high, old_high)
    if new_low > new_high or (new_low <= old_low and new_high >= old_high):
        return None
    return parameter.model_copy(update={"low": new_low, "high": new_high})


def widened(parameter: Parameter, value: float) -> tuple[float, float]:
    """A box of one stored ``value`` widened so that the search keeps room in ``parameter``.

    Half a decade each side on a log-scaled parameter (as a lone learning rate), else a tenth
    of the parameter's range each side, at least one ``step`` (one for an integer).

    Example:
        >>> from tunegym.service import Parameter
        >>> widened(Parameter(name="momentum", type="float", low=0.1, high=0.9), 0.5)
        (0.42, 0.58)
    """
    if parameter.log and value > 0:  # capped: a stored 1e308 must not widen to infinity
        return value / math.sqrt(10), min(value * math.sqrt(10), sys.float_info.max)
    low, high = _bounds(parameter)
    half = (high - low) / 10
    if parameter.step is not None:
        half = max(half, parameter.step)
    if parameter.type == "int":
        half = max(half, 1.0)
    return value - half, value + half


def config_params(
    roles: Mapping[Role, Parameter],
    lr: float,
    batch_size: int,
    epochs: int,
    *,
    named: Mapping[str, Parameter] | None = None,
    values: Mapping[str, float] | None = None,
) -> tuple[dict[str, Any], list[str]]:
    """A stored configuration in the client's names: (params, names of clipped parameters).

    Args:
        roles: each role's parameter (`roles_of`).
        lr: the configuration's learning rate.
        batch_size: its batch size.
        epochs: the epoch at which it scored best.
        named: stored name -> the parameter of that name (`named_of`).
        values: the configuration's hyperparameters by stored name (every one of ``named``).

    Raises:
        KeyError: for a name of ``named`` that ``values`` lacks.
    """
    by_role: dict[Role, float] = {
        "learning_rate": lr,
        "batch_size": float(batch_size),
        "epochs": float(epochs),
    }
    params: dict[str, Any] = {}
    clipped: list[str] = []
    pairs = [(p, by_role[r]) for r, p in roles.items()]
    pairs += [(p, float((values or {})[n])) for n, p in (named or {}).items()]
    for parameter, value in pairs:
        params[parameter.name], outside = map_value(parameter, value)
        if outside:
            clipped.append(parameter.name)
    return params, clipped
