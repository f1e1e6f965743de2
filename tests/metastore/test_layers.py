"""The shipped snapshot under the user's store: every read of the store answers out of the box.

An empty store answers ``neighbors``/``warm_start``/``stats`` from the snapshot; a user's runs
are added on top, or replace the snapshot's on the same dataset; ``--no-snapshot`` (and
``include_snapshot=False``) query the store alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from tunegym.cli import app
from tunegym.envs import SearchSpace
from tunegym.metastore import (
    METASTORE_ENV,
    CandidatePool,
    Layer,
    MetaStore,
    candidate_pool,
    layered_stats,
    load_snapshot,
    snapshot_stats,
    warm_start,
    warm_start_snapshot,
)

SPACE = SearchSpace()
TARGET = "keel:magic"
USER = "my-magic"  # a dataset of the user's only, with keel:magic's qualities: its nearest


@pytest.fixture
def store_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A throw-away, empty default store ($TUNEGYM_METASTORE), wide console for the CLI."""
    path = tmp_path / "store.sqlite"
    monkeypatch.setenv(METASTORE_ENV, str(path))
    monkeypatch.setenv("COLUMNS", "200")  # rich would cut long cells at 80 columns
    return path


@pytest.fixture
def empty_store(store_path: Path) -> Iterator[MetaStore]:
    with MetaStore() as store:  # the default store: the environment variable's file
        assert Path(store.url.removeprefix("sqlite:///")) == store_path
        yield store


def user_curves(label: str, source: str = "keel:pima") -> pd.DataFrame:
    """A few real curves (2 configs, 1 seed) of ``source`` under the user's label ``label``."""
    frame = load_snapshot([source])
    lrs = sorted(frame["lr"].unique())[4:6]
    part = frame[frame["lr"].isin(lrs) & (frame["batch_size"] == 16) & (frame["seed"] == 0)]
    part = part.assign(dataset=label).reset_index(drop=True)
    header = frame.attrs["tunegym"]
    part.attrs["tunegym"] = {**header, "datasets": {label: header["datasets"][source]}}
    return part


def magic_qualities() -> dict[str, float]:
    row = candidate_pool().features.loc[TARGET].dropna()
    return {str(k): float(v) for k, v in row.items()}


def add_user_dataset(store: MetaStore) -> list[int]:
    """Log ``USER``'s curves with keel:magic's qualities; return its run ids."""
    runs = store.log_curves(user_curves(USER))
    store.set_meta_features(USER, magic_qualities())
    return runs


def flat(text: str) -> str:
    """CLI output with runs of whitespace (rich's line breaks) made single spaces."""
    return re.sub(r"\s+", " ", text)


# --- the library ----------------------------------------------------------------------------


def test_an_empty_store_warm_starts_from_the_snapshot(empty_store: MetaStore) -> None:
    ws = warm_start(empty_store, TARGET, SPACE.lrs, SPACE.batch_sizes, k=5)
    assert len(ws.neighbors) == 5 and ws.portfolio and ws.box is not None
    assert {n.layer for n in ws.neighbors} == {Layer.SNAPSHOT}
    assert TARGET not in [n.dataset for n in ws.neighbors]
    alone = warm_start_snapshot(TARGET, SPACE.lrs, SPACE.batch_sizes, k=5, exclude_family=False)
    assert ws.neighbors == alone.neighbors and ws.portfolio == alone.portfolio
    np.testing.assert_array_equal(ws.prior, alone.prior)


def test_a_users_dataset_is_added_on_top(empty_store: MetaStore) -> None:
    runs = add_user_dataset(empty_store)
    pool = candidate_pool(empty_store)
    assert len(pool.comparable()) == snapshot_stats().datasets + 1
    assert pool.layers[USER] is Layer.STORE and pool.layers[TARGET] is Layer.SNAPSHOT
    ws = warm_start(empty_store, TARGET, SPACE.lrs, SPACE.batch_sizes, k=3)
    first = ws.neighbors[0]
    assert (first.dataset, first.layer, first.distance) == (USER, Layer.STORE, 0.0)
    assert [n.layer for n in ws.neighbors[1:]] == [Layer.SNAPSHOT] * 2
    assert ws.portfolio[0].dataset == USER
    assert set(ws.portfolio[0].run_ids) <= set(runs) and ws.portfolio[0].run_ids


