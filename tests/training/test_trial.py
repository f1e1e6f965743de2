from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from sklearn.metrics import f1_score, precision_score, recall_score
from torch import nn

from tunegym.data import TabularDataset
from tunegym.training import METRICS, EpochRecord, MLPSpec, TrainConfig, Trial, train
from tunegym.training._records import best_record, make_record

CONFIG = TrainConfig(lr=3e-3, batch_size=32, max_epochs=12, seed=1)
SPEC = MLPSpec(depth=2, width=16)
MACRO_FIELDS = tuple(
    f"{split}_{m}_macro" for split in ("val", "test") for m in ("f1", "precision", "recall")
)


def timeless(records: list[EpochRecord]) -> list[EpochRecord]:
    return [dataclasses.replace(r, seconds=0.0) for r in records]


def assert_same_weights(a: nn.Module, b: nn.Module) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


def test_records_are_sane(dataset: TabularDataset) -> None:
    records = Trial(dataset, CONFIG, SPEC, eval_test=True).train(3)
    assert [r.epoch for r in records] == [1, 2, 3]
    for r in records:
        assert not r.diverged
        assert 0 < r.train_loss < 5
        assert 0 < r.val_loss < 5
        assert 0 <= r.val_balanced_accuracy <= 1
        assert 0 <= r.val_accuracy <= 1
        assert r.test_accuracy is not None
        for name in MACRO_FIELDS:
            value = getattr(r, name)
            assert value is not None and 0 <= value <= 1, name
        assert r.seconds > 0
    assert records[-1].train_loss < records[0].train_loss


def test_records_score_the_trained_model(dataset: TabularDataset) -> None:
    trial = Trial(dataset, CONFIG, SPEC, eval_test=True)
    (record,) = trial.train(1)
    for split in ("val", "test"):
        X, y = getattr(dataset, f"X_{split}"), getattr(dataset, f"y_{split}")
        with torch.no_grad():
            pred = trial.model(X).argmax(dim=1)
        expected = [
            float(score(y.numpy(), pred.numpy(), average="macro", zero_division=0))
            for score in (f1_score, precision_score, recall_score)
        ]
        got = [getattr(record, f"{split}_{m}_macro") for m in ("f1", "precision", "recall")]
        assert got == pytest.approx(expected, abs=1e-6), split


def test_without_test_split_the_test_scores_are_none(dataset: TabularDataset) -> None:
    (record,) = Trial(dataset, CONFIG, SPEC).train(1)
    assert record.val_f1_macro is not None
    assert record.test_f1_macro is record.test_precision_macro is record.test_recall_macro is None
    with pytest.raises(ValueError, match="eval_test=True"):
        best_record([record], "test_f1_macro")


def test_checkpoint_saved_before_the_macro_scores_loads(
    dataset: TabularDataset, tmp_path: Path
) -> None:
    trial = Trial(dataset, CONFIG, SPEC, eval_test=True)
    trial.train(2)
    state = trial.state_dict()
    # A checkpoint of an older tunegym: its records have no macro-score keys.
    state["history"] = [
        {k: v for k, v in record.items() if k not in MACRO_FIELDS} for record in state["history"]
    ]
    torch.save(state, tmp_path / "old.pt")
    resumed = Trial.load(tmp_path / "old.pt", dataset)
    assert [r.val_f1_macro for r in resumed.history] == [None, None]
    assert resumed.best_record().epoch in (1, 2)
    with pytest.raises(ValueError, match="predate it"):
        resumed.best_record("val_f1_macro")
    (third,) = resumed.train(1)
    assert third.epoch == 3 and third.val_f1_macro is not None


def test_make_record_checks_the_number_of_values() -> None:
    with pytest.raises(ValueError, match=r"expects 7 values.*got 4"):
        make_record(1, [0.1, 0.2, 0.9, 0.9], 0.0, has_test=False, weights_finite=True)


def test_training_in_pieces_equals_one_run(dataset: TabularDataset) -> None:
    pieces = Trial(dataset, CONFIG, SPEC)
    first, second = pieces.train(3), pieces.train(3)
    straight = Trial(dataset, CONFIG, SPEC)
    assert timeless(first + second) == timeless(straight.train(6))
    assert_same_weights(pieces.model, straight.model)
    full = Trial(dataset, CONFIG, SPEC)
    full.train(CONFIG.max_epochs)
    assert timeless(full.history[:6]) == timeless(pieces.history)


def test_checkpoint_resume_is_exact(dataset: TabularDataset, tmp_path: Path) -> None:
    config = dataclasses.replace(CONFIG, max_epochs=20, weight_decay=1e-4)
    spec = dataclasses.replace(SPEC, dropout=0.2)
    straight = Trial(dataset, config, spec, eval_test=True)
    straight.train(20)
    interrupted = Trial(dataset, config, spec, eval_test=True)
    interrupted.train(10)
    interrupted.save(tmp_path / "trial.pt")
    del interrupted
    resumed = Trial.load(tmp_path / "trial.pt", dataset)
    assert resumed.epochs_done == 10
    resumed.train(10)
    assert timeless(resumed.history) == timeless(straight.history)
    assert_same_weights(resumed.model, straight.model)


