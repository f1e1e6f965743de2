"""An OpenML id the service does not know: its published qualities are fetched, cached, stored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.metastore._fake_openml import FakeOpenML
from tests.metastore.conftest import fake_openml  # noqa: F401 (the fixture)
from tunegym.metastore import MetaStore
from tunegym.service import (
    NotFoundError,
    RunsRequest,
    ServiceError,
    WarmStartRequest,
    WarmStartService,
)

SPACE = {
    "parameters": [
        {"name": "lr", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
        {"name": "batch_size", "type": "int", "low": 8, "high": 1024, "log": True},
    ]
}


def _service(tmp_path: Path, lookup: bool) -> WarmStartService:
    service = WarmStartService.open(
        tmp_path / "s.sqlite", snapshot=False, openml_lookup=lookup, openml_cache=tmp_path / "c"
    )
    for name, rows, lr in (("near", 3200.0, 3e-3), ("far", 90.0, 1e-1)):
        request = RunsRequest.model_validate(
            {
                "dataset": {
                    "name": name,
                    "meta_features": {"NumberOfInstances": rows, "NumberOfClasses": 2.0},
                },
                "runs": [{"params": {"lr": lr, "batch_size": 32}, "scores": [0.7, 0.8]}],
            }
        )
        service.report_runs(request)
    return service


def _ask(did: int) -> WarmStartRequest:
    """A warm start for OpenML ``did`` from the runs `_service` reported."""
    return WarmStartRequest.model_validate(
        {
            "dataset": {"openml_did": did},
            "search_space": SPACE,
            "k": 1,
            "neighbors": 1,
            "include_reported": True,
        }
    )


def test_unknown_openml_id_is_looked_up(
    fake_openml: FakeOpenML,  # noqa: F811
    tmp_path: Path,
) -> None:
    service = _service(tmp_path, lookup=True)
    answer = service.warm_start(_ask(3))  # kr-vs-kp: 3,196 rows, 2 classes
    assert [n.dataset for n in answer.neighbors] == ["near"]
    assert answer.configurations[0].params == {"lr": 3e-3, "batch_size": 32}
    fetched = len(fake_openml.urls)
    assert fetched >= 1
    with MetaStore(tmp_path / "s.sqlite") as store:  # stored as OpenML's published qualities
        assert store.meta_features("openml").loc[:, "NumberOfInstances"].tolist() == [3196.0]
    fake_openml.offline = True  # a second ask needs no network: indexed (and cached)
    assert service.warm_start(_ask(3)) == answer
    assert len(fake_openml.urls) == fetched


def test_lookup_errors_are_4xx_or_503(
    fake_openml: FakeOpenML,  # noqa: F811
    tmp_path: Path,
) -> None:
    service = _service(tmp_path, lookup=True)
    with pytest.raises(NotFoundError):
        service.warm_start(_ask(999999))
    fake_openml.offline = True
    with pytest.raises(ServiceError, match="meta_features") as err:
        service.warm_start(_ask(3))
    assert err.value.status_code == 503
    without = _service(tmp_path / "off", lookup=False)
    with pytest.raises(NotFoundError, match="No stored meta-features for OpenML dataset 3"):
        without.warm_start(_ask(3))
