"""The service on every store backend: reported runs persist, are served (on request) after a
restart, and a report is stored once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tunegym.metastore import Base, MetaStore
from tunegym.service import RunsRequest, WarmStartRequest, WarmStartService

SPACE = {
    "parameters": [
        {"name": "lr", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
        {"name": "batch_size", "type": "int", "low": 8, "high": 1024, "log": True},
    ]
}
FEATURES = {
    "small": {"NumberOfInstances": 100.0, "NumberOfFeatures": 5.0, "NumberOfClasses": 2.0},
    "large": {"NumberOfInstances": 50000.0, "NumberOfFeatures": 80.0, "NumberOfClasses": 10.0},
}


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'service.sqlite'}"
        return
    url = request.getfixturevalue("postgres_server")
    engine = create_engine(url)
    with engine.begin() as connection:
        Base.metadata.drop_all(connection)
        connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    yield url


def _report(service: WarmStartService, name: str, lr: float, bs: int, score: float) -> list[int]:
    request = RunsRequest.model_validate(
        {
            "dataset": {"name": name, "meta_features": FEATURES[name]},
            "tuner": "test",
            "runs": [
                {"params": {"lr": lr, "batch_size": bs}, "scores": [score / 2, score], "seed": s}
                for s in (0, 1)
            ]
            + [{"params": {"lr": lr * 100, "batch_size": bs}, "final_score": score / 3}],
        }
    )
    return service.report_runs(request).run_ids


def test_reported_runs_are_served_and_survive_a_restart(store_url: str) -> None:
    service = WarmStartService.open(store_url, snapshot=False)
    assert service.health().store_reachable
    small_ids = _report(service, "small", 3e-3, 32, 0.9)
    _report(service, "large", 1e-4, 512, 0.8)
    ask = WarmStartRequest.model_validate(
        {
            "dataset": {"meta_features": {**FEATURES["small"], "NumberOfInstances": 120.0}},
            "search_space": SPACE,
            "k": 2,
            "neighbors": 1,
            "include_reported": True,
        }
    )
    first = service.warm_start(ask)
    top = first.configurations[0]
    assert top.params == {"lr": 3e-3, "batch_size": 32}
    assert top.provenance.dataset == "small"
    assert top.provenance.source == "reported"
    assert top.provenance.seeds == [0, 1]
    assert top.score == pytest.approx(0.9)
    assert set(top.provenance.run_ids) == set(small_ids[:2])
    service.store.close()  # type: ignore[union-attr]

    again = WarmStartService.open(store_url, snapshot=False)  # a restarted service
    assert again.warm_start(ask) == first
    health = again.health()
    assert (health.datasets, health.configurations, health.runs) == (2, 4, 6)
    assert (health.reported_runs, health.status) == (6, "ok")
    curated = again.warm_start(ask.model_copy(update={"include_reported": False}))
    assert curated.configurations == []  # reports are not served by default
    with MetaStore(store_url) as store:
        assert store.stats().runs_by_source == {"reported": 6}
        assert sorted(store.datasets()["name"]) == ["large", "small"]
    again.store.close()  # type: ignore[union-attr]


def test_concurrent_reports_and_warm_starts(tmp_path: Path) -> None:
    """Writers and readers at once (the app runs endpoints in a thread pool): no error, no loss."""
    from concurrent.futures import ThreadPoolExecutor

    service = WarmStartService.open(tmp_path / "s.sqlite", snapshot=False)
    _report(service, "small", 3e-3, 32, 0.9)
    ask = WarmStartRequest.model_validate(
        {
            "dataset": {"meta_features": FEATURES["small"]},
            "search_space": SPACE,
            "k": 3,
            "include_reported": True,
        }
    )

    def write(i: int) -> int:
        name = f"d{i}"
        request = RunsRequest.model_validate(
            {
                "dataset": {"name": name, "meta_features": {**FEATURES["large"], "Q": float(i)}},
                "runs": [{"params": {"lr": 1e-3, "batch_size": 16 + i}, "final_score": 0.5}],
            }
        )
        return len(service.report_runs(request).run_ids)

    def read(_: int) -> int:
        return len(service.warm_start(ask).configurations)

    with ThreadPoolExecutor(8) as pool:
        writes = pool.map(write, range(24))
        reads = pool.map(read, range(200))
        assert sum(writes) == 24
        assert all(n >= 1 for n in reads)
    assert service.health().datasets == 25
    assert service.health().runs == 3 + 24


def test_a_report_sent_at_once_under_one_key_is_stored_once(store_url: str) -> None:
    """Retries of one report racing each other: on PostgreSQL the losers' keys clash at
    commit and their transactions run again, finding the winner's key."""
    from concurrent.futures import ThreadPoolExecutor

    service = WarmStartService.open(store_url, snapshot=False)
    request = RunsRequest.model_validate(
        {
            "dataset": {"name": "small", "meta_features": FEATURES["small"]},
            "runs": [{"params": {"lr": 1e-3, "batch_size": 16}, "final_score": 0.5, "seed": s}
                     for s in range(3)],
        }
    )  # fmt: skip
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: service.report(request, "one-report"), range(16)))
    assert len({tuple(a.runs.run_ids) for a in answers}) == 1
    assert [a.replayed for a in answers].count(False) == 1
    unkeyed = [service.report(request) for _ in range(2)]  # its content is its key
    assert unkeyed[1].replayed and unkeyed[1].runs == unkeyed[0].runs
    with MetaStore(store_url) as store:
        assert store.stats().runs == 6
    service.store.close()  # type: ignore[union-attr]
