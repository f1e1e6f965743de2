"""A real ``tunegym serve`` under uvicorn on loopback, for the end-to-end tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

API_KEY = "e2e-key"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def live_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a ``tunegym serve`` process (snapshot + a fresh SQLite store, an API key)."""
    store = tmp_path_factory.mktemp("service") / "store.sqlite"
    port = _free_port()
    log = tmp_path_factory.mktemp("service-log") / "serve.log"
    command = [
        sys.executable, "-m", "tunegym.cli", "serve", "--host", "127.0.0.1",
        "--port", str(port), "--store", str(store), "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "TUNEGYM_API_KEY": API_KEY}
    with log.open("w") as out:
        server = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_up(url, server, log)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"tunegym serve exited with {server.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    pytest.fail(f"tunegym serve did not answer within 90 s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def snapshot_service():  # type: ignore[no-untyped-def]
    """The in-process service on the shipped snapshot, read-only (built once)."""
    from tunegym.service import WarmStartService

    return WarmStartService.open()
