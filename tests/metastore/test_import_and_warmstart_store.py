"""Importers into the store (recorded OpenML answers, LCDB sample files) and store-level warm start."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.metastore._fake_openml import FakeOpenML
from tunegym.data import load_dataset
from tunegym.envs import SearchSpace, make_tuning_env, record_curves
from tunegym.metastore import (
    MetaStore,
    import_lcdb,
    import_openml,
    store_meta_features,
    warm_start,
)

LCDB_SAMPLE = Path(__file__).parent / "data" / "lcdb"


def test_import_openml_runs_and_qualities(fake_openml: FakeOpenML, tmp_path: Path) -> None:
    with MetaStore(":memory:") as store:
        summary = import_openml(store, dids=[3], flows=[7717, 19199], cache_dir=tmp_path)
        assert summary.runs == 5 and summary.qualities > 10
        stats = store.stats()
        assert stats.runs_by_source == {"openml": 5}
        features = store.meta_features(source="openml")
        kr_vs_kp = store.get_or_create_dataset("kr-vs-kp", openml_did=3)
        assert features.loc[kr_vs_kp.id, "NumberOfInstances"] == 3196
        again = import_openml(store, flows=[7717, 19199], cache_dir=tmp_path)
        assert (again.runs, again.skipped_runs) == (0, 5)  # OpenML run ids are not stored twice
        assert store.stats().runs == 5


def test_import_lcdb_sample(tmp_path: Path) -> None:
    with MetaStore(":memory:") as store:
        summary = import_lcdb(store, root=LCDB_SAMPLE)
        assert summary.datasets >= 1 and summary.qualities > 0 and summary.runs > 0
        assert store.stats().runs_by_source == {"lcdb": summary.runs}
        only_qualities = import_lcdb(MetaStore(":memory:"), root=LCDB_SAMPLE, curves=False)
        assert only_qualities.runs == 0
        with pytest.raises(ValueError, match="LCDB metric"):
            import_lcdb(store, root=LCDB_SAMPLE, metric="accuracyy")


SPACE = SearchSpace(lrs=(1e-3, 3e-2, 1.0), batch_sizes=(16, 64), max_epochs=3)


@pytest.fixture(scope="module")
def small_store() -> MetaStore:
    """Curves and meta-features of three sklearn sets: wine's nearest neighbour is known."""
    store = MetaStore(":memory:")
    for spec in ("sklearn:iris", "sklearn:breast_cancer", "sklearn:digits"):
        store.log_curves(record_curves(load_dataset(spec), SPACE, seeds=(0,)))
        store_meta_features(store, spec)
    return store


def test_warm_start_from_the_store(small_store: MetaStore) -> None:
    ws = warm_start(
        small_store, "sklearn:wine", SPACE.lrs, SPACE.batch_sizes, k=2, top=2,
        include_snapshot=False,
    )  # fmt: skip
    # wine (178 rows, 13 numeric features, 3 classes) is nearest to iris (150, 4, 3)
    assert ws.neighbors[0].dataset == "sklearn:iris"
    assert len(ws.neighbors) == 2
    assert ws.portfolio and ws.portfolio[0].dataset == "sklearn:iris"
    assert all(entry.run_ids for entry in ws.portfolio)
    assert ws.box is not None and ws.box.contains(ws.portfolio[0].lr, ws.portfolio[0].batch_size)
    assert ws.prior.shape == (3, 2) and ws.prior.min() >= 0 and ws.prior.max() <= 1
    env = make_tuning_env("sklearn:wine", "live", space=SPACE, budget_epochs=3, prior=ws.prior)
    obs, _ = env.reset(seed=0)
    np.testing.assert_allclose(obs[-6:], ws.prior.reshape(-1), rtol=1e-6)


def test_warm_start_leaves_the_target_out(small_store: MetaStore) -> None:
    ws = warm_start(
        small_store, "sklearn:iris", SPACE.lrs, SPACE.batch_sizes, k=5, include_snapshot=False
    )
    assert "sklearn:iris" not in [n.dataset for n in ws.neighbors]
    assert len(ws.neighbors) == 2


def test_warm_start_needs_candidates() -> None:
    with (
        MetaStore(":memory:") as store,
        pytest.raises(ValueError, match="no dataset with both curves"),
    ):
        warm_start(store, "sklearn:wine", SPACE.lrs, SPACE.batch_sizes, include_snapshot=False)
