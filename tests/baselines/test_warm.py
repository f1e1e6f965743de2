"""A warm start read against the env's candidates: which portfolio entries and box apply."""

from __future__ import annotations

import dataclasses

import pytest

from tests.baselines.conftest import CANDIDATES, candidate_entry
from tunegym.baselines._warm import box_candidates, entry_config, portfolio_candidates
from tunegym.envs import SearchSpace
from tunegym.metastore import SearchBox, WarmStart
from tunegym.space import LR_BS_SPACE, Float, Int, Space

LR_BS = SearchSpace.of_configs(
    LR_BS_SPACE, [{"lr": 1e-3, "batch_size": 32}, {"lr": 1e-2, "batch_size": 64}]
)


def test_an_lr_batch_size_entry_is_a_configuration_of_a_space_of_those_two(
    warm: WarmStart,
) -> None:
    entry = dataclasses.replace(warm.portfolio[0], lr=1e-2, batch_size=64)
    assert entry_config(entry, LR_BS) == {"lr": 1e-2, "batch_size": 64}
    assert entry_config(entry, CANDIDATES) is None  # five of LCBench's seven are unknown
    lcbench_two = Space((Float("learning_rate", 1e-4, 1.0, log=True), Int("batch_size", 16, 512)))
    renamed = entry_config(entry, SearchSpace.sampled(lcbench_two, 2))
    assert renamed == {"learning_rate": 1e-2, "batch_size": 64}


def test_an_entry_with_its_own_configuration_gives_it() -> None:
    config = CANDIDATES.candidates[3]
    assert entry_config(candidate_entry(config), CANDIDATES) == config
    assert entry_config(candidate_entry(config), LR_BS) is None  # not that space's names


def test_portfolio_keeps_its_candidates_in_order(warm: WarmStart) -> None:
    entries = [dataclasses.replace(warm.portfolio[0], lr=lr, batch_size=bs)
               for lr, bs in [(1e-2, 64), (0.5, 64), (1e-3, 32)]]  # fmt: skip
    portfolio = dataclasses.replace(warm, portfolio=tuple(entries))
    assert portfolio_candidates(portfolio, LR_BS) == [1, 0]
    assert portfolio_candidates(dataclasses.replace(warm, portfolio=()), LR_BS) == []
    with pytest.raises(ValueError, match=r"none of its 1 portfolio entries.*1 are not among"):
        portfolio_candidates(dataclasses.replace(warm, portfolio=(entries[1],)), LR_BS)


def test_box_keeps_the_candidates_inside_it() -> None:
    box = SearchBox(5e-3, 2e-2, 16, 512)
    assert box_candidates(box, LR_BS).tolist() == [1]
    with pytest.raises(ValueError, match="holds no configuration"):
        box_candidates(SearchBox(1.0, 2.0, 16, 512), LR_BS)


def test_box_refuses_a_space_without_a_learning_rate_or_batch_size() -> None:
    no_lr = SearchSpace.sampled(Space((Int("batch_size", 16, 64), Float("momentum", 0, 1))), 3)
    with pytest.raises(ValueError, match=r"lack one, so the box cannot apply"):
        box_candidates(SearchBox(1e-3, 1e-1, 16, 64), no_lr)
