"""The HTTP app: every route's answers, every bad input a 4xx with a message, runs round trip."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from tests.service.conftest import API_KEY, BATCH, EPOCHS, FULL_SPACE, IRIS_DID, LR, space
from tunegym.metastore._schema import Evaluation, Flow, Run, Setup
from tunegym.service import SearchSpaceOut, WarmStartService, create_app

IRIS = {"name": "sklearn:iris"}
KEY = {"X-API-Key": API_KEY}


def post(client: TestClient, path: str, body: dict[str, Any], **headers: str) -> Any:
    """POST and return the JSON answer, failing with the body when the status is not 2xx."""
    response = client.post(path, json=body, headers=headers)
    assert response.is_success, response.text
    return response.json()


def warm(client: TestClient, **body: Any) -> Any:
    return post(client, "/v1/warmstart", {"dataset": IRIS, "search_space": FULL_SPACE, **body})


def normalised(search_space: dict[str, Any]) -> dict[str, Any]:
    """A space as the service writes it back (defaults filled in)."""
    return {"parameters": [{"log": False, **p} for p in search_space["parameters"]]}


def inside(value: Any, parameter: dict[str, Any]) -> bool:
    if parameter["type"] == "categorical":
        return value in parameter["choices"]
    if parameter["type"] == "int" and not isinstance(value, int):
        return False
    return parameter["low"] <= value <= parameter["high"]


# --- reads on the snapshot ------------------------------------------------------------------


def test_health(snapshot_app: TestClient) -> None:
    health = snapshot_app.get("/v1/health").json()
    assert health["status"] == "ok" and health["api"] == "v1"
    assert (health["datasets"], health["store"], health["writes_enabled"]) == (144, None, False)
    assert health["configurations"] > health["datasets"] and health["runs"] > 0


class TestWarmStart:
    @pytest.mark.parametrize("k", [1, 3, 20])
    def test_k_configurations_inside_the_space(self, snapshot_app: TestClient, k: int) -> None:
        answer = warm(snapshot_app, k=k)
        configs = answer["configurations"]
        assert len(configs) == k
        by_name = {p["name"]: p for p in FULL_SPACE["parameters"]}
        for config in configs:
            assert set(config["params"]) == set(by_name)
            assert all(inside(v, by_name[n]) for n, v in config["params"].items())
            assert config["clipped"] == []  # the space spans the whole grid
            assert 0.0 <= config["expected_score"] <= 1.0 and 0.0 <= config["score"] <= 1.0
            assert "curve" not in config
        assert answer["unmapped"] == [] and answer["metric"] == "val_accuracy"

    def test_the_target_itself_comes_first_by_name_id_or_qualities(
        self, snapshot_app: TestClient, snapshot_service: WarmStartService
    ) -> None:
        iris = snapshot_service.index.get("sklearn:iris")
        assert iris is not None
        by_name = warm(snapshot_app, k=3)
        by_did = warm(snapshot_app, k=3, dataset={"openml_did": IRIS_DID})
        by_qualities = warm(snapshot_app, k=3, dataset={"meta_features": iris.features})
        assert by_name == by_did == by_qualities
        first = by_name["configurations"][0]
        assert first["provenance"]["dataset"] == "sklearn:iris"
        assert first["provenance"]["distance"] == 0.0
        assert first["provenance"]["openml_did"] == IRIS_DID
        assert by_name["neighbors"][0] == {
            "dataset": "sklearn:iris",
            "distance": 0.0,
            "openml_did": IRIS_DID,
        }
        best = iris.configs[0]
        assert first["params"] == {
            "lr": best.lr,
            "batch_size": best.batch_size,
            "epochs": best.epochs,
        }
        assert first["score"] == best.best
        # Its own runs weigh 1,000 (distance 0), each neighbour's about 20: near its 1 there.
        assert 0.9 <= first["expected_score"] <= 1.0

    def test_round_robin_over_the_neighbours_best_first(
        self, snapshot_app: TestClient, snapshot_service: WarmStartService
    ) -> None:
        answer = warm(snapshot_app, k=4, neighbors=4, include_self=False)
        names = [n["dataset"] for n in answer["neighbors"]]
        assert len(names) == 4
        distances = [n["distance"] for n in answer["neighbors"]]
        assert distances == sorted(distances)
        served = [c["provenance"] for c in answer["configurations"]]
        assert [p["dataset"] for p in served] == names  # each neighbour's best, nearest first
        for provenance in served:
            entry = snapshot_service.index.get(provenance["dataset"])
            assert entry is not None
            best = entry.configs[0]
            assert (provenance["learning_rate"], provenance["batch_size"]) == (
                best.lr,
                best.batch_size,
            )
            assert provenance["epochs"] == best.epochs
            assert provenance["source"] == "snapshot" and provenance["run_ids"] == []
            assert provenance["seeds"] == list(best.seeds)

    def test_a_range_that_excludes_the_stored_value_clips(self, snapshot_app: TestClient) -> None:
        lr = {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-3, "log": True}
        batch = {"name": "bs", "type": "int", "low": 32, "high": 64}
        answer = warm(snapshot_app, k=30, search_space=space(lr, batch))
        configs = answer["configurations"]
        assert len(configs) > 5
        for config in configs:
            stored = config["provenance"]
            lr_out = not 1e-4 <= stored["learning_rate"] <= 1e-3
            bs_out = not 32 <= stored["batch_size"] <= 64
            assert config["clipped"] == [n for n, out in [("lr", lr_out), ("bs", bs_out)] if out]
            assert inside(config["params"]["lr"], lr) and inside(config["params"]["bs"], batch)
            if not lr_out:
                assert config["params"]["lr"] == stored["learning_rate"]
        assert any(c["clipped"] for c in configs) and any(not c["clipped"] for c in configs)

    def test_configurations_that_map_to_one_point_are_served_once(
        self, snapshot_app: TestClient
    ) -> None:
        one = space(
            {"name": "lr", "type": "categorical", "choices": [0.001]},
            {"name": "batch_size", "type": "categorical", "choices": [32]},
        )
        assert len(warm(snapshot_app, k=10, search_space=one)["configurations"]) == 1
        two = space(
            {"name": "lr", "type": "categorical", "choices": [0.001, 0.1]},
            {"name": "batch_size", "type": "categorical", "choices": [32]},
        )
        configs = warm(snapshot_app, k=10, search_space=two)["configurations"]
        assert sorted(c["params"]["lr"] for c in configs) == [0.001, 0.1]
        many = warm(snapshot_app, k=50, neighbors=10)["configurations"]
        points = [json.dumps(c["params"], sort_keys=True) for c in many]
        assert len(points) == len(set(points)) == 50

    def test_include_self_false_never_serves_the_target_or_its_openml_twin(
        self, snapshot_app: TestClient, snapshot_service: WarmStartService
    ) -> None:
        iris = snapshot_service.index.get("sklearn:iris")
        assert iris is not None
        descriptions = [
            IRIS,
            {"openml_did": IRIS_DID},
            # another name for the same data: only its OpenML id says it is iris
            {"name": "my-iris", "openml_did": IRIS_DID, "meta_features": iris.features},
        ]
        for dataset in descriptions:
            answer = warm(snapshot_app, k=40, neighbors=10, include_self=False, dataset=dataset)
            datasets = {n["dataset"] for n in answer["neighbors"]}
            datasets |= {c["provenance"]["dataset"] for c in answer["configurations"]}
            assert len(answer["configurations"]) == 40
            assert "sklearn:iris" not in datasets
            assert all(n.get("openml_did") != IRIS_DID for n in answer["neighbors"])
        twin = warm(snapshot_app, k=1, dataset=descriptions[-1])  # include_self: it is found
        assert twin["neighbors"][0]["dataset"] == "sklearn:iris"

    def test_neighbors_limits_where_configurations_come_from(
        self, snapshot_app: TestClient
    ) -> None:
        answer = warm(snapshot_app, k=12, neighbors=2)
        assert len(answer["neighbors"]) == 2
        names = {n["dataset"] for n in answer["neighbors"]}
        assert {c["provenance"]["dataset"] for c in answer["configurations"]} == names

    def test_include_curves(self, snapshot_app: TestClient) -> None:
        configs = warm(snapshot_app, k=3, include_curves=True)["configurations"]
        for config in configs:
            curve, epochs = config["curve"], config["provenance"]["epochs"]
            assert len(curve) >= epochs and all(0.0 <= v <= 1.0 for v in curve)
            assert curve[epochs - 1] == max(curve) == config["score"]

    def test_parameters_without_a_role_are_listed_unmapped(self, snapshot_app: TestClient) -> None:
        alpha = {
            "name": "alpha",
            "type": "float",
            "low": 1e-4,
            "high": 1.0,
            "role": "learning_rate",
        }
        # beta1: no stored space has a hyperparameter of that name (momentum is LCBench's)
        extra: list[dict[str, Any]] = [
            {"name": "beta1", "type": "float", "low": 0.0, "high": 1.0},
            {"name": "optimizer", "type": "categorical", "choices": ["adam", "sgd"]},
            {"name": "epochs", "type": "categorical", "choices": ["few", "many"]},
        ]
        answer = warm(snapshot_app, k=2, search_space=space(alpha, *extra))
        assert answer["unmapped"] == ["beta1", "optimizer", "epochs"]
        assert all(set(c["params"]) == {"alpha"} for c in answer["configurations"])


class TestSearchSpace:
    def test_narrowed_inside_the_original_and_around_the_served_configs(
        self, snapshot_app: TestClient, snapshot_service: WarmStartService
    ) -> None:
        beta1 = {"name": "beta1", "type": "float", "low": 0.0, "high": 1.0}  # no stored name
        batch = {**BATCH, "low": 4, "high": 2048}  # wider than the stored grid
        original = space(LR, batch, EPOCHS, beta1)
        body = {"dataset": IRIS, "search_space": original, "neighbors": 5, "top": 3}
        answer = post(snapshot_app, "/v1/search-space", body)
        assert answer["narrowed"] == ["lr", "batch_size"]  # epochs are never narrowed
        box = answer["box"]
        assert box["learning_rate_min"] <= box["learning_rate_max"]
        assert box["batch_size_min"] <= box["batch_size_max"]
        narrowed = {p["name"]: p for p in answer["search_space"]["parameters"]}
        assert [narrowed["epochs"], narrowed["beta1"]] == normalised(space(EPOCHS, beta1))[
            "parameters"
        ]
        for name, before in [("lr", LR), ("batch_size", batch)]:
            after = narrowed[name]
            assert before["low"] <= after["low"] <= after["high"] <= before["high"]
            assert (after["low"], after["high"]) != (before["low"], before["high"])
            assert after["log"] is True and after["type"] == before["type"]
        # the top-3 configurations of each neighbour lie inside the narrowed space
        served = warm(snapshot_app, k=15, neighbors=5, search_space=original)["configurations"]
        checked = 0
        for config in served:
            entry = snapshot_service.index.get(config["provenance"]["dataset"])
            assert entry is not None
            rank = [(c.lr, c.batch_size) for c in entry.configs].index(
                (config["provenance"]["learning_rate"], config["provenance"]["batch_size"])
            )
            if rank < 3:
                checked += 1
                assert all(inside(config["params"][n], narrowed[n]) for n in ("lr", "batch_size"))
        assert checked >= 5
        assert [n["dataset"] for n in answer["neighbors"]] == [
            n["dataset"] for n in warm(snapshot_app, k=1, neighbors=5)["neighbors"]
        ]

    def test_categorical_keeps_the_choices_inside_the_box(self, snapshot_app: TestClient) -> None:
        sizes = [16, 32, 64, 128, 256, 512]
        batch = {"name": "batch_size", "type": "categorical", "choices": sizes}
        body = {"dataset": IRIS, "search_space": space(LR, batch), "neighbors": 1, "top": 1}
        answer = post(snapshot_app, "/v1/search-space", body)
        (kept,) = [p for p in answer["search_space"]["parameters"] if p["name"] == "batch_size"]
        box = answer["box"]
        # one config: its batch size, widened to a factor 2 each side
        assert box["batch_size_max"] == 4 * box["batch_size_min"]
        assert kept["choices"] == [
            s for s in sizes if box["batch_size_min"] <= s <= box["batch_size_max"]
        ]
        assert 0 < len(kept["choices"]) < len(sizes)

    def test_a_range_outside_the_box_is_left_as_it_is(self, snapshot_app: TestClient) -> None:
        far = {"name": "lr", "type": "float", "low": 1e3, "high": 1e4, "log": True}
        body = {"dataset": IRIS, "search_space": space(far), "neighbors": 2}
        answer = post(snapshot_app, "/v1/search-space", body)
        assert answer["narrowed"] == [] and answer["search_space"] == space(far)
        assert answer["box"]["learning_rate_max"] < 1e3


def test_openapi_lists_the_routes_and_security(
    snapshot_app: TestClient, snapshot_service: WarmStartService
) -> None:
    document = snapshot_app.get("/openapi.json").json()
    assert set(document["paths"]) == {"/v1/health", "/v1/warmstart", "/v1/search-space", "/v1/runs"}
    schemes = document["components"]["securitySchemes"]
    assert schemes == {
        "ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        "Bearer": {"type": "http", "scheme": "bearer"},
    }
    assert document["paths"]["/v1/runs"]["post"]["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert "security" not in document["paths"]["/v1/warmstart"]["post"]  # reads are open
    closed = TestClient(create_app(WarmStartService(snapshot_service.index), read_key="r"))
    reads = closed.get("/openapi.json", headers={"X-API-Key": "r"}).json()["paths"]
    assert reads["/v1/health"]["get"]["security"] == [{"ApiKey": []}, {"Bearer": []}]
    assert set(reads) == set(document["paths"])  # the docs' own routes are not listed


# --- errors: a 4xx with a message, never a 500 ----------------------------------------------

NAN_BODY = '{"dataset": {"meta_features": {"NumberOfInstances": NaN}}, "search_space": %s}'
BAD: list[tuple[str, str, Any, int, str]] = [
    # (id, path, body (a dict, or raw JSON text), status, part of the message)
    ("nan", "/v1/warmstart", NAN_BODY % json.dumps(FULL_SPACE), 422, "finite number"),
    (
        "infinity",
        "/v1/search-space",
        '{"dataset": {"name": "sklearn:iris"}, "search_space": {"parameters": '
        '[{"name": "lr", "type": "float", "low": 0.1, "high": Infinity}]}}',
        422,
        "finite number",
    ),
    (
        "nan_choice",
        "/v1/warmstart",
        '{"dataset": {"name": "sklearn:iris"}, "search_space": {"parameters": '
        '[{"name": "lr", "type": "categorical", "choices": [0.1, NaN]}]}}',
        422,
        "finite number",
    ),
    ("malformed", "/v1/warmstart", '{"dataset": ', 422, "JSON decode error"),
    ("not_an_object", "/v1/warmstart", "[1, 2]", 422, "valid dictionary"),
    ("no_dataset", "/v1/warmstart", {"dataset": {}, "search_space": FULL_SPACE}, 422, "Describe"),
    (
        "extra_field",
        "/v1/warmstart",
        {"dataset": IRIS, "search_space": FULL_SPACE, "kk": 3},
        422,
        "Extra inputs",
    ),
    (
        "k_zero",
        "/v1/warmstart",
        {"dataset": IRIS, "search_space": FULL_SPACE, "k": 0},
        422,
        "body.k: Input should be",
    ),
    (
        "k_big",
        "/v1/warmstart",
        {"dataset": IRIS, "search_space": FULL_SPACE, "k": 101},
        422,
        "body.k: Input should be",
    ),
    (
        "low_above_high",
        "/v1/warmstart",
        {"dataset": IRIS, "search_space": space({**LR, "low": 1.0, "high": 0.1})},
        422,
        "needs low <= high",
    ),
    (
        "log_nonpositive",
        "/v1/search-space",
        {"dataset": IRIS, "search_space": space({**LR, "low": 0.0})},
        422,
        "log-scaled: low must be > 0",
    ),
    (
        "duplicated_names",
        "/v1/warmstart",
        {"dataset": IRIS, "search_space": space(LR, LR)},
        422,
        "unique; repeated: ['lr']",
    ),
    (
        "two_params_one_role",
        "/v1/search-space",
        {"dataset": IRIS, "search_space": space(LR, {**LR, "name": "learning_rate"})},
        422,
        "both play the role 'learning_rate'",
    ),
    (
        "bad_name",
        "/v1/warmstart",
        {"dataset": IRIS, "search_space": space({**LR, "name": "1 lr"})},
        422,
        "pattern",
    ),
    (
        "huge_int_choice",
        "/v1/warmstart",
        {
            "dataset": IRIS,
            "search_space": space({"name": "lr", "type": "categorical", "choices": [10**400]}),
        },
        422,
        "less than or equal",
    ),
    (
        "step_too_fine",
        "/v1/search-space",
        {
            "dataset": IRIS,
            "search_space": space(
                {"name": "lr", "type": "float", "low": -1e300, "high": 1e300, "step": 1e-10}
            ),
        },
        422,
        "2^53 points",
    ),
    (
        "unknown_name",
        "/v1/warmstart",
        {"dataset": {"name": "sklearn:irsi"}, "search_space": FULL_SPACE},
        404,
        "Did you mean 'sklearn:iris'",
    ),
    (
        "unknown_did",
        "/v1/search-space",
        {"dataset": {"openml_did": 999_999}, "search_space": FULL_SPACE},
        404,
        "OpenML dataset 999999",
    ),
    (
        "no_shared_quality",
        "/v1/warmstart",
        {"dataset": {"meta_features": {"Foo": 1.0, "Bar": 2.0}}, "search_space": FULL_SPACE},
        400,
        "share no quality",
    ),
    (
        "no_role",
        "/v1/warmstart",
        {
            "dataset": IRIS,
            "search_space": space({"name": "beta1", "type": "float", "low": 0, "high": 1}),
        },
        400,
        "None of the parameters ['beta1']",
    ),
    (
        "too_many_parameters",
        "/v1/warmstart",
        {
            "dataset": IRIS,
            "search_space": space(*({**EPOCHS, "name": f"p{i}"} for i in range(65))),
        },
        422,
        "at most 64 items",
    ),
    (
        "too_many_choices",
        "/v1/warmstart",
        {
            "dataset": IRIS,
            "search_space": space(
                {"name": "bs", "type": "categorical", "choices": list(range(257))}
            ),
        },
        422,
        "at most 256 items",
    ),
    (
        "too_many_runs",
        "/v1/runs",
        {"dataset": IRIS, "runs": [{"params": {"lr": 0.1}, "final_score": 0.5}] * 1001},
        422,
        "at most 1000 items",
    ),
    (
        "score_above_one",
        "/v1/runs",
        {"dataset": IRIS, "runs": [{"params": {"lr": 0.1}, "scores": [0.5, 1.5]}]},
        422,
        "less than or equal to 1",
    ),
    (
        "run_without_score",
        "/v1/runs",
        {"dataset": IRIS, "runs": [{"params": {"lr": 0.1}}]},
        422,
        "needs 'scores'",
    ),
    (
        "runs_without_a_name",
        "/v1/runs",
        {
            "dataset": {"meta_features": {"NumberOfInstances": 1}},
            "runs": [{"params": {"lr": 0.1}, "final_score": 0.5}],
        },
        422,
        "'name' or 'openml_did'",
    ),
    (
        "run_batch_size_not_whole",
        "/v1/runs",
        {
            "dataset": {"name": "x"},
            "runs": [{"params": {"lr": 0.1, "batch_size": 1e20}, "final_score": 0.5}],
        },
        422,
        "'batch_size' plays the role 'batch_size': a whole number",
    ),
    (
        "run_epochs_zero",
        "/v1/runs",
        {"dataset": {"name": "x"}, "runs": [{"params": {"n_epochs": 0}, "final_score": 0.5}]},
        422,
        "'n_epochs' plays the role 'epochs'",
    ),
    (
        # not in the search space, "batch_size" is still what the service reads back
        "run_unlisted_batch_size",
        "/v1/runs",
        {
            "dataset": {"name": "x"},
            "search_space": space({**LR, "name": "opt", "role": "learning_rate"}),
            "runs": [{"params": {"opt": 0.1, "batch_size": 2.0**64}, "final_score": 0.5}],
        },
        422,
        "'batch_size' plays the role 'batch_size'",
    ),
    (
        "run_boolean_lr_init",
        "/v1/runs",
        {
            "dataset": {"name": "x"},
            "runs": [{"params": {"learning_rate_init": False}, "final_score": 0.5}],
        },
        422,
        "cannot be a boolean",
    ),
    (
        "run_boolean_lr",
        "/v1/runs",
        {"dataset": {"name": "x"}, "runs": [{"params": {"lr": True}, "final_score": 0.5}]},
        422,
        "cannot be a boolean",
    ),
    (
        "run_empty_spec_side",
        "/v1/runs",
        {"dataset": {"name": "keel:"}, "runs": [{"params": {"lr": 0.1}, "final_score": 0.5}]},
        422,
        "text on both sides of ':'",
    ),
    (
        "run_openml_zero",
        "/v1/runs",
        {"dataset": {"name": "openml:0"}, "runs": [{"params": {"lr": 0.1}, "final_score": 0.5}]},
        422,
        "an OpenML id is a whole number",
    ),
    (
        "run_two_ids",
        "/v1/runs",
        {
            "dataset": {"name": "openml:5", "openml_did": 6},
            "runs": [{"params": {"lr": 0.1}, "final_score": 0.5}],
        },
        422,
        "name two datasets",
    ),
    (
        "run_names_clash",
        "/v1/runs",
        {
            "dataset": {"name": "x"},
            "runs": [{"params": {"lr": 0.1, "eta": 0.2}, "final_score": 0.5}],
        },
        400,
        "play one role",
    ),
]


@pytest.fixture(scope="module")
def lenient_snapshot(snapshot_service: WarmStartService) -> Iterator[TestClient]:
    """The snapshot app answering a server error with a 500 instead of raising it."""
    with TestClient(create_app(snapshot_service), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def lenient(store_service: WarmStartService) -> Iterator[TestClient]:
    """The store app answering a server error with a 500 instead of raising it."""
    app = create_app(store_service, api_key=API_KEY)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


@pytest.mark.parametrize(
    ("path", "body", "status", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_input_is_a_4xx_with_a_message(
    lenient_snapshot: TestClient,
    lenient: TestClient,
    path: str,
    body: Any,
    status: int,
    message: str,
) -> None:
    client = lenient if path == "/v1/runs" else lenient_snapshot  # runs need a store
    if isinstance(body, str):
        response = client.post(
            path, content=body, headers={**KEY, "Content-Type": "application/json"}
        )
    else:
        response = client.post(path, json=body, headers=KEY)
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    if isinstance(detail, str):
        text = detail
    else:
        text = "; ".join(".".join(map(str, e["loc"])) + ": " + e["msg"] for e in detail)
    assert message in text
    if status == 422:  # which field: the location of each error
        assert all(e["loc"][0] == "body" and e["type"] for e in detail)


def test_a_body_over_the_limit_is_a_413(snapshot_service: WarmStartService) -> None:
    client = TestClient(create_app(snapshot_service, max_body_bytes=2048))
    body = {
        "dataset": {"meta_features": {f"q{i}": 1.0 for i in range(200)}},
        "search_space": FULL_SPACE,
    }
    response = client.post("/v1/warmstart", json=body)
    assert (response.status_code, response.text) == (413, "Content Too Large")
    assert client.post(
        "/v1/warmstart", json={"dataset": IRIS, "search_space": FULL_SPACE}
    ).is_success
    with pytest.raises(ValueError, match="at least 1024"):
        create_app(snapshot_service, max_body_bytes=100)


class TestKeys:
    RUN: ClassVar[dict[str, Any]] = {
        "dataset": {"name": "x"},
        "runs": [{"params": {"lr": 0.1}, "final_score": 0.5}],
    }

    @pytest.mark.parametrize(
        "headers",
        [{}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}, {"Authorization": API_KEY}],
    )
    def test_reporting_runs_needs_the_key(
        self, store_app: TestClient, headers: dict[str, str]
    ) -> None:
        response = store_app.post("/v1/runs", json=self.RUN, headers=headers)
        assert response.status_code == 401
        assert "X-API-Key: KEY" in response.json()["detail"]
        assert store_app.get("/v1/health").json()["runs"] == 0

    @pytest.mark.parametrize("headers", [KEY, {"Authorization": f"Bearer {API_KEY}"}])
    def test_either_header_carries_the_key(
        self, store_app: TestClient, headers: dict[str, str]
    ) -> None:
        assert store_app.post("/v1/runs", json=self.RUN, headers=headers).status_code == 201

    def test_a_read_only_service_refuses_runs(self, snapshot_app: TestClient) -> None:
        response = snapshot_app.post("/v1/runs", json=self.RUN, headers=KEY)
        assert response.status_code == 409 and "--store" in response.json()["detail"]

    def test_no_api_key_configured_refuses_every_report(
        self, store_service: WarmStartService
    ) -> None:
        client = TestClient(create_app(store_service))
        for headers in [{}, KEY, {"X-API-Key": ""}]:
            response = client.post("/v1/runs", json=self.RUN, headers=headers)
            assert response.status_code == 401
            assert "disabled" in response.json()["detail"]

    def test_a_read_key_closes_the_reads(self, snapshot_service: WarmStartService) -> None:
        client = TestClient(create_app(snapshot_service, api_key="w", read_key="r"))
        body = {"dataset": IRIS, "search_space": FULL_SPACE}
        for path, kwargs in [
            ("/v1/warmstart", {"json": body}),
            ("/v1/search-space", {"json": body}),
        ]:
            assert client.post(path, **kwargs).status_code == 401
            assert client.post(path, headers={"X-API-Key": "w"}, **kwargs).status_code == 401
            assert client.post(path, headers={"X-API-Key": "r"}, **kwargs).status_code == 200
        assert client.get("/v1/health").status_code == 401
        assert (
            "Reading from this service needs an API key"
            in client.get("/v1/health").json()["detail"]
        )
        assert client.get("/v1/health", headers={"Authorization": "Bearer r"}).status_code == 200
        run = client.post("/v1/runs", json=self.RUN, headers={"X-API-Key": "r"})
        assert run.status_code == 401  # the read key does not write

    @pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
    def test_a_read_key_closes_the_docs_too(
        self, snapshot_service: WarmStartService, path: str
    ) -> None:
        """The document lists every route and parameter: it is a read like the others."""
        client = TestClient(create_app(snapshot_service, api_key="w", read_key="r"))
        for headers in [*WRONG_KEYS, {"X-API-Key": "w"}]:
            refused = client.get(path, headers=headers)
            assert refused.status_code == 401, (headers, refused.text)
            assert "Reading from this service needs an API key" in refused.json()["detail"]
        for headers in [{"X-API-Key": "r"}, {"Authorization": "Bearer r"}]:
            assert client.get(path, headers=headers).status_code == 200
        if path != "/openapi.json":  # the page loads the document it guards
            page = client.get(path, headers={"X-API-Key": "r"}).text
            assert "/openapi.json" in page
        assert client.get("/docs/oauth2-redirect").status_code == 404

    @pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc"])
    def test_without_a_read_key_the_docs_are_open(
        self, snapshot_app: TestClient, path: str
    ) -> None:
        assert snapshot_app.get(path).status_code == 200


# --- keys come before the body: no key is a 401 whatever was sent ---------------------------

VALID_RUN = json.dumps(TestKeys.RUN)
BODIES: dict[str, tuple[str, str]] = {
    # id: (raw body, content type)
    "empty": ("", "application/json"),
    "malformed_json": ('{"dataset": {"name": ', "application/json"),
    "not_json": ("lr=0.1", "application/x-www-form-urlencoded"),
    "wrong_content_type": (VALID_RUN, "text/plain"),
    "wrong_shape": ('{"runs": 3}', "application/json"),
    "valid": (VALID_RUN, "application/json"),
}
WRONG_KEYS = [
    {},
    {"X-API-Key": "wrong"},
    {"Authorization": "Bearer wrong"},
    {"Authorization": API_KEY},
]


def send(client: TestClient, path: str, body: str, headers: dict[str, str]) -> Any:
    content, content_type = BODIES[body]
    return client.post(path, content=content, headers={**headers, "Content-Type": content_type})


class TestKeysBeforeTheBody:
    @pytest.mark.parametrize("headers", WRONG_KEYS)
    @pytest.mark.parametrize("body", list(BODIES))
    def test_a_report_without_the_key_is_a_401_whatever_the_body(
        self, store_app: TestClient, body: str, headers: dict[str, str]
    ) -> None:
        response = send(store_app, "/v1/runs", body, headers)
        assert response.status_code == 401, response.text
        assert "Reporting runs needs an API key" in response.json()["detail"]
        assert store_app.get("/v1/health").json()["runs"] == 0

    @pytest.mark.parametrize("headers", [*WRONG_KEYS, KEY])
    @pytest.mark.parametrize("body", list(BODIES))
    def test_a_service_without_api_key_refuses_every_report_with_a_401(
        self, store_service: WarmStartService, body: str, headers: dict[str, str]
    ) -> None:
        response = send(TestClient(create_app(store_service)), "/v1/runs", body, headers)
        assert response.status_code == 401, response.text
        assert "disabled: start the service with --api-key" in response.json()["detail"]

    @pytest.mark.parametrize("body", [b for b in BODIES if b != "valid"])
    def test_with_the_key_a_bad_body_is_still_a_422(self, store_app: TestClient, body: str) -> None:
        response = send(store_app, "/v1/runs", body, KEY)
        assert response.status_code == 422, response.text
        assert all(e["loc"][0] == "body" and e["msg"] for e in response.json()["detail"])
        assert send(store_app, "/v1/runs", "valid", KEY).status_code == 201

    @pytest.mark.parametrize("body", list(BODIES))
    @pytest.mark.parametrize("path", ["/v1/warmstart", "/v1/search-space"])
    def test_a_read_key_comes_before_the_body_too(
        self, snapshot_service: WarmStartService, path: str, body: str
    ) -> None:
        client = TestClient(create_app(snapshot_service, api_key="w", read_key="r"))
        for headers in [*WRONG_KEYS, {"X-API-Key": "w"}]:
            response = send(client, path, body, headers)
            assert response.status_code == 401, (headers, response.text)
            assert "Reading from this service needs an API key" in response.json()["detail"]
        assert send(client, path, body, {"Authorization": "Bearer r"}).status_code == 422

    def test_the_size_limit_comes_first_with_or_without_the_key(
        self, store_service: WarmStartService
    ) -> None:
        """A 413 reveals nothing about the body's shape; it spares reading a large one."""
        client = TestClient(create_app(store_service, api_key=API_KEY, max_body_bytes=2048))
        big = {**TestKeys.RUN, "runs": TestKeys.RUN["runs"] * 100}
        assert client.post("/v1/runs", json=big).status_code == 413
        assert client.post("/v1/runs", json=big, headers=KEY).status_code == 413
        assert client.post("/v1/runs", json=TestKeys.RUN).status_code == 401

    def test_the_openapi_document_still_describes_the_body(self, store_app: TestClient) -> None:
        runs = store_app.get("/openapi.json").json()["paths"]["/v1/runs"]["post"]
        schema = runs["requestBody"]["content"]["application/json"]["schema"]
        assert runs["requestBody"]["required"] is True
        assert schema == {"$ref": "#/components/schemas/RunsRequest"}
        assert runs["security"] == [{"ApiKey": []}, {"Bearer": []}]
        assert {"401", "422", "201"} <= set(runs["responses"])


