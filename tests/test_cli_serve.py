"""``tunegym serve``: help, refusing a service with nothing to serve, and the uvicorn call."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunegym.cli import app

runner = CliRunner()


def test_serve_help_names_the_routes_and_keys() -> None:
    result = runner.invoke(app, ["serve", "--help"])
    assert result.exit_code == 0, result.output
    for word in ("/v1/warmstart", "/v1/runs", "--api-key", "--store", "TUNEGYM_API_KEY"):
        assert word in result.output


def test_serve_without_snapshot_or_store_is_an_error() -> None:
    result = runner.invoke(app, ["serve", "--no-store", "--no-snapshot"])
    assert result.exit_code == 2
    assert "at least one" in result.output


def test_serve_builds_the_app_and_runs_uvicorn(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    store = tmp_path / "store.sqlite"
    result = runner.invoke(
        app,
        ["serve", "--store", str(store), "--no-snapshot", "--port", "8123"],
        env={"TUNEGYM_API_KEY": "k"},
    )
    assert result.exit_code == 0, result.output
    assert seen["port"] == 8123
    assert seen["host"] == "127.0.0.1"
    assert "reporting runs enabled" in result.output
    assert seen["app"].state.service.store is not None
    assert store.exists()
