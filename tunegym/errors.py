"""Exceptions raised by tunegym.

Bad user input raises the built-in ``ValueError``/``TypeError`` subclasses below, so callers that
catch the built-ins keep working while those who care can catch tunegym's own.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

__all__ = [
    "DatasetError",
    "DatasetNotFoundError",
    "MetaStoreWriteError",
    "MissingExtraError",
    "did_you_mean",
]


class DatasetError(ValueError):
    """A dataset could not be loaded or is unusable as given (the message says why)."""


class DatasetNotFoundError(DatasetError, LookupError):
    """No dataset of that name/id exists in the named source."""


class MetaStoreWriteError(RuntimeError):
    """A meta-store write failed, after retries where another writer was in the way.

    The message is one line: what failed, the database's reason, and what to do. The database
    driver's error stays reachable as ``__context__``.
    """


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package {package!r}, which is not installed. "
            f"Install it with: pip install 'tunegym[{extra}]'"
        )


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a `` Did you mean 'x'?`` suffix for an unknown name, or ``""`` if nothing is close."""
    matches = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)
    if not matches:
        return ""
    quoted = ", ".join(repr(m) for m in matches)
    return f" Did you mean {quoted}?"
