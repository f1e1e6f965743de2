"""Exceptions raised by tunegym.

Bad user input raises the built-in ``ValueError``/``TypeError`` subclasses below, so callers that
catch the built-ins keep working while those who care can catch tunegym's own.
"""

from __future__ import annotations

import difflib
import shlex
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "DatasetError",
    "DatasetNotFoundError",
    "MetaStoreDriverError",
    "MetaStoreError",
    "MetaStoreFullError",
    "MetaStoreLockedError",
    "MetaStoreOpenError",
    "MetaStoreReadOnlyError",
    "MetaStoreURLError",
    "MetaStoreWriteError",
    "MissingExtraError",
    "did_you_mean",
    "install_command",
]


class DatasetError(ValueError):
    """A dataset could not be loaded or is unusable as given (the message says why)."""


class DatasetNotFoundError(DatasetError, LookupError):
    """No dataset of that name/id exists in the named source."""


class MetaStoreError(RuntimeError):
    """A meta-store could not be opened, read or written.

    The message is one line: the store (its URL without password), what is wrong, the
    database's reason and what to do. The database driver's error stays reachable as
    ``__context__``. ``tunegym`` prints the line, without a traceback.
    """


class MetaStoreOpenError(MetaStoreError):
    """A meta-store could not be opened: a bad URL, a missing driver, a server that does not
    answer or refuses the login, a file that cannot be created or is not a database."""


class MetaStoreWriteError(MetaStoreError):
    """A meta-store write failed, after retries where another writer was in the way.

    The message is one line: what failed, the database's reason, and what to do. The database
    driver's error stays reachable as ``__context__``.
    """


class MetaStoreReadOnlyError(MetaStoreWriteError):
    """The store can be read but not written (a read-only file or folder, a read-only database
    or user), or it needs a migration that it cannot be written for."""


class MetaStoreFullError(MetaStoreWriteError):
    """The store's disk (or the database's size limit) is full."""


class MetaStoreLockedError(MetaStoreWriteError):
    """Another process held the store locked for longer than the store's timeout
    (``$TUNEGYM_STORE_TIMEOUT``, 30 s by default)."""


class MetaStoreURLError(MetaStoreOpenError, ValueError):
    """The store's URL cannot be parsed, or names a database SQLAlchemy does not know."""


class MissingExtraError(ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, package: str, extra: str, purpose: str) -> None:
        super().__init__(
            f"{purpose} needs the optional package {package!r}, which is not installed. "
            f"Install it with: {install_command(extra)}"
        )


class MetaStoreDriverError(MetaStoreOpenError, MissingExtraError):
    """The store's database driver is not installed (the message says what to install)."""

    def __init__(self, store: str, package: str, extra: str | None = None) -> None:
        install = install_command(extra) if extra else f"pip install {package}"
        ImportError.__init__(
            self,
            f"The meta-store {store} needs the database driver {package!r}, which is not "
            f"installed. Install it with: {install}",
        )


def install_command(extra: str) -> str:
    """The pip command that adds an extra to *this* installation of tunegym.

    tunegym is installed from its source (it is not on PyPI), so ``pip install 'tunegym[x]'``
    cannot work: from a clone (an editable install, the README's ``make setup``) the command
    names the clone's folder; otherwise it names the package, for an index that has it.
    """
    root = Path(__file__).resolve().parent.parent
    if (root / "pyproject.toml").is_file():
        return f"pip install -e {shlex.quote(f'{root}[{extra}]')}"
    return f"pip install 'tunegym[{extra}]'"


def did_you_mean(name: str, choices: Iterable[str], n: int = 3) -> str:
    """Return a `` Did you mean 'x'?`` suffix for an unknown name, or ``""`` if nothing is close."""
    matches = difflib.get_close_matches(name, list(choices), n=n, cutoff=0.6)
    if not matches:
        return ""
    quoted = ", ".join(repr(m) for m in matches)
    return f" Did you mean {quoted}?"
