from __future__ import annotations

import dataclasses

import pytest
import torch

from tunegym.data import TabularDataset
from tunegym.training import BatchedTrial, EpochRecord, MLPSpec, TrainConfig, Trial

SPEC = MLPSpec(depth=2, width=16)
LRS = [1e-3, 3e-3, 1e-2]
BATCH_SIZE, MAX_EPOCHS, SEED = 32, 8, 3


def assert_close_curves(batched: list[EpochRecord], single: list[EpochRecord], n_val: int) -> None:
    assert len(batched) == len(single)
    for b, s in zip(batched, single, strict=True):
        assert b.epoch == s.epoch
        assert b.diverged == s.diverged
        for name in ("train_loss", "val_loss", "test_loss"):
            if getattr(s, name) is None:
                assert getattr(b, name) is None
            else:
                assert getattr(b, name) == pytest.approx(getattr(s, name), rel=1e-5), name
        # float32 rounding may flip the argmax of a near-tie: allow one validation row.
        assert b.val_accuracy == pytest.approx(s.val_accuracy, abs=1.01 / n_val)
        for name in ("val_f1_macro", "val_precision_macro", "val_recall_macro"):
            # One flipped row moves a class's score by at most ~2 / its count: stay loose.
            assert getattr(b, name) == pytest.approx(getattr(s, name), abs=0.1), name
        assert (b.test_f1_macro is None) == (s.test_f1_macro is None)


def assert_close_weights(a: torch.nn.Module, b: torch.nn.Module) -> None:
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=1e-4, atol=1e-5, msg=name)


@pytest.mark.parametrize(
    ("spec", "weight_decay"),
    [
        (SPEC, 0.0),
        (dataclasses.replace(SPEC, dropout=0.3, activation="tanh"), 1e-3),
        (MLPSpec(depth=0), 0.0),
    ],
)
def test_members_match_separate_trials(
    dataset: TabularDataset, spec: MLPSpec, weight_decay: float
) -> None:
    batched = BatchedTrial(
        dataset, LRS, BATCH_SIZE, MAX_EPOCHS, SEED, spec, weight_decay, eval_test=True
    )
    batched.train(2)
    batched.train(3)
    for member, lr in enumerate(LRS):
        config = TrainConfig(lr, BATCH_SIZE, MAX_EPOCHS, SEED, weight_decay)
        single = Trial(dataset, config, spec, eval_test=True)
        single.train(5)
        assert_close_curves(batched.members_history[member], single.history, len(dataset.y_val))
        assert_close_weights(batched.member_model(member), single.model)


def test_members_start_from_the_trial_initial_weights(dataset: TabularDataset) -> None:
    batched = BatchedTrial(dataset, LRS, BATCH_SIZE, MAX_EPOCHS, SEED, SPEC)
    single = Trial(dataset, TrainConfig(0.1, 7, 2, SEED), SPEC)
    for member in range(len(LRS)):
        for x, y in zip(
            batched.member_model(member).parameters(), single.model.parameters(), strict=True
        ):
            assert torch.equal(x, y)


def test_diverging_member_is_isolated(dataset: TabularDataset, diverging_lr: float) -> None:
    lrs = [LRS[0], diverging_lr, LRS[2]]
    batched = BatchedTrial(dataset, lrs, BATCH_SIZE, MAX_EPOCHS, SEED, SPEC)
    new = batched.train(4)
    assert [len(records) for records in new] == [4, 1, 4]
    assert batched.diverged == [False, True, False]
    (record,) = batched.members_history[1]
    assert record.diverged
    assert record.val_f1_macro == record.val_precision_macro == record.val_recall_macro == 0.0
    assert record.epoch == 1
    assert record.val_accuracy == 0.0
    assert record.train_loss == float("inf")
    frozen = batched.member_model(1).state_dict()
    assert [len(records) for records in batched.train(2)] == [2, 0, 2]
    for x, y in zip(frozen.values(), batched.member_model(1).state_dict().values(), strict=True):
        torch.testing.assert_close(x, y, rtol=0, atol=0, equal_nan=True)
    for member in (0, 2):
        single = Trial(dataset, TrainConfig(lrs[member], BATCH_SIZE, MAX_EPOCHS, SEED), SPEC)
        single.train(6)
        assert_close_curves(batched.members_history[member], single.history, len(dataset.y_val))
        assert_close_weights(batched.member_model(member), single.model)


def test_all_members_diverging_finishes(dataset: TabularDataset, diverging_lr: float) -> None:
    batched = BatchedTrial(dataset, [diverging_lr, 2 * diverging_lr], BATCH_SIZE, MAX_EPOCHS)
    assert [len(records) for records in batched.train(3)] == [1, 1]
    assert batched.finished
    assert batched.diverged == [True, True]
    assert batched.train(1) == [[], []]


def test_on_epoch_and_max_epochs(dataset: TabularDataset) -> None:
    seen: list[tuple[int, EpochRecord]] = []
    batched = BatchedTrial(dataset, LRS[:2], BATCH_SIZE, max_epochs=3, spec=SPEC)
    new = batched.train(5, on_epoch=lambda member, record: seen.append((member, record)))
    assert [len(records) for records in new] == [3, 3]
    assert batched.finished
    assert batched.epochs_done == 3
    assert seen == [(m, new[m][e]) for e in range(3) for m in range(2)]
    best = batched.best_record(1, "val_loss")
    assert best is not None
    assert best.val_loss == min(r.val_loss for r in new[1])


def test_invalid_arguments(dataset: TabularDataset) -> None:
    with pytest.raises(ValueError, match="at least one learning rate"):
        BatchedTrial(dataset, [], BATCH_SIZE, MAX_EPOCHS)
    with pytest.raises(ValueError, match=r"lr.*-1"):
        BatchedTrial(dataset, [1e-3, -1.0], BATCH_SIZE, MAX_EPOCHS)
    with pytest.raises(ValueError, match="epochs to train"):
        BatchedTrial(dataset, LRS, BATCH_SIZE, MAX_EPOCHS).train(0)


def test_members_fine_tune_from_an_init_as_separate_trials_do(dataset: TabularDataset) -> None:
    from tunegym.training import build_mlp, transfer_state

    source = Trial(dataset, TrainConfig(1e-2, BATCH_SIZE, 4, SEED + 1), SPEC)
    source.train(4)
    names = list(dataset.feature_names_out)
    target = build_mlp(SPEC, dataset.n_features, dataset.n_classes, seed=SEED)
    init = transfer_state(source.model.state_dict(), target, source_inputs=names,
                          target_inputs=names, same_classes=False, seed=SEED)  # fmt: skip
    batched = BatchedTrial(dataset, LRS, BATCH_SIZE, MAX_EPOCHS, SEED, SPEC, init=init,
                           probe_head=True)  # fmt: skip
    batched.train(3)
    for member, lr in enumerate(LRS):
        single = Trial(dataset, TrainConfig(lr, BATCH_SIZE, MAX_EPOCHS, SEED), SPEC, init=init,
                       probe_head=True)  # fmt: skip
        single.train(3)
        assert_close_curves(batched.members_history[member], single.history, len(dataset.y_val))
        assert_close_weights(batched.member_model(member), single.model)
    with pytest.raises(ValueError, match="init does not fit"):
        BatchedTrial(dataset, LRS, BATCH_SIZE, MAX_EPOCHS, SEED, MLPSpec(depth=1, width=8),
                     init=init)  # fmt: skip
