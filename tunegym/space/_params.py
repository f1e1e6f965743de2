"""The three kinds of hyperparameter: `Float`, `Int` and `Categorical`.

Each maps its values into the unit interval and back (``to_unit``/``from_unit``), so that a
search space is, to the tuners, the unit cube ``[0, 1]^d``; each says whether a value lies in its
domain and normalises it (`validate`), and reads and writes a small JSON form.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeAlias

from tunegym.errors import did_you_mean

__all__ = [
    "Categorical",
    "Choice",
    "Float",
    "Hyperparameter",
    "Int",
    "hyperparameter_from_json",
]

Choice: TypeAlias = str | int | float | bool
"""A value a `Categorical` may take."""

# A value this far outside a range (as a fraction of the range, on the unit scale) still counts
# as inside and is clipped to it: bounds and values that went through ``exp(log(x))`` or a text
# round trip are off by a few ulps (ConfigSpace writes 1e-4 as 0.00010000000000000009).
_UNIT_SLACK: Final = 1e-9


def _check_name(kind: str, name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{kind} name must be a str, got {type(name).__name__} {name!r}.")
    if not name.isidentifier():
        raise ValueError(
            f"{kind} name must be a non-empty identifier (letters, digits, '_'; not starting "
            f"with a digit), got {name!r}."
        )
    return name


def _is_real(value: object) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _check_bounds(kind: str, name: str, low: object, high: object, log: object) -> None:
    if not isinstance(log, bool):
        raise TypeError(f"{kind} {name!r}: log must be a bool, got {log!r}.")
    for label, bound in (("low", low), ("high", high)):
        if not _is_real(bound) or not math.isfinite(float(bound)):  # type: ignore[arg-type]
            raise ValueError(f"{kind} {name!r}: {label} must be a finite number, got {bound!r}.")
    if not float(low) < float(high):  # type: ignore[arg-type]
        raise ValueError(
            f"{kind} {name!r}: low must be < high, got low={low!r}, high={high!r}; "
            "for a single value use Categorical(name, (value,))."
        )
    if log and float(low) <= 0:  # type: ignore[arg-type]
        raise ValueError(
            f"{kind} {name!r}: a log scale needs low > 0, got low={low!r}; "
            "raise low or pass log=False."
        )


def _check_unit(name: str, u: object) -> float:
    if not _is_real(u) or not 0.0 <= float(u) <= 1.0:  # type: ignore[arg-type]
        raise ValueError(
            f"Hyperparameter {name!r}: a unit value must be a number in [0, 1], got {u!r}; "
            "clip it first (numpy.clip(u, 0, 1))."
        )
    return float(u)  # type: ignore[arg-type]


def _range_text(low: float, high: float, log: bool) -> str:
    return f"[{low!r}, {high!r}]" + (" (log scale)" if log else "")


@dataclass(frozen=True)
class Float:
    """A real-valued hyperparameter on ``[low, high]``, linear or log-scaled.

    Args:
        name: an identifier, e.g. ``"lr"``.
        low: the smallest value (> 0 when ``log``).
        high: the largest value (> ``low``).
        log: map to the unit interval on a log scale (for rates, decays).

    Example:
        >>> lr = Float("lr", 1e-5, 10.0, log=True)
        >>> lr.to_unit(1e-2)
        0.5
        >>> lr.from_unit(0.5)
        0.01
        >>> lr.contains(20.0)
        False
    """

    name: str
    low: float
    high: float
    log: bool = False

    def __post_init__(self) -> None:
        _check_name("Float", self.name)
        _check_bounds("Float", self.name, self.low, self.high, self.log)
        object.__setattr__(self, "low", float(self.low))
        object.__setattr__(self, "high", float(self.high))

    @property
    def type(self) -> str:
        """``"float"``, as in `to_json`."""
        return "float"

    def _unit(self, value: float) -> float:
        if self.log:
            if value <= 0:
                return -math.inf
            # log10, not ln: decimal bounds and values (1e-5, 1e-2) then map exactly.
            span = math.log10(self.high) - math.log10(self.low)
            return (math.log10(value) - math.log10(self.low)) / span
        return (value - self.low) / (self.high - self.low)

    def validate(self, value: object) -> float:
        """``value`` as a ``float`` clipped into ``[low, high]``.

        Raises:
            ValueError: for a non-number, NaN, or a value outside the range (beyond rounding).
        """
        if not _is_real(value) or math.isnan(float(value)):  # type: ignore[arg-type]
            raise ValueError(
                f"Hyperparameter {self.name!r} takes a float in "
                f"{_range_text(self.low, self.high, self.log)}, got {value!r}."
            )
        number = float(value)  # type: ignore[arg-type]
        if not -_UNIT_SLACK <= self._unit(number) <= 1.0 + _UNIT_SLACK:
            raise ValueError(
                f"Hyperparameter {self.name!r} = {number!r} is outside its range "
                f"{_range_text(self.low, self.high, self.log)}."
            )
        return min(max(number, self.low), self.high)

    def contains(self, value: object) -> bool:
        """Whether ``value`` is a number in ``[low, high]`` (up to rounding)."""
        try:
            self.validate(value)
        except ValueError:
            return False
        return True

    def to_unit(self, value: object) -> float:
        """``value``'s position in ``[0, 1]`` (log-scaled when ``log``).

        Raises:
            ValueError: for a value not in the range (see `validate`).
        """
        return min(max(self._unit(self.validate(value)), 0.0), 1.0)

    def from_unit(self, u: float) -> float:
        """The value at position ``u`` in ``[0, 1]``; the inverse of `to_unit`.

        Raises:
            ValueError: for ``u`` outside ``[0, 1]``.
        """
        u = _check_unit(self.name, u)
        if u == 0.0:  # exact ends: 10 ** log10(low) may be off by an ulp
            return self.low
        if u == 1.0:
            return self.high
        if self.log:
            log_low = math.log10(self.low)
            value = 10.0 ** (log_low + u * (math.log10(self.high) - log_low))
        else:
            value = self.low + u * (self.high - self.low)
        return min(max(value, self.low), self.high)

    def to_json(self) -> dict[str, Any]:
        """``{"name", "type": "float", "low", "high", "log"}``."""
        return {"name": self.name, "type": "float", "low": self.low, "high": self.high,
                "log": self.log}  # fmt: skip


@dataclass(frozen=True)
class Int:
    """An integer hyperparameter on ``[low, high]``, linear or log-scaled.

    It maps into the unit interval like a `Float` on the same range; `from_unit` rounds to the
    nearest integer (so, under uniform sampling, ``low`` and ``high`` come up half as often as
    the values between them).

    Args:
        name: an identifier, e.g. ``"batch_size"``.
        low: the smallest value (>= 1 when ``log``).
        high: the largest value (> ``low``).
        log: map to the unit interval on a log scale.

    Example:
        >>> bs = Int("batch_size", 16, 512, log=True)
        >>> bs.to_unit(16), bs.to_unit(512)
        (0.0, 1.0)
        >>> bs.from_unit(0.4)
        64
    """

    name: str
    low: int
    high: int
    log: bool = False

    def __post_init__(self) -> None:
        _check_name("Int", self.name)
        for label, bound in (("low", self.low), ("high", self.high)):
            if not isinstance(bound, numbers.Integral) or isinstance(bound, bool):
                raise TypeError(
                    f"Int {self.name!r}: {label} must be an int, got {bound!r}; "
                    "use Float for real-valued ranges."
                )
        _check_bounds("Int", self.name, self.low, self.high, self.log)
        object.__setattr__(self, "low", int(self.low))
        object.__setattr__(self, "high", int(self.high))

    @property
    def type(self) -> str:
        """``"int"``, as in `to_json`."""
        return "int"

    def _continuous(self) -> Float:
        return Float(self.name, self.low, self.high, self.log)

    def validate(self, value: object) -> int:
        """``value`` as an ``int`` (``3.0`` is taken as ``3``).

        Raises:
            ValueError: for a non-integral value or one outside the range.
        """
        integral = isinstance(value, numbers.Integral) or (
            isinstance(value, numbers.Real) and float(value).is_integer()
        )
        if isinstance(value, bool) or not integral:
            raise ValueError(
                f"Hyperparameter {self.name!r} takes an int in "
                f"{_range_text(self.low, self.high, self.log)}, got {value!r}."
            )
        number = int(value)  # type: ignore[call-overload]
        if not self.low <= number <= self.high:
            raise ValueError(
                f"Hyperparameter {self.name!r} = {number!r} is outside its range "
                f"{_range_text(self.low, self.high, self.log)}."
            )
        return number

    def contains(self, value: object) -> bool:
        """Whether ``value`` is an integer in ``[low, high]``."""
        try:
            self.validate(value)
        except ValueError:
            return False
        return True

    def to_unit(self, value: object) -> float:
        """``value``'s position in ``[0, 1]``, as a `Float` on the same range would place it.

        Raises:
            ValueError: for a value not in the range (see `validate`).
        """
        return self._continuous().to_unit(self.validate(value))

    def from_unit(self, u: float) -> int:
        """The integer nearest the value at position ``u``, clipped into the range.

        Raises:
            ValueError: for ``u`` outside ``[0, 1]``.
        """
        value = round(self._continuous().from_unit(u))
        return min(max(value, self.low), self.high)

    def to_json(self) -> dict[str, Any]:
        """``{"name", "type": "int", "low", "high", "log"}``."""
        return {"name": self.name, "type": "int", "low": self.low, "high": self.high,
                "log": self.log}  # fmt: skip


def _same_choice(a: object, b: object) -> bool:
    # True == 1 == 1.0 in Python; a bool choice is matched by bools only.
    return isinstance(a, bool) == isinstance(b, bool) and a == b


@dataclass(frozen=True)
class Categorical:
    """A hyperparameter taking one of a few values, kept in the given order.

    Choice ``i`` of ``n`` sits at ``(i + 0.5) / n`` on the unit interval, so an ordered list of
    choices (an ordinal) keeps its order there.

    Args:
        name: an identifier, e.g. ``"optimizer"``.
        choices: distinct str, int, float or bool values (a list is taken as a tuple).

    Example:
        >>> opt = Categorical("optimizer", ("adam", "sgd"))
        >>> opt.to_unit("sgd")
        0.75
        >>> opt.from_unit(0.2)
        'adam'
    """

    name: str
    choices: tuple[Choice, ...]

    def __post_init__(self) -> None:
        _check_name("Categorical", self.name)
        if isinstance(self.choices, str | bytes) or not hasattr(self.choices, "__iter__"):
            raise TypeError(
                f"Categorical {self.name!r}: choices must be a tuple of values, "
                f"got {self.choices!r}."
            )
        choices = tuple(c.item() if hasattr(c, "item") else c for c in self.choices)
        if not choices:
            raise ValueError(f"Categorical {self.name!r} needs at least one choice, got ().")
        for choice in choices:
            if not isinstance(choice, str | int | float | bool):
                raise TypeError(
                    f"Categorical {self.name!r}: choices must be str, int, float or bool, got "
                    f"{type(choice).__name__} {choice!r}."
                )
            if isinstance(choice, float) and not math.isfinite(choice):
                raise ValueError(
                    f"Categorical {self.name!r}: choices must be finite, got {choice!r}."
                )
        for i, choice in enumerate(choices):
            for other in choices[:i]:
                if _same_choice(choice, other):
                    raise ValueError(
                        f"Categorical {self.name!r}: choices must be distinct, but {other!r} "
                        f"and {choice!r} are equal (in {choices!r})."
                    )
        object.__setattr__(self, "choices", choices)

    @property
    def type(self) -> str:
        """``"categorical"``, as in `to_json`."""
        return "categorical"

    def index(self, value: object) -> int:
        """The position of ``value`` in `choices`.

        Raises:
            ValueError: if ``value`` is not one of the choices.
        """
        for i, choice in enumerate(self.choices):
            if _same_choice(value, choice):
                return i
        hint = ""
        if isinstance(value, str):
            hint = did_you_mean(value, [c for c in self.choices if isinstance(c, str)])
        raise ValueError(
            f"Hyperparameter {self.name!r} takes one of {list(self.choices)!r}, "
            f"got {value!r}.{hint}"
        )

    def validate(self, value: object) -> Choice:
        """The choice equal to ``value`` (as stored: ``2.0`` gives the choice ``2``).

        Raises:
            ValueError: if ``value`` is not one of the choices.
        """
        return self.choices[self.index(value)]

    def contains(self, value: object) -> bool:
        """Whether ``value`` is one of the choices."""
        return any(_same_choice(value, choice) for choice in self.choices)

    def to_unit(self, value: object) -> float:
        """``(index + 0.5) / n``: the middle of the choice's cell of the unit interval.

        Raises:
            ValueError: if ``value`` is not one of the choices.
        """
        return (self.index(value) + 0.5) / len(self.choices)

    def from_unit(self, u: float) -> Choice:
        """The choice whose cell holds ``u``: ``choices[min(int(u * n), n - 1)]``.

        Raises:
            ValueError: for ``u`` outside ``[0, 1]``.
        """
        n = len(self.choices)
        return self.choices[min(int(_check_unit(self.name, u) * n), n - 1)]

    def to_json(self) -> dict[str, Any]:
        """``{"name", "type": "categorical", "choices": [...]}``."""
        return {"name": self.name, "type": "categorical", "choices": list(self.choices)}


Hyperparameter: TypeAlias = Float | Int | Categorical
"""Any one hyperparameter."""

_JSON_KEYS: Final[dict[str, tuple[str, ...]]] = {
    "float": ("name", "type", "low", "high", "log"),
    "int": ("name", "type", "low", "high", "log"),
    "categorical": ("name", "type", "choices"),
}


def hyperparameter_from_json(data: Mapping[str, Any]) -> Hyperparameter:
    """The hyperparameter written by its ``to_json()`` (``log`` may be left out: ``False``).

    Raises:
        ValueError: for an unknown ``type``, a missing or unknown key, or invalid values.

    Example:
        >>> hyperparameter_from_json({"name": "lr", "type": "float", "low": 0.1, "high": 1.0})
        Float(name='lr', low=0.1, high=1.0, log=False)
    """
    if not isinstance(data, Mapping):
        raise TypeError(f"A hyperparameter's JSON must be an object (dict), got {data!r}.")
    kind = data.get("type")
    if kind not in _JSON_KEYS:
        hint = did_you_mean(kind, _JSON_KEYS) if isinstance(kind, str) else ""
        if isinstance(kind, str) and kind in ("uniform_float", "uniform_int", "constant"):
            hint += " (That is ConfigSpace's JSON: read it with Space.from_configspace.)"
        raise ValueError(
            f"Unknown hyperparameter type {kind!r} in {dict(data)!r}; "
            f"expected one of {sorted(_JSON_KEYS)}.{hint}"
        )
    keys = _JSON_KEYS[kind]
    for key in data:
        if key not in keys:
            raise ValueError(
                f"Unknown key {key!r} in the {kind} hyperparameter {dict(data)!r}; "
                f"expected {list(keys)}." + did_you_mean(str(key), keys)
            )
    for key in keys:
        if key not in data and key != "log":
            raise ValueError(f"The {kind} hyperparameter {dict(data)!r} is missing {key!r}.")
    if kind == "categorical":
        return Categorical(data["name"], tuple(data["choices"]))
    if kind == "int":
        return Int(data["name"], data["low"], data["high"], log=data.get("log", False))
    return Float(data["name"], data["low"], data["high"], log=data.get("log", False))
