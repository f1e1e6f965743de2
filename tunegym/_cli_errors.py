"""The ``tunegym`` command's last word on an error that escaped a command: one line on stderr.

A store that is read-only, full, locked or unreachable, or a missing optional package, is the
user's to fix, not a bug: ``tunegym`` then prints ``error: <one line>`` and exits with 1,
without a traceback. ``TUNEGYM_DEBUG=1`` shows the traceback instead. Any other exception is a
bug, and keeps its traceback.

Messages are printed as plain text, never as rich markup: a message that names an extra
(``pip install 'tunegym[lcdb]'``), a list or a file ``run[a].csv`` keeps its brackets.
The data layer's messages name the Python API's ``target=``; `for_cli` names the option.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import Final

import typer
from rich.console import Console
from rich.text import Text

from tunegym.errors import DatasetError, MetaStoreError, MissingExtraError

__all__ = ["DEBUG_ENV", "fail", "for_cli", "one_line", "print_error", "run_cli"]

DEBUG_ENV: Final = "TUNEGYM_DEBUG"
# tunegym's errors whose message says what is wrong and what to do.
_TOLD: Final = (MetaStoreError, MissingExtraError, DatasetError)


# ``target=COLUMN``/``target='y'`` (an option's value follows) and a bare ``target=``.
_TARGET_VALUE: Final = re.compile(r"(?<![\w.-])target=(?=[\w'\"])")
_TARGET: Final = re.compile(r"(?<![\w.-])target=")


def for_cli(message: object) -> str:
    """``message`` as the command line says it: the Python API's ``target=`` is ``--target``.

    The data layer's messages name the keyword argument of `tunegym.load_dataset`; a user of
    ``tunegym train my.csv`` or ``tunegym tune --data my.csv`` gives the option instead.

    Example:
        >>> for_cli("'my.csv' needs target=COLUMN, the name of its class column.")
        "'my.csv' needs --target COLUMN, the name of its class column."
    """
    text = _TARGET_VALUE.sub("--target ", str(message))
    return _TARGET.sub("--target", text)


def print_error(console: Console, message: object, label: str = "error") -> None:
    """Print ``<label>: <message>`` on one line: the label styled, the message as plain text.

    The message is `for_cli`'s text of ``message`` (an exception gives its own), never read
    as rich markup, so ``pip install 'tunegym[lcdb]'`` keeps its ``[lcdb]``; nor wrapped, so
    it stays one line to read, copy and grep.
    """
    style = "bold red" if label == "error" else "bold yellow"
    console.print(Text.assemble((f"{label}:", style), " ", for_cli(message)), soft_wrap=True)


def fail(console: Console, message: object, code: int = 2) -> typer.Exit:
    """Print ``error: <message>`` (see `print_error`); the exit to raise, with ``code``.

    Example:
        >>> raise fail(err_console, exc) from exc  # doctest: +SKIP
    """
    print_error(console, message)
    return typer.Exit(code=code)


def one_line(error: BaseException) -> str | None:
    """What ``tunegym`` prints for ``error`` (after ``error: ``), or ``None`` for a bug.

    tunegym's own errors (`MetaStoreError`, `MissingExtraError`, `DatasetError`) give their
    message; a database error that no store method turned into one gives the database's
    reason. A message of several lines is joined into one.
    """
    if isinstance(error, _TOLD):
        message = str(error)
    else:
        # Imported only if loaded: a command that never touched a database raised none.
        sa_exc = sys.modules.get("sqlalchemy.exc")
        if sa_exc is None or not isinstance(error, sa_exc.DBAPIError):
            return None
        lines = str(error.orig or error).strip().splitlines()
        reason = lines[0].strip() if lines else type(error).__name__
        message = f"the meta-store's database failed: {reason} ({DEBUG_ENV}=1 shows why)."
    return " ".join(line.strip() for line in for_cli(message).splitlines() if line.strip())


def run_cli(app: Callable[[], object]) -> None:
    """Run the ``tunegym`` command ``app``; an error the user can fix ends in one line.

    Such an error (see `one_line`) prints ``error: <one line>`` on stderr and exits with 1;
    with ``TUNEGYM_DEBUG=1`` it propagates, traceback and all.

    Example:
        >>> import typer
        >>> app = typer.Typer()
        >>> def main() -> None:  # the console script's entry point
        ...     run_cli(app)
    """
    try:
        app()
    except Exception as error:
        message = one_line(error)
        if message is None or os.environ.get(DEBUG_ENV, "") not in ("", "0"):
            raise
        sys.stderr.write(f"error: {message}\n")
        sys.stderr.flush()
        raise SystemExit(1) from None
