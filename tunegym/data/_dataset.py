"""The dataset value object every other part of tunegym consumes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

if TYPE_CHECKING:
    from tunegym.data._preprocess import FittedPreprocessor

__all__ = ["DatasetInfo", "TabularDataset"]


@dataclass(frozen=True)
class DatasetInfo:
    """Provenance and shape of a dataset, independent of the split.

    Attributes:
        source: where it came from: ``"sklearn"``, ``"keel"``, ``"openml"``, ``"file"``,
            ``"dataframe"`` or ``"array"``.
        name: the name inside that source (``"german"``, ``"iris"``, a file stem, ...).
        spec: the spec string that reloads it (``"keel:german"``), or ``None`` for in-memory data.
        openml_id: the OpenML dataset id (``did``) where the dataset is on OpenML, else ``None``.
        n_rows: rows after cleaning (before the split).
        n_raw_features: columns of the raw table, target excluded.
        n_numeric: raw numeric feature columns.
        n_categorical: raw categorical (symbolic) feature columns.
        n_classes: distinct target classes.
        feature_names: names of the raw feature columns.
        class_names: original target labels as text, in label-encoded order (class ``i`` is
            ``class_names[i]``).
        class_labels: the same labels as the target held them (``int`` for an integer target,
            ``str`` for text, ...): what a prediction is compared with. An info built by hand
            without them gets its ``class_names``.
        extra: source-specific details (e.g. KEEL's ``"balanced"``/``"imbalanced"`` collection).
        numeric_features: the raw feature columns typed numeric, in column order (empty where the
            info was built by hand rather than by ``load_dataset``).
        categorical_features: the raw feature columns typed categorical, in column order.
    """

    source: str
    name: str
    spec: str | None
    openml_id: int | None
    n_rows: int
    n_raw_features: int
    n_numeric: int
    n_categorical: int
    n_classes: int
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    extra: dict[str, str] = field(default_factory=dict)
    numeric_features: tuple[str, ...] = ()
    categorical_features: tuple[str, ...] = ()
    class_labels: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if not self.class_labels:
            object.__setattr__(self, "class_labels", tuple(self.class_names))


@dataclass(frozen=True, eq=False)
class TabularDataset:
    """A preprocessed classification dataset, split into train/val/test.

    Features are ``float32`` tensors of shape ``(n, n_features)`` after preprocessing fitted on
    the training part only (impute, one-hot, standardise); targets are ``int64`` label-encoded
    tensors of shape ``(n,)``. ``indices_*`` give the rows of the cleaned raw table each split
    came from, so splits can be audited and reproduced. In a k-fold split (``n_folds`` set),
    ``fold_part`` says which part fold ``fold`` is: ``"test"`` (`iter_folds`: val is carved from
    the other folds) or ``"val"`` (`cv_folds`: k-fold cross-validation for tuning beside a fixed
    hold-out test part). ``preprocessor`` (set by
    ``load_dataset``) applies the same fitted preprocessing to new raw rows, e.g. to predict.
    ``split`` is how the rows were split: ``"stratified"`` (per dataset) or ``"rows"`` (each
    row's part a seeded hash of its feature values, the same in every dataset that holds it).
    """

    info: DatasetInfo
    X_train: torch.Tensor
    y_train: torch.Tensor
    X_val: torch.Tensor
    y_val: torch.Tensor
    X_test: torch.Tensor
    y_test: torch.Tensor
    feature_names_out: tuple[str, ...]
    indices_train: np.ndarray
    indices_val: np.ndarray
    indices_test: np.ndarray
    seed: int
    fold: int | None = None
    n_folds: int | None = None
    preprocessor: FittedPreprocessor | None = None
    fold_part: str = "test"
    split: str = "stratified"

    @property
    def n_features(self) -> int:
        """Width of the preprocessed feature matrix (the MLP's input size)."""
        return int(self.X_train.shape[1])

    @property
    def n_classes(self) -> int:
        """Number of target classes (the MLP's output size)."""
        return self.info.n_classes

    @property
    def name(self) -> str:
        """Short display name (the spec where there is one)."""
        return self.info.spec or self.info.name

    def to(self, device: str | torch.device) -> TabularDataset:
        """Return a copy with every tensor moved to ``device``."""
        from dataclasses import replace

        return replace(
            self,
            X_train=self.X_train.to(device),
            y_train=self.y_train.to(device),
            X_val=self.X_val.to(device),
            y_val=self.y_val.to(device),
            X_test=self.X_test.to(device),
            y_test=self.y_test.to(device),
        )

    def __repr__(self) -> str:
        return (
            f"TabularDataset({self.name!r}, train={len(self.y_train)}, val={len(self.y_val)}, "
            f"test={len(self.y_test)}, features={self.n_features}, classes={self.n_classes})"
        )
