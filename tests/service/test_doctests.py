"""The examples in the service's docstrings run and give what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize(
    "module",
    [
        "tunegym.service._space",
        "tunegym.service._tables",
        "tunegym.service._index",
        "tunegym.service._describe",
        "tunegym.service._core",
        "tunegym.service._app",
        "tunegym.service._client",
    ],
)
def test_docstring_examples(module: str) -> None:
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
    if module != "tunegym.service._client":  # its examples need a running server: skipped
        assert result.attempted > 0
