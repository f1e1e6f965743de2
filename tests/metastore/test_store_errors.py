"""A store that is read-only, full, locked or unreachable fails in one line (issue 18).

Each case raises a `MetaStoreError` subclass whose message is one line naming the store and
what to do, the driver's error kept as ``__context__``; a read-only SQLite file is still read.
``run_cli`` prints such an error as ``error: <one line>`` and exits with 1.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from alembic import command
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, OperationalError

from tests.metastore.conftest import store_url
from tunegym._cli_errors import DEBUG_ENV, run_cli
from tunegym.errors import (
    MetaStoreDriverError,
    MetaStoreError,
    MetaStoreFullError,
    MetaStoreLockedError,
    MetaStoreOpenError,
    MetaStoreReadOnlyError,
    MetaStoreURLError,
    MetaStoreWriteError,
    MissingExtraError,
    install_command,
)
from tunegym.metastore import MetaStore
from tunegym.metastore import _engine as engine_module
from tunegym.metastore._engine import STORE_TIMEOUT_ENV, alembic_config, shown_url

ROOT = Path(__file__).resolve().parents[2]
UNREACHABLE = "postgresql+psycopg://user:secret@127.0.0.1:1/tunegym"
UNREACHABLE_SHOWN = "postgresql+psycopg://user:***@127.0.0.1:1/tunegym"


def one_line(error: BaseException, store: str) -> str:
    """``error``'s message, checked to be one short line that names ``store`` (short apart from
    the store's URL, whose length is the test machine's: a socket under pytest's temp dir)."""
    message = str(error)
    assert "\n" not in message and len(message.replace(store, "<store>")) < 400, message
    assert store in message, message
    return message


def driver_error(error: BaseException) -> BaseException:
    assert isinstance(error.__context__, DBAPIError | sqlite3.Error), error.__context__
    return error.__context__


@pytest.fixture
def filled(tmp_path: Path) -> str:
    """A SQLite store at head holding one dataset, closed."""
    url = f"sqlite:///{tmp_path / 'store' / 'runs.sqlite'}"
    with MetaStore(url) as store:
        store.get_or_create_dataset("iris", spec="sklearn:iris")
    return url


def path_of(url: str) -> Path:
    return Path(url.removeprefix("sqlite:///"))


# --------------------------------------------------------------------------- (a) read-only

# Run as a user who cannot write the file (root writes anything: its child drops that right).
READ_ONLY_CHECK = """
import json, sys
from tunegym.errors import MetaStoreError
from tunegym.metastore import MetaStore
path, probe, out = sys.argv[1], sys.argv[2], {}
try:
    with open(probe, "ab"):  # a file of mode 0444
        out["privileged"] = True
except PermissionError:
    pass
try:
    with MetaStore(path) as store:
        out["read_only"] = store.read_only
        out["datasets"] = store.datasets()["spec"].tolist()
        out["runs"] = store.stats().runs
        try:
            store.get_or_create_dataset("wine", spec="sklearn:wine")
        except MetaStoreError as error:
            out["write"] = [type(error).__name__, str(error), type(error.__context__).__name__]
except MetaStoreError as error:
    out["open"] = [type(error).__name__, str(error)]
print(json.dumps(out))
"""


def _without_root_file_access() -> None:
    # Drop CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the bounding set before exec: root's
    # child then obeys file modes like any user, while still reading root's Python.
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (1, 2):
        libc.prctl(24, capability, 0, 0, 0)  # PR_CAPBSET_DROP


