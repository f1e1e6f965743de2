"""`Space`: an ordered set of hyperparameters, seen by the tuners as the unit cube."""

from __future__ import annotations

import itertools
import math
import numbers
import os
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import numpy.typing as npt

from tunegym.errors import did_you_mean
from tunegym.space._convert import (
    from_configspace,
    from_optuna,
    suggest,
    to_configspace,
    to_optuna,
)
from tunegym.space._params import (
    Categorical,
    Choice,
    Float,
    Hyperparameter,
    Int,
    hyperparameter_from_json,
)

if TYPE_CHECKING:
    import optuna
    from ConfigSpace import ConfigurationSpace

__all__ = ["SAMPLE_METHODS", "Space"]

SAMPLE_METHODS: Final[tuple[str, ...]] = ("sobol", "random")

# `Space.key` rounds floats to this many significant digits, so that a value that went through
# a CSV or JSON round trip (or a unit-cube round trip) still finds its recorded curve.
_KEY_DIGITS: Final = 9

# `Space.from_grid` puts numbers spanning at least this ratio (all positive) on a log scale.
_LOG_RATIO: Final = 10.0


def _round_key(value: Choice) -> Choice:
    if isinstance(value, float):
        return float(f"{value:.{_KEY_DIGITS}g}")
    return value


def _grid_values(name: str, values: object) -> list[Any]:
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise TypeError(
            f"Grid values for {name!r} must be a sequence (list/tuple), got {values!r}."
        )
    listed = [v.item() if isinstance(v, np.generic) else v for v in values]
    if not listed:
        raise ValueError(f"Grid values for {name!r} are empty; give at least one value.")
    return listed


