"""Command-line flags from a dataclass of arguments: what every ``experiments/`` script parses."""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

__all__ = ["parse_dataclass_args"]

T = TypeVar("T")


def parse_dataclass_args(
    cls: type[T],
    argv: Sequence[str] | None = None,
    description: str | None = None,
    *,
    types: Mapping[str, Callable[[str], Any]] | None = None,
) -> T:
    """Parse ``--field-name`` flags for every field of the dataclass ``cls``.

    A bool field becomes ``--x/--no-x``; a list field takes one or more values of its first
    element's type; any other field takes one value of its default's type, or of ``types[name]``
    (needed where the default is ``None``).

    Args:
        cls: the dataclass (every field has a default).
        argv: the arguments (default: ``sys.argv[1:]``).
        description: the ``--help`` text; its first line is used (a script passes ``__doc__``).
        types: converters by field name, overriding the default's type.
    """
    parser = argparse.ArgumentParser(
        description=(description or "").splitlines()[0] if description else None
    )
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        default = f.default_factory() if callable(f.default_factory) else f.default
        flag = "--" + f.name.replace("_", "-")
        convert = (types or {}).get(f.name)
        if isinstance(default, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=default)
        elif isinstance(default, list):
            element = convert or (type(default[0]) if default else str)
            parser.add_argument(flag, type=element, nargs="+", default=default)
        else:
            parser.add_argument(flag, type=convert or type(default), default=default)
    return cls(**vars(parser.parse_args(argv)))