def test_the_store_wins_on_a_dataset_both_hold(empty_store: MetaStore) -> None:
    # Same spec: the store's two configurations replace the snapshot's 78.
    empty_store.log_curves(user_curves("sklearn:wine", source="sklearn:wine"))
    # Same OpenML dataset (61) under another spec: keel:iris stands in for sklearn:iris.
    empty_store.log_curves(user_curves("keel:iris", source="sklearn:iris"))
    pool = candidate_pool(empty_store)
    assert "sklearn:iris" not in pool.layers and pool.openml_dids["keel:iris"] == 61
    assert pool.layers["keel:iris"] is pool.layers["sklearn:wine"] is Layer.STORE
    wine = pool.curves_of("sklearn:wine")
    assert "run_id" in wine and len(wine.groupby(["lr", "batch_size", "seed"])) == 2
    # The store holds no qualities of them (only the env's): the snapshot's fill them in.
    snapshot = candidate_pool().features
    for mine, theirs in [("sklearn:wine", "sklearn:wine"), ("keel:iris", "sklearn:iris")]:
        assert pool.features.loc[mine].dropna().to_dict() == pytest.approx(
            snapshot.loc[theirs].dropna().to_dict()
        )
    assert len(pool.comparable()) == snapshot_stats().datasets
    ws = warm_start(empty_store, "sklearn:wine", SPACE.lrs, SPACE.batch_sizes, k=200)
    assert "keel:iris" in [n.dataset for n in ws.neighbors]
    assert "sklearn:iris" not in [n.dataset for n in ws.neighbors]


def test_no_snapshot_queries_the_store_alone(empty_store: MetaStore) -> None:
    with pytest.raises(ValueError, match=r"no dataset with both curves.*snapshot was left out"):
        warm_start(empty_store, TARGET, SPACE.lrs, SPACE.batch_sizes, include_snapshot=False)
    add_user_dataset(empty_store)
    ws = warm_start(empty_store, TARGET, SPACE.lrs, SPACE.batch_sizes, include_snapshot=False)
    assert [(n.dataset, n.layer) for n in ws.neighbors] == [(USER, Layer.STORE)]
    with pytest.raises(ValueError, match="Nothing to draw on"):
        candidate_pool(None, include_snapshot=False)


def test_layering_by_label_and_openml_id() -> None:
    """`CandidatePool.over` on toy pools: who wins, who fills in, where curves are read."""

    def pool(rows: dict[str, dict[str, float]], dids: dict[str, int | None], layer: Layer):
        def curves_of(label: str) -> pd.DataFrame:
            return pd.DataFrame({"dataset": [label], "layer": [layer.value]})

        features = pd.DataFrame.from_dict(rows, orient="index", dtype=float)
        return CandidatePool(features, dids, dict.fromkeys(rows, layer), curves_of)

    base = pool(
        {"a": {"q1": 1.0, "q2": 2.0}, "b": {"q1": 3.0, "q2": 4.0}, "c": {"q1": 5.0, "q2": 6.0}},
        {"a": None, "b": 7, "c": None},
        Layer.SNAPSHOT,
    )
    top = pool(
        {"a": {"q1": 10.0}, "b2": {"q2": 40.0}, "d": {"q1": 0.0, "q2": 0.0}},
        {"a": None, "b2": 7, "d": None},
        Layer.STORE,
    )
    both = top.over(base)
    assert sorted(both.layers) == ["a", "b2", "c", "d"]  # b2 is b (OpenML 7): b is gone
    assert {k: v.value for k, v in both.layers.items()} == {
        "a": "store", "b2": "store", "c": "snapshot", "d": "store",
    }  # fmt: skip
    assert both.features.loc["a"].to_dict() == {"q1": 10.0, "q2": 2.0}  # the store's q1 wins
    assert both.features.loc["b2"].to_dict() == {"q1": 3.0, "q2": 40.0}
    assert both.openml_dids == {"a": None, "b2": 7, "c": None, "d": None}
    assert both.curves_of("a")["layer"].item() == "store"
    assert both.curves_of("c")["layer"].item() == "snapshot"


