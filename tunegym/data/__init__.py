"""Datasets for tunegym: sources, preprocessing fitted on the training part, seeded splits.

One entry point, :func:`load_dataset`, reads a spec (``"sklearn:iris"``, ``"keel:german"``,
``"openml:31"``), a CSV/Parquet file, a DataFrame or arrays, and returns a
:class:`TabularDataset` ready for a neural network. See ``docs/DATASETS.md``.
"""

from tunegym.data._dataset import DatasetInfo, TabularDataset
from tunegym.data._listing import DatasetSummary, list_datasets
from tunegym.data._load import (
    DatasetDescription,
    cv_folds,
    describe_dataset,
    iter_folds,
    load_dataset,
)
from tunegym.data._openml import OPENML_CACHE_ENV, openml_cache_dir
from tunegym.data._preprocess import FittedPreprocessor
from tunegym.data._rows import SPLIT_MODES
from tunegym.data._schema import schema_fingerprint
from tunegym.data._sources import read_table
from tunegym.data._table import RawTable

__all__ = [
    "OPENML_CACHE_ENV",
    "SPLIT_MODES",
    "DatasetDescription",
    "DatasetInfo",
    "DatasetSummary",
    "FittedPreprocessor",
    "RawTable",
    "TabularDataset",
    "cv_folds",
    "describe_dataset",
    "iter_folds",
    "list_datasets",
    "load_dataset",
    "openml_cache_dir",
    "read_table",
    "schema_fingerprint",
]
