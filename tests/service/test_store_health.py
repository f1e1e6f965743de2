"""A failing meta-store is a JSON 503 that says what to do, and ``/v1/health`` says degraded.

Issue 18: a full disk gave a plain-text 500 while ``/v1/health`` said ok.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, event
from sqlalchemy.exc import OperationalError

from tests.service.conftest import API_KEY, LR, space
from tunegym.service import WarmStartService, create_app
from tunegym.service import _core as core_module
from tunegym.service import _store_health as health_module

KEY = {"X-API-Key": API_KEY, "Idempotency-Key": "report-1"}
REPORT: dict[str, Any] = {
    "dataset": {"name": "toy:x", "meta_features": {"NumberOfInstances": 10.0}},
    "runs": [
        {"params": {"lr": 0.1, "batch_size": 16, "i": i}, "scores": [0.5] * 200, "seed": i}
        for i in range(50)
    ],
}


@pytest.fixture
def full_disk(store_service: WarmStartService) -> Iterator[Callable[[], None]]:
    """The store's SQLite file cannot grow by a page (``PRAGMA max_page_count``): every write
    that needs room fails with "database or disk is full", as on a full disk. Yields what
    makes room again."""
    assert store_service.store is not None
    engine = store_service.store.engine

    def no_room(connection: sqlite3.Connection, _: object) -> None:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")

    def make_room() -> None:
        if event.contains(engine, "connect", no_room):
            event.remove(engine, "connect", no_room)
            engine.dispose()

    event.listen(engine, "connect", no_room)
    engine.dispose()  # connections from now on have no room
    yield make_room
    make_room()


def one_line(detail: Any) -> str:
    assert isinstance(detail, str) and "\n" not in detail and len(detail) < 400, detail
    return detail


class TestFullDisk:
    def test_a_report_to_a_full_store_is_a_json_503_and_health_degrades(
        self, store_app: TestClient, full_disk: Callable[[], None]
    ) -> None:
        response = store_app.post("/v1/runs", json=REPORT, headers=KEY)
        assert response.status_code == 503
        assert response.headers["content-type"] == "application/json"
        detail = one_line(response.json()["detail"])
        assert detail.startswith("The meta-store is full (database or disk is full)")
        assert "were not stored" in detail and "free space" in detail

        health = store_app.get("/v1/health")
        assert health.status_code == 200  # reads are still served, from memory
        body = health.json()
        assert (body["status"], body["store_reachable"], body["store_writable"]) == (
            "degraded",
            True,
            False,
        )
        assert body["store_error"] == detail
        assert body["runs"] == 0

    def test_once_there_is_room_the_same_report_goes_in_and_health_recovers(
        self,
        store_app: TestClient,
        store_service: WarmStartService,
        full_disk: Callable[[], None],
    ) -> None:
        assert store_app.post("/v1/runs", json=REPORT, headers=KEY).status_code == 503
        full_disk()  # room again
        stored = store_app.post("/v1/runs", json=REPORT, headers=KEY)
        assert stored.status_code == 201 and len(stored.json()["run_ids"]) == 50
        health = store_app.get("/v1/health").json()
        assert (health["status"], health["store_writable"], health["store_error"]) == (
            "ok",
            True,
            None,
        )
        assert store_service.store is not None and store_service.store.stats().runs == 50


@pytest.mark.parametrize(
    ("message", "problem", "advice"),
    [
        ("attempt to write a readonly database", "is read-only", "write access"),
        ("database is locked", "is busy", "wait a moment"),
        ("unable to open database file", "cannot be reached", "--store URL"),
        ("disk I/O error", "failed", "service's log"),
    ],
)
def test_every_store_error_is_one_line_naming_problem_and_fix(
    store_app: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    message: str,
    problem: str,
    advice: str,
) -> None:
    def refuse(*args: object) -> None:
        raise OperationalError("INSERT INTO run ...", {}, sqlite3.OperationalError(message))

    monkeypatch.setattr(core_module._reports, "insert_once", refuse)
    response = store_app.post("/v1/runs", json=REPORT, headers=KEY)
    assert response.status_code == 503
    detail = one_line(response.json()["detail"])
    assert detail.startswith(f"The meta-store {problem} ({message})") and advice in detail
    assert "INSERT" not in detail  # the SQL stays in the log
    assert store_app.get("/v1/health").json()["store_error"] == detail


def test_a_store_error_anywhere_is_a_json_503(
    store_service: WarmStartService, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A store error the route did not expect still names the store, as JSON."""

    def fail(*args: object) -> None:
        raise OperationalError("SELECT ...", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(store_service, "warm_start", fail)
    client = TestClient(create_app(store_service))
    body = {"dataset": {"openml_did": 61}, "search_space": space(LR)}
    response = client.post("/v1/warmstart", json=body)
    assert response.status_code == 503
    assert one_line(response.json()["detail"]).startswith("The meta-store is busy")


def test_any_other_fault_is_a_json_500(
    snapshot_service: WarmStartService, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fail() -> None:
        raise KeyError("internal")

    client = TestClient(create_app(snapshot_service), raise_server_exceptions=False)
    monkeypatch.setattr(snapshot_service, "health", fail)
    response = client.get("/v1/health")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    detail = one_line(response.json()["detail"])
    assert "KeyError" in detail and "internal" not in detail  # no internals on the wire


class TestHealthChecksTheStore:
    def test_a_store_that_cannot_be_read(
        self, store_service: WarmStartService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert store_service.store is not None
        gone = create_engine("sqlite:////nonexistent-folder/store.sqlite")
        monkeypatch.setattr(store_service.store, "engine", gone)
        health = store_service.health()
        assert (health.status, health.store_reachable, health.store_writable) == (
            "degraded",
            False,
            False,
        )
        assert health.store_error is not None
        assert one_line(health.store_error).startswith("The meta-store cannot be reached")
        gone.dispose()

    def test_a_nearly_full_disk(
        self, store_app: TestClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        assert store_app.get("/v1/health").json()["status"] == "ok"
        usage = health_module.shutil.disk_usage("/")
        monkeypatch.setattr(
            health_module.shutil, "disk_usage", lambda _: usage._replace(free=1 << 20)
        )
        health = store_app.get("/v1/health").json()
        assert (health["status"], health["store_reachable"], health["store_writable"]) == (
            "degraded",
            True,
            False,
        )
        assert "disk is nearly full (1.0 MiB free" in health["store_error"]

    def test_a_read_only_file(self, store_app: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setattr(health_module.os, "access", lambda path, mode: False)
        health = store_app.get("/v1/health").json()
        assert health["status"] == "degraded"
        assert health["store_error"].startswith("The meta-store is read-only")

    def test_without_a_store_health_is_ok(self, snapshot_app: TestClient) -> None:
        health = snapshot_app.get("/v1/health").json()
        assert (health["status"], health["store_writable"], health["store_error"]) == (
            "ok",
            None,
            None,
        )
