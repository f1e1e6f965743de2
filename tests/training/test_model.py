from __future__ import annotations

import pytest
import torch

from tunegym.training import MLP, MLPSpec, build_mlp


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"depth": -1}, "depth.*-1"),
        ({"depth": 1.5}, "depth.*1.5"),
        ({"width": 0}, "width.*0"),
        ({"dropout": 1.0}, r"dropout.*1\.0"),
        ({"dropout": -0.1}, r"dropout.*-0\.1"),
        ({"activation": "rleu"}, "'rleu'.*Did you mean 'relu'"),
    ],
)
def test_spec_rejects_invalid_values(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        MLPSpec(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_build_mlp_has_depth_hidden_layers(depth: int) -> None:
    model = build_mlp(MLPSpec(depth=depth, width=8), n_features=5, n_classes=4)
    assert isinstance(model, MLP)
    assert len(model.layers) == depth + 1
    assert model.layers[0].in_features == 5
    assert model.layers[-1].out_features == 4
    assert model(torch.zeros(3, 5)).shape == (3, 4)


def test_init_depends_on_seed_only() -> None:
    spec = MLPSpec(depth=2, width=16)
    a, b = (build_mlp(spec, 5, 3, seed=7).state_dict() for _ in range(2))
    other = build_mlp(spec, 5, 3, seed=8).state_dict()
    for name in a:
        assert torch.equal(a[name], b[name])
    assert not torch.equal(a["linears.0.weight"], other["linears.0.weight"])


def test_init_follows_torch_linear_bounds() -> None:
    model = build_mlp(MLPSpec(depth=1, width=32), n_features=100, n_classes=2)
    bound = 100**-0.5
    first = model.layers[0]
    assert first.weight.abs().max() <= bound
    assert first.weight.abs().max() > 0.9 * bound


def test_build_mlp_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError, match=r"n_features.*0"):
        build_mlp(MLPSpec(), n_features=0, n_classes=2)


def test_dropout_uses_the_given_generator_and_only_in_training() -> None:
    model = build_mlp(MLPSpec(depth=1, width=64, dropout=0.5), n_features=4, n_classes=2)
    x = torch.randn(32, 4)
    first = model(x, torch.Generator().manual_seed(1))
    again = model(x, torch.Generator().manual_seed(1))
    other = model(x, torch.Generator().manual_seed(2))
    assert torch.equal(first, again)
    assert not torch.equal(first, other)
    model.eval()
    assert torch.equal(model(x, torch.Generator().manual_seed(1)), model(x))
