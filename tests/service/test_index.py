"""The service's index: the same neighbours as `nearest_datasets`, config tables, updates."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.service.conftest import IRIS_DID
from tunegym.metastore import (
    MetaStore,
    Neighbor,
    load_snapshot,
    nearest_datasets,
    snapshot_meta_features,
    snapshot_stats,
)
from tunegym.service import WarmStartIndex, WarmStartRequest, WarmStartService
from tunegym.service._index import MIN_SHARED
from tunegym.service._tables import ConfigStats, DatasetEntry, config_table


def curve_rows(
    dataset: str, lr: float, batch_size: int, seed: int, scores: list[float], run_id: int = -1
) -> list[dict[str, object]]:
    return [
        {
            "dataset": dataset,
            "lr": lr,
            "batch_size": batch_size,
            "seed": seed,
            "epoch": epoch,
            "val_accuracy": score,
            "run_id": run_id,
        }
        for epoch, score in enumerate(scores, start=1)
    ]


# Dataset "a": (0.1, 16) ends best; (0.01, 16) peaks higher but ends lower; (0.01, 32) is
# worst, and has a NaN epoch; (1.0, 16) never has a finite score and is dropped.
TINY = pd.DataFrame(
    curve_rows("a", 0.1, 16, 0, [0.5, 0.7, 0.8], run_id=1)
    + curve_rows("a", 0.1, 16, 1, [0.5, 0.9, 0.9], run_id=2)
    + curve_rows("a", 0.01, 16, 0, [0.6, 0.95, 0.7], run_id=3)
    + curve_rows("a", 0.01, 32, 0, [0.4, float("nan"), 0.5], run_id=4)
    + curve_rows("a", 1.0, 16, 0, [float("nan"), float("inf")], run_id=5)
    + curve_rows("b", 0.1, 16, 3, [0.2], run_id=6)
)


@pytest.fixture(scope="module")
def table() -> dict[str, list[ConfigStats]]:
    return config_table(TINY, "val_accuracy", "store")


class TestConfigTable:
    def test_ranked_best_final_first_with_normalised_expected(
        self, table: dict[str, list[ConfigStats]]
    ) -> None:
        a = table["a"]
        assert [(c.lr, c.batch_size) for c in a] == [(0.1, 16), (0.01, 16), (0.01, 32)]
        assert [c.final for c in a] == pytest.approx([0.85, 0.7, 0.5])
        assert [c.expected for c in a] == pytest.approx([1.0, 0.2 / 0.35, 0.0])

    def test_best_epoch_score_curve_seeds_and_runs(
        self, table: dict[str, list[ConfigStats]]
    ) -> None:
        best, peaky, holey = table["a"]
        assert best.curve == pytest.approx((0.5, 0.8, 0.85))
        assert (best.epochs, best.best) == (3, pytest.approx(0.85))
        assert (best.seeds, best.run_ids, best.origin) == ((0, 1), (1, 2), "store")
        assert (peaky.epochs, peaky.best) == (2, pytest.approx(0.95))
        # the NaN epoch is dropped: the curve has epochs 1 and 3 only
        assert holey.curve == pytest.approx((0.4, 0.5))
        assert (holey.epochs, holey.best) == (3, pytest.approx(0.5))

    def test_a_single_config_is_its_own_best(self, table: dict[str, list[ConfigStats]]) -> None:
        (only,) = table["b"]
        assert (only.expected, only.final, only.run_ids) == (1.0, pytest.approx(0.2), (6,))

    def test_without_run_ids_or_finite_scores(self) -> None:
        frame = TINY[TINY["dataset"] == "b"].drop(columns="run_id")
        (only,) = config_table(frame, "val_accuracy", "snapshot")["b"]
        assert (only.run_ids, only.origin) == ((), "snapshot")
        no_scores = TINY.assign(val_accuracy=float("nan"))
        assert config_table(no_scores, "val_accuracy", "store") == {}


@pytest.fixture(scope="module")
def index(snapshot_service: WarmStartService) -> WarmStartIndex:
    return snapshot_service.index


@pytest.fixture(scope="module")
def features(index: WarmStartIndex) -> pd.DataFrame:
    """The candidates' qualities as `nearest_datasets` takes them (NaN where one lacks one)."""
    candidates = [n for n in index.names() if index.get(n).candidate]  # type: ignore[union-attr]
    return pd.DataFrame({n: index.get(n).features for n in candidates}).T  # type: ignore[union-attr]


