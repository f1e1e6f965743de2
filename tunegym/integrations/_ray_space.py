"""Ray Tune's search spaces as tunegym `Space`s (`from_ray`), and candidates back as Ray configs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ray.tune.search.sample import Categorical as RayCategorical
from ray.tune.search.sample import Domain, Function, Grid, LogUniform, Normal, Quantized
from ray.tune.search.sample import Float as RayFloat
from ray.tune.search.sample import Integer as RayInteger

from tunegym.space import Categorical, Float, Hyperparameter, Int, Space

__all__ = ["SEPARATOR", "RaySpace", "from_ray", "has_domains", "parse_space"]

SEPARATOR: Final = "__"
"""Joins the keys of a nested Ray parameter into one hyperparameter name (``model__width``)."""


@dataclass(frozen=True)
class _Param:
    """How one hyperparameter goes back into Ray's configuration."""

    path: tuple[str, ...]
    q: float | None = None  # snap to multiples of q
    choices: tuple[Any, ...] | None = None  # the Categorical holds indices into these


@dataclass(frozen=True)
class RaySpace:
    """A Ray search space as tunegym sees it: the `Space`, and how a candidate goes back."""

    space: Space
    params: dict[str, _Param]
    constants: dict[tuple[str, ...], Any]

    def snap(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """``config`` with quantised values on their grid (inside the range)."""
        out = dict(config)
        for name, p in self.params.items():
            if p.q is None:
                continue
            hp = self.space[name]
            assert isinstance(hp, Float | Int)
            value = min(max(round(out[name] / p.q) * p.q, hp.low), hp.high)
            # 3 * 0.1 is 0.30000000000000004: keep 12 digits, as the grid's values read
            out[name] = int(value) if isinstance(hp, Int) else float(f"{value:.12g}")
        return self.space.validate(out)

    def to_ray(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """A candidate as the nested configuration Ray hands the trainable."""
        out: dict[str, Any] = {}
        for path, value in self.constants.items():
            _put(out, path, value)
        for name, p in self.params.items():
            value = config[name]
            _put(out, p.path, value if p.choices is None else p.choices[int(value)])
        return out


def _put(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    for key in path[:-1]:
        tree = tree.setdefault(key, {})
    tree[path[-1]] = value


def _grid(bound: float, q: float, up: bool) -> float:
    """``bound`` snapped inwards onto the multiples of ``q`` (Ray's quantised bounds)."""
    scaled = bound / q
    if math.isclose(scaled, round(scaled)):
        return round(scaled) * q
    return (math.ceil(scaled) if up else math.floor(scaled)) * q


def _numeric(
    name: str, domain: RayFloat | RayInteger, path: str
) -> tuple[Hyperparameter, float | None]:
    sampler = domain.get_sampler()
    q = None
    if isinstance(sampler, Quantized):
        q, sampler = sampler.q, sampler.get_sampler()
    if isinstance(sampler, Normal):
        raise ValueError(
            f"Ray parameter {path!r} is normally distributed (tune.randn/qrandn), which has no "
            "bounds; give it a range with tune.uniform or tune.loguniform."
        )
    log = isinstance(sampler, LogUniform)
    if isinstance(domain, RayInteger):
        # Ray's integer samplers exclude the upper bound, except quantised ones with q > 1.
        low, high = int(domain.lower), int(domain.upper)
        if q is None or q == 1:
            high, q = high - 1, None
        else:
            low, high = int(_grid(low, q, up=True)), int(_grid(high, q, up=False))
        if low >= high:
            return Categorical(name, (low,)), None
        return Int(name, low, high, log=log), q
    low_f, high_f = float(domain.lower), float(domain.upper)
    if q is not None:
        low_f, high_f = _grid(low_f, q, up=True), _grid(high_f, q, up=False)
    if low_f >= high_f:
        return Categorical(name, (low_f,)), None
    return Float(name, low_f, high_f, log=log), q


def _walk(
    tree: Mapping[str, Any], prefix: tuple[str, ...], params: list[Hyperparameter],
    extra: dict[str, _Param], constants: dict[tuple[str, ...], Any],
) -> None:  # fmt: skip
    for key, value in tree.items():
        path = (*prefix, str(key))
        where = "/".join(path)
        if isinstance(value, Mapping) and "grid_search" in value:
            raise ValueError(
                f"Ray parameter {where!r} is a grid search, which the agent cannot sample "
                "candidates from; use tune.choice(values) instead."
            )
        if isinstance(value, Mapping):
            _walk(value, path, params, extra, constants)
            continue
        if not isinstance(value, Domain):
            if isinstance(value, list | tuple) and any(isinstance(v, Domain) for v in value):
                raise ValueError(
                    f"Ray parameter {where!r} is a list holding search domains; put them in a "
                    "dict (tunegym names nested parameters by their keys)."
                )
            constants[path] = value
            continue
        name = SEPARATOR.join(path)
        if not name.isidentifier():
            raise ValueError(
                f"Ray parameter {where!r} cannot be a tunegym hyperparameter: its name {name!r} "
                "must be an identifier (letters, digits, '_'); rename it."
            )
        if isinstance(value, Function):
            raise ValueError(
                f"Ray parameter {where!r} is tune.sample_from(...), a function the agent cannot "
                "sample candidates from; give it a domain (tune.uniform, tune.choice, ...)."
            )
        if isinstance(value.get_sampler(), Grid):
            raise ValueError(
                f"Ray parameter {where!r} is a grid search; use tune.choice(values) instead."
            )
        if isinstance(value, RayCategorical):
            choices = tuple(value.categories)
            try:
                params.append(Categorical(name, choices))
                extra[name] = _Param(path)
            except (TypeError, ValueError):  # lists, None, repeated values: choose by index
                params.append(Categorical(name, tuple(range(len(choices)))))
                extra[name] = _Param(path, choices=choices)
        elif isinstance(value, RayFloat | RayInteger):
            hp, q = _numeric(name, value, where)
            params.append(hp)
            extra[name] = _Param(path, q=q)
        else:
            raise ValueError(f"Ray parameter {where!r}: unsupported domain {value!r}.")


def parse_space(param_space: Mapping[str, Any]) -> RaySpace:
    """The `RaySpace` of a Ray search space (what `from_ray` does, keeping the way back)."""
    if not isinstance(param_space, Mapping):
        raise TypeError(f"param_space must be a dict of Ray Tune domains, got {param_space!r}.")
    params: list[Hyperparameter] = []
    extra: dict[str, _Param] = {}
    constants: dict[tuple[str, ...], Any] = {}
    _walk(param_space, (), params, extra, constants)
    if not params:
        raise ValueError(
            "param_space holds no search domain (tune.uniform, tune.loguniform, tune.randint, "
            "tune.choice, ...): there is nothing to tune."
        )
    return RaySpace(Space(tuple(params), "ray"), extra, constants)


def from_ray(param_space: Mapping[str, Any]) -> Space:
    """The tunegym `Space` of a Ray Tune search space.

    ``tune.uniform``/``loguniform`` give a `Float`, ``tune.randint``/``lograndint`` an `Int`
    (Ray excludes their upper bound: ``randint(1, 5)`` is ``Int(1, 4)``), ``tune.choice`` a
    `Categorical` (of the choices' indices when they are not distinct str/int/float/bool
    values). Quantised domains (``quniform``, ``qloguniform``, ``qrandint``, ``qlograndint``)
    span their grid's range (`freeze_thaw` snaps the candidates onto the grid). Constants are
    left out; a nested dict's parameters are named by their keys joined with ``"__"``.

    Raises:
        ValueError: for what the agent cannot sample candidates from: a grid search,
            ``tune.sample_from``, an unbounded ``tune.randn``, or domains inside a list; for a
            name that is not an identifier; or a space without any domain.
        TypeError: when ``param_space`` is not a dict.

    Example:
        >>> from ray import tune
        >>> from_ray({"lr": tune.loguniform(1e-4, 1e-1), "layers": tune.randint(1, 5)}).params
        (Float(name='lr', low=0.0001, high=0.1, log=True), Int(name='layers', low=1, high=4, log=False))
    """
    return parse_space(param_space).space


def has_domains(tree: Mapping[str, Any]) -> bool:
    """Whether a Ray config holds anything to search (a domain or a grid search)."""
    return any(
        isinstance(v, Domain) or (isinstance(v, Mapping) and ("grid_search" in v or has_domains(v)))
        for v in tree.values()
    )
