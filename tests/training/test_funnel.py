"""LCBench's family: the funnel MLP, SGD with momentum, and the LCBench configuration mapping."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from torch import nn

from tunegym.data import TabularDataset, load_dataset
from tunegym.training import (
    LCBENCH_RANGES,
    BatchedTrial,
    EpochRecord,
    FunnelSpec,
    MLPSpec,
    TrainConfig,
    Trial,
    build_mlp,
    lcbench_trial_config,
    spec_from_dict,
    spec_to_dict,
)
from tunegym.training._model import dropout_mask

SGD = TrainConfig(
    lr=0.05, batch_size=16, max_epochs=10, seed=2, weight_decay=1e-4, optimizer="sgd", momentum=0.9
)
FUNNEL = FunnelSpec(num_layers=3, max_units=32, max_dropout=0.4)
LCBENCH_CONFIG = {
    "batch_size": 64,
    "learning_rate": 0.01,
    "momentum": 0.9,
    "weight_decay": 1e-4,
    "num_layers": 3,
    "max_units": 512,
    "max_dropout": 0.2,
}


@pytest.fixture(scope="module")
def iris() -> TabularDataset:
    return load_dataset("sklearn:iris")


def timeless(records: list[EpochRecord]) -> list[EpochRecord]:
    return [dataclasses.replace(r, seconds=0.0) for r in records]


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


# --- the funnel ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("num_layers", "max_units", "n_classes", "widths"),
    [
        (1, 64, 3, (64,)),
        (2, 64, 2, (64, 33)),
        (3, 512, 2, (512, 342, 172)),
        (4, 512, 2, (512, 385, 257, 130)),  # 384.5 and 129.5 round half up
        (5, 1024, 10, (1024, 821, 618, 416, 213)),
        (3, 64, 100, (64, 64, 64)),  # more classes than units: a brick, never widening
    ],
)
def test_funnel_widths(
    num_layers: int, max_units: int, n_classes: int, widths: tuple[int, ...]
) -> None:
    spec = FunnelSpec(num_layers, max_units)
    assert spec.hidden_widths(n_classes) == widths
    model = build_mlp(spec, n_features=7, n_classes=n_classes)
    sizes = [(layer.in_features, layer.out_features) for layer in model.layers]
    assert sizes == list(zip((7, *widths), (*widths, n_classes), strict=True))
    assert model.widths == widths


@pytest.mark.parametrize(
    ("num_layers", "max_dropout", "dropouts"),
    [
        (1, 0.5, (0.5,)),
        (3, 0.6, (0.6, 0.4, 0.2)),
        (4, 1.0, (1.0, 0.75, 0.5, 0.25)),
        (2, 0.0, (0.0, 0.0)),
    ],
)
def test_funnel_dropouts(num_layers: int, max_dropout: float, dropouts: tuple[float, ...]) -> None:
    spec = FunnelSpec(num_layers, 64, max_dropout)
    assert spec.hidden_dropouts() == pytest.approx(dropouts)
    assert build_mlp(spec, 4, 3).dropouts == spec.hidden_dropouts()


def test_the_brick_keeps_its_layout() -> None:
    spec = MLPSpec(depth=3, width=16, dropout=0.25)
    assert spec.hidden_widths(n_classes=5) == (16, 16, 16)
    assert spec.hidden_dropouts() == (0.25, 0.25, 0.25)
    assert MLPSpec(depth=0).hidden_widths(2) == ()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"num_layers": 0, "max_units": 64}, r"num_layers must be an int >= 1, got 0"),
        ({"num_layers": 2.0, "max_units": 64}, r"num_layers must be an int >= 1, got 2.0"),
        ({"num_layers": 2, "max_units": 0}, r"max_units must be an int >= 1, got 0"),
        ({"num_layers": 2, "max_units": 64, "max_dropout": 1.5}, r"in \[0, 1\], got 1.5"),
        ({"num_layers": 2, "max_units": 64, "max_dropout": -0.1}, r"in \[0, 1\], got -0.1"),
        ({"num_layers": 2, "max_units": 64, "max_dropout": True}, r"in \[0, 1\], got True"),
        ({"num_layers": 2, "max_units": 64, "activation": "rleu"}, r"Did you mean 'relu'"),
    ],
)
def test_funnel_spec_rejects_bad_values(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FunnelSpec(**kwargs)  # type: ignore[arg-type]


def test_dropout_of_one_zeroes_the_layer() -> None:
    generator = torch.Generator().manual_seed(0)
    assert torch.equal(dropout_mask((4, 5), 1.0, torch.device("cpu"), generator), torch.zeros(4, 5))
    # It draws as any p does, so the layers after it see the same stream.
    a, b = torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)
    dropout_mask((4, 5), 1.0, torch.device("cpu"), a)
    dropout_mask((4, 5), 0.5, torch.device("cpu"), b)
    assert torch.equal(torch.rand(3, generator=a), torch.rand(3, generator=b))


def test_spec_dicts_round_trip() -> None:
    assert spec_to_dict(FUNNEL) == {
        "kind": "funnel",
        "num_layers": 3,
        "max_units": 32,
        "max_dropout": 0.4,
        "activation": "relu",
    }
    assert spec_from_dict(spec_to_dict(FUNNEL)) == FUNNEL
    brick = MLPSpec(depth=1, width=8)
    assert spec_to_dict(brick) == dataclasses.asdict(brick)  # what tunegym always stored
    assert spec_from_dict(dataclasses.asdict(brick)) == brick
    assert spec_from_dict({"kind": "mlp", "width": 8}) == MLPSpec(width=8)
    with pytest.raises(ValueError, match=r"Unknown model spec kind 'funel'.*Did you mean 'funnel'"):
        spec_from_dict({"kind": "funel", "num_layers": 2, "max_units": 8})
    with pytest.raises(ValueError, match=r"Unknown FunnelSpec field\(s\) \['width'\]"):
        spec_from_dict({"kind": "funnel", "num_layers": 2, "max_units": 8, "width": 3})
    with pytest.raises(TypeError, match="MLPSpec or a FunnelSpec"):
        build_mlp({"depth": 1}, 4, 3)  # type: ignore[arg-type]


# --- the optimiser -------------------------------------------------------------------------


def test_sgd_and_adam_configs_validate() -> None:
    adam = TrainConfig(lr=1e-3, batch_size=32, max_epochs=5)
    assert (adam.optimizer, adam.momentum) == ("adam", 0.0)
    sgd = TrainConfig(lr=1e-2, batch_size=32, max_epochs=5, optimizer="sgd", momentum=0.9)
    assert (sgd.optimizer, sgd.momentum) == ("sgd", 0.9)
    assert TrainConfig(1e-2, 32, 5, optimizer="sgd").momentum == 0.0  # plain SGD
    with pytest.raises(
        ValueError, match=r"Unknown TrainConfig.optimizer 'sdg'.*Did you mean 'sgd'"
    ):
        TrainConfig(1e-2, 32, 5, optimizer="sdg")
    for momentum in (1.0, -0.1, math.nan, True):
        with pytest.raises(ValueError, match=r"momentum must be a number in \[0, 1\)"):
            TrainConfig(1e-2, 32, 5, optimizer="sgd", momentum=momentum)
    with pytest.raises(ValueError, match=r"momentum=0.9 is SGD's, but optimizer='adam'"):
        TrainConfig(1e-2, 32, 5, momentum=0.9)


@pytest.mark.parametrize(
    ("config", "state_keys"),
    [
        (SGD, {"momentum_buffer"}),
        (dataclasses.replace(SGD, momentum=0.0), set()),
        (TrainConfig(1e-3, 16, 10), {"step", "exp_avg", "exp_avg_sq"}),
    ],
)
def test_trial_builds_the_named_optimizer(
    iris: TabularDataset, config: TrainConfig, state_keys: set[str]
) -> None:
    trial = Trial(iris, config, FUNNEL)
    trial.train(1)
    optimizer = trial.state_dict()["optimizer"]
    assert optimizer["param_groups"][0]["weight_decay"] == config.weight_decay
    if config.optimizer == "sgd":
        assert optimizer["param_groups"][0]["momentum"] == config.momentum
    assert {key for state in optimizer["state"].values() for key in state} == state_keys


def test_sgd_learns(iris: TabularDataset) -> None:
    records = Trial(iris, SGD, FUNNEL).train(10)
    assert not any(r.diverged for r in records)
    assert records[-1].train_loss < records[0].train_loss
    assert max(r.val_accuracy for r in records) > 0.8


def test_initial_weights_depend_only_on_seed_and_spec(iris: TabularDataset) -> None:
    configs = [
        SGD,
        dataclasses.replace(SGD, lr=0.3, batch_size=7),
        dataclasses.replace(SGD, optimizer="adam", momentum=0.0, weight_decay=0.0),
        dataclasses.replace(SGD, momentum=0.5, max_epochs=50),
    ]
    models = [Trial(iris, config, FUNNEL).model for config in configs]
    for model in models[1:]:
        assert_same_weights(models[0], model)
    assert_same_weights(
        models[0], build_mlp(FUNNEL, iris.n_features, iris.n_classes, seed=SGD.seed)
    )
    other_seed = Trial(iris, dataclasses.replace(SGD, seed=3), FUNNEL).model
    assert not torch.equal(other_seed.layers[0].weight, models[0].layers[0].weight)
    # The dropout probability is no part of the weights either.
    no_dropout = Trial(iris, SGD, dataclasses.replace(FUNNEL, max_dropout=0.0)).model
    assert_same_weights(models[0], no_dropout)


# --- checkpoints ---------------------------------------------------------------------------


def test_sgd_funnel_resume_is_exact(iris: TabularDataset, tmp_path: Path) -> None:
    straight = Trial(iris, SGD, FUNNEL, eval_test=True)
    straight.train(7)
    interrupted = Trial(iris, SGD, FUNNEL, eval_test=True)
    interrupted.train(3)
    interrupted.save(tmp_path / "trial.pt")
    del interrupted
    raw = torch.load(tmp_path / "trial.pt", weights_only=True)
    assert raw["spec"]["kind"] == "funnel"
    assert raw["config"]["optimizer"] == "sgd"
    resumed = Trial.load(tmp_path / "trial.pt", iris)
    assert resumed.spec == FUNNEL
    assert resumed.config == SGD
    assert resumed.epochs_done == 3
    resumed.train(4)
    assert timeless(resumed.history) == timeless(straight.history)
    assert_same_weights(resumed.model, straight.model)
    # Dropout really was on: without it the curve differs.
    plain = Trial(iris, SGD, dataclasses.replace(FUNNEL, max_dropout=0.0), eval_test=True)
    assert timeless(plain.train(7)) != timeless(straight.history)


def test_checkpoint_without_the_optimizer_keys_loads(iris: TabularDataset, tmp_path: Path) -> None:
    config, spec = TrainConfig(3e-3, 16, 8, seed=1), MLPSpec(depth=2, width=16, dropout=0.1)
    straight = Trial(iris, config, spec)
    straight.train(4)
    trial = Trial(iris, config, spec)
    trial.train(2)
    state = trial.state_dict()
    # A checkpoint of an older tunegym: no optimizer/momentum, and the spec is a bare asdict.
    state["config"] = {
        k: v for k, v in state["config"].items() if k not in ("optimizer", "momentum")
    }
    assert set(state["config"]) == {"lr", "batch_size", "max_epochs", "seed", "weight_decay"}
    assert "kind" not in state["spec"]
    torch.save(state, tmp_path / "old.pt")
    resumed = Trial.load(tmp_path / "old.pt", iris)
    assert resumed.config == config and resumed.config.optimizer == "adam"
    assert resumed.spec == spec
    resumed.train(2)
    assert timeless(resumed.history) == timeless(straight.history)
    assert_same_weights(resumed.model, straight.model)


# --- divergence ----------------------------------------------------------------------------


def test_diverging_sgd_is_recorded_not_raised(iris: TabularDataset) -> None:
    config = dataclasses.replace(SGD, lr=1e20)
    trial = Trial(iris, config, FUNNEL, eval_test=True)
    records = trial.train(5)
    assert records[-1].diverged
    assert records[-1].train_loss == math.inf and records[-1].val_accuracy == 0.0
    assert all(not r.diverged for r in records[:-1])
    assert trial.diverged and trial.finished
    assert trial.train(3) == []
    batched = BatchedTrial(
        iris, [1e20, 0.05], 16, 10, SGD.seed, FUNNEL, SGD.weight_decay, "sgd", SGD.momentum
    )
    batched.train(3)
    assert batched.diverged == [True, False]
    assert len(batched.members_history[1]) == 3


# --- the batched trainer -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("optimizer", "momentum", "spec"),
    [
        ("sgd", 0.9, FUNNEL),
        ("sgd", 0.0, MLPSpec(depth=2, width=16, dropout=0.2)),
        ("adam", 0.0, FUNNEL),
    ],
)
def test_batched_members_match_separate_trials(
    iris: TabularDataset, optimizer: str, momentum: float, spec: FunnelSpec | MLPSpec
) -> None:
    lrs = [0.01, 0.03, 0.1] if optimizer == "sgd" else [1e-3, 1e-2]
    batched = BatchedTrial(iris, lrs, 16, 10, 4, spec, 1e-4, optimizer, momentum, eval_test=True)
    batched.train(2)
    batched.train(2)
    for member, lr in enumerate(lrs):
        config = TrainConfig(lr, 16, 10, 4, 1e-4, optimizer, momentum)
        assert batched.configs[member] == config
        single = Trial(iris, config, spec, eval_test=True)
        single.train(4)
        for b, s in zip(batched.members_history[member], single.history, strict=True):
            assert b.train_loss == pytest.approx(s.train_loss, rel=1e-4)
            assert b.val_loss == pytest.approx(s.val_loss, rel=1e-4)
        for x, y in zip(
            batched.member_model(member).parameters(), single.model.parameters(), strict=True
        ):
            torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5)


# --- LCBench configurations ----------------------------------------------------------------


def test_lcbench_config_maps_to_sgd_on_a_funnel() -> None:
    config, spec = lcbench_trial_config(LCBENCH_CONFIG, seed=5)
    assert config == TrainConfig(
        lr=0.01,
        batch_size=64,
        max_epochs=50,
        seed=5,
        weight_decay=1e-4,
        optimizer="sgd",
        momentum=0.9,
    )
    assert spec == FunnelSpec(num_layers=3, max_units=512, max_dropout=0.2)
    assert lcbench_trial_config(LCBENCH_CONFIG, max_epochs=12)[0].max_epochs == 12
    assert set(LCBENCH_RANGES) == set(LCBENCH_CONFIG)


def test_lcbench_config_rounds_integers_and_accepts_bounds() -> None:
    rounded = {**LCBENCH_CONFIG, "batch_size": 63.6, "num_layers": 2.5, "max_units": 100.2}
    config, spec = lcbench_trial_config(rounded)
    assert (config.batch_size, spec.num_layers, spec.max_units) == (64, 3, 100)
    assert isinstance(config.batch_size, int) and isinstance(spec.max_units, int)
    # ConfigSpace's float-noisy bounds, and both ends of every range.
    noisy = {**LCBENCH_CONFIG, "learning_rate": 0.00010000000000000009}
    assert lcbench_trial_config(noisy)[0].lr == pytest.approx(1e-4)
    for end in (0, 1):
        edge = {name: bounds[end] for name, bounds in LCBENCH_RANGES.items()}
        lcbench_trial_config({**edge, "learning_rate": 0.10000000000000002 if end else 1e-4})


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"batch_size": None}, ValueError, r"lacks \['batch_size'\]"),
        (
            {"learning_rte": 0.01},
            ValueError,
            r"Unknown LCBench hyperparameter\(s\) \['learning_rte'\].*Did you mean 'learning_rate'",
        ),
        ({"epoch": 3}, ValueError, r"Unknown LCBench hyperparameter\(s\) \['epoch'\]"),
        ({"batch_size": 8}, ValueError, r"'batch_size' must be in \[16, 512\], got 8.0"),
        ({"momentum": 0.995}, ValueError, r"'momentum' must be in \[0.1, 0.99\], got 0.995"),
        ({"max_dropout": 1.2}, ValueError, r"'max_dropout' must be in \[0, 1\], got 1.2"),
        ({"learning_rate": math.nan}, ValueError, r"'learning_rate' must be in"),
        ({"max_units": "512"}, TypeError, r"'max_units' must be a real number, got '512' \(str\)"),
        ({"num_layers": True}, TypeError, r"'num_layers' must be a real number"),
    ],
)
def test_lcbench_config_errors(
    change: dict[str, object], error: type[Exception], match: str
) -> None:
    config = {**LCBENCH_CONFIG, **change}
    config = {k: v for k, v in config.items() if v is not None}
    with pytest.raises(error, match=match):
        lcbench_trial_config(config)  # type: ignore[arg-type]


def test_lcbench_config_must_be_a_mapping() -> None:
    with pytest.raises(TypeError, match="mapping"):
        lcbench_trial_config([("batch_size", 64)])  # type: ignore[arg-type]


def test_lcbench_trial_trains_even_at_full_dropout(iris: TabularDataset) -> None:
    lcbench = {
        **LCBENCH_CONFIG,
        "batch_size": 16,
        "num_layers": 2,
        "max_units": 64,
        "max_dropout": 1.0,
    }
    config, spec = lcbench_trial_config(lcbench, max_epochs=4)
    records = Trial(iris, config, spec).train(4)
    assert [r.epoch for r in records] == [1, 2, 3, 4]
    assert not any(r.diverged for r in records)
