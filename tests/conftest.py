"""Suite-wide settings and fixtures: one torch thread (tiny models run fastest that way on 2
cores), a PostgreSQL server for the store tests and a local Ray for the parallel runs."""

from __future__ import annotations

import logging
import os
import signal
import uuid
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


@pytest.fixture
def fresh_postgres(postgres_server: str) -> Iterator[str]:
    """A new, empty database on the test server (dropped afterwards)."""
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    server = make_url(postgres_server)
    name = f"tunegym_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(scope="session")
def ray_local() -> Iterator[None]:
    """A local Ray of 2 CPUs, started once for the session (the work of ``Workers(2)`` then runs
    on it, without a Ray of its own); skips when the extra ``ray`` is not installed."""
    ray = pytest.importorskip("ray", reason="the extra 'ray' is not installed")
    if ray.is_initialized():  # someone else's session: theirs to stop
        yield
        return
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    try:
        yield
    finally:
        ray.shutdown()


def pytest_configure(config: pytest.Config) -> None:
    """Let Ctrl-C (SIGINT) interrupt the CLI runs the tests start, as at a terminal.

    A shell starts a background job (``make test &``, a CI runner's script) with SIGINT
    ignored, and every process it starts inherits that, so a test that interrupts a run would
    see it finish instead. A handler, unlike "ignore", is reset to the default in a child.
    """
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