# --- reporting runs: stored, then served ----------------------------------------------------

SMALL = {"NumberOfInstances": 100.0, "NumberOfFeatures": 4.0, "NumberOfClasses": 2.0}
BIG = {"NumberOfInstances": 50_000.0, "NumberOfFeatures": 300.0, "NumberOfClasses": 10.0}
CLIENT_SPACE = space(
    {"name": "learning_rate", "type": "float", "low": 1e-4, "high": 1.0, "log": True},
    {"name": "bs", "type": "int", "low": 8, "high": 256, "role": "batch_size"},
    {"name": "n_epochs", "type": "int", "low": 1, "high": 50},
)


def runs_of(lr: float, bs: int, finals: list[float], seed0: int = 0) -> list[dict[str, Any]]:
    """One run per seed of (lr, bs) with 3 epochs ending at each final score."""
    return [
        {
            "params": {"learning_rate": lr, "bs": bs, "n_epochs": 3, "momentum": 0.9},
            "scores": [final / 2, final * 0.9, final],
            "seed": seed0 + i,
            "seconds": 1.5,
        }
        for i, final in enumerate(finals)
    ]


def report(client: TestClient, name: str, runs: list[dict[str, Any]], **dataset: Any) -> Any:
    body = {
        "dataset": {"name": name, **dataset},
        "search_space": CLIENT_SPACE,
        "tuner": "optuna",
        "runs": runs,
    }
    return post(client, "/v1/runs", body, **KEY)


