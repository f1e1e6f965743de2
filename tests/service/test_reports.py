"""Reported runs are trusted as far as they deserve: stored once, and served only on request.

Issue 18's "Service" cases: an identical report posted twice was stored twice; one keyed POST
of three fake runs (learning rate 10, batch size 512) made them the first configuration served
for OpenML 31.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.service.conftest import API_KEY, space
from tests.service.test_client import forward
from tunegym.errors import MetaStoreWriteError
from tunegym.service import (
    Client,
    RunsRequest,
    SearchSpaceRequest,
    WarmStartRequest,
    WarmStartService,
    create_app,
)
from tunegym.service import _core as core_module

KEY = {"X-API-Key": API_KEY}
REPORT: dict[str, Any] = {
    "dataset": {"name": "toy:small", "meta_features": {"NumberOfInstances": 100.0}},
    "tuner": "mine",
    "runs": [
        {"params": {"lr": 0.01, "batch_size": 32}, "scores": [0.5, 0.7], "seed": 0},
        {"params": {"lr": 0.1, "batch_size": 64}, "final_score": 0.6, "seed": 1},
    ],
}
OTHER = {**REPORT, "runs": [{"params": {"lr": 0.3, "batch_size": 16}, "final_score": 0.4}]}


def stored_runs(service: WarmStartService) -> int:
    assert service.store is not None
    return service.store.stats().runs


# --- case 1: a report is stored once ---------------------------------------------------------


class TestStoredOnce:
    def test_an_identical_report_posted_twice_is_stored_once(
        self, store_app: TestClient, store_service: WarmStartService
    ) -> None:
        """Without a key, the report's content is its key: the same report is one report."""
        first = store_app.post("/v1/runs", json=REPORT, headers=KEY)
        again = store_app.post("/v1/runs", json=REPORT, headers=KEY)
        assert (first.status_code, again.status_code) == (201, 201)
        assert again.json() == first.json() and len(first.json()["run_ids"]) == 2
        assert "Idempotent-Replayed" not in first.headers
        assert again.headers["Idempotent-Replayed"] == "true"
        assert stored_runs(store_service) == 2
        # spelt differently (key order, whitespace), it is the same report
        respelt = store_app.post(
            "/v1/runs",
            content=(
                '{"runs": [{"seed": 0, "scores": [0.5, 0.7], "params": {"batch_size": 32, '
                '"lr": 0.01}}, {"params": {"lr": 0.1, "batch_size": 64}, "final_score": 0.6, '
                '"seed": 1}], "tuner": "mine", "dataset": {"meta_features": '
                '{"NumberOfInstances": 100.0}, "name": "toy:small"}}'
            ),
            headers={**KEY, "Content-Type": "application/json"},
        )
        assert respelt.json() == first.json() and stored_runs(store_service) == 2
        assert store_app.get("/v1/health").json()["reported_runs"] == 2

    def test_a_key_is_answered_the_same_without_storing_again(
        self, store_app: TestClient, store_service: WarmStartService
    ) -> None:
        key = {**KEY, "Idempotency-Key": str(uuid.uuid4())}
        first = store_app.post("/v1/runs", json=REPORT, headers=key)
        again = store_app.post("/v1/runs", json=REPORT, headers=key)
        assert (again.status_code, again.json()) == (first.status_code, first.json())
        assert again.headers["Idempotent-Replayed"] == "true"
        assert stored_runs(store_service) == 2
        # the same runs under a new key are a new report (the client says so)
        other = store_app.post(
            "/v1/runs", json=REPORT, headers={**KEY, "Idempotency-Key": str(uuid.uuid4())}
        )
        assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
        assert set(other.json()["run_ids"]).isdisjoint(first.json()["run_ids"])
        assert stored_runs(store_service) == 4

    def test_a_key_sent_with_another_report_is_refused(
        self, store_app: TestClient, store_service: WarmStartService
    ) -> None:
        key = {**KEY, "Idempotency-Key": "report-1"}
        assert store_app.post("/v1/runs", json=REPORT, headers=key).status_code == 201
        refused = store_app.post("/v1/runs", json=OTHER, headers=key)
        assert refused.status_code == 422
        detail = refused.json()["detail"]
        assert "Idempotency-Key 'report-1' was used before for another report" in detail
        assert "new key" in detail and "\n" not in detail
        assert stored_runs(store_service) == 2

    @pytest.mark.parametrize("bad", ["", "has space", "x" * 256, "ключ"])
    def test_a_malformed_key_is_a_422(self, store_app: TestClient, bad: str) -> None:
        headers = [(b"X-API-Key", API_KEY.encode()), (b"Idempotency-Key", bad.encode())]
        response = store_app.post("/v1/runs", json=REPORT, headers=httpx.Headers(headers))
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["header", "Idempotency-Key"]

    def test_keys_outlive_the_service(self, store_service: WarmStartService) -> None:
        request = RunsRequest.model_validate(REPORT)
        first = store_service.report(request, "k")
        assert store_service.store is not None
        restarted = WarmStartService.open(store_service.store, snapshot=False)
        again = restarted.report(request, "k")
        assert again.replayed and again.runs == first.runs and not first.replayed
        assert stored_runs(restarted) == 2

    def test_a_lost_answer_is_retried_by_the_client_and_stored_once(
        self, store_app: TestClient, store_service: WarmStartService
    ) -> None:
        """The server stores the report, the answer is lost (a timeout): the client's retry
        carries the same key and gets the first answer."""
        app = forward(store_app)
        lost: list[str] = []

        def losing_the_first_answer(request: httpx.Request) -> httpx.Response:
            answer = app.handle_request(request)
            if not lost:
                lost.append(request.headers["Idempotency-Key"])
                raise httpx.ReadTimeout("the answer was lost")
            return answer

        transport = httpx.MockTransport(losing_the_first_answer)
        with Client("http://service.test", API_KEY, transport=transport, backoff=0) as client:
            answer = client.report_runs(REPORT["dataset"], REPORT["runs"], tuner="mine")
        assert len(lost) == 1 and len(answer.run_ids) == 2
        assert stored_runs(store_service) == 2

    def test_one_key_sent_at_once_from_many_threads_stores_once(
        self, store_service: WarmStartService
    ) -> None:
        request = RunsRequest.model_validate(REPORT)
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda _: store_service.report(request, "same"), range(16)))
        assert len({tuple(a.runs.run_ids) for a in answers}) == 1
        assert sum(not a.replayed for a in answers) == 1
        assert stored_runs(store_service) == 2

    def test_an_answer_not_recorded_is_rebuilt_for_a_retry(
        self, store_service: WarmStartService, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The store fails after the runs and key are in: the retry still gets the answer."""

        def fail(*args: object) -> None:
            raise MetaStoreWriteError("record_answer could not write: database or disk is full")

        monkeypatch.setattr(core_module._reports, "record_answer", fail)
        request = RunsRequest.model_validate(REPORT)
        first = store_service.report(request, "k")
        again = store_service.report(request, "k")
        assert again.replayed and again.runs == first.runs and again.status_code == 201
        assert stored_runs(store_service) == 2


# --- case 2: reported runs are kept apart from the curated ones ------------------------------

OPENML_31 = {"openml_did": 31}  # German credit (keel:german in meta-dataset v1)
WIDE = space(
    {"name": "lr", "type": "float", "low": 1e-5, "high": 10.0, "log": True},
    {"name": "batch_size", "type": "int", "low": 16, "high": 512, "log": True},
)
FAKE = {
    "dataset": {"openml_did": 31, "meta_features": {"NumberOfInstances": 1e9}},
    "tuner": "attacker",
    "runs": [
        {"params": {"lr": 10.0, "batch_size": 512}, "scores": [1.0], "seed": seed}
        for seed in range(3)
    ],
}


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[WarmStartService, TestClient]]:
    """The shipped snapshot and a store taking reports."""
    service = WarmStartService.open(store=tmp_path / "both.sqlite")
    with TestClient(create_app(service, api_key=API_KEY)) as client:
        yield service, client
    assert service.store is not None
    service.store.close()


class TestKeptApart:
    def test_three_fake_runs_do_not_change_what_is_served(
        self, both: tuple[WarmStartService, TestClient]
    ) -> None:
        service, client = both
        warm = {"dataset": OPENML_31, "search_space": WIDE, "k": 4}
        box = {"dataset": OPENML_31, "search_space": WIDE}
        before = client.post("/v1/warmstart", json=warm).json()
        narrowed = client.post("/v1/search-space", json=box).json()
        assert before["configurations"][0]["params"] != {"lr": 10.0, "batch_size": 512}

        headers = {**KEY, "Idempotency-Key": str(uuid.uuid4())}
        assert client.post("/v1/runs", json=FAKE, headers=headers).status_code == 201

        assert client.post("/v1/warmstart", json=warm).json() == before
        assert client.post("/v1/search-space", json=box).json() == narrowed
        # nor after a restart, which reads them back from the store
        restarted = WarmStartService.open(service.store)
        answer = restarted.warm_start(WarmStartRequest.model_validate(warm))
        assert answer.model_dump(mode="json", exclude_none=True) == before
        again = restarted.search_space(SearchSpaceRequest.model_validate(box))
        assert again.model_dump(mode="json", exclude_none=True) == narrowed

        # they are stored, and a client that asks for reported runs gets them
        pooled = client.post("/v1/warmstart", json={**warm, "include_reported": True}).json()
        top = pooled["configurations"][0]
        assert top["params"] == {"lr": 10.0, "batch_size": 512}
        assert top["provenance"]["source"] == "reported"
        assert pooled["source_space"]["meta_datasets"] == ["v1", "reported"]
        assert "external.attacker" in pooled["source_space"]["flows"]
        assert "external.attacker" not in before["source_space"]["flows"]

    def test_reported_qualities_do_not_move_a_curated_dataset(
        self, both: tuple[WarmStartService, TestClient]
    ) -> None:
        """The fake report's qualities (10^9 instances for German credit) are kept apart."""
        service, client = both
        german = service.index.by_did(31)
        assert german is not None
        curated = dict(german.features)
        client.post("/v1/runs", json=FAKE, headers=KEY)
        assert german.features == curated
        assert german.qualities(include_reported=True)["NumberOfInstances"] == pytest.approx(
            curated["NumberOfInstances"]
        )  # the curated value wins where both have one

    def test_a_dataset_known_only_from_reports_is_found_on_request(
        self, store_app: TestClient
    ) -> None:
        assert store_app.post("/v1/runs", json=REPORT, headers=KEY).status_code == 201
        ask = {"dataset": {"name": "toy:small"}, "search_space": WIDE}
        refused = store_app.post("/v1/warmstart", json=ask)
        assert refused.status_code == 404
        assert "set 'include_reported'" in refused.json()["detail"]
        served = store_app.post("/v1/warmstart", json={**ask, "include_reported": True})
        assert served.status_code == 200
        assert served.json()["configurations"][0]["provenance"]["source"] == "reported"

    def test_the_client_asks_for_reported_runs_only_when_told(self, store_app: TestClient) -> None:
        seen: list[httpx.Request] = []
        app = forward(store_app)

        def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return app.handle_request(request)

        with Client("http://service.test", API_KEY, transport=httpx.MockTransport(record)) as c:
            c.report_runs(REPORT["dataset"], REPORT["runs"])
            features = {"NumberOfInstances": 100.0}
            assert c.warm_start({"meta_features": features}, WIDE).configurations == []
            found = c.warm_start({"meta_features": features}, WIDE, include_reported=True)
            assert found.configurations[0].provenance.source == "reported"
            box = c.search_space({"meta_features": features}, WIDE, include_reported=True)
            assert box.box is not None
        assert b"include_reported" not in seen[1].content  # what an older service accepts
        assert b'"include_reported":true' in seen[2].content
