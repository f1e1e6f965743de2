"""Where a store lives: the default location, ``$TUNEGYM_METASTORE``, paths and URLs."""

from __future__ import annotations

from pathlib import Path

import pytest

from tunegym.errors import MissingExtraError
from tunegym.metastore import METASTORE_ENV, MetaStore, default_url
from tunegym.metastore._engine import resolve_url


@pytest.fixture
def no_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv(METASTORE_ENV, raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path


def test_default_location_follows_xdg(no_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_url() == str(no_env / "xdg" / "tunegym" / "metastore.sqlite")
    monkeypatch.delenv("XDG_DATA_HOME")
    expected = no_env / "home" / ".local" / "share" / "tunegym" / "metastore.sqlite"
    assert default_url() == str(expected)
    with MetaStore() as store:
        store.get_or_create_dataset("a")
    assert expected.exists()


def test_the_environment_variable_wins(no_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(METASTORE_ENV, str(no_env / "team.sqlite"))
    assert resolve_url(None) == f"sqlite:///{no_env / 'team.sqlite'}"
    monkeypatch.setenv(METASTORE_ENV, "postgresql+psycopg://u@db/tunegym")
    assert resolve_url(None) == "postgresql+psycopg://u@db/tunegym"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (":memory:", "sqlite://"),
        ("sqlite://", "sqlite://"),
        ("sqlite:///:memory:", "sqlite://"),
        ("sqlite:////abs/x.sqlite", "sqlite:////abs/x.sqlite"),
        (Path("/abs/y.sqlite"), "sqlite:////abs/y.sqlite"),
    ],
)
def test_urls_and_paths(given: str | Path, expected: str) -> None:
    assert resolve_url(given) == expected


def test_bad_urls_say_what_to_give() -> None:
    with pytest.raises(ValueError, match="Invalid meta-store URL"):
        MetaStore("nodriver://")
    with pytest.raises(ValueError, match="Invalid meta-store URL"):
        MetaStore("://nothing")


def test_postgresql_without_its_driver_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if not installed: import fails
    with pytest.raises(MissingExtraError, match=r"pip install -e '.*\[postgres\]'"):
        MetaStore("postgresql+psycopg://user:secret@localhost/tunegym")


def test_repr() -> None:
    with MetaStore(":memory:") as store:
        assert repr(store) == "MetaStore('sqlite://')"