class TestReportRuns:
    def test_runs_are_stored_and_served_from_the_store(
        self, store_app: TestClient, store_service: WarmStartService
    ) -> None:
        good, bad = runs_of(0.01, 32, [0.9, 0.8]), runs_of(0.3, 128, [0.4], seed0=5)
        failed = [{"params": {"learning_rate": 1.0, "bs": 16}, "status": "diverged"}]
        answer = report(store_app, "toy:small", good + bad + failed, meta_features=SMALL)
        ids = answer["run_ids"]
        assert len(ids) == 4 == len(set(ids))
        assert (answer["dataset"], answer["candidate"]) == ("toy:small", True)
        assert report(store_app, "toy:big", runs_of(0.1, 64, [0.7]), meta_features=BIG)["candidate"]

        # in the meta-store: the runs, under tunegym's parameter names, with their scores
        store = store_service.store
        assert store is not None
        datasets = store.datasets()
        assert dict(zip(datasets["spec"], datasets["runs"], strict=True)) == {
            "toy:small": 4,
            "toy:big": 1,
        }
        assert set(store.meta_features().columns) == set(SMALL)
        with store.engine.connect() as connection:
            rows = connection.execute(
                select(Run.id, Run.seed, Run.total_seconds, Setup.params, Flow.name)
                .join(Setup, Setup.id == Run.setup_id)
                .join(Flow, Flow.id == Setup.flow_id)
                .where(Run.id.in_(ids))
                .order_by(Run.id)
            ).all()
            epochs = connection.execute(
                select(Evaluation.epoch, Evaluation.value).where(Evaluation.run_id == ids[0])
            ).all()
        assert [r.id for r in rows] == ids and [r.seed for r in rows] == [0, 1, 5, 0]
        assert rows[0].params == {"lr": 0.01, "batch_size": 32, "max_epochs": 3, "momentum": 0.9}
        assert {r.name for r in rows} == {"external.optuna"} and rows[0].total_seconds == 1.5
        assert sorted(epochs, key=lambda e: (e.epoch is None, e.epoch)) == [
            (1, 0.45),
            (2, pytest.approx(0.81)),
            (3, 0.9),
            (None, 0.9),
        ]

        health = store_app.get("/v1/health").json()
        assert (health["datasets"], health["configurations"], health["writes_enabled"]) == (
            2,
            3,
            True,
        )
        assert health["store_reachable"] is True and health["store"].startswith("sqlite:///")

        # served on request: the best reported configuration, in the client's names, with its
        # run ids
        served = post(
            store_app,
            "/v1/warmstart",
            {
                "dataset": {"name": "toy:small"},
                "search_space": CLIENT_SPACE,
                "k": 3,
                "include_reported": True,
            },
        )
        assert [n["dataset"] for n in served["neighbors"]] == ["toy:small", "toy:big"]
        best, second, third = served["configurations"]
        assert best["params"] == {"learning_rate": 0.01, "bs": 32, "n_epochs": 3}
        assert best["provenance"]["source"] == "reported"
        assert best["provenance"]["run_ids"] == ids[:2] and best["provenance"]["seeds"] == [0, 1]
        assert best["score"] == pytest.approx(0.85) and best["expected_score"] == 1.0
        assert second["provenance"]["dataset"] == "toy:big"
        assert third["params"]["learning_rate"] == 0.3 and third["expected_score"] == 0.0
        assert "1.0" not in json.dumps([c["params"] for c in served["configurations"]])

        others = post(
            store_app,
            "/v1/warmstart",
            {
                "dataset": {"meta_features": SMALL, "name": "toy:small"},
                "search_space": CLIENT_SPACE,
                "include_self": False,
                "include_reported": True,
            },
        )
        assert {c["provenance"]["dataset"] for c in others["configurations"]} == {"toy:big"}

    def test_more_runs_of_a_config_merge_and_qualities_make_a_candidate(
        self, store_app: TestClient
    ) -> None:
        report(store_app, "toy:big", runs_of(0.1, 64, [0.7]), meta_features=BIG)
        first = report(store_app, "toy:small", runs_of(0.01, 32, [0.9]))
        assert first["candidate"] is False  # no qualities yet: not a neighbour
        request = {
            "dataset": {"meta_features": SMALL},
            "search_space": CLIENT_SPACE,
            "neighbors": 5,
            "include_reported": True,
        }
        before = post(store_app, "/v1/warmstart", request)
        assert [n["dataset"] for n in before["neighbors"]] == ["toy:big"]
        second = report(
            store_app, "toy:small", runs_of(0.01, 32, [0.7], seed0=1), meta_features=SMALL
        )
        assert second["candidate"] is True
        after = post(store_app, "/v1/warmstart", request)
        assert after["neighbors"][0]["dataset"] == "toy:small"
        merged = after["configurations"][0]["provenance"]
        assert merged["run_ids"] == first["run_ids"] + second["run_ids"]
        assert merged["seeds"] == [0, 1] and after["configurations"][0]["score"] == pytest.approx(
            0.8
        )

    def test_a_fresh_service_on_the_store_serves_the_same(
        self, store_app: TestClient, store_service: WarmStartService
    ) -> None:
        report(store_app, "toy:small", runs_of(0.01, 32, [0.9, 0.8]), meta_features=SMALL)
        report(store_app, "toy:big", runs_of(0.1, 64, [0.7]), meta_features=BIG)
        request = {
            "dataset": {"name": "toy:small"},
            "search_space": CLIENT_SPACE,
            "k": 2,
            "include_reported": True,
        }
        assert store_service.store is not None
        again = TestClient(create_app(WarmStartService.open(store_service.store, snapshot=False)))
        served = post(store_app, "/v1/warmstart", request)
        assert len(served["configurations"]) == 2
        assert post(again, "/v1/warmstart", request) == served

    def test_runs_of_a_snapshot_dataset_pool_with_its_config_on_request(
        self, tmp_path: Path
    ) -> None:
        service = WarmStartService.open(store=tmp_path / "both.sqlite")
        client = TestClient(create_app(service, api_key=API_KEY))
        iris = service.index.get("sklearn:iris")
        assert iris is not None
        top = iris.configs[0]
        runs = [
            {"params": {"lr": top.lr, "batch_size": top.batch_size}, "scores": [1.0], "seed": 7}
        ]
        answer = post(
            client, "/v1/runs", {"dataset": {"openml_did": IRIS_DID}, "runs": runs}, **KEY
        )
        assert answer["dataset"] == "sklearn:iris" and answer["candidate"] is True
        curated = warm(client, k=1, search_space=space(LR, BATCH))["configurations"][0]
        assert curated["provenance"]["source"] == "snapshot"
        assert curated["score"] == pytest.approx(top.best)
        pooled = warm(client, k=1, search_space=space(LR, BATCH), include_reported=True)
        served = pooled["configurations"][0]
        assert served["params"] == {"lr": top.lr, "batch_size": top.batch_size}
        assert served["provenance"]["source"] == "reported"
        assert served["provenance"]["run_ids"] == answer["run_ids"]
        assert served["provenance"]["seeds"] == sorted({*top.seeds, 7})
        assert client.get("/v1/health").json()["datasets"] == 144
        assert service.store is not None
        service.store.close()

    def test_a_name_and_id_of_two_stored_datasets_is_a_4xx(self, lenient: TestClient) -> None:
        run = [{"params": {"lr": 0.1, "batch_size": 16}, "final_score": 0.5}]
        for dataset in [{"name": "toy:p", "openml_did": 5}, {"name": "toy:q", "openml_did": 6}]:
            assert (
                lenient.post(
                    "/v1/runs", json={"dataset": dataset, "runs": run}, headers=KEY
                ).status_code
                == 201
            )
        clash = {"dataset": {"name": "toy:p", "openml_did": 6}, "runs": run}
        response = lenient.post("/v1/runs", json=clash, headers=KEY)
        assert 400 <= response.status_code < 500, response.text


