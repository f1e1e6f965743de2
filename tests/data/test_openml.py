"""OpenML datasets: offline from a cache in openml's own layout, clear errors otherwise."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from tunegym.data import OPENML_CACHE_ENV, load_dataset, openml_cache_dir
from tunegym.errors import DatasetError, DatasetNotFoundError, MissingExtraError

openml = pytest.importorskip("openml")

IRIS_DID = 61
IRIS_CLASSES = ("Iris-setosa", "Iris-versicolor", "Iris-virginica")
IRIS_COLUMNS = ("sepallength", "sepalwidth", "petallength", "petalwidth")


@pytest.mark.parametrize("data_format", ["parquet", "arff"])
def test_cached_dataset_loads_offline(
    openml_iris_cache: Callable[[str], Path], no_network: list[str], data_format: str
) -> None:
    root = openml_iris_cache(data_format)
    before = openml.config.get_config_as_dict()["cachedir"]

    ds = load_dataset(f"openml:{IRIS_DID}", cache_dir=root, seed=3)

    assert no_network == []
    assert ds.info.source == "openml"
    assert ds.info.spec == "openml:61"
    assert ds.info.openml_id == IRIS_DID
    assert ds.info.name == "iris"
    assert ds.info.n_rows == 150
    assert ds.info.feature_names == IRIS_COLUMNS
    assert ds.info.class_names == IRIS_CLASSES  # OpenML's declared class order
    assert len(ds.y_train) + len(ds.y_val) + len(ds.y_test) == 150
    # tunegym sets openml's cache root for the call only
    assert openml.config.get_config_as_dict()["cachedir"] == before


def test_cache_dir_from_environment(
    openml_iris_cache: Callable[[str], Path],
    no_network: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = openml_iris_cache("parquet")
    monkeypatch.setenv(OPENML_CACHE_ENV, str(root))

    assert openml_cache_dir() == root
    assert load_dataset("openml:61").info.n_rows == 150


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(OPENML_CACHE_ENV, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))

    assert openml_cache_dir() == tmp_path / ".cache" / "tunegym" / "openml"
    assert openml_cache_dir(tmp_path / "x") == tmp_path / "x"


def test_target_override(openml_iris_cache: Callable[[str], Path], no_network: list[str]) -> None:
    root = openml_iris_cache("parquet")

    with pytest.raises(DatasetError, match=r"'species' not found .*'sepallength'"):
        load_dataset("openml:61", "species", cache_dir=root)


def test_uncached_and_unreachable_names_cache_and_fix(
    tmp_path: Path, no_network: list[str]
) -> None:
    root = tmp_path / "empty-cache"

    with pytest.raises(DatasetError) as caught:
        load_dataset("openml:31", cache_dir=root)

    message = str(caught.value)
    assert str(root) in message
    assert "not in the cache" in message
    assert "network access" in message
    assert no_network, "openml was expected to try the network"


def test_unknown_openml_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_network: list[str]
) -> None:
    from openml.exceptions import OpenMLServerException

    def unknown(*args: object, **kwargs: object) -> None:
        raise OpenMLServerException("Unknown dataset", code=111)

    monkeypatch.setattr(openml.datasets, "get_dataset", unknown)

    with pytest.raises(DatasetNotFoundError, match="openml:99999999"):
        load_dataset("openml:99999999", cache_dir=tmp_path)


def test_non_numeric_id() -> None:
    with pytest.raises(DatasetError, match=r"numeric id.*'credit-g'"):
        load_dataset("openml:credit-g")


def test_missing_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openml", None)

    with pytest.raises(MissingExtraError, match=r"pip install -e '.*\[openml\]'"):
        load_dataset("openml:61")


@pytest.mark.online
def test_download_then_load_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ds = load_dataset("openml:61", cache_dir=tmp_path)
    assert ds.info.n_rows == 150
    assert ds.info.class_names == IRIS_CLASSES

    def refuse(*args: object, **kwargs: object) -> None:
        raise OSError("network disabled after the download")

    monkeypatch.setattr(openml.config, "connection_n_retries", 1)
    monkeypatch.setattr("requests.Session.request", refuse)
    assert load_dataset("openml:61", cache_dir=tmp_path).info.n_rows == 150
