"""Fuzzing every route: never a 5xx, every answer conforms to the OpenAPI document.

Schemathesis generates requests from the document itself; most fail the semantic checks (no
parameter with a role, an unknown dataset), so Hypothesis strategies built here also send
near-valid requests, which reach the mapping, narrowing and storing code. The default suite
runs a few seconds of each; ``-m slow`` runs many more examples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.conftest import API_KEY
from tunegym.service import WarmStartIndex, WarmStartService, create_app

# positive_data_acceptance is left out on purpose: schema-valid requests are refused when
# they make no sense (low > high, no parameter with a role), with a 4xx that says why.
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]
KEY = {"X-API-Key": API_KEY}
QUICK, LONG = 80, 1000  # examples per test: default suite, and -m slow


def fuzz_settings(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.function_scoped_fixture,
            HealthCheck.data_too_large,
        ],
        derandomize=examples == QUICK,  # the default suite is reproducible
    )


# The OpenAPI document does not depend on the data: read it off an app over an empty index, so
# collecting this module costs nothing; the cases go to the `app` fixture's.
schema = schemathesis.openapi.from_dict(create_app(WarmStartService(WarmStartIndex())).openapi())


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WarmStartService]:
    """The snapshot and a store: reads find datasets, reported runs are written."""
    path = Path(tmp_path_factory.mktemp("fuzz")) / "fuzz.sqlite"
    opened = WarmStartService.open(store=path)
    yield opened
    assert opened.store is not None
    opened.store.close()


@pytest.fixture(scope="module")
def app(service: WarmStartService) -> FastAPI:
    return create_app(service, api_key=API_KEY)


def check(app: FastAPI, method: str, path: str, body: Any = None) -> Any:
    """Send one request through schemathesis and run the checks; the answer if it is a 2xx."""
    operation = schema[path][method]
    case = (
        operation.Case(headers=dict(KEY))
        if body is None
        else operation.Case(body=body, headers=dict(KEY))
    )
    response = case.call(app=app)
    case.validate_response(response, checks=CHECKS)
    assert response.status_code < 500
    if response.status_code >= 400:
        assert response.json()["detail"], response.text  # a message, not an empty error
        return None
    return response.json()


# --- from the document ----------------------------------------------------------------------


def from_schema(case: schemathesis.Case, app: FastAPI) -> None:
    response = case.call(app=app, headers=dict(KEY))
    case.validate_response(response, checks=CHECKS)


@schema.parametrize()
@fuzz_settings(QUICK)
def test_schema_fuzz(case: schemathesis.Case, app: FastAPI) -> None:
    from_schema(case, app)


@pytest.mark.slow
@schema.parametrize()
@fuzz_settings(LONG)
def test_schema_fuzz_long(case: schemathesis.Case, app: FastAPI) -> None:
    from_schema(case, app)


# --- near-valid requests --------------------------------------------------------------------

QUALITIES = ["NumberOfInstances", "NumberOfFeatures", "NumberOfClasses", "ClassEntropy", "Nope"]
NAMES = ["sklearn:iris", "keel:letter", "keel:mushroom", "sklearn:irsi", "toy:a", "openml:61"]
ROLE_NAMES = ["lr", "learning_rate", "batch_size", "bs", "epochs", "n_epochs", "momentum", "opt"]

numbers = st.one_of(
    st.floats(-1e300, 1e300, allow_nan=False),
    st.floats(1e-8, 1e4),
    st.integers(-(2**53), 2**53),
    st.integers(0, 1024),
    st.sampled_from([0, 1e-300, 1e300, -1e300, 0.5, 16, 512, 2**53]),
)
choices = st.lists(st.one_of(numbers, st.booleans(), st.text(max_size=3)), min_size=1, max_size=6)
datasets = st.one_of(
    st.fixed_dictionaries({"name": st.sampled_from(NAMES)}),
    st.fixed_dictionaries({"openml_did": st.sampled_from([61, 6, 3, 12345, 2**31 - 1])}),
    st.fixed_dictionaries(
        {"meta_features": st.dictionaries(st.sampled_from(QUALITIES), numbers, min_size=1)},
        optional={"name": st.sampled_from(NAMES), "openml_did": st.sampled_from([61, 6])},
    ),
)


@st.composite
def parameters(draw: st.DrawFn, name: str) -> dict[str, Any]:
    kind = draw(st.sampled_from(["float", "int", "categorical"]))
    parameter: dict[str, Any] = {"name": name, "type": kind}
    if kind == "categorical":
        parameter["choices"] = draw(choices)
    else:
        low, high = sorted([draw(numbers), draw(numbers)])
        if kind == "int":
            low, high = math.floor(low), math.ceil(high)
        parameter |= {"low": low, "high": high}
        if (low > 0 or draw(st.integers(0, 9)) == 0) and draw(st.booleans()):
            parameter["log"] = True
        elif draw(st.booleans()):
            parameter["step"] = draw(st.sampled_from([1, 2, 0.25, 16, 1e-3, 1e290]))
    if draw(st.integers(0, 5)) == 0:
        parameter["role"] = draw(st.sampled_from(["learning_rate", "batch_size", "epochs"]))
    return parameter


@st.composite
def search_spaces(draw: st.DrawFn) -> dict[str, Any]:
    names = draw(st.lists(st.sampled_from(ROLE_NAMES), min_size=1, max_size=4, unique=True))
    return {"parameters": [draw(parameters(n)) for n in names]}


warm_starts = st.fixed_dictionaries(
    {"dataset": datasets, "search_space": search_spaces()},
    optional={
        "k": st.integers(1, 100),
        "neighbors": st.integers(1, 50),
        "include_self": st.booleans(),
        "include_curves": st.booleans(),
    },
)
search_space_requests = st.fixed_dictionaries(
    {"dataset": datasets, "search_space": search_spaces()},
    optional={
        "neighbors": st.integers(1, 50),
        "top": st.integers(1, 20),
        "include_self": st.booleans(),
    },
)
run_values = st.one_of(
    st.integers(1, 512),
    st.sampled_from([1e-4, 0.01, 0.1, 1.0, 16, 64, 0, -1, 2**31]),
    numbers,
    st.booleans(),
    st.text(max_size=3),
)
scored = st.one_of(
    st.fixed_dictionaries({"scores": st.lists(st.floats(0, 1), min_size=1, max_size=5)}),
    st.fixed_dictionaries({"final_score": st.floats(0, 1)}),
    st.fixed_dictionaries({"status": st.sampled_from(["diverged", "failed"])}),
)


@st.composite
def reported_runs(draw: st.DrawFn) -> dict[str, Any]:
    params = draw(st.dictionaries(st.sampled_from(ROLE_NAMES), run_values, min_size=1))
    run = {"params": params, **draw(scored)}
    if draw(st.booleans()):
        run["seed"] = draw(st.integers(0, 3))
    return run


qualities = st.dictionaries(st.sampled_from(QUALITIES), numbers, min_size=1)
# A name is always sent with the same OpenML id (or none): a name and an id of two stored
# datasets is a 409 of report_runs, tested in test_app.
runs_datasets = st.one_of(
    st.sampled_from([*NAMES, "toy:b", "plain", "openml:7", "x:"]).map(lambda n: {"name": n}),
    st.sampled_from([{"name": "toy:d7", "openml_did": 7}, {"name": "toy:d8", "openml_did": 8}]),
    st.sampled_from([61, 7, 8]).map(lambda d: {"openml_did": d}),
).flatmap(
    lambda d: st.fixed_dictionaries({}, optional={"meta_features": qualities}).map(
        lambda m: {**d, **m}
    )
)
runs_requests = st.fixed_dictionaries(
    {
        "dataset": runs_datasets,
        "runs": st.lists(reported_runs(), min_size=1, max_size=4),
    },
    optional={
        "search_space": search_spaces(),
        "metric": st.sampled_from(["val_accuracy", "val_balanced_accuracy"]),
    },
)


def inside(value: Any, parameter: dict[str, Any]) -> bool:
    if parameter["type"] == "categorical":
        return any(value == c and type(value) is type(c) for c in parameter["choices"])
    if parameter["type"] == "int" and not isinstance(value, int):
        return False
    slack = 1e-9 * max(1.0, abs(parameter["low"]), abs(parameter["high"]))
    return parameter["low"] - slack <= value <= parameter["high"] + slack


def warm_start_case(app: FastAPI, body: dict[str, Any]) -> None:
    answer = check(app, "POST", "/v1/warmstart", body)
    if answer is None:
        return
    space = {p["name"]: p for p in body["search_space"]["parameters"]}
    configs = answer["configurations"]
    assert len(configs) <= body.get("k", 8)
    assert len({repr(sorted(c["params"].items())) for c in configs}) == len(configs)
    for config in configs:
        assert set(config["params"]).isdisjoint(answer["unmapped"])
        assert set(config["params"]) | set(answer["unmapped"]) == set(space)
        assert all(inside(v, space[n]) for n, v in config["params"].items()), config
        assert set(config["clipped"]) <= set(config["params"])
        assert ("curve" in config) == body.get("include_curves", False)


def search_space_case(app: FastAPI, body: dict[str, Any]) -> None:
    answer = check(app, "POST", "/v1/search-space", body)
    if answer is None:
        return
    before = {p["name"]: p for p in body["search_space"]["parameters"]}
    after = {p["name"]: p for p in answer["search_space"]["parameters"]}
    assert list(after) == list(before)
    for name in answer["narrowed"]:
        old, new = before[name], after[name]
        if old["type"] == "categorical":
            assert 0 < len(new["choices"]) < len(old["choices"])
            assert all(
                any(c == o and type(c) is type(o) for o in old["choices"]) for c in new["choices"]
            )
        else:
            assert old["low"] <= new["low"] <= new["high"] <= old["high"]
    for name in set(before) - set(answer["narrowed"]):
        assert {k: v for k, v in after[name].items() if k != "log" or v} == {
            k: v for k, v in before[name].items() if k != "log" or v
        }


def runs_case(app: FastAPI, body: dict[str, Any]) -> None:
    answer = check(app, "POST", "/v1/runs", body)
    if answer is not None:
        assert len(answer["run_ids"]) == len(body["runs"])


# Runs first: the reads that follow also meet the configurations they reported.
CASES = {
    "runs": (runs_requests, runs_case),
    "warmstart": (warm_starts, warm_start_case),
    "search-space": (search_space_requests, search_space_case),
}


def run_fuzz(app: FastAPI, route: str, examples: int) -> None:
    strategy, send = CASES[route]

    @fuzz_settings(examples)
    @given(body=strategy)
    def fuzz(body: dict[str, Any]) -> None:
        send(app, body)

    fuzz()


@pytest.mark.parametrize("route", list(CASES))
def test_near_valid_requests(app: FastAPI, route: str) -> None:
    run_fuzz(app, route, 3 * QUICK)


@pytest.mark.slow
@pytest.mark.parametrize("route", list(CASES))
def test_near_valid_requests_long(app: FastAPI, route: str) -> None:
    run_fuzz(app, route, LONG)


def test_the_health_route_conforms(app: FastAPI) -> None:
    assert check(app, "GET", "/v1/health")["writes_enabled"] is True


def test_the_fuzzed_store_opens_again(service: WarmStartService) -> None:
    """Whatever the fuzzing stored, a service restarted on that store reads it back."""
    assert service.store is not None
    again = WarmStartService.open(service.store, snapshot=False)
    stored = again.health()
    assert stored.store_reachable and stored.runs <= service.health().runs
    assert set(again.index.names()) <= set(service.index.names())
