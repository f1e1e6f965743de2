"""The examples in the space package's docstrings and in docs/SPACES.md run as shown."""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "SPACES.md"


@pytest.mark.parametrize(
    "module",
    [
        "tunegym.space",
        "tunegym.space._params",
        "tunegym.space._space",
        "tunegym.space._builtin",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    assert result.attempted > 0


def test_user_doc_examples() -> None:
    result = doctest.testfile(
        str(DOC), module_relative=False, optionflags=doctest.ELLIPSIS, encoding="utf-8"
    )
    assert result.failed == 0
    assert result.attempted > 20
