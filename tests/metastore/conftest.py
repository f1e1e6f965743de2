"""Meta-store fixtures: every store URL of the contract suite, and a small real curve table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import requests
from sqlalchemy import create_engine, text

from tests.metastore._fake_openml import SERVER, FakeOpenML
from tunegym.data import TabularDataset, load_dataset
from tunegym.envs import SearchSpace, record_curves
from tunegym.metastore import Base, MetaStore

# 1e20 diverges in its first epoch: the table holds inf losses and a diverged run.
TINY_SPACE = SearchSpace(lrs=(1e-3, 1e-2, 1e20), batch_sizes=(16,), max_epochs=3)
TINY_SEEDS = (0, 1)
STORE_KINDS = ("sqlite-file", "sqlite-memory", "postgresql")


@pytest.fixture(scope="session")
def iris() -> TabularDataset:
    return load_dataset("sklearn:iris", seed=0)


@pytest.fixture(scope="session")
def iris_curves(iris: TabularDataset) -> pd.DataFrame:
    return record_curves(iris, TINY_SPACE, seeds=TINY_SEEDS)


def _empty_postgres(url: str) -> str:
    engine = create_engine(url)
    with engine.begin() as connection:  # every test starts from an empty database
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    return url


def store_url(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database of ``kind`` (PostgreSQL: see `postgres_server`)."""
    if kind == "sqlite-file":
        return f"sqlite:///{tmp_path / 'store.sqlite'}"
    if kind == "sqlite-memory":
        return ":memory:"
    return _empty_postgres(request.getfixturevalue("postgres_server"))


@pytest.fixture(params=STORE_KINDS)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[MetaStore]:
    with MetaStore(store_url(request.param, tmp_path, request)) as opened:
        yield opened


@pytest.fixture
def fake_openml(monkeypatch: pytest.MonkeyPatch) -> FakeOpenML:
    openml = pytest.importorskip("openml")

    """Route the ``openml`` client's HTTP requests to a :class:`FakeOpenML` (one try each)."""
    fake = FakeOpenML()

    def request(
        session: requests.Session, method: str, url: str, *args: object, **kwargs: object
    ) -> requests.Response:
        return fake.handle(url)

    monkeypatch.setattr(requests.Session, "request", request)
    monkeypatch.setattr(openml.config, "server", SERVER)
    monkeypatch.setattr(openml.config, "apikey", "")
    # openml sleeps between retries; one try is enough against a local fake.
    monkeypatch.setattr(openml.config, "connection_n_retries", 1)
    return fake