@dataclass(frozen=True)
class Space:
    """An ordered set of hyperparameters: what a tuner searches.

    A configuration is a ``dict`` from each hyperparameter's name to a value. Through
    `to_unit`/`from_unit` a configuration is a point of the unit cube ``[0, 1]^dim``, which is
    what agents observe and act on and what `sample` covers.

    Args:
        params: the hyperparameters, with distinct names (a list is taken as a tuple).
        name: a short name for tables and registries, e.g. ``"lcbench"``.

    Example:
        >>> space = Space((Float("lr", 1e-4, 1e-1, log=True), Int("batch_size", 16, 512)))
        >>> space.names
        ('lr', 'batch_size')
        >>> space.validate({"lr": 1e-3, "batch_size": 64.0})
        {'lr': 0.001, 'batch_size': 64}
        >>> space.to_unit({"lr": 1e-4, "batch_size": 512}).tolist()
        [0.0, 1.0]
    """

    params: tuple[Hyperparameter, ...]
    name: str = ""
    _by_name: dict[str, Hyperparameter] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.params, Float | Int | Categorical) or not isinstance(
            self.params, Iterable
        ):
            raise TypeError(
                f"Space params must be a tuple of hyperparameters, got {self.params!r}."
            )
        params = tuple(self.params)
        if not params:
            raise ValueError("A Space needs at least one hyperparameter, got none.")
        for param in params:
            if not isinstance(param, Float | Int | Categorical):
                raise TypeError(
                    f"Space params must be Float, Int or Categorical, got "
                    f"{type(param).__name__} {param!r}."
                )
        names = [p.name for p in params]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"Hyperparameter names must be distinct; repeated: {duplicates}.")
        if not isinstance(self.name, str):
            raise TypeError(f"Space name must be a str, got {self.name!r}.")
        object.__setattr__(self, "params", params)
        object.__setattr__(self, "_by_name", {p.name: p for p in params})

    # -- the container ---------------------------------------------------------------------

    @property
    def names(self) -> tuple[str, ...]:
        """The hyperparameters' names, in order."""
        return tuple(self._by_name)

    @property
    def dim(self) -> int:
        """The number of hyperparameters (the unit cube's dimension)."""
        return len(self.params)

    def __getitem__(self, name: str) -> Hyperparameter:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(
                f"No hyperparameter {name!r} in space {self.name!r}; it has {list(self.names)}."
                + did_you_mean(str(name), self.names)
            ) from None

    def __iter__(self) -> Iterator[Hyperparameter]:
        return iter(self.params)

    def __len__(self) -> int:
        return len(self.params)

    # -- configurations --------------------------------------------------------------------

    def validate(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A normalised copy of ``config``: in `names` order, ints as ``int``, floats as
        ``float`` (clipped into range when off by rounding), choices as stored.

        Raises:
            ValueError: naming a missing or unknown key, or a value out of its range.

        Example:
            >>> from tunegym.space import LR_BS_SPACE
            >>> LR_BS_SPACE.validate({"lr": 0.1, "batchsize": 64})
            Traceback (most recent call last):
            ...
            ValueError: Unknown hyperparameter 'batchsize' ... Did you mean 'batch_size'?
        """
        if not isinstance(config, Mapping):
            raise TypeError(f"A configuration must be a mapping (dict), got {config!r}.")
        for key in config:
            if key not in self._by_name:
                raise ValueError(
                    f"Unknown hyperparameter {key!r} in {dict(config)!r}; space {self.name!r} "
                    f"has {list(self.names)}." + did_you_mean(str(key), self.names)
                )
        missing = [n for n in self.names if n not in config]
        if missing:
            raise ValueError(
                f"Configuration {dict(config)!r} is missing {missing}; space {self.name!r} "
                f"needs {list(self.names)}."
            )
        return {p.name: p.validate(config[p.name]) for p in self.params}

    def contains(self, config: Mapping[str, Any]) -> bool:
        """Whether ``config`` names exactly these hyperparameters, each within its range."""
        try:
            self.validate(config)
        except (ValueError, TypeError):
            return False
        return True

    def key(self, config: Mapping[str, Any]) -> tuple[Choice, ...]:
        """A canonical, hashable form of ``config``: its values in `names` order, floats
        rounded to 9 significant digits (so values that went through text still match).

        Raises:
            ValueError: as `validate`.

        Example:
            >>> from tunegym.space import LR_BS_SPACE
            >>> LR_BS_SPACE.key({"batch_size": 64, "lr": 0.1 + 1e-12})
            (0.1, 64)
        """
        return tuple(_round_key(v) for v in self.validate(config).values())

    # -- the unit cube ---------------------------------------------------------------------

    def to_unit(self, config: Mapping[str, Any]) -> npt.NDArray[np.float64]:
        """``config`` as a point of ``[0, 1]^dim`` (float64, shape ``(dim,)``).

        Raises:
            ValueError: as `validate`.
        """
        normal = self.validate(config)
        return np.array([p.to_unit(normal[p.name]) for p in self.params], dtype=np.float64)

    def to_unit_many(self, configs: Iterable[Mapping[str, Any]]) -> npt.NDArray[np.float64]:
        """Each configuration as a row of an ``(n, dim)`` float64 array."""
        rows = [self.to_unit(config) for config in configs]
        if not rows:
            return np.empty((0, self.dim), dtype=np.float64)
        return np.stack(rows)

    def from_unit(self, u: npt.ArrayLike) -> dict[str, Any]:
        """The configuration at the point ``u`` of ``[0, 1]^dim``; the inverse of `to_unit`.

        Raises:
            ValueError: for a shape other than ``(dim,)`` or a coordinate outside ``[0, 1]``.
        """
        point = np.asarray(u, dtype=np.float64)
        if point.shape != (self.dim,):
            raise ValueError(
                f"A point of space {self.name!r} has shape ({self.dim},) (one coordinate per "
                f"{list(self.names)}), got shape {point.shape}."
            )
        return {p.name: p.from_unit(float(x)) for p, x in zip(self.params, point, strict=True)}

    def sample(self, n: int, seed: int, method: str = "sobol") -> list[dict[str, Any]]:
        """``n`` configurations spread over the space, reproducible from ``seed``.

        Args:
            n: how many (any ``n >= 0``; Sobol takes the first ``n`` points of a scrambled
                Sobol sequence of the next power of two).
            seed: the seed of the scrambling (``"sobol"``) or of the generator (``"random"``).
            method: ``"sobol"`` (quasi-random, even coverage) or ``"random"`` (independent
                uniform points on the unit cube).

        Raises:
            ValueError: for a negative ``n`` or an unknown method.

        Example:
            >>> from tunegym.space import LR_BS_SPACE
            >>> configs = LR_BS_SPACE.sample(5, seed=0)
            >>> len(configs), all(LR_BS_SPACE.contains(c) for c in configs)
            (5, True)
        """
        if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"sample: n must be an int >= 0, got {n!r}.")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise TypeError(f"sample: seed must be an int, got {seed!r}.")
        if method not in SAMPLE_METHODS:
            raise ValueError(
                f"Unknown sampling method {method!r}; choose one of {list(SAMPLE_METHODS)}."
                + did_you_mean(str(method), SAMPLE_METHODS)
            )
        n, seed = int(n), int(seed)
        if n == 0:
            return []
        if method == "random":
            points = np.random.default_rng(seed).random((n, self.dim))
        else:
            points = _sobol(self.dim, n, seed)
        return [self.from_unit(row) for row in points]

    # -- JSON ------------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        """``{"name": ..., "params": [each hyperparameter's to_json()]}``; JSON-serialisable."""
        return {"name": self.name, "params": [p.to_json() for p in self.params]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Space:
        """The space written by `to_json`.

        Raises:
            ValueError: for a missing ``params`` or unknown key, or an invalid hyperparameter.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"A space's JSON must be an object (dict), got {data!r}.")
        for key in data:
            if key not in ("name", "params"):
                hint = did_you_mean(str(key), ("name", "params"))
                if key == "hyperparameters":
                    hint += " (ConfigSpace's JSON? Read it with Space.from_configspace.)"
                raise ValueError(
                    f"Unknown key {key!r} in a space's JSON; expected 'name' and 'params'.{hint}"
                )
        if "params" not in data:
            raise ValueError(f"A space's JSON needs 'params' (a list), got keys {list(data)}.")
        params = data["params"]
        if isinstance(params, str | Mapping) or not isinstance(params, Sequence):
            raise ValueError(f"A space's 'params' must be a list, got {params!r}.")
        return cls(tuple(hyperparameter_from_json(p) for p in params), data.get("name", ""))

    # -- grids -----------------------------------------------------------------------------

    @classmethod
    def from_grid(cls, values: Mapping[str, Sequence[Any]], name: str = "") -> Space:
        """The smallest space holding every value of a grid.

        Numbers give a `Float` (an `Int` when all are ints) from their min to their max, on a
        log scale when all are positive and ``max / min >= 10``; strings and bools (or a mix)
        give a `Categorical` of the distinct values in order; a single value gives a
        one-choice `Categorical`.

        Example:
            >>> Space.from_grid({"lr": [1e-3, 1e-2, 1e-1], "act": ["relu", "tanh"]}).params
            (Float(name='lr', low=0.001, high=0.1, log=True), Categorical(name='act', choices=('relu', 'tanh')))
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"from_grid takes a mapping name -> values, got {values!r}.")
        params: list[Hyperparameter] = []
        for key, raw in values.items():
            listed = _grid_values(key, raw)
            numeric = all(isinstance(v, numbers.Real) and not isinstance(v, bool) for v in listed)
            distinct: list[Any] = []
            for v in listed:
                if not any(v == d and isinstance(v, bool) == isinstance(d, bool) for d in distinct):
                    distinct.append(v)
            if not numeric or len(distinct) == 1:
                params.append(Categorical(key, tuple(distinct)))
                continue
            low, high = min(listed), max(listed)
            log = low > 0 and high / low >= _LOG_RATIO
            if all(isinstance(v, numbers.Integral) for v in listed):
                params.append(Int(key, int(low), int(high), log=log))
            else:
                params.append(Float(key, float(low), float(high), log=log))
        return cls(tuple(params), name)

    @staticmethod
    def grid(values: Mapping[str, Sequence[Any]]) -> list[dict[str, Any]]:
        """Every combination of the grid's values, row-major (the first name varies slowest).

        Example:
            >>> Space.grid({"lr": [0.1, 1.0], "batch_size": [16, 32]})  # doctest: +NORMALIZE_WHITESPACE
            [{'lr': 0.1, 'batch_size': 16}, {'lr': 0.1, 'batch_size': 32},
             {'lr': 1.0, 'batch_size': 16}, {'lr': 1.0, 'batch_size': 32}]
        """
        if not isinstance(values, Mapping):
            raise TypeError(f"grid takes a mapping name -> values, got {values!r}.")
        keys = list(values)
        columns = [_grid_values(k, values[k]) for k in keys]
        return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*columns)]

    def narrow(self, box: Mapping[str, Any]) -> Space:
        """The sub-space inside ``box``, e.g. a warm-start search box.

        Args:
            box: name -> ``(low, high)`` for a `Float`/`Int` (intersected with its range) or a
                sequence of choices for a `Categorical` (kept in the space's order). Names
                left out keep their full range.

        Raises:
            ValueError: for an unknown name, or a box that leaves a hyperparameter less than a
                range (``low >= high`` after intersecting) or no choice.

        Example:
            >>> from tunegym.space import LR_BS_SPACE
            >>> LR_BS_SPACE.narrow({"lr": (1e-4, 1e-2)})["lr"]
            Float(name='lr', low=0.0001, high=0.01, log=True)
        """
        if not isinstance(box, Mapping):
            raise TypeError(f"narrow takes a mapping name -> bounds or choices, got {box!r}.")
        for key in box:
            if key not in self._by_name:
                raise ValueError(
                    f"Cannot narrow unknown hyperparameter {key!r}; space {self.name!r} has "
                    f"{list(self.names)}." + did_you_mean(str(key), self.names)
                )
        return Space(
            tuple(_narrow(p, box[p.name]) if p.name in box else p for p in self), self.name
        )

    # -- other formats ---------------------------------------------------------------------

    def to_optuna(self) -> dict[str, optuna.distributions.BaseDistribution]:
        """Each hyperparameter as an Optuna distribution (``FloatDistribution``,
        ``IntDistribution`` with ``log``, ``CategoricalDistribution``)."""
        return to_optuna(self.params)

    @classmethod
    def from_optuna(
        cls, distributions: Mapping[str, optuna.distributions.BaseDistribution], name: str = ""
    ) -> Space:
        """The space of Optuna distributions (as `to_optuna` gives, or a study's).

        Raises:
            ValueError: for a distribution with a ``step`` (other than 1 for ints) or an
                unsupported kind.
        """
        return cls(from_optuna(distributions), name)

    def suggest(self, trial: optuna.trial.BaseTrial) -> dict[str, Any]:
        """A configuration drawn by an Optuna trial (``suggest_float``/``_int``/``_categorical``
        for each hyperparameter, in order)."""
        return suggest(self.params, trial)

    @classmethod
    def from_configspace(
        cls,
        path_or_dict: str | os.PathLike[str] | Mapping[str, Any],
        drop: Sequence[str] = (),
        name: str = "",
    ) -> Space:
        """The space of a ConfigSpace JSON file (or its parsed dict), without ConfigSpace.

        Supported types: ``uniform_float``, ``uniform_int``, ``categorical``, ``ordinal`` (a
        `Categorical` in order) and ``constant`` (a one-choice `Categorical`). Bounds are kept
        as written.

        Args:
            path_or_dict: the JSON file or its contents.
            drop: names to leave out (e.g. a task id or the epoch).
            name: the space's name.

        Raises:
            ValueError: for an unsupported type, quantised (``q``) parameters, conditions or
                forbidden clauses, or a ``drop`` name that is not there.
        """
        return cls(from_configspace(path_or_dict, drop), name)

    def to_configspace(self) -> ConfigurationSpace:
        """The space as a ``ConfigSpace.ConfigurationSpace`` (needs the ``peers`` extra).

        Example:
            >>> from tunegym.space import LR_BS_SPACE
            >>> sorted(LR_BS_SPACE.to_configspace())  # doctest: +SKIP
            ['batch_size', 'lr']
        """
        return to_configspace(self.params, self.name)

    # -- text ------------------------------------------------------------------------------

    def describe(self) -> str:
        """One line per hyperparameter: name, type, range or choices, scale.

        Example:
            >>> from tunegym.space import LR_BS_SPACE
            >>> print(LR_BS_SPACE.describe())
            lr          float  [1e-05, 10.0]  log
            batch_size  int    [16, 512]      log
        """
        rows = []
        for p in self.params:
            if isinstance(p, Categorical):
                rows.append((p.name, p.type, "{" + ", ".join(map(repr, p.choices)) + "}", ""))
            else:
                rows.append((p.name, p.type, f"[{p.low!r}, {p.high!r}]", "log" if p.log else ""))
        widths = [max(len(row[i]) for row in rows) for i in range(3)]
        return "\n".join(
            "  ".join(cell.ljust(w) for cell, w in zip(row, [*widths, 0], strict=True)).rstrip()
            for row in rows
        )


def _narrow(param: Hyperparameter, bounds: Any) -> Hyperparameter:
    if isinstance(param, Categorical):
        if isinstance(bounds, str) or not isinstance(bounds, Iterable):
            raise ValueError(
                f"Narrow the categorical {param.name!r} with a sequence of its choices "
                f"{list(param.choices)!r}, got {bounds!r}."
            )
        wanted = {param.index(v) for v in bounds}
        kept = tuple(c for i, c in enumerate(param.choices) if i in wanted)
        if not kept:
            raise ValueError(f"Narrowing {param.name!r} to {bounds!r} leaves no choice.")
        return Categorical(param.name, kept)
    if (
        isinstance(bounds, str)
        or not isinstance(bounds, Sequence)
        or len(bounds) != 2
        or not all(isinstance(b, numbers.Real) and not isinstance(b, bool) for b in bounds)
    ):
        raise ValueError(
            f"Narrow {param.type} {param.name!r} with a (low, high) pair of numbers, got "
            f"{bounds!r}."
        )
    low, high = max(float(bounds[0]), param.low), min(float(bounds[1]), param.high)
    if isinstance(param, Int):
        low, high = math.ceil(low), math.floor(high)
    if not low < high:
        raise ValueError(
            f"Narrowing {param.name!r} (range [{param.low!r}, {param.high!r}]) to {bounds!r} "
            f"leaves [{low!r}, {high!r}], not a range; widen the box."
        )
    if isinstance(param, Int):
        return Int(param.name, int(low), int(high), log=param.log)
    return Float(param.name, low, high, log=param.log)


def _sobol(dim: int, n: int, seed: int) -> npt.NDArray[np.float64]:
    """The first ``n`` points of a scrambled Sobol sequence of ``2 ** ceil(log2 n)`` points."""
    from scipy.stats import qmc  # type: ignore[import-untyped, unused-ignore]

    try:
        sampler = qmc.Sobol(d=dim, scramble=True, rng=seed)
    except TypeError:  # SciPy < 1.15 names it `seed`
        sampler = qmc.Sobol(d=dim, scramble=True, seed=seed)
    with warnings.catch_warnings():
        # random_base2 draws a balanced power of two; nothing should warn, but make sure no
        # "balance properties" UserWarning reaches users whatever SciPy's version does.
        warnings.simplefilter("ignore", UserWarning)
        points = sampler.random_base2(max(0, math.ceil(math.log2(n))))
    return np.asarray(points[:n], dtype=np.float64)
