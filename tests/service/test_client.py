"""`Client`: the API's calls against the app, retries, and readable errors."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from tests.service.conftest import API_KEY, FULL_SPACE, LR, space
from tunegym.service import (
    Client,
    HealthOut,
    RunsOut,
    SearchSpaceSpec,
    ServiceRequestError,
    WarmStartOut,
)
from tunegym.service import _client as client_module

URL = "http://service.test"
IRIS = {"name": "sklearn:iris"}
HEALTH: dict[str, Any] = {
    "status": "ok",
    "version": "0",
    "api": "v1",
    "store": None,
    "store_reachable": None,
    "datasets": 1,
    "configurations": 2,
    "runs": 3,
    "writes_enabled": False,
}
RUNS: dict[str, Any] = {"run_ids": [1], "dataset": "x", "candidate": False}
RUN: dict[str, Any] = {"params": {"lr": 0.1, "batch_size": 16}, "scores": [0.5, 0.6]}


def forward(app: TestClient) -> httpx.MockTransport:
    """A transport handing each request to the app (a sync client cannot use ASGITransport)."""

    def handle(request: httpx.Request) -> httpx.Response:
        answer = app.request(
            request.method, request.url.path, content=request.content, headers=request.headers
        )
        return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)

    return httpx.MockTransport(handle)


class Script:
    """A transport answering from a script: each item a response or an exception to raise."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def client(self, **kwargs: Any) -> Client:
        return Client(URL, transport=httpx.MockTransport(self), backoff=0.0, **kwargs)