@pytest.mark.parametrize("name", ["openml:61", "keel:iris"])
def test_a_name_with_a_known_openml_id_is_found(snapshot_app: TestClient, name: str) -> None:
    by_name = snapshot_app.post(
        "/v1/warmstart", json={"dataset": {"name": name}, "search_space": FULL_SPACE}
    )
    assert by_name.status_code == 200, by_name.text
    assert by_name.json() == warm(snapshot_app, dataset={"openml_did": IRIS_DID})


def test_warm_start_on_an_empty_neighbourhood(store_app: TestClient) -> None:
    """Nothing to serve is an answer (no configurations, no box), not an error."""
    report(store_app, "toy:small", runs_of(0.01, 32, [0.9]), meta_features=SMALL)
    body = {
        "dataset": {"name": "toy:small"},
        "search_space": CLIENT_SPACE,
        "include_self": False,
        "include_reported": True,
    }
    answer = post(store_app, "/v1/warmstart", body)
    assert (answer["configurations"], answer["neighbors"]) == ([], [])
    boxless = post(store_app, "/v1/search-space", body)
    SearchSpaceOut.model_validate(boxless)  # "box" may be left out: not a required field
    assert (boxless["narrowed"], boxless["neighbors"], boxless.get("box")) == ([], [], None)
    assert boxless["search_space"] == normalised(CLIENT_SPACE)
