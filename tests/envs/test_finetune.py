"""Fine-tuning candidates, sources, pairs and curves (`tunegym.envs._finetune`)."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from sqlalchemy import select
from sqlalchemy.orm import Session

from tunegym.data import load_dataset
from tunegym.envs import (
    FT_LR_SPAN,
    CurvePool,
    TransferCheck,
    finetune_checks,
    finetune_configs,
    finetune_pools,
    finetune_prior,
    record_finetune_curves,
    scratch_configs,
    train_source,
    transfer_pairs,
)
from tunegym.metastore import MetaStore, Run, Task
from tunegym.space import FINE_TUNE, FINE_TUNE_SPACE, LCBENCH_SPACE
from tunegym.training import FunnelSpec, probe_accuracy

SOURCE = {
    "batch_size": 32, "learning_rate": 0.03, "max_dropout": 0.1, "max_units": 64,
    "momentum": 0.9, "num_layers": 2, "weight_decay": 1e-4,
}  # fmt: skip


def test_finetune_configs_keep_the_network_and_narrow_the_learning_rate() -> None:
    configs = finetune_configs(SOURCE, 12, seed=1)
    assert len(configs) == 12
    for config in configs:
        FINE_TUNE_SPACE.validate(config)
        assert config[FINE_TUNE] == 1
        assert {k: config[k] for k in ("num_layers", "max_units", "max_dropout")} == {
            "num_layers": 2, "max_units": 64, "max_dropout": 0.1,
        }  # fmt: skip
        assert SOURCE["learning_rate"] / FT_LR_SPAN * 0.999 <= config["learning_rate"]
        assert config["learning_rate"] <= SOURCE["learning_rate"] * 1.001
    first = configs[0]
    assert first["learning_rate"] == pytest.approx(0.03 / math.sqrt(FT_LR_SPAN))
    assert first["batch_size"] == 32
    assert len({c["batch_size"] for c in configs}) > 3  # the rest is searched
    with pytest.raises(ValueError, match="n must be >= 1"):
        finetune_configs(SOURCE, 0)


def test_scratch_configs_put_the_portfolio_first() -> None:
    configs = scratch_configs(5, seed=0, portfolio=[SOURCE])
    assert configs[0] == SOURCE | {FINE_TUNE: 0}
    assert all(c[FINE_TUNE] == 0 for c in configs) and len(configs) == 5


def test_transfer_pairs_pair_members_of_one_family_and_schema() -> None:
    pairs = transfer_pairs(["keel:iris", "keel:iris0", "sklearn:iris", "keel:glass1"])
    # sklearn:iris has other column names (another schema); glass1 has no sibling here
    assert [(p.source, p.target, p.family) for p in pairs] == [("keel:iris", "keel:iris0", "iris")]


@pytest.fixture(scope="module")
def vehicle_source():  # type: ignore[no-untyped-def]
    torch.set_num_threads(1)
    return train_source("keel:vehicle", [SOURCE], max_epochs=4, max_rows=300)


def test_a_source_is_its_best_epoch_and_fits_targets_of_other_classes(vehicle_source) -> None:  # type: ignore[no-untyped-def]
    source, history = vehicle_source
    assert len(source.classes) == 4 and source.score == max(r.val_accuracy for r in history)
    assert source.trial_spec() == FunnelSpec(2, 64, 0.1, out_width=4)
    target = load_dataset("keel:vehicle0", max_rows=300, seed=0, split="rows")
    state = source.init_state(target, seed=0)  # 4 -> 2 classes: the funnel keeps its widths
    assert state["linears.0.weight"].shape == source.weights["linears.0.weight"].shape
    assert state["linears.2.weight"].shape[0] == 2
    assert torch.equal(state["linears.1.weight"], source.weights["linears.1.weight"])


def test_a_new_head_is_probed_and_a_kept_one_is_not(vehicle_source) -> None:  # type: ignore[no-untyped-def]
    source, _ = vehicle_source
    sibling = load_dataset("keel:vehicle0", max_rows=300, seed=0, split="rows")
    same = load_dataset("keel:vehicle", max_rows=300, seed=0, split="rows")
    assert source.keeps_head(same) and not source.probes(same)
    assert not source.keeps_head(sibling) and source.probes(sibling)
    siblings = dataclasses.replace(source, keep_head=False)  # KEEL's relabelled siblings
    assert not siblings.keeps_head(same) and siblings.probes(same)
    assert not dataclasses.replace(siblings, probe=False).probes(same)


def test_record_finetune_curves_probe_a_new_head_before_the_first_epoch(vehicle_source) -> None:  # type: ignore[no-untyped-def]
    source, _ = vehicle_source
    configs = finetune_configs(source.config, 1)
    curves = {
        probe: record_finetune_curves(
            "keel:vehicle0", dataclasses.replace(source, probe=probe), configs, seed=0,
            max_epochs=1, max_rows=300,
        )["val_loss"].iloc[0]
        for probe in (False, True)
    }  # fmt: skip
    assert curves[True] < curves[False]


def test_record_finetune_curves_trains_both_kinds_and_logs_checkpoint_runs(
    vehicle_source, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    source, _ = vehicle_source
    configs = scratch_configs(1, seed=0) + finetune_configs(source.config, 1)
    with MetaStore(tmp_path / "s.db") as store:
        frame = record_finetune_curves(
            "keel:vehicle0", source, configs, seed=0, max_epochs=2, max_rows=300, store=store
        )
        with Session(store.engine) as session:
            query = select(Run.init, Run.checkpoint, Task.procedure).join(Task)
            runs = session.execute(query).all()
    assert len(frame) == 4 and sorted(frame[FINE_TUNE].unique()) == [0, 1]
    assert set(frame.columns) >= {*LCBENCH_SPACE.names, "epoch", "val_accuracy", "seconds"}
    assert sorted((str(i), c) for i, c, _ in runs) == [
        ("checkpoint", source.name), ("scratch", None)
    ]  # fmt: skip
    assert {str(p) for *_, p in runs} == {"holdout-rows"}


def _pool(task: str, finals: list[float], configs: list[dict]) -> CurvePool:
    val = np.array(finals, dtype=float)[:, None, None] * np.ones((1, 1, 2))
    return CurvePool(task, task, "meta-train", FINE_TUNE_SPACE, tuple(configs), val, val,
                     np.ones_like(val))  # fmt: skip


def test_finetune_prior_reads_the_nearest_candidate_of_the_same_kind() -> None:
    scratch = scratch_configs(2, seed=0)
    fine = finetune_configs(SOURCE, 2)
    pool = _pool("t", [0.5, 0.6, 0.9, 0.8], [*scratch, *fine])
    prior = finetune_prior([pool], [scratch[1], fine[0]])
    # scaled on all four (0.5 worst, 0.9 best): scratch[1] 0.25, fine[0] 1.0
    assert prior.tolist() == pytest.approx([0.25, 1.0])
    with pytest.raises(ValueError, match="meta-train task"):
        finetune_prior([], [scratch[0]])


def test_a_funnel_shrinking_towards_another_width_round_trips_and_old_dicts_stay() -> None:
    from tunegym.training import build_mlp, spec_from_dict, spec_to_dict

    kept = FunnelSpec(3, 100, out_width=10)
    assert spec_from_dict(spec_to_dict(kept)) == kept
    assert "out_width" not in spec_to_dict(FunnelSpec(3, 100))  # stored flows unchanged
    assert build_mlp(kept, 4, 2).widths == FunnelSpec(3, 100).hidden_widths(10)
    with pytest.raises(ValueError, match="out_width"):
        FunnelSpec(3, 100, out_width=0)


def test_input_names_the_encoder_repeats_are_matched_in_order() -> None:
    from tunegym.envs._finetune import _numbered

    assert _numbered(["a", "f2_other", "b", "f2_other"]) == ["a", "f2_other", "b", "f2_other#1"]


def test_normalised_areas_reward_early_scores_where_finals_tie() -> None:
    from tunegym.envs._pool import greedy_portfolio, normalised_areas, normalised_finals

    configs = scratch_configs(3, seed=0)
    curves = np.array([[0.5, 0.9, 0.9], [0.9, 0.9, 0.9], [0.5, 0.5, 0.6]])  # slow, fast, poor
    val = curves[:, None, :]
    pool = CurvePool("t", "t", "meta-train", FINE_TUNE_SPACE, tuple(configs), val, val,
                     np.ones_like(val))  # fmt: skip
    assert normalised_finals([pool])[0].tolist() == pytest.approx([1.0, 1.0, 0.0])
    areas = normalised_areas([pool])[0]
    assert areas.tolist() == pytest.approx([(2.3 - 1.6) / (2.7 - 1.6), 1.0, 0.0])
    assert greedy_portfolio(normalised_areas([pool]), 1) == [1]


def test_the_nested_portfolio_holds_the_scratch_only_one_in_order() -> None:
    from tunegym.envs._pool import greedy_portfolio, nested_portfolio

    # columns 0-2 scratch, 3-4 fine-tune; rows are targets
    table = np.array([
        [0.2, 0.9, 0.1, 1.0, 0.3],  # fine-tuning pays
        [0.3, 0.2, 0.1, 1.0, 0.2],
        [0.9, 0.1, 0.1, 0.2, 0.2],  # it does not; scratch column 0 wins
        [0.1, 0.1, 0.8, 0.1, 0.9],
    ])  # fmt: skip
    kinds = [0, 0, 0, 1, 1]
    both = greedy_portfolio(table, 3)
    scratch = greedy_portfolio(table[:, :3], 3)
    assert both == [3, 4, 0] and scratch == [0, 1, 2]
    # the greedy over both kinds keeps one scratch column; the nested one keeps all three,
    # in the scratch-only order, after the fine-tuning picks where the greedy puts them
    nested = nested_portfolio(table, kinds, 3)
    assert nested == [3, 4, 0, 1, 2]
    assert [j for j in nested if kinds[j] == 0] == scratch
    kinds_mixed = [1, 0, 0, 1, 0]  # a scratch pick ahead of a fine-tuning one is replaced in place
    mixed = nested_portfolio(table, kinds_mixed, 3)
    scratch_mixed = [[1, 2, 4][j] for j in greedy_portfolio(table[:, [1, 2, 4]], 3)]
    assert [j for j in mixed if kinds_mixed[j] == 0] == scratch_mixed
    picks = greedy_portfolio(table, 3)
    assert [j for j in mixed[:3] if kinds_mixed[j]] == [j for j in picks if kinds_mixed[j]]
    assert nested_portfolio(table[:, :3], [0, 0, 0], 3) == scratch  # one kind: the greedy one


def test_the_transfer_check_compares_a_probe_on_the_features_with_one_on_the_raw_inputs(
    vehicle_source,  # type: ignore[no-untyped-def]
) -> None:
    source, _ = vehicle_source
    sibling = load_dataset("keel:vehicle0", max_rows=300, seed=0, split="rows")
    check = source.transfer_check(sibling)
    raw = probe_accuracy(sibling.X_train, sibling.y_train, sibling.X_val, sibling.y_val, 2)
    assert check.raw == raw and 0.5 < check.probe <= 1.0 and check.seconds > 0
    assert check.pays == (check.probe > raw)
    assert f"scores {check.probe:.3f} on validation, on the raw inputs {raw:.3f}" in (
        check.describe()
    )
    # hidden layers of zeros give every row the same features: a probe can only guess the
    # majority class, which the raw inputs' probe beats
    blank = dataclasses.replace(
        source, weights={k: torch.zeros_like(v) for k, v in source.weights.items()}
    )
    useless = blank.transfer_check(sibling)
    majority = int(torch.bincount(sibling.y_train).argmax())
    assert useless.probe == pytest.approx(float((sibling.y_val == majority).float().mean()))
    assert useless.gain < 0 and not useless.pays


def test_a_transfer_check_pays_only_for_a_gain() -> None:
    assert TransferCheck(0.90, 0.85).pays and TransferCheck(0.90, 0.85).gain == pytest.approx(0.05)
    assert not TransferCheck(0.85, 0.85).pays  # a tie: no evidence the features help
    assert not TransferCheck(math.nan, 0.85).pays  # a failed fit


def test_the_shipped_meta_dataset_has_a_transfer_check_per_target(tmp_path) -> None:  # type: ignore[no-untyped-def]
    checks = finetune_checks()
    tasks = {p.task for part in ("meta-train", "meta-val", "meta-test")
             for p in finetune_pools(part=part)}  # fmt: skip
    assert tasks <= set(checks)
    assert all(0 <= c.raw <= 1 and 0 <= c.probe <= 1 for c in checks.values())
    assert 0 < sum(c.pays for c in checks.values()) < len(checks)
    with pytest.raises(FileNotFoundError, match=r"transfer_checks\.py"):
        finetune_checks(tmp_path)