def status(code: int, body: Any = None, **kwargs: Any) -> httpx.Response:
    if body is None:
        return httpx.Response(code, **kwargs)
    return httpx.Response(code, json=body, **kwargs)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The back-off delays, recorded instead of slept."""
    delays: list[float] = []
    monkeypatch.setattr(client_module.time, "sleep", delays.append)
    return delays


# --- against the app ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def client(snapshot_app: TestClient) -> Iterator[Client]:
    with Client(URL, transport=forward(snapshot_app)) as opened:
        yield opened


def test_reads_against_the_snapshot_app(client: Client) -> None:
    health = client.health()
    assert isinstance(health, HealthOut) and health.datasets == 144
    answer = client.warm_start(IRIS, FULL_SPACE, k=3, include_curves=True)
    assert isinstance(answer, WarmStartOut) and len(answer.configurations) == 3
    first = answer.configurations[0]
    assert first.provenance.dataset == "sklearn:iris" and first.curve is not None
    assert set(first.params) == {"lr", "batch_size", "epochs"}
    # models and mappings alike; the answer is the same as the app's own
    same = client.warm_start(IRIS, SearchSpaceSpec.model_validate(FULL_SPACE), k=3)
    assert [c.params for c in same.configurations] == [c.params for c in answer.configurations]
    others = client.warm_start(IRIS, FULL_SPACE, k=3, neighbors=2, include_self=False)
    assert {n.dataset for n in others.neighbors}.isdisjoint({"sklearn:iris"})
    narrowed = client.search_space(IRIS, space(LR), neighbors=3, top=2)
    assert narrowed.narrowed == ["lr"] and narrowed.box is not None
    (lr,) = narrowed.search_space.parameters
    assert LR["low"] <= lr.low <= narrowed.box.learning_rate_min  # type: ignore[operator]


def test_the_service_errors_come_back_readable(client: Client) -> None:
    with pytest.raises(ServiceRequestError) as error:
        client.warm_start({"name": "sklearn:irsi"}, FULL_SPACE)
    assert error.value.status_code == 404
    assert str(error.value).startswith("POST /v1/warmstart answered 404: No stored meta-features")
    assert "Did you mean 'sklearn:iris'" in str(error.value)
    with pytest.raises(ServiceRequestError, match="answered 401: Reporting runs needs an API key"):
        client.report_runs({"name": "x"}, [RUN])


def test_inputs_are_checked_before_sending(sleeps: list[float]) -> None:
    script = Script(status(200, HEALTH))
    client = script.client()
    with pytest.raises(ValidationError, match="needs low <= high"):
        client.warm_start(IRIS, space({**LR, "low": 1.0, "high": 0.1}))
    with pytest.raises(ValidationError, match="val_accuracy"):
        client.report_runs({"name": "x"}, [RUN], metric="accuracy")
    assert script.requests == []


def test_report_runs_into_a_store(store_app: TestClient) -> None:
    with Client(URL, api_key=API_KEY, transport=forward(store_app)) as client:
        runs = [RUN, {**RUN, "seed": 1, "scores": [0.7]}]
        answer = client.report_runs(
            {"name": "toy:x", "meta_features": {"NumberOfInstances": 10}}, runs, tuner="hebo"
        )
        assert isinstance(answer, RunsOut) and len(answer.run_ids) == 2 and answer.candidate
        assert client.health().runs == 2


# --- retries --------------------------------------------------------------------------------


def test_reads_are_retried_on_429_and_503_with_backoff(sleeps: list[float]) -> None:
    script = Script(status(429), status(503, {"detail": "busy"}), status(200, HEALTH))
    client = Client(URL, transport=httpx.MockTransport(script), backoff=0.01, retries=3)
    assert client.health().runs == 3
    assert len(script.requests) == 3
    assert sleeps == [0.01, 0.02]


@pytest.mark.parametrize(
    ("call", "path"),
    [
        (lambda c: c.health(), "/v1/health"),
        (lambda c: c.warm_start(IRIS, FULL_SPACE), "/v1/warmstart"),
        (lambda c: c.search_space(IRIS, FULL_SPACE), "/v1/search-space"),
    ],
)
def test_every_read_gives_up_after_its_retries(
    sleeps: list[float], call: Callable[[Client], Any], path: str
) -> None:
    script = Script(status(503, {"detail": "overloaded"}))
    with pytest.raises(ServiceRequestError, match=f"{path} answered 503: overloaded") as error:
        call(script.client(retries=2))
    assert (error.value.status_code, error.value.detail) == (503, "overloaded")
    assert len(script.requests) == 3 and len(sleeps) == 2
    assert {r.url.path for r in script.requests} == {path}


@pytest.mark.parametrize(
    "failure",
    [
        status(500, {"detail": "boom"}),
        status(503, {"detail": "The meta-store is busy"}),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("dropped"),
    ],
)
def test_a_report_is_retried_under_one_idempotency_key(
    sleeps: list[float], failure: httpx.Response | Exception
) -> None:
    """A report may have reached the server: its retries carry its key, so it is stored once."""
    script = Script(failure, status(201, RUNS))
    client = script.client(api_key=API_KEY)
    assert client.report_runs({"name": "x"}, [RUN]).run_ids == [1]
    first, retry = script.requests
    key = first.headers["Idempotency-Key"]
    assert str(uuid.UUID(key)) == key and retry.headers["Idempotency-Key"] == key
    assert first.content == retry.content
    # the next report is another one: a new key
    script.answers = [status(201, RUNS)]
    client.report_runs({"name": "x"}, [RUN])
    assert script.requests[-1].headers["Idempotency-Key"] != key


def test_a_report_keeps_the_key_it_is_given_and_4xx_are_final(sleeps: list[float]) -> None:
    script = Script(status(422, {"detail": "used before for another report"}))
    with pytest.raises(ServiceRequestError, match="422: used before"):
        script.client(api_key=API_KEY).report_runs({"name": "x"}, [RUN], idempotency_key="k-1")
    assert [r.headers["Idempotency-Key"] for r in script.requests] == ["k-1"]


def test_connection_errors_are_retried_for_every_call(sleeps: list[float]) -> None:
    refused = httpx.ConnectError("refused")
    script = Script(refused, refused, status(201, RUNS))
    assert script.client(api_key=API_KEY).report_runs({"name": "x"}, [RUN]).run_ids == [1]
    assert len(script.requests) == 3
    script = Script(httpx.ReadTimeout("slow"), status(200, HEALTH))
    assert script.client().health().datasets == 1
    script = Script(refused)
    with pytest.raises(ServiceRequestError, match=f"Cannot reach {URL}/v1/health: refused"):
        script.client(retries=1).health()
    assert len(script.requests) == 2


def test_a_4xx_is_not_retried(sleeps: list[float]) -> None:
    script = Script(status(400, {"detail": "no role"}), status(200, HEALTH))
    with pytest.raises(ServiceRequestError, match="answered 400: no role"):
        script.client().warm_start(IRIS, FULL_SPACE)
    assert len(script.requests) == 1 and sleeps == []


# --- what is sent, and errors that are not the service's usual ones ------------------------


def test_the_key_and_body_sent(sleeps: list[float]) -> None:
    script = Script(status(200, HEALTH))
    script.client(api_key="secret").health()
    script.client().health()
    keyed, anonymous = script.requests
    assert keyed.headers["X-API-Key"] == "secret" and "X-API-Key" not in anonymous.headers
    warm = Script(
        status(200, {"configurations": [], "neighbors": [], "unmapped": [], "metric": "m"})
    )
    warm.client().warm_start({"openml_did": 61}, space(LR), k=2)
    (request,) = warm.requests
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    assert json.loads(request.content) == {
        "dataset": {"openml_did": 61},
        "search_space": {"parameters": [LR]},
        "k": 2,
        "neighbors": 5,
        "include_self": True,
        "include_curves": False,
    }


def test_a_422_list_becomes_one_readable_message(sleeps: list[float]) -> None:
    detail = [
        {"loc": ["body", "k"], "msg": "Input should be less than or equal to 100", "type": "x"},
        {"loc": ["body", "search_space", "parameters", 0], "msg": "Value error, bad", "type": "y"},
    ]
    with pytest.raises(ServiceRequestError) as error:
        Script(status(422, {"detail": detail})).client().health()
    assert str(error.value) == (
        "GET /v1/health answered 422: body.k: Input should be less than or equal to 100; "
        "body.search_space.parameters.0: Value error, bad"
    )
    assert error.value.detail == detail


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (status(413, content=b"Content Too Large"), "answered 413: Content Too Large"),
        (status(404, ["not", "a", "dict"]), 'answered 404: ["not","a","dict"]'),
        (status(404, {"error": "elsewhere"}), 'answered 404: {"error":"elsewhere"}'),
        (status(418), "answered 418: I'm a teapot"),
        (status(200, content=b"<html>proxy</html>"), "with a body that is not a HealthOut"),
        (status(200, {"status": "ok"}), "with a body that is not a HealthOut"),
    ],
)
def test_unusual_answers_are_service_errors(
    sleeps: list[float], answer: httpx.Response, message: str
) -> None:
    with pytest.raises(ServiceRequestError, match=re.escape(message)):
        Script(answer).client().health()


@pytest.mark.parametrize(
    ("url", "kwargs", "message"),
    [
        ("service.test", {}, "must start with http"),
        (URL, {"timeout": 0}, "timeout > 0"),
        (URL, {"retries": -1}, "retries >= 0"),
        (URL, {"backoff": -0.1}, "backoff >= 0"),
    ],
)
def test_bad_settings_are_refused(url: str, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Client(url, **kwargs)


def test_repr_and_base_url() -> None:
    with Client(URL + "/") as client:
        assert repr(client) == f"Client({URL!r})"
