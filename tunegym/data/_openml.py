"""OpenML datasets through the ``openml`` package, with a cache directory tunegym pins.

The cache lets a dataset fetched once load offline afterwards: ``openml`` reads
``<root>/org/openml/www/datasets/<did>/`` (``description.xml`` and the data file) before it
tries the network.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from tunegym.data._table import RawTable
from tunegym.errors import DatasetError, DatasetNotFoundError, MissingExtraError

__all__ = ["OPENML_CACHE_ENV", "openml_cache_dir", "read_openml"]

OPENML_CACHE_ENV = "TUNEGYM_OPENML_CACHE"

# OpenML's error code for "Unknown dataset".
_UNKNOWN_DATASET = 111


def openml_cache_dir(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The root of the OpenML cache tunegym uses.

    Args:
        cache_dir: explicit folder; wins over everything else.

    Returns:
        ``cache_dir`` if given, else ``$TUNEGYM_OPENML_CACHE`` if set, else
        ``~/.cache/tunegym/openml``.
    """
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(OPENML_CACHE_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "tunegym" / "openml"


@contextmanager
def _cache_root(openml: Any, root: Path) -> Iterator[None]:
    # openml keeps its cache root in module state: set ours for the call, then put theirs back
    # so that a caller's own openml configuration is left as it was.
    previous = openml.config.get_config_as_dict()["cachedir"]
    openml.config.set_root_cache_directory(root)
    try:
        yield
    finally:
        openml.config.set_root_cache_directory(previous)


def read_openml(ref: str, target: str | None, cache_dir: str | os.PathLike[str] | None) -> RawTable:
    """Read OpenML dataset ``ref`` (its numeric id) from the cache, or download it once.

    Args:
        ref: the dataset id as written after ``openml:``.
        target: the target column; ``None`` uses the dataset's default target attribute.
        cache_dir: the cache root (see :func:`openml_cache_dir`).

    Raises:
        MissingExtraError: ``openml`` is not installed.
        DatasetNotFoundError: OpenML has no dataset with that id.
        DatasetError: a bad id or target, or the dataset is neither cached nor downloadable.
    """
    try:
        did = int(ref)
    except ValueError:
        raise DatasetError(
            f"OpenML datasets are named by their numeric id, as in 'openml:31'; got {ref!r}."
        ) from None
    try:
        import openml
        from openml.exceptions import OpenMLServerException, PyOpenMLError
    except ImportError as err:
        raise MissingExtraError("openml", "openml", f"Loading 'openml:{did}'") from err

    root = openml_cache_dir(cache_dir)
    with _cache_root(openml, root):
        did_dir = Path(openml.config.get_cache_directory()) / "datasets" / str(did)
        try:
            dataset = openml.datasets.get_dataset(did, download_data=True)
            frame, _, _, _ = dataset.get_data(dataset_format="dataframe")
        except OpenMLServerException as err:
            if err.code == _UNKNOWN_DATASET:
                raise DatasetNotFoundError(f"OpenML has no dataset 'openml:{did}'.") from err
            raise DatasetError(f"OpenML refused 'openml:{did}': {err}") from err
        except (OSError, PyOpenMLError) as err:
            raise DatasetError(
                f"OpenML dataset {did} is not in the cache at '{did_dir}' and OpenML could not "
                f"be reached ({type(err).__name__}: {err}). To fix: load it once on a machine "
                f"with network access (it is then cached there), or copy a filled cache into "
                f"'{root}' (the folder is set by cache_dir= or ${OPENML_CACHE_ENV})."
            ) from err

    if not isinstance(frame, pd.DataFrame):
        raise DatasetError(
            f"OpenML dataset {did} did not load as a table ({type(frame).__name__})."
        )
    target_name = target if target is not None else dataset.default_target_attribute
    if not target_name:
        raise DatasetError(
            f"OpenML dataset {did} ({dataset.name}) has no default target; pass target= with "
            f"one of its columns: {list(frame.columns)}."
        )
    if target_name not in frame.columns:
        raise DatasetError(
            f"Target column {target_name!r} not found in 'openml:{did}' ({dataset.name}); "
            f"available columns: {list(frame.columns)}."
        )
    return RawTable(
        features=frame.drop(columns=[target_name]),
        target=pd.Series(frame[target_name], name=target_name).reset_index(drop=True),
        source="openml",
        name=str(dataset.name),
        spec=f"openml:{did}",
        openml_id=did,
        extra={"openml_version": str(dataset.version)},
    )