def test_state_dict_is_a_snapshot(dataset: TabularDataset) -> None:
    trial = Trial(dataset, CONFIG, SPEC)
    trial.train(2)
    snapshot = trial.state_dict()
    later = trial.train(2)
    restored = Trial.from_state_dict(snapshot, dataset)
    assert timeless(restored.train(2)) == timeless(later)
    assert_same_weights(restored.model, trial.model)


def test_load_rejects_another_dataset(
    dataset: TabularDataset, dataset_factory: Callable[..., TabularDataset], tmp_path: Path
) -> None:
    trial = Trial(dataset, CONFIG, SPEC)
    trial.save(tmp_path / "trial.pt")
    with pytest.raises(ValueError, match="does not match"):
        Trial.load(tmp_path / "trial.pt", dataset_factory(n_features=4))
    with pytest.raises(ValueError, match="Not a tunegym Trial checkpoint"):
        Trial.from_state_dict({"format": "other"}, dataset)


def test_same_seed_same_curve_other_seed_other_curve(dataset: TabularDataset) -> None:
    a, b = (Trial(dataset, CONFIG, SPEC).train(3) for _ in range(2))
    other = Trial(dataset, dataclasses.replace(CONFIG, seed=2), SPEC).train(3)
    assert timeless(a) == timeless(b)
    assert [r.train_loss for r in a] != [r.train_loss for r in other]


def test_initial_weights_ignore_lr_and_batch_size(dataset: TabularDataset) -> None:
    a = Trial(dataset, CONFIG, SPEC)
    b = Trial(dataset, dataclasses.replace(CONFIG, lr=0.5, batch_size=7, max_epochs=3), SPEC)
    assert_same_weights(a.model, b.model)


def test_train_stops_at_max_epochs(dataset: TabularDataset) -> None:
    trial = Trial(dataset, dataclasses.replace(CONFIG, max_epochs=3), SPEC)
    assert len(trial.train(2)) == 2
    assert len(trial.train(5)) == 1
    assert trial.finished
    assert not trial.diverged
    assert trial.train(1) == []
    with pytest.raises(ValueError, match=r"epochs to train.*0"):
        trial.train(0)


def test_divergence_is_recorded_not_raised(
    dataset: TabularDataset, diverging_lr: float, tmp_path: Path
) -> None:
    trial = Trial(dataset, dataclasses.replace(CONFIG, lr=diverging_lr), SPEC, eval_test=True)
    records = trial.train(5)
    assert len(records) == 1
    (record,) = records
    assert record.diverged
    assert record.epoch == 1
    assert record.train_loss == record.val_loss == record.test_loss == math.inf
    assert record.val_accuracy == record.val_balanced_accuracy == record.test_accuracy == 0.0
    assert [getattr(record, name) for name in MACRO_FIELDS] == [0.0] * len(MACRO_FIELDS)
    assert trial.diverged
    assert trial.finished
    assert trial.epochs_done == 1
    assert trial.train(3) == []
    assert trial.history == records
    trial.save(tmp_path / "diverged.pt")
    resumed = Trial.load(tmp_path / "diverged.pt", dataset)
    assert resumed.diverged
    assert resumed.history == records
    assert resumed.train(1) == []


def test_on_epoch_sees_each_record_as_it_ends(dataset: TabularDataset) -> None:
    seen: list[EpochRecord] = []
    trial = Trial(dataset, CONFIG, SPEC)
    records = trial.train(3, on_epoch=seen.append)
    assert seen == records


def test_best_record(dataset: TabularDataset) -> None:
    trial = Trial(dataset, CONFIG, SPEC)
    assert trial.best_record() is None
    trial.train(4)
    best = trial.best_record()
    assert best is not None
    assert best.val_accuracy == max(r.val_accuracy for r in trial.history)
    lowest = trial.best_record("val_loss")
    assert lowest is not None
    assert lowest.val_loss == min(r.val_loss for r in trial.history)
    with pytest.raises(ValueError, match="Did you mean 'val_loss'"):
        trial.best_record("val_los")
    with pytest.raises(ValueError, match="eval_test=True"):
        trial.best_record("test_accuracy")


def test_train_function(dataset: TabularDataset) -> None:
    result = train(dataset, dataclasses.replace(CONFIG, max_epochs=4), SPEC)
    assert len(result.history) == 4
    assert not result.diverged
    assert result.best is not None
    assert result.best_epoch == result.best.epoch
    assert result.history[-1].test_accuracy is not None
    assert not result.model.training


def test_empty_split_is_rejected(dataset_factory: Callable[..., TabularDataset]) -> None:
    empty_val = dataset_factory(n_val=0)
    with pytest.raises(ValueError, match="empty val split"):
        Trial(empty_val, CONFIG, SPEC)


def test_metrics_name_every_score_of_a_record() -> None:
    fields = {f.name for f in dataclasses.fields(EpochRecord)}
    assert set(METRICS) == fields - {"epoch", "seconds", "diverged"}
    assert all(METRICS[name] for name in MACRO_FIELDS)  # larger is better
