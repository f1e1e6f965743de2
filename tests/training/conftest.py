"""Small synthetic datasets for the training tests, built directly from tensors."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from tunegym.data import DatasetInfo, TabularDataset


def make_dataset(
    n_train: int = 192,
    n_val: int = 64,
    n_test: int = 64,
    n_features: int = 6,
    n_classes: int = 3,
    seed: int = 0,
) -> TabularDataset:
    """Gaussian blobs around random class centres: learnable, but not in one epoch."""
    generator = torch.Generator().manual_seed(seed)
    n = n_train + n_val + n_test
    centres = torch.randn(n_classes, n_features, generator=generator)
    y = torch.randint(0, n_classes, (n,), generator=generator)
    X = centres[y] + 1.5 * torch.randn(n, n_features, generator=generator)
    a, b = n_train, n_train + n_val
    info = DatasetInfo(
        source="array",
        name=f"blobs{seed}",
        spec=None,
        openml_id=None,
        n_rows=n,
        n_raw_features=n_features,
        n_numeric=n_features,
        n_categorical=0,
        n_classes=n_classes,
        feature_names=tuple(f"x{i}" for i in range(n_features)),
        class_names=tuple(str(c) for c in range(n_classes)),
    )
    rows = np.arange(n)
    return TabularDataset(
        info=info,
        X_train=X[:a],
        y_train=y[:a],
        X_val=X[a:b],
        y_val=y[a:b],
        X_test=X[b:],
        y_test=y[b:],
        feature_names_out=info.feature_names,
        indices_train=rows[:a],
        indices_val=rows[a:b],
        indices_test=rows[b:],
        seed=seed,
    )


@pytest.fixture(scope="session")
def dataset() -> TabularDataset:
    return make_dataset()


@pytest.fixture(scope="session")
def dataset_factory() -> Callable[..., TabularDataset]:
    return make_dataset


@pytest.fixture(scope="session")
def diverging_lr() -> float:
    # An Adam step moves every weight by about lr, so 1e20 overflows float32 activations in
    # the first epoch (the divergence tests check it), while rates up to ~1e10 stay finite.
    return 1e20
