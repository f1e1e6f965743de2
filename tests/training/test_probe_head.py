"""``probe_head`` and ``Trial(probe_head=True)``: a new output layer fitted on frozen features
before fine-tuning (linear probing, then fine-tuning)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tunegym.data import load_dataset
from tunegym.training import MLPSpec, TrainConfig, Trial, build_mlp, probe_head

SPEC = MLPSpec(depth=2, width=32)


def data(n: int = 200, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Three classes a linear read-out of random ReLU features separates well."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 4, generator=generator)
    y = (X[:, 0] > 0).long() + (X[:, 1] > 0.5).long()
    return X, y


def loss(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model.eval()(X), y))


def accuracy(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model.eval()(X).argmax(1) == y).float().mean())


def test_the_probe_fits_the_head_and_leaves_the_hidden_layers() -> None:
    X, y = data()
    model = build_mlp(SPEC, 4, 3, seed=0)
    hidden = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("linears.2")}
    before = loss(model, X, y), accuracy(model, X, y)

    assert probe_head(model, X, y)

    # the penalty on the head's norm keeps the logits moderate: a lower loss, a far better read-out
    assert loss(model, X, y) < 0.9 * before[0]
    assert accuracy(model, X, y) > 0.85 > 0.3 > before[1]
    assert model.linears[2].weight.norm() < 5
    for name, tensor in hidden.items():
        assert torch.equal(model.state_dict()[name], tensor), name
    # the fit is convex and starts from zeros: the head the model had does not matter
    other = build_mlp(SPEC, 4, 3, seed=0)
    with torch.no_grad():
        other.linears[2].weight.normal_()
    probe_head(other, X, y)
    assert torch.allclose(other.linears[2].weight, model.linears[2].weight, atol=1e-5)


def test_the_probe_is_deterministic_and_samples_large_sets_by_seed() -> None:
    X, y = data(300)
    heads = []
    for seed in (0, 0, 1):
        model = build_mlp(SPEC, 4, 3, seed=0)
        probe_head(model, X, y, max_rows=100, seed=seed)
        heads.append(model.linears[2].weight.detach().clone())
    assert torch.equal(heads[0], heads[1])
    assert not torch.equal(heads[0], heads[2])


def test_a_non_finite_fit_leaves_the_head_and_says_so() -> None:
    X, y = data()
    X[0, 0] = float("nan")
    model = build_mlp(SPEC, 4, 3, seed=0)
    head = model.linears[2].weight.detach().clone()
    assert not probe_head(model, X, y)
    assert torch.equal(model.linears[2].weight, head)


def test_rows_and_labels_must_match() -> None:
    X, y = data()
    with pytest.raises(ValueError, match="as many labels as rows"):
        probe_head(build_mlp(SPEC, 4, 3), X, y[:-1])


def test_a_probed_trial_starts_better_and_charges_the_probe_to_its_first_epoch() -> None:
    dataset = load_dataset("sklearn:iris")
    config = TrainConfig(lr=1e-4, batch_size=32, max_epochs=4, seed=0)
    plain = Trial(dataset, config, SPEC).train(2)
    probed_trial = Trial(dataset, config, SPEC, probe_head=True)
    assert probed_trial._probe_seconds > 0
    probed = probed_trial.train(2)

    # at a learning rate too small to learn a head in one epoch, the probed head already reads
    # the random features well
    assert probed[0].val_loss < plain[0].val_loss
    assert probed[0].val_accuracy > plain[0].val_accuracy
    assert probed[0].seconds >= probed_trial._probe_seconds
    again = Trial(dataset, config, SPEC, probe_head=True).train(2)
    assert [r.val_loss for r in again] == [r.val_loss for r in probed]