def covered(features: pd.DataFrame, values: dict[str, float]) -> pd.DataFrame:
    """The candidates with at least `MIN_SHARED` of the target's qualities."""
    shared = [q for q, v in values.items() if q in features.columns and math.isfinite(v)]
    needed = max(1, math.ceil(MIN_SHARED * len(shared)))
    return features[features[shared].notna().sum(axis=1) >= needed]


def targets(index: WarmStartIndex) -> dict[str, dict[str, float]]:
    iris = index.get("sklearn:iris").features  # type: ignore[union-attr]
    return {
        "iris": dict(iris),
        "letter": dict(index.get("keel:letter").features),  # type: ignore[union-attr]
        "small": {"NumberOfInstances": 1000, "NumberOfFeatures": 20, "NumberOfClasses": 3},
        "partial": {"NumberOfInstances": 500, "ClassEntropy": math.nan, "NotAQuality": 3.0},
        "huge": {"NumberOfInstances": 1e9, "NumberOfClasses": 2},
        "half_iris": {q: v for i, (q, v) in enumerate(sorted(iris.items())) if i % 2},
    }


def assert_same(got: list[tuple[Neighbor, DatasetEntry]], expected: list[Neighbor]) -> None:
    assert [n.dataset for n, _ in got] == [n.dataset for n in expected]
    np.testing.assert_allclose(
        [n.distance for n, _ in got], [n.distance for n in expected], rtol=0, atol=1e-9
    )
    assert all(math.isfinite(n.distance) for n, _ in got)


class TestNeighborsMatchNearestDatasets:
    """The index's vectorised search gives what `tunegym.metastore.nearest_datasets` gives."""

    @pytest.mark.parametrize("target", ["common", "small", "partial", "huge"])
    @pytest.mark.parametrize("k", [1, 7, 500])
    def test_same_order_and_distances(
        self, index: WarmStartIndex, features: pd.DataFrame, target: str, k: int
    ) -> None:
        if target == "common":  # iris's qualities that every candidate has
            common = features.columns[features.notna().all()]
            values = {q: v for q, v in targets(index)["iris"].items() if q in common}
            assert len(values) >= 20
        else:
            values = targets(index)[target]
        assert len(covered(features, values)) == len(features)  # every candidate qualifies
        got = index.neighbors(values, k)
        assert len(got) == min(k, len(features))
        assert_same(got, nearest_datasets(features, values, k=k))

    @pytest.mark.parametrize("target", ["iris", "letter", "small", "partial", "half_iris"])
    def test_same_as_nearest_datasets_over_the_covered_candidates(
        self, index: WarmStartIndex, features: pd.DataFrame, target: str
    ) -> None:
        values = targets(index)[target]
        # Scored over every candidate (as nearest_datasets), then the thin ones dropped.
        pool = set(covered(features, values).index)
        everyone = nearest_datasets(features, values, k=len(features))
        assert_same(index.neighbors(values, 20), [n for n in everyone if n.dataset in pool][:20])

    def test_same_for_a_snapshot_dataset_target(
        self, index: WarmStartIndex, features: pd.DataFrame
    ) -> None:
        values = targets(index)["iris"]
        assert_same(index.neighbors(values, 10), nearest_datasets(features, values, k=10))

    @pytest.mark.parametrize(("target", "did"), [("iris", IRIS_DID), ("letter", 6)])
    def test_same_exclusions(
        self, index: WarmStartIndex, features: pd.DataFrame, target: str, did: int
    ) -> None:
        values = targets(index)[target]
        pool = covered(features, values)
        dids = {n: index.get(n).openml_did for n in pool.index}  # type: ignore[union-attr]
        twin = index.by_did(did)
        assert twin is not None and twin.name in pool.index
        exclude = ["keel:banana", "not-a-dataset"]
        got = index.neighbors(values, 10, exclude=exclude, exclude_did=did)
        assert_same(
            got,
            nearest_datasets(pool, values, k=10, exclude=exclude, openml_dids=dids, target_did=did),
        )
        assert {n.dataset for n, _ in got}.isdisjoint({twin.name, "keel:banana"})
        (nearest, _), *_ = index.neighbors(values, 10)
        assert (nearest.dataset, nearest.distance) == (twin.name, 0.0)

    def test_too_few_shared_qualities_is_no_neighbour(self) -> None:
        index = WarmStartIndex()
        full = {f"Q{i}": float(i) for i in range(6)}
        index.update("full", None, full, reported(0.1, 16, 0, [0.5], 1))
        index.update("thin", None, {"Q0": 0.0}, reported(0.1, 16, 0, [0.5], 2))
        index.update("third", None, {"Q0": 9.0, "Q1": 9.0}, reported(0.1, 16, 0, [0.5], 3))
        # thin shares 1 of the target's 6 qualities (< 1/3): dropped, though it matches exactly
        assert [n.dataset for n, _ in index.neighbors(full, 5)] == ["full", "third"]
        assert [n.dataset for n, _ in index.neighbors({"Q0": 0.0}, 5)] == ["full", "thin", "third"]

    def test_neighbors_carry_their_entry_and_openml_id(self, index: WarmStartIndex) -> None:
        (neighbor, entry), *_ = index.neighbors(targets(index)["letter"], 3)
        assert neighbor.dataset == entry.name == "keel:letter"
        assert neighbor.openml_did == entry.openml_did == 6
        assert entry.candidate and entry.configs

    def test_no_shared_quality_is_an_error(self, index: WarmStartIndex) -> None:
        with pytest.raises(ValueError, match=r"share no quality.*NumberOf"):
            index.neighbors({"NotAQuality": 1.0, "NumberOfInstances": math.inf}, 3)

    def test_excluding_everyone_gives_nobody(self, index: WarmStartIndex) -> None:
        assert index.neighbors({"NumberOfInstances": 100}, 3, exclude=index.names()) == []


