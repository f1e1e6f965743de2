"""Service fixtures: the snapshot service (built once), a service over a fresh store, apps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("fastapi", reason="the service tests need the 'service' extra")
pytest.importorskip("httpx", reason="the service tests need the 'service' extra")

from fastapi.testclient import TestClient

from tunegym.service import WarmStartService, create_app

API_KEY = "test-key"
IRIS_DID = 61


def space(*parameters: dict[str, Any]) -> dict[str, Any]:
    """A search space on the wire."""
    return {"parameters": list(parameters)}


LR = {"name": "lr", "type": "float", "low": 1e-5, "high": 10.0, "log": True}
BATCH = {"name": "batch_size", "type": "int", "low": 16, "high": 512, "log": True}
EPOCHS = {"name": "epochs", "type": "int", "low": 1, "high": 16}
FULL_SPACE = space(LR, BATCH, EPOCHS)


@pytest.fixture(scope="session")
def snapshot_service() -> WarmStartService:
    """The shipped snapshot, read-only (a few seconds: built once per session)."""
    return WarmStartService.open(store=None)


@pytest.fixture(scope="session")
def snapshot_app(snapshot_service: WarmStartService) -> Iterator[TestClient]:
    """The snapshot service over HTTP, with an API key (it has no store: writes get a 409)."""
    with TestClient(create_app(snapshot_service, api_key=API_KEY)) as client:
        yield client


@pytest.fixture
def store_service(tmp_path: Path) -> Iterator[WarmStartService]:
    """A service over a fresh SQLite store only (no snapshot): reported runs go there."""
    service = WarmStartService.open(store=tmp_path / "s.sqlite", snapshot=False)
    yield service
    assert service.store is not None
    service.store.close()


@pytest.fixture
def store_app(store_service: WarmStartService) -> Iterator[TestClient]:
    with TestClient(create_app(store_service, api_key=API_KEY)) as client:
        yield client
