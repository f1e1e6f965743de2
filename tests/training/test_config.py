from __future__ import annotations

import itertools
import math

import pytest
import torch

from tunegym.training import TrainConfig
from tunegym.training._config import cosine_factor, epoch_order, resolve_device


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"lr": 0.0}, r"lr.*0\.0"),
        ({"lr": -1e-3}, "lr.*-0.001"),
        ({"lr": math.inf}, "lr.*inf"),
        ({"lr": math.nan}, "lr.*nan"),
        ({"batch_size": 0}, "batch_size.*0"),
        ({"batch_size": 8.0}, r"batch_size.*8\.0"),
        ({"max_epochs": 0}, "max_epochs.*0"),
        ({"seed": -1}, "seed.*-1"),
        ({"weight_decay": -0.5}, "weight_decay.*-0.5"),
    ],
)
def test_config_rejects_invalid_values(kwargs: dict[str, object], match: str) -> None:
    values: dict[str, object] = {"lr": 1e-3, "batch_size": 8, "max_epochs": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        TrainConfig(**values)  # type: ignore[arg-type]


def test_cosine_schedule_starts_at_one_and_decays_to_near_zero() -> None:
    factors = [cosine_factor(e, 10) for e in range(10)]
    assert factors[0] == 1.0
    assert factors[5] == pytest.approx(0.5)
    assert all(a > b > 0 for a, b in itertools.pairwise(factors))


def test_epoch_order_is_a_function_of_seed_epoch_and_size() -> None:
    order = epoch_order(3, 5, 100)
    assert torch.equal(order, epoch_order(3, 5, 100))
    assert torch.equal(order.sort().values, torch.arange(100))
    assert not torch.equal(order, epoch_order(3, 6, 100))
    assert not torch.equal(order, epoch_order(4, 5, 100))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_requested_but_unavailable_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    assert resolve_device("auto") == torch.device("cpu")


def test_unknown_device_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="Unknown device 'gpu0'"):
        resolve_device("gpu0")
