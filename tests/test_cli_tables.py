"""The CLI's tables keep what a user copies whole at 80 columns (specs, dataset names, lrs)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from typer.testing import CliRunner

from tunegym import _metastore_cli, cli


@pytest.fixture
def screen(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    """The commands' console, 80 columns wide, into a string."""
    out = io.StringIO()
    narrow = Console(file=out, width=80, color_system=None)
    monkeypatch.setattr(cli, "console", narrow)
    monkeypatch.setattr(_metastore_cli, "console", narrow)
    return out


def test_datasets_list_keeps_every_spec_whole(screen: io.StringIO) -> None:
    from tunegym.data import list_datasets

    assert CliRunner().invoke(cli.app, ["datasets", "list"]).exit_code == 0
    text = screen.getvalue()
    assert "…" not in text
    assert all(r.spec in text for r in list_datasets())
    assert max(len(line) for line in text.splitlines()) <= 80


def test_neighbors_portfolio_keeps_names_and_rates_whole(
    screen: io.StringIO, tmp_path: object
) -> None:
    args = ["metastore", "neighbors", "keel:german", "--k", "3", "--store", f"{tmp_path}/e.sqlite"]
    assert CliRunner().invoke(cli.app, args).exit_code == 0
    text = screen.getvalue()
    assert "…" not in text
    assert "keel:imbalanced/pima" in text
    assert "portfolio" in text