def reported(
    lr: float, batch_size: int, seed: int, scores: list[float], run_id: int
) -> pd.DataFrame:
    return pd.DataFrame(curve_rows("", lr, batch_size, seed, scores, run_id)).drop(
        columns="dataset"
    )


class TestUpdate:
    def test_reported_runs_make_a_candidate_and_merge(self) -> None:
        index = WarmStartIndex()
        assert len(index) == 0 and index.counts() == (0, 0, 0)
        entry = index.update("toy", None, None, reported(0.1, 16, 0, [0.5, 0.6], run_id=1))
        assert not entry.candidate  # runs but no qualities: never a neighbour
        assert index.counts() == (0, 0, 0)
        entry = index.update("toy", 42, {"NumberOfInstances": 100.0, "Bad": math.nan}, None)
        assert (
            entry.candidate
            and entry.openml_did == 42
            and entry.features == {"NumberOfInstances": 100.0}
        )
        assert index.counts() == (1, 1, 1)
        # the same configuration again, another seed: a seed-weighted mean, runs united
        index.update("toy", None, None, reported(0.1, 16, 1, [0.7, 0.8, 0.9], run_id=2))
        (merged,) = index.get("toy").configs  # type: ignore[union-attr]
        assert (merged.seeds, merged.run_ids, merged.origin) == ((0, 1), (1, 2), "store")
        assert merged.curve == pytest.approx((0.6, 0.7, 0.9))
        assert merged.final == pytest.approx((0.6 + 0.9) / 2)
        assert (merged.epochs, merged.best) == (3, pytest.approx(0.9))
        # another configuration ranks below it
        index.update("toy", None, None, reported(0.01, 32, 0, [0.2], run_id=3))
        configs = index.get("toy").configs  # type: ignore[union-attr]
        assert [(c.lr, c.expected) for c in configs] == [(0.1, 1.0), (0.01, 0.0)]
        assert index.counts() == (1, 2, 3)
        assert index.by_did(42) is index.get("toy")

    def test_a_lone_candidate_is_its_own_neighbour(self) -> None:
        index = WarmStartIndex()
        index.update("toy", None, {"NumberOfInstances": 100.0}, reported(0.1, 16, 0, [0.5], 1))
        assert [n.dataset for n, _ in index.neighbors({"NumberOfInstances": 100.0}, 5)] == ["toy"]

    def test_a_reported_openml_id_joins_the_stored_dataset(self) -> None:
        index = WarmStartIndex()
        index.update("keel:thing", 7, {"NumberOfInstances": 10.0}, reported(0.1, 16, 0, [0.5], 1))
        entry = index.update("openml:7", 7, None, reported(0.01, 16, 0, [0.9], 2))
        assert entry.name == "keel:thing" and index.names() == ["keel:thing"]
        assert [c.lr for c in entry.configs] == [0.01, 0.1]

    def test_store_runs_replace_the_snapshot_config_they_repeat(self) -> None:
        index = WarmStartIndex.from_snapshot()
        before = index.get("sklearn:iris").configs  # type: ignore[union-attr]
        top = before[0]
        assert top.origin == "snapshot" and top.run_ids == ()
        scores = [0.1, 0.2]  # the snapshot's best, now reported as bad
        index.update(
            "sklearn:iris", IRIS_DID, None, reported(top.lr, top.batch_size, 9, scores, 77)
        )
        after = index.get("sklearn:iris").configs  # type: ignore[union-attr]
        assert len(after) == len(before)
        replaced = next(c for c in after if (c.lr, c.batch_size) == (top.lr, top.batch_size))
        assert (replaced.origin, replaced.run_ids, replaced.seeds) == ("store", (77,), (9,))
        assert replaced is after[-1] and replaced.expected == 0.0
        assert after[0].origin == "snapshot"


