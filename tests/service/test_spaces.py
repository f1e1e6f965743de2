"""The service speaks any search space: LCBench's from meta-dataset v2, the grid's from v1.

A small v2 snapshot is trained here (`tests.service._lcbench`), so that what is checked does
not depend on whether, or with what, the shipped v2 snapshot is installed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

import tunegym.service._index as index_module
from tests.service._lcbench import DATASETS, NAMES, build_lcbench_snapshot, stored_configs
from tests.service.conftest import API_KEY, FULL_SPACE, space
from tunegym.metastore import SNAPSHOT_DIR, snapshot_stats
from tunegym.service import (
    Parameter,
    SearchSpaceRequest,
    SearchSpaceSpec,
    WarmStartIndex,
    WarmStartRequest,
    WarmStartService,
    create_app,
)
from tunegym.service._space import widened
from tunegym.service._tables import GRID_SPACE, LCBENCH_KEY, config_table
from tunegym.space import LCBENCH_SPACE

LCBENCH = SearchSpaceSpec.from_space(LCBENCH_SPACE).model_dump(exclude_none=True)
TARGET = {"name": "keel:german"}  # in v1 only: its neighbours in v2 are the three datasets


@pytest.fixture(scope="module")
def v2_snapshot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_lcbench_snapshot(tmp_path_factory.mktemp("lcbench"))


@pytest.fixture(scope="module")
def both(v2_snapshot: Path) -> WarmStartService:
    """Meta-dataset v1 (shipped) and the small v2, read-only."""
    return WarmStartService.open(store=None, snapshot=[SNAPSHOT_DIR, v2_snapshot])


@pytest.fixture(scope="module")
def v1() -> WarmStartService:
    """Meta-dataset v1 alone, read-only: what the service answered before v2."""
    return WarmStartService.open(store=None, snapshot=SNAPSHOT_DIR)


@pytest.fixture(scope="module")
def app(both: WarmStartService) -> TestClient:
    return TestClient(create_app(both))


def warm(client: TestClient, search_space: dict[str, Any], **body: Any) -> Any:
    response = client.post(
        "/v1/warmstart", json={"dataset": TARGET, "search_space": search_space, **body}
    )
    assert response.status_code == 200, response.text
    return response.json()


def as_config(params: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(params.items()))


class TestIndex:
    def test_both_meta_datasets_are_held_apart(self, both: WarmStartService) -> None:
        spaces = {s.name: s for s in both.index.spaces()}
        assert set(spaces) == {"lr-bs", "lcbench"}
        v1, v2 = spaces["lr-bs"], spaces["lcbench"]
        assert (v1.hyperparameters, v1.meta_datasets, v1.candidates) == (GRID_SPACE, ("v1",), 144)
        assert (v2.hyperparameters, v2.meta_datasets, v2.candidates) == (
            LCBENCH_KEY,
            ("snapshot",),
            3,
        )
        assert LCBENCH_KEY == NAMES
        assert v2.flows == ("tunegym.mlp(activation=relu,kind=funnel)",)
        assert v1.flows and "funnel" not in v1.flows[0]
        iris = both.index.get("sklearn:iris")
        assert iris is not None and set(iris.tables) == {GRID_SPACE, LCBENCH_KEY}
        assert len(iris.table(LCBENCH_KEY)) == 3 and len(iris.configs) == 78  # v1's grid kept
        assert both.health().spaces == ["lr-bs", "lcbench"]

    def test_v2_configurations_keep_all_seven_values(
        self, both: WarmStartService, v2_snapshot: Path
    ) -> None:
        stored = stored_configs(v2_snapshot)
        for name in DATASETS:
            entry = both.index.get(name)
            assert entry is not None
            table = entry.table(LCBENCH_KEY)
            assert {c.identity for c in table} == stored
            for config in table:
                assert (config.lr, config.batch_size) == (
                    config.config["learning_rate"],
                    config.config["batch_size"],
                )
                assert all(isinstance(config.config[n], int) for n in ("max_units", "num_layers"))

    def test_configs_differing_off_the_grid_stay_apart(self) -> None:
        base = {"dataset": "a", "learning_rate": 0.1, "batch_size": 16, "seed": 0, "epoch": 1}
        rows = [{**base, "momentum": m, "val_accuracy": acc} for m, acc in [(0.5, 0.9), (0.9, 0.4)]]
        (table,) = config_table(pd.DataFrame(rows), "val_accuracy", "store").values()
        assert [c.config["momentum"] for c in table] == [0.5, 0.9]
        index = WarmStartIndex()
        index.update(
            "a", None, {"NumberOfInstances": 10.0}, pd.DataFrame(rows).drop(columns="dataset")
        )
        entry = index.get("a")
        assert (
            entry is not None and len(entry.table(("batch_size", "learning_rate", "momentum"))) == 2
        )

    def test_open_loads_the_installed_v2_and_works_without_it(
        self, v2_snapshot: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(index_module, "LCBENCH_SNAPSHOT_DIR", v2_snapshot)
        installed = WarmStartService.open(store=None)
        assert [(s.name, s.meta_datasets) for s in installed.index.spaces()] == [
            ("lr-bs", ("v1",)),
            ("lcbench", ("v2",)),
        ]
        monkeypatch.setattr(index_module, "LCBENCH_SNAPSHOT_DIR", tmp_path / "not-installed")
        alone = WarmStartService.open(store=None)
        assert [s.name for s in alone.index.spaces()] == ["lr-bs"]
        assert alone.health().datasets == snapshot_stats().datasets
        answer = alone.warm_start(
            WarmStartRequest.model_validate({"dataset": TARGET, "search_space": LCBENCH, "k": 2})
        )
        assert answer.source_space is not None and answer.source_space.name == "lr-bs"
        assert answer.unmapped == [
            "max_dropout",
            "max_units",
            "momentum",
            "num_layers",
            "weight_decay",
        ]


class TestWarmStart:
    def test_lcbench_names_get_stored_v2_configurations(
        self, app: TestClient, v2_snapshot: Path
    ) -> None:
        answer = warm(app, LCBENCH, k=8, neighbors=5)
        configs = answer["configurations"]
        assert len(configs) == 3  # the three stored configurations, each served once
        stored = stored_configs(v2_snapshot)
        for config in configs:
            assert as_config(config["params"]) in stored  # exactly, every value
            assert config["provenance"]["config"] == config["params"]
            assert config["provenance"]["dataset"] in DATASETS and config["clipped"] == []
        assert {n["dataset"] for n in answer["neighbors"]} == set(DATASETS)
        assert answer["unmapped"] == []
        source = answer["source_space"]
        assert (source["name"], source["meta_datasets"], source["hyperparameters"]) == (
            "lcbench",
            ["snapshot"],
            list(NAMES),
        )
        assert source["mapped"] == {n: n for n in LCBENCH_SPACE.names}

    def test_values_are_mapped_into_the_clients_ranges(
        self, both: WarmStartService, v2_snapshot: Path
    ) -> None:
        narrow = {
            "parameters": [
                {"name": "learning_rate", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
                {"name": "momentum", "type": "float", "low": 0.0, "high": 0.5},
                {"name": "num_layers", "type": "categorical", "choices": [1, 3]},
                {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5},
            ]
        }
        answer = both.warm_start(
            WarmStartRequest.model_validate({"dataset": TARGET, "search_space": narrow, "k": 8})
        )
        assert answer.source_space is not None and answer.source_space.name == "lcbench"
        assert answer.unmapped == ["dropout"]
        for config in answer.configurations:
            stored = config.provenance.config
            assert stored is not None
            assert config.params["learning_rate"] == stored["learning_rate"]
            assert config.params["momentum"] == min(stored["momentum"], 0.5)
            assert ("momentum" in config.clipped) == (stored["momentum"] > 0.5)
            # the nearest choice on a log scale: 1 for one layer, 3 for two or more
            assert config.params["num_layers"] == (1 if stored["num_layers"] == 1 else 3)

    def test_a_learning_rate_and_batch_size_client_still_gets_v1(
        self, both: WarmStartService, v1: WarmStartService
    ) -> None:
        stats = snapshot_stats()
        grid_names = space(
            {"name": "learning_rate", "type": "float", "low": 1e-4, "high": 0.1, "log": True},
            {"name": "batch_size", "type": "int", "low": 16, "high": 512, "log": True},
        )
        for search_space in (FULL_SPACE, grid_names):
            request = WarmStartRequest.model_validate(
                {"dataset": TARGET, "search_space": search_space, "k": 12}
            )
            answer = both.warm_start(request)
            assert answer == v1.warm_start(request)  # as if v2 were not there
            assert answer.source_space is not None
            assert (answer.source_space.name, answer.source_space.meta_datasets) == (
                "lr-bs",
                ["v1"],
            )
            for config in answer.configurations:
                assert set(config.provenance.config or {}) == {"learning_rate", "batch_size"}
                assert config.provenance.learning_rate in stats.lrs
                assert config.provenance.batch_size in stats.batch_sizes

    def test_never_a_mix_of_the_two_meta_datasets(self, both: WarmStartService) -> None:
        """One LCBench name more than the grid has is enough for v2, and then only v2."""
        some = space(
            {"name": "lr", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
            {"name": "batch_size", "type": "int", "low": 16, "high": 512, "log": True},
            {"name": "momentum", "type": "float", "low": 0.0, "high": 1.0},
        )
        answer = both.warm_start(
            WarmStartRequest.model_validate({"dataset": TARGET, "search_space": some, "k": 20})
        )
        assert answer.source_space is not None and answer.source_space.name == "lcbench"
        assert answer.source_space.mapped == {
            "lr": "learning_rate",
            "batch_size": "batch_size",
            "momentum": "momentum",
        }
        assert answer.configurations
        assert {c.provenance.dataset for c in answer.configurations} <= set(DATASETS)
        assert all(set(c.provenance.config or {}) == set(NAMES) for c in answer.configurations)

    def test_a_space_of_names_only_is_served_from_v2(
        self, both: WarmStartService, v2_snapshot: Path
    ) -> None:
        names = space(
            {"name": "momentum", "type": "float", "low": 0.1, "high": 0.99},
            {"name": "weight_decay", "type": "float", "low": 1e-5, "high": 0.1},
            {"name": "beta1", "type": "float", "low": 0.0, "high": 1.0},
        )
        answer = both.warm_start(
            WarmStartRequest.model_validate({"dataset": TARGET, "search_space": names})
        )
        assert answer.source_space is not None and answer.source_space.name == "lcbench"
        assert answer.unmapped == ["beta1"] and len(answer.configurations) == 3
        stored = {
            (dict(c)["momentum"], dict(c)["weight_decay"]) for c in stored_configs(v2_snapshot)
        }
        assert {
            (c.params["momentum"], c.params["weight_decay"]) for c in answer.configurations
        } == stored

    def test_no_role_and_no_stored_name_is_a_400_naming_the_stored_ones(
        self, app: TestClient
    ) -> None:
        response = app.post(
            "/v1/warmstart",
            json={
                "dataset": TARGET,
                "search_space": space({"name": "beta1", "type": "float", "low": 0, "high": 1}),
            },
        )
        assert response.status_code == 400
        assert "None of the parameters ['beta1']" in response.json()["detail"]
        assert "momentum" in response.json()["detail"]

    def test_the_openapi_document_describes_the_source_space(self, app: TestClient) -> None:
        schemas = app.get("/openapi.json").json()["components"]["schemas"]
        assert "source_space" in schemas["WarmStartOut"]["properties"]
        assert "source_space" in schemas["SearchSpaceOut"]["properties"]
        assert set(schemas["SourceSpaceOut"]["properties"]) == {
            "name", "meta_datasets", "hyperparameters", "flows", "mapped",
        }  # fmt: skip
        assert "lcbench" in schemas["SourceSpaceOut"]["properties"]["name"]["description"]


def top_values(both: WarmStartService, neighbors: list[str], top: int, name: str) -> list[float]:
    values = []
    for dataset in neighbors:
        entry = both.index.get(dataset)
        assert entry is not None
        values += [float(c.config[name]) for c in entry.table(LCBENCH_KEY)[:top]]
    return values


WIDE = space(
    {"name": "learning_rate", "type": "float", "low": 1e-5, "high": 1.0, "log": True},
    {"name": "momentum", "type": "float", "low": 0.0, "high": 1.0},
    {"name": "weight_decay", "type": "float", "low": 0.0, "high": 0.2},
    {"name": "num_layers", "type": "int", "low": 1, "high": 8},
    {"name": "dropout", "type": "float", "low": 0.0, "high": 0.5},
)


class TestSearchSpace:
    def test_named_parameters_are_narrowed_to_the_box(self, both: WarmStartService) -> None:
        request = SearchSpaceRequest.model_validate(
            {"dataset": TARGET, "search_space": WIDE, "neighbors": 3, "top": 3}
        )
        answer = both.search_space(request)
        assert answer.source_space is not None and answer.source_space.name == "lcbench"
        assert answer.box is not None
        neighbors = [n.dataset for n in answer.neighbors]
        after = {p.name: p for p in answer.search_space.parameters}
        for name in ("momentum", "weight_decay"):
            values = top_values(both, neighbors, 3, name)
            box = answer.box.hyperparameters[name]
            assert (box.min, box.max) == (min(values), max(values))
            assert min(values) < max(values)  # three different configurations
            assert (after[name].low, after[name].high) == (box.min, box.max)
            assert name in answer.narrowed
        layers = top_values(both, neighbors, 3, "num_layers")
        assert after["num_layers"].low == min(layers) and after["num_layers"].high == max(layers)
        assert "dropout" not in answer.narrowed and after["dropout"] == Parameter.model_validate(
            WIDE["parameters"][4]
        )
        assert set(answer.box.hyperparameters) == {"momentum", "weight_decay", "num_layers"}

    def test_a_box_of_one_value_is_widened(self, both: WarmStartService) -> None:
        request = SearchSpaceRequest.model_validate(
            {"dataset": TARGET, "search_space": WIDE, "neighbors": 1, "top": 1}
        )
        answer = both.search_space(request)
        assert answer.box is not None and len(answer.neighbors) == 1
        after = {p.name: p for p in answer.search_space.parameters}
        (momentum,) = top_values(both, [answer.neighbors[0].dataset], 1, "momentum")
        box = answer.box.hyperparameters["momentum"]
        assert (box.min, box.max) == pytest.approx((momentum - 0.1, momentum + 0.1))
        assert after["momentum"].low == pytest.approx(max(0.0, momentum - 0.1))
        (layers,) = top_values(both, [answer.neighbors[0].dataset], 1, "num_layers")
        assert (after["num_layers"].low, after["num_layers"].high) == (
            max(1, layers - 1),
            min(8, layers + 1),
        )
        parameter = Parameter(name="max_units", type="int", low=64, high=1024, log=True)
        assert widened(parameter, 100) == pytest.approx((100 / math.sqrt(10), 100 * math.sqrt(10)))

    def test_the_grid_client_box_is_v1_s(
        self, both: WarmStartService, v1: WarmStartService
    ) -> None:
        request = SearchSpaceRequest.model_validate({"dataset": TARGET, "search_space": FULL_SPACE})
        answer = both.search_space(request)
        assert answer == v1.search_space(request)  # as if v2 were not there
        assert answer.source_space is not None and answer.source_space.name == "lr-bs"
        assert answer.box is not None and answer.box.hyperparameters == {}
        assert "lr" in answer.narrowed


def test_reported_lcbench_runs_join_lcbench_s_space(store_service: WarmStartService) -> None:
    """Runs reported with LCBench's names are served in its space, also after a restart."""
    config = {
        "learning_rate": 0.02, "batch_size": 64, "max_dropout": 0.25, "max_units": 256,
        "momentum": 0.8, "num_layers": 3, "weight_decay": 0.001,
    }  # fmt: skip
    features = {"NumberOfInstances": 500.0, "NumberOfFeatures": 8.0, "NumberOfClasses": 2.0}
    with TestClient(create_app(store_service, api_key=API_KEY)) as client:
        report = {
            "dataset": {"name": "toy:lc", "meta_features": features},
            "tuner": "mine",
            "runs": [
                {"params": config, "scores": [0.6, 0.7], "seed": 0},
                {
                    "params": {"learning_rate": 0.1, "batch_size": 32, "momentum": 0.5},
                    "scores": [0.5],
                },
            ],
        }
        response = client.post("/v1/runs", json=report, headers={"X-API-Key": API_KEY})
        assert response.status_code == 201, response.text
        body = {
            "dataset": {"meta_features": features},
            "search_space": LCBENCH,
            "include_reported": True,
        }
        answer = client.post("/v1/warmstart", json=body).json()
    (served,) = answer["configurations"]
    assert served["params"] == config and served["provenance"]["source"] == "reported"
    assert answer["source_space"]["name"] == "lcbench"
    assert answer["source_space"]["meta_datasets"] == ["reported"]
    assert answer["source_space"]["flows"] == ["external.mine"]
    # the run with a learning rate, a batch size and a momentum only is the grid's, as before
    spaces = {s.name: s.candidates for s in store_service.index.spaces(include_reported=True)}
    assert spaces == {"lr-bs": 1, "lcbench": 1}
    assert store_service.index.spaces() == []  # none of curated data
    assert store_service.store is not None
    again = WarmStartService.open(store_service.store, snapshot=False)
    restarted = again.warm_start(WarmStartRequest.model_validate(body))
    assert [c.params for c in restarted.configurations] == [config]
