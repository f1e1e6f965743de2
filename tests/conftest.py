"""Suite-wide settings and fixtures: one torch thread (tiny models run fastest that way on 2
cores), and a PostgreSQL server for the store tests."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import torch

POSTGRES_ENV = "TUNEGYM_TEST_POSTGRES_URL"

torch.set_num_threads(1)


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A PostgreSQL URL: ``$TUNEGYM_TEST_POSTGRES_URL``, else a throw-away server on a local
    socket started with pgserver (PostgreSQL binaries from PyPI, extra ``dev``); skips when
    neither is available."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        yield url
        return
    pytest.importorskip("psycopg")
    pgserver = pytest.importorskip("pgserver", reason=f"set {POSTGRES_ENV} or install pgserver")
    server = pgserver.get_server(tmp_path_factory.mktemp("postgres"), cleanup_mode="stop")
    try:
        socket_dir = server.get_uri().split("host=", 1)[1]
        yield f"postgresql+psycopg://postgres@/postgres?host={socket_dir}"
    finally:
        server.cleanup()