def as_a_user(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -c code args`` as a process that file modes apply to."""
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
        preexec_fn=_without_root_file_access if os.geteuid() == 0 else None,
    )


def read_only_check(path: Path, tmp_path: Path) -> dict[str, Any]:
    probe = tmp_path / "probe"
    probe.touch(mode=0o444, exist_ok=True)
    process = as_a_user(READ_ONLY_CHECK, str(path), str(probe))
    assert process.returncode == 0, process.stderr
    result: dict[str, Any] = json.loads(process.stdout)
    if result.get("privileged"):
        pytest.skip("this process writes read-only files (root that cannot drop the right)")
    return result


@pytest.fixture
def writable_again(filled: str) -> Iterator[Path]:
    """The store's file; after the test, it and its folder are writable again."""
    path = path_of(filled)
    yield path
    path.parent.chmod(0o755)
    for file in path.parent.iterdir():
        file.chmod(0o644)


@pytest.mark.parametrize("made_read_only", ["file", "folder"])
def test_a_read_only_sqlite_store_is_read_and_refuses_writes_in_one_line(
    writable_again: Path, made_read_only: str, tmp_path: Path
) -> None:
    path = writable_again
    if made_read_only == "file":
        path.chmod(0o444)
    else:  # its journal cannot be created beside it
        path.parent.chmod(0o555)
    result = read_only_check(path, tmp_path)
    assert "open" not in result, result["open"]
    assert result["read_only"] is True
    assert (result["datasets"], result["runs"]) == (["sklearn:iris"], 0)
    kind, message, context = result["write"]
    assert (kind, context) == ("MetaStoreReadOnlyError", "OperationalError")
    assert "\n" not in message
    assert message.startswith(
        f"get_or_create_dataset could not write to the meta-store sqlite:///{path}: "
        "it is read-only ("
    )
    assert "write access" in message and "point --store elsewhere" in message


def test_tunegym_metastore_stats_reads_a_read_only_store(writable_again: Path) -> None:
    writable_again.parent.chmod(0o555)
    code = "from tunegym.cli import app; from tunegym._cli_errors import run_cli; run_cli(app)"
    store = str(writable_again)
    process = as_a_user(code, "metastore", "stats", "--no-snapshot", "--store", store)
    assert process.returncode == 0, process.stderr
    assert re.search(r"datasets\s+│\s+1\s+│", process.stdout), process.stdout


def test_a_read_only_store_at_an_older_schema_says_to_open_it_writable_once(
    writable_again: Path, tmp_path: Path
) -> None:
    with MetaStore(writable_again) as store, store.engine.begin() as connection:
        command.downgrade(alembic_config(connection), "0002")
    writable_again.chmod(0o444)
    result = read_only_check(writable_again, tmp_path)
    kind, message = result["open"]
    assert kind == "MetaStoreReadOnlyError" and "\n" not in message
    assert message == (
        f"the meta-store sqlite:///{writable_again} is read-only and at an older schema "
        f"(revision '0002'; this tunegym needs '{engine_module.head_revision()}'): open it "
        "writable once to upgrade it, or point --store elsewhere."
    )
    writable_again.chmod(0o644)
    with MetaStore(writable_again) as store:  # writable: it migrates, its data kept
        assert store.revision == engine_module.head_revision()
        assert store.stats().datasets == 1


def test_every_write_to_a_read_only_store_fails_alike_and_reads_go_on(
    filled: str, monkeypatch: pytest.MonkeyPatch, iris_curves: Any
) -> None:
    real_access = os.access
    path = path_of(filled)

    def access(target: Any, mode: int, **kwargs: Any) -> bool:  # as if mounted read-only
        if mode == os.W_OK and Path(target) in (path, path.parent):
            return False
        return real_access(target, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    with MetaStore(filled) as store:
        assert store.read_only
        writes: list[tuple[str, Callable[[], object]]] = [
            ("get_or_create_dataset", lambda: store.get_or_create_dataset("wine")),
            ("set_meta_features", lambda: store.set_meta_features("iris", {"q": 1.0})),
            ("log_curves", lambda: store.log_curves(iris_curves)),
        ]
        for what, write in writes:
            with pytest.raises(MetaStoreReadOnlyError) as info:
                write()
            assert one_line(info.value, f"{what} could not write to the meta-store {filled}")
            assert "readonly" in str(driver_error(info.value))
        assert store.datasets()["spec"].tolist() == ["sklearn:iris"]
        assert store.meta_features().empty


# --------------------------------------------------------------------------- (b) a full disk


def no_room(engine: Any) -> None:
    """From now on the store's file cannot grow by a page, as on a full disk."""

    def limit(connection: sqlite3.Connection, _: object) -> None:
        pages = connection.execute("PRAGMA page_count").fetchone()[0]
        connection.execute(f"PRAGMA max_page_count = {pages}")

    event.listen(engine, "connect", limit)
    engine.dispose()


def test_a_full_disk_fails_the_write_in_one_line_and_reads_go_on(filled: str) -> None:
    with MetaStore(filled) as store:
        no_room(store.engine)
        many = {f"quality_{i}": float(i) for i in range(5000)}
        with pytest.raises(MetaStoreFullError) as info:
            store.set_meta_features("iris", many)
        message = one_line(info.value, filled)
        assert message == (
            f"set_meta_features could not write to the meta-store {filled}: its disk is full "
            "(database or disk is full). Free space on it or point --store elsewhere."
        )
        assert "disk is full" in str(driver_error(info.value))
        assert store.meta_features().empty  # the transaction left nothing behind
        assert store.stats().datasets == 1


def test_a_new_store_on_a_full_disk_fails_to_open_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(cursor: Any, timeout_s: float) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(engine_module, "_enable_wal", full)
    url = f"sqlite:///{tmp_path / 'new.sqlite'}"
    with pytest.raises(MetaStoreFullError) as info:
        MetaStore(url)
    assert one_line(info.value, url).startswith(f"could not open the meta-store {url}: its disk")


# --------------------------------------------------------------------------- (c) a lock held


@pytest.fixture
def locked(filled: str) -> Iterator[sqlite3.Connection]:
    """Another process's connection holding the store's write lock until the test ends."""
    other = sqlite3.connect(path_of(filled), isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    yield other
    other.execute("ROLLBACK")
    other.close()


def test_a_lock_held_past_the_timeout_fails_the_write_in_one_line(
    filled: str, locked: sqlite3.Connection
) -> None:
    with MetaStore(filled, timeout=1) as store:  # opening a store at head takes no lock
        started = time.monotonic()
        with pytest.raises(MetaStoreLockedError) as info:
            store.get_or_create_dataset("wine")
        assert 1 <= time.monotonic() - started < 5
        assert one_line(info.value, filled) == (
            f"get_or_create_dataset could not write to the meta-store {filled}: another "
            "process has held it locked for more than 1 s (database is locked). Wait for that "
            f"process to finish (or stop it), or set {STORE_TIMEOUT_ENV} to more seconds to "
            "wait longer."
        )
        assert isinstance(info.value, MetaStoreWriteError)
        assert store.stats().datasets == 1  # reads go on under WAL
        locked.execute("ROLLBACK")
        locked.execute("BEGIN")
        assert store.get_or_create_dataset("wine").name == "wine"  # free again


def test_a_store_to_migrate_under_a_lock_fails_to_open_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode=WAL")
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(MetaStoreLockedError) as info:
            MetaStore(path, timeout=0.5)
    finally:
        other.execute("ROLLBACK")
        other.close()
    message = one_line(info.value, f"sqlite:///{path}")
    assert message.startswith(f"could not open the meta-store sqlite:///{path}: another process")
    assert "more than 0.5 s" in message


def test_the_timeout_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(STORE_TIMEOUT_ENV, "2.5")
    with MetaStore(":memory:") as store:
        assert store.timeout == 2.5
    with MetaStore(":memory:", timeout=4) as store:
        assert store.timeout == 4
    monkeypatch.setenv(STORE_TIMEOUT_ENV, "soon")
    with pytest.raises(ValueError, match=rf"\${STORE_TIMEOUT_ENV} must be a positive .* 'soon'"):
        MetaStore(":memory:")
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds"):
        MetaStore(":memory:", timeout=-1)


def test_a_postgresql_lock_held_past_the_timeout_fails_in_one_line(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = store_url("postgresql", tmp_path, request)
    with MetaStore(url, timeout=1) as store:
        store.get_or_create_dataset("iris")
        other = create_engine(url)
        with other.begin() as connection:  # readers pass, writers wait
            connection.execute(text("LOCK TABLE dataset IN EXCLUSIVE MODE"))
            with pytest.raises(MetaStoreLockedError) as info:
                store.get_or_create_dataset("wine")
            assert store.stats().datasets == 1
        other.dispose()
        shown = store.engine.url.render_as_string(hide_password=True)
        message = one_line(info.value, shown)
        assert "locked for more than 1 s (canceling statement due to lock timeout)" in message
        assert store.get_or_create_dataset("wine").name == "wine"


# --------------------------------------------------------------------------- (d) unreachable


def test_an_unreachable_server_fails_to_open_in_one_line_without_the_password() -> None:
    with pytest.raises(MetaStoreOpenError) as info:
        MetaStore(UNREACHABLE, timeout=5)
    message = one_line(info.value, UNREACHABLE_SHOWN)
    assert "secret" not in message
    assert message.startswith(
        f"could not open the meta-store {UNREACHABLE_SHOWN}: it cannot be reached ("
    )
    assert "Connection refused" in message and "Check the --store URL" in message
    assert isinstance(driver_error(info.value), OperationalError)


@pytest.mark.parametrize(
    ("part", "value", "problem"),
    [
        ("database", "no_such_db", "the database does not exist"),
        ("username", "no_such_user", "the server refused the login"),
    ],
)
def test_a_server_that_refuses_the_connection_fails_to_open_in_one_line(
    request: pytest.FixtureRequest, part: str, value: str, problem: str
) -> None:
    server = make_url(request.getfixturevalue("postgres_server"))
    url = server.set(**{part: value}).render_as_string(hide_password=False)
    with pytest.raises(MetaStoreOpenError) as info:
        MetaStore(url)
    message = one_line(info.value, shown_url(url))
    assert f"{problem} (" in message and value in message and "--store URL" in message


def test_a_bad_scheme_or_a_missing_driver_fails_to_open_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(MetaStoreURLError) as bad:
        MetaStore("nodriver://user:secret@host/db")
    assert isinstance(bad.value, ValueError)
    assert "Invalid meta-store URL" in one_line(bad.value, "nodriver://user:***@host/db")

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed
    with pytest.raises(MetaStoreDriverError) as missing:
        MetaStore(UNREACHABLE)
    assert isinstance(missing.value, MissingExtraError)
    message = one_line(missing.value, UNREACHABLE_SHOWN)
    assert message.endswith(install_command("postgres"))

    monkeypatch.setitem(sys.modules, "pymysql", None)
    with pytest.raises(MetaStoreDriverError, match=r"'pymysql'.*pip install pymysql$"):
        MetaStore("mysql+pymysql://user@host/db")


def test_a_file_that_is_no_store_fails_to_open_in_one_line(tmp_path: Path) -> None:
    path = tmp_path / "notes.sqlite"
    path.write_text("not a database\n" * 100)
    with pytest.raises(MetaStoreOpenError) as info:
        MetaStore(path)
    assert "it is not a SQLite database" in one_line(info.value, f"sqlite:///{path}")


def test_a_failed_read_is_one_line(filled: str) -> None:
    with MetaStore(filled) as store:
        with store.engine.begin() as connection:
            connection.execute(text("DROP TABLE meta_feature"))
        with pytest.raises(MetaStoreError) as info:
            store.meta_features()
    assert one_line(info.value, filled) == (
        f"could not read the meta-store {filled}: no such table: meta_feature. Check that it "
        "is reachable and a tunegym store."
    )


# --------------------------------------------------------------------------- the command line


def tiny_app(error: BaseException) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    def fail() -> None:
        raise error

    return app


LOCKED = "log_trial could not write to the meta-store sqlite:///x: locked. Wait."
NO_DRIVER = MissingExtraError("psycopg", "postgres", "A PostgreSQL meta-store")


@pytest.mark.parametrize(
    ("error", "line"),
    [
        (MetaStoreLockedError(LOCKED), LOCKED),
        (NO_DRIVER, str(NO_DRIVER)),
        (
            OperationalError("INSERT …", {}, sqlite3.OperationalError("disk I/O error\nmore")),
            f"the meta-store's database failed: disk I/O error ({DEBUG_ENV}=1 shows why).",
        ),
    ],
)
def test_run_cli_prints_a_users_error_in_one_line_and_exits_1(
    error: BaseException,
    line: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(sys, "argv", ["tiny"])
    monkeypatch.delenv(DEBUG_ENV, raising=False)
    with pytest.raises(SystemExit) as exited:
        run_cli(tiny_app(error))
    assert exited.value.code == 1
    assert capsys.readouterr().err == f"error: {line}\n"


def test_run_cli_keeps_the_traceback_of_a_bug_and_under_debug(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", ["tiny"])
    with pytest.raises(KeyError):
        run_cli(tiny_app(KeyError("bug")))
    monkeypatch.setenv(DEBUG_ENV, "1")
    with pytest.raises(MetaStoreFullError):
        run_cli(tiny_app(MetaStoreFullError("full")))


def test_a_command_on_an_unreachable_store_prints_one_line() -> None:
    code = textwrap.dedent(f"""
        import typer
        from tunegym._cli_errors import run_cli
        from tunegym.metastore import MetaStore
        app = typer.Typer()
        @app.command()
        def stats() -> None:
            print(MetaStore({UNREACHABLE!r}).stats())
        run_cli(app)
    """)
    env = {k: v for k, v in os.environ.items() if k != DEBUG_ENV}
    process = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
        timeout=120, check=False,
    )  # fmt: skip
    assert process.returncode == 1
    assert process.stderr.count("\n") == 1, process.stderr
    assert process.stderr.startswith(f"error: could not open the meta-store {UNREACHABLE_SHOWN}: ")
