"""``list_datasets``: the bundled datasets (scikit-learn's and KEEL's) with their sizes."""

from __future__ import annotations

from dataclasses import dataclass

from tunegym.data._keel import KEEL_COLLECTIONS, keel_names, read_keel
from tunegym.data._openml_ids import openml_id_for
from tunegym.data._sources import SKLEARN_NAMES, keel_spec, read_sklearn
from tunegym.errors import DatasetError, did_you_mean

__all__ = ["DatasetSummary", "list_datasets"]

_LISTED_SOURCES = ("sklearn", "keel")


@dataclass(frozen=True)
class DatasetSummary:
    """One line of ``list_datasets``.

    Attributes:
        spec: the spec that loads it (``"keel:german"``, ``"keel:imbalanced/pima"``).
        source: ``"sklearn"`` or ``"keel"``.
        name: the name inside its source.
        collection: KEEL's ``"balanced"``/``"imbalanced"``, ``None`` for scikit-learn.
        n_rows: rows of the raw table.
        n_features: raw feature columns (target excluded).
        n_classes: distinct classes.
        openml_id: the OpenML dataset id, where known.
    """

    spec: str
    source: str
    name: str
    collection: str | None
    n_rows: int
    n_features: int
    n_classes: int
    openml_id: int | None


def list_datasets(source: str | None = None) -> list[DatasetSummary]:
    """List the datasets that load offline: scikit-learn's 4 and KEEL's 143 raw tables.

    Each KEEL table is listed once; ``pima`` and ``wisconsin`` exist in both collections with
    different contents, so the imbalanced ones are listed as ``keel:imbalanced/pima`` and
    ``keel:imbalanced/wisconsin``. OpenML datasets are loaded by id and are not listed.

    Args:
        source: ``"sklearn"`` or ``"keel"`` to list one source; ``None`` for both.

    Raises:
        DatasetError: for another source.

    Example:
        >>> [d.spec for d in list_datasets("sklearn")]
        ['sklearn:breast_cancer', 'sklearn:digits', 'sklearn:iris', 'sklearn:wine']
    """
    if source is not None and source not in _LISTED_SOURCES:
        hint = (
            " OpenML datasets are not listed (there are thousands): load one by id, 'openml:31'."
            if source == "openml"
            else did_you_mean(source, _LISTED_SOURCES)
        )
        raise DatasetError(
            f"Cannot list source {source!r}; listed sources: {list(_LISTED_SOURCES)}.{hint}"
        )
    summaries: list[DatasetSummary] = []
    if source in (None, "sklearn"):
        for name in SKLEARN_NAMES:
            table = read_sklearn(name)
            summaries.append(
                DatasetSummary(
                    spec=f"sklearn:{name}",
                    source="sklearn",
                    name=name,
                    collection=None,
                    n_rows=len(table.features),
                    n_features=table.features.shape[1],
                    n_classes=table.target.nunique(),
                    openml_id=table.openml_id,
                )
            )
    if source in (None, "keel"):
        for collection in KEEL_COLLECTIONS:
            for name in keel_names(collection):
                frame = read_keel(collection, name)
                spec = keel_spec(collection, name)
                summaries.append(
                    DatasetSummary(
                        spec=spec,
                        source="keel",
                        name=name,
                        collection=collection,
                        n_rows=len(frame),
                        n_features=frame.shape[1] - 1,
                        n_classes=frame["class"].nunique(),
                        openml_id=openml_id_for(spec),
                    )
                )
    return summaries