def test_the_runs_schema_checks_the_names_the_index_reads() -> None:
    """`RunsRequest` validates the stored names that `_core` writes and `_tables` reads back."""
    from tunegym.service._core import _CANONICAL
    from tunegym.service._schemas import _READ_BACK, _STORED_AS
    from tunegym.service._tables import BATCH_KEYS, LR_KEYS

    assert _STORED_AS == _CANONICAL
    assert {k: _READ_BACK[k] for k in (*LR_KEYS, *BATCH_KEYS)} == {
        **dict.fromkeys(LR_KEYS, "learning_rate"),
        **dict.fromkeys(BATCH_KEYS, "batch_size"),
    }


class TestOpenOnAUsersStore:
    """`WarmStartService.open(store)` serves the shipped snapshot's datasets plus the store's."""

    @staticmethod
    def log_user_runs(store: MetaStore, label: str, like: str) -> list[int]:
        """Real curves (2 configs, 1 seed) of ``like`` logged as ``label``'s local runs."""
        frame = load_snapshot(["keel:pima"])
        part = frame[frame["lr"].isin([1e-3, 1e-2]) & (frame["batch_size"] == 16)]
        part = part[part["seed"] == 0].assign(dataset=label).reset_index(drop=True)
        header = frame.attrs["tunegym"]
        part.attrs["tunegym"] = {**header, "datasets": {label: header["datasets"]["keel:pima"]}}
        runs = store.log_curves(part)
        qualities = snapshot_meta_features().loc[like].drop(["openml_did", "family", "part"])
        store.set_meta_features(label, {str(k): float(v) for k, v in qualities.dropna().items()})
        return runs

    def test_an_empty_store_serves_the_snapshot(self, tmp_path: Path) -> None:
        service = WarmStartService.open(store=tmp_path / "empty.sqlite")
        assert service.health().datasets == snapshot_stats().datasets
        assert service.index.counts() == WarmStartIndex.from_snapshot().counts()
        assert WarmStartService.open(store=service.store, snapshot=False).health().datasets == 0

    def test_a_users_dataset_is_served_beside_the_snapshot(self, tmp_path: Path) -> None:
        with MetaStore(tmp_path / "user.sqlite") as store:
            runs = self.log_user_runs(store, "my-magic", like="keel:magic")
            self.log_user_runs(store, "keel:iris", like="sklearn:iris")  # OpenML 61: joins it
            service = WarmStartService.open(store=store)
            assert service.health().datasets == snapshot_stats().datasets + 1
            mine = service.index.get("my-magic")
            assert mine is not None and {c.origin for c in mine.configs} == {"store"}
            assert {r for c in mine.configs for r in c.run_ids} == set(runs)
            iris = service.index.by_did(IRIS_DID)
            assert iris is not None and iris.name == "sklearn:iris"
            assert {c.origin for c in iris.configs} == {"snapshot", "store"}
            request = WarmStartRequest.model_validate(
                {
                    "dataset": {"name": "keel:magic"},
                    "search_space": {
                        "parameters": [{"name": "lr", "type": "float", "low": 1e-5, "high": 10}]
                    },
                    "include_self": False,
                    "neighbors": 3,
                }
            )
            answer = service.warm_start(request)
            first = answer.neighbors[0]
            assert (first.dataset, first.distance) == ("my-magic", 0.0)
            assert answer.configurations[0].provenance.source == "store"
