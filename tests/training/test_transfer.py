"""``transfer_state`` and ``Trial(init=...)``: fine-tuning from a network trained elsewhere."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from tunegym.data import TabularDataset, load_dataset
from tunegym.training import (
    MLP,
    EpochRecord,
    FunnelSpec,
    MLPSpec,
    TrainConfig,
    Trial,
    build_mlp,
    transfer_state,
)

SPEC = MLPSpec(depth=2, width=16)
NAMES = ["a", "b", "c", "d"]


def trained_like(spec: MLPSpec, n_features: int, n_classes: int) -> MLP:
    """A network whose weights differ from every seeded initialisation (biases included)."""
    model = build_mlp(spec, n_features, n_classes, seed=7)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    return model.eval()


def logits(model: MLP, state: dict[str, torch.Tensor], X: torch.Tensor) -> torch.Tensor:
    model.load_state_dict(state)
    with torch.no_grad():
        return model.eval()(X)


def test_same_inputs_and_classes_give_the_source_network() -> None:
    source = trained_like(SPEC, 4, 3)
    model = build_mlp(SPEC, 4, 3, seed=0)

    state = transfer_state(
        source.state_dict(),
        model,
        source_inputs=NAMES,
        target_inputs=NAMES,
        same_classes=True,
        seed=0,
    )

    assert state.keys() == source.state_dict().keys()
    for name, tensor in source.state_dict().items():
        assert torch.equal(state[name], tensor), name
    X = torch.randn(32, 4, generator=torch.Generator().manual_seed(1))
    assert torch.equal(logits(model, state, X), source(X))


def test_inputs_are_aligned_by_name() -> None:
    source = trained_like(SPEC, 4, 3)
    target_inputs = ["d", "new", "b", "a"]  # permuted; "c" dropped; "new" added
    model = build_mlp(SPEC, 4, 3, seed=0)

    state = transfer_state(
        source.state_dict(),
        model,
        source_inputs=NAMES,
        target_inputs=target_inputs,
        same_classes=True,
        seed=0,
    )

    X = torch.randn(32, 4, generator=torch.Generator().manual_seed(2))
    X[:, NAMES.index("c")] = 0.0  # a dropped input counts as 0 for the source
    new = torch.randn(32, 1, generator=torch.Generator().manual_seed(3)) * 10
    X_target = torch.cat([X[:, [3]], new, X[:, [1]], X[:, [0]]], dim=1)
    torch.testing.assert_close(logits(model, state, X_target), source(X), rtol=1e-5, atol=1e-5)
    assert torch.equal(state["linears.0.weight"][:, 1], torch.zeros(16))
    assert torch.equal(state["linears.0.bias"], source.linears[0].bias)


def test_other_classes_get_the_models_own_initial_head() -> None:
    source = trained_like(SPEC, 4, 3)
    model = build_mlp(SPEC, 5, 2, seed=11)
    own = {name: t.clone() for name, t in model.state_dict().items()}

    state = transfer_state(
        source.state_dict(),
        model,
        source_inputs=NAMES,
        target_inputs=[*NAMES, "e"],
        same_classes=False,
        seed=11,
    )

    assert torch.equal(state["linears.2.weight"], own["linears.2.weight"])
    assert torch.equal(state["linears.2.bias"], own["linears.2.bias"])
    assert torch.equal(state["linears.1.weight"], source.linears[1].weight)
    assert not torch.equal(state["linears.1.weight"], own["linears.1.weight"])
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, own[name]), "transfer_state must not change the model"


def test_same_count_of_other_classes_still_gets_a_fresh_head() -> None:
    source = trained_like(SPEC, 4, 2)
    model = build_mlp(SPEC, 4, 2, seed=3)

    state = transfer_state(
        source.state_dict(),
        model,
        source_inputs=NAMES,
        target_inputs=NAMES,
        same_classes=False,
        seed=3,
    )

    assert torch.equal(state["linears.2.weight"], model.linears[2].weight)
    assert not torch.equal(state["linears.2.weight"], source.linears[2].weight)


def test_a_linear_model_transfers_its_aligned_columns() -> None:
    linear = MLPSpec(depth=0)
    source = trained_like(linear, 4, 3)
    model = build_mlp(linear, 2, 3, seed=0)

    state = transfer_state(
        source.state_dict(),
        model,
        source_inputs=NAMES,
        target_inputs=["c", "a"],
        same_classes=True,
        seed=0,
    )

    assert torch.equal(state["linears.0.weight"], source.linears[0].weight[:, [2, 0]])


@pytest.mark.parametrize(
    ("model", "match"),
    [
        (build_mlp(FunnelSpec(2, 16), 4, 3), r"linears\.1\.weight .*\(16, 16\).*\(10, 16\)"),
        (build_mlp(MLPSpec(2, 8), 4, 3), r"linears\.0\.weight has 16 units.*\(8, 4\)"),
        (build_mlp(MLPSpec(3, 16), 4, 3), r"missing \['linears\.3\.bias'"),
        (build_mlp(SPEC, 4, 2), r"Output layer .*same_classes=False"),
    ],
)
def test_architecture_mismatch_is_named(model: MLP, match: str) -> None:
    source = trained_like(SPEC, 4, 3)

    with pytest.raises(ValueError, match=match):
        transfer_state(
            source.state_dict(),
            model,
            source_inputs=NAMES,
            target_inputs=NAMES,
            same_classes=True,
            seed=0,
        )


@pytest.mark.parametrize(
    ("source_inputs", "target_inputs", "match"),
    [
        (NAMES[:3], NAMES, "source_inputs names 3 inputs but the source network takes 4"),
        (NAMES, [*NAMES, "e"], "target_inputs names 5 inputs but the target network takes 4"),
        (NAMES, ["a", "a", "b", "c"], r"more than once: \['a'\]"),
    ],
)
def test_bad_input_names_are_refused(
    source_inputs: list[str], target_inputs: list[str], match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        transfer_state(
            trained_like(SPEC, 4, 3).state_dict(),
            build_mlp(SPEC, 4, 3),
            source_inputs=source_inputs,
            target_inputs=target_inputs,
            same_classes=True,
            seed=0,
        )


# --- Trial(init=...) ---------------------------------------------------------------------------

CONFIG = TrainConfig(lr=1e-2, batch_size=16, max_epochs=20, seed=0)


@pytest.fixture(scope="module")
def iris() -> TabularDataset:
    return load_dataset("sklearn:iris", seed=0)


def timeless(records: list[EpochRecord]) -> list[EpochRecord]:
    return [dataclasses.replace(r, seconds=0.0) for r in records]


def fine_tune_state(
    source: Trial, dataset: TabularDataset, seed: int, same_classes: bool = True
) -> dict[str, torch.Tensor]:
    return transfer_state(
        source.model.state_dict(),
        build_mlp(source.spec, dataset.n_features, dataset.n_classes, seed=seed),
        source_inputs=source.dataset.feature_names_out,
        target_inputs=dataset.feature_names_out,
        same_classes=same_classes,
        seed=seed,
    )


def test_fine_tuning_starts_where_the_source_ended(iris: TabularDataset) -> None:
    source = Trial(iris, CONFIG, SPEC)
    source.train(20)
    best = source.best_record()
    assert best is not None
    config = dataclasses.replace(CONFIG, seed=1, lr=1e-3)

    tuned = Trial(iris, config, SPEC, init=fine_tune_state(source, iris, seed=1))
    scratch = Trial(iris, config, SPEC)
    (first_tuned,) = tuned.train(1)
    (first_scratch,) = scratch.train(1)

    assert first_tuned.val_accuracy >= best.val_accuracy - 0.05
    assert first_scratch.val_accuracy < best.val_accuracy - 0.2


def test_a_sibling_fine_tunes_from_a_row_consistent_source() -> None:
    from tunegym.data import schema_fingerprint

    source_data, target_data = (
        load_dataset(spec, split="rows") for spec in ("keel:yeast1", "keel:yeast-2_vs_4")
    )
    assert schema_fingerprint(source_data.info) == schema_fingerprint(target_data.info)
    config = TrainConfig(lr=1e-2, batch_size=64, max_epochs=4, seed=0)
    source = Trial(source_data, config, SPEC)
    source.train(2)

    # "positive" is another yeast class in each sibling: a fresh head.
    init = fine_tune_state(source, target_data, seed=0, same_classes=False)
    tuned = Trial(target_data, config, SPEC, init=init)

    assert torch.equal(tuned.model.linears[1].weight, source.model.linears[1].weight)
    assert len(tuned.train(2)) == 2


def test_init_is_the_exact_starting_point(dataset: TabularDataset) -> None:
    config = TrainConfig(lr=3e-3, batch_size=32, max_epochs=6, seed=4)
    own = build_mlp(SPEC, dataset.n_features, dataset.n_classes, seed=4).state_dict()
    other = trained_like(SPEC, dataset.n_features, dataset.n_classes).state_dict()

    same = Trial(dataset, config, SPEC, init=own)
    assert timeless(same.train(3)) == timeless(Trial(dataset, config, SPEC).train(3))
    started = Trial(dataset, config, SPEC, init=other)
    for name, tensor in started.model.state_dict().items():
        assert torch.equal(tensor, other[name]), name


def test_a_fine_tuned_trial_resumes_exactly(dataset: TabularDataset, tmp_path: Path) -> None:
    config = TrainConfig(lr=3e-3, batch_size=32, max_epochs=6, seed=2)
    init = trained_like(SPEC, dataset.n_features, dataset.n_classes).state_dict()

    straight = Trial(dataset, config, SPEC, init=init)
    straight.train(6)
    first = Trial(dataset, config, SPEC, init=init)
    first.train(3)
    first.save(tmp_path / "tuned.pt")
    resumed = Trial.load(tmp_path / "tuned.pt", dataset)
    resumed.train(3)

    assert timeless(resumed.history) == timeless(straight.history)
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], tensor), name


def test_an_init_of_another_shape_is_refused(dataset: TabularDataset) -> None:
    init = build_mlp(MLPSpec(2, 8), dataset.n_features, dataset.n_classes).state_dict()

    with pytest.raises(ValueError, match=r"(?s)init does not fit the model.*transfer_state"):
        Trial(dataset, CONFIG, SPEC, init=init)