def test_layered_stats_count_each_layer_and_the_total(empty_store: MetaStore) -> None:
    snapshot = snapshot_stats()
    empty = layered_stats(empty_store)
    assert empty.snapshot == snapshot and empty.store.datasets == 0
    assert (empty.datasets, empty.runs, empty.epochs) == (
        snapshot.datasets,
        snapshot.runs,
        snapshot.epochs,
    )
    add_user_dataset(empty_store)  # new: counts in the total
    empty_store.log_curves(user_curves("keel:iris", source="sklearn:iris"))  # is sklearn:iris
    s = layered_stats(empty_store)
    assert (s.store.datasets, s.store.runs) == (2, 4)
    assert s.datasets == snapshot.datasets + 1
    assert (s.runs, s.epochs) == (snapshot.runs + 4, snapshot.epochs + s.store.epochs)
    alone = layered_stats(empty_store, include_snapshot=False)
    assert (alone.snapshot, alone.datasets, alone.runs) == (None, 2, 4)


# --- the CLI --------------------------------------------------------------------------------


def test_cli_neighbors_from_an_empty_store(store_path: Path) -> None:
    result = CliRunner().invoke(app, ["metastore", "neighbors", TARGET, "--k", "3"])
    assert result.exit_code == 0, result.output
    expected = warm_start_snapshot(TARGET, SPACE.lrs, SPACE.batch_sizes, k=3, exclude_family=False)
    for neighbor in expected.neighbors:
        assert re.search(
            rf"{re.escape(neighbor.dataset)} .*{neighbor.distance:.4f} .*snapshot", result.output
        )
    assert "your store" not in result.output and "search box" in result.output


def test_cli_neighbors_shows_the_users_run_on_top(store_path: Path) -> None:
    with MetaStore() as store:
        runs = add_user_dataset(store)
    result = CliRunner().invoke(app, ["metastore", "neighbors", TARGET, "--k", "3"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if "│" in line]
    assert re.search(rf"{USER} .* 0\.0000 .* your store", lines[0])
    portfolio = result.output.split("portfolio (try these first)", 1)[1].splitlines()
    assert any(f"{USER}" in line and str(runs[0]) in line for line in portfolio)


def test_cli_neighbors_no_snapshot_on_an_empty_store_is_a_clear_error(store_path: Path) -> None:
    result = CliRunner().invoke(app, ["metastore", "neighbors", TARGET, "--no-snapshot"])
    assert result.exit_code == 2
    message = flat(result.output)
    assert "no dataset with both curves and meta-features" in message
    assert "The shipped snapshot was left out" in message and "--no-snapshot" in message


def test_cli_stats_shows_both_layers(store_path: Path) -> None:
    with MetaStore() as store:
        add_user_dataset(store)
    snapshot = snapshot_stats()
    result = CliRunner().invoke(app, ["metastore", "stats"])
    assert result.exit_code == 0, result.output
    assert all(label in result.output for label in ("snapshot (read-only)", "your store", "total"))
    row = next(line for line in result.output.splitlines() if "datasets" in line)
    assert re.findall(r"[\d,]+", row) == [
        f"{snapshot.datasets:,}", "1", f"{snapshot.datasets + 1:,}",
    ]  # fmt: skip
    row = next(line for line in result.output.splitlines() if " runs " in line)
    assert re.findall(r"[\d,]+", row) == [f"{snapshot.runs:,}", "2", f"{snapshot.runs + 2:,}"]
    alone = CliRunner().invoke(app, ["metastore", "stats", "--no-snapshot"])
    assert alone.exit_code == 0, alone.output
    assert "snapshot (read-only)" not in alone.output and "the snapshot left out" in alone.output
    assert re.search(r"datasets\s+│\s+1\b", alone.output)
    both = CliRunner().invoke(app, ["metastore", "stats", "--snapshot", "--no-snapshot"])
    assert both.exit_code == 2 and "exclude each other" in flat(both.output)
