"""The service latency benchmark runs end to end on a tiny budget against a started server."""

from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")
httpx = pytest.importorskip("httpx")

SCRIPT = Path(__file__).parents[1] / "experiments" / "bench_service.py"


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch):
    spec = importlib.util.spec_from_file_location("bench_service", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_request_bodies_describe_every_snapshot_dataset(bench) -> None:
    bodies = bench.request_bodies(k=8)
    assert len(bodies) == 144
    features = bodies[0]["dataset"]["meta_features"]
    assert "NumberOfInstances" in features
    assert not {"openml_did", "family", "part"} & features.keys()
    assert not any(name.startswith("tunegym.") for name in features)
    # Distinct datasets, but for the snapshot's twins (keel:wisconsin, keel:imbalanced/wisconsin).
    assert len({json.dumps(b, sort_keys=True) for b in bodies}) >= 140


def test_bench_runs_tiny(bench, tmp_path: Path) -> None:
    args = bench.parse_args(
        [
            "--rates", "20", "--duration", "1", "--warmup", "0.25", "--time-limit", "15",
            "--inprocess-requests", "20", "--csv-out", str(tmp_path / "latency.csv"),
            "--json-out", str(tmp_path / "latency.json"), "--figure", str(tmp_path / "fig.png"),
        ]
    )  # fmt: skip
    result = bench.run(args)
    (rate,) = result["rates"]
    assert rate["offered_rps"] == 20
    assert rate["n"] == 20
    assert rate["warmup_requests"] == 5
    assert rate["errors"] == 0
    assert rate["ok"] == 20
    assert 0 < rate["p50_ms"] <= rate["p90_ms"] <= rate["p99_ms"] <= rate["max_ms"]
    assert rate["achieved_rps"] > 10
    assert rate["generator_behind"] in (True, False)  # a busy CI machine may make it lag
    assert rate["server_cpu_ms_per_request"] is not None
    local = result["in_process"]
    assert local["warm_start_median_ms"] > 0
    assert local["handler_median_ms"] > 0
    assert "serve --no-store --host 127.0.0.1" in result["server"]["server_command"]
    with pytest.raises(httpx.TransportError):  # the started server was terminated
        httpx.get(result["server"]["url"] + "/v1/health", timeout=2)
    with open(tmp_path / "latency.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    assert len(rows) == 1
    assert rows[0]["errors"] == "0"
    assert rows[0]["cpu_count"]
    assert rows[0]["uvicorn"]
    assert json.loads((tmp_path / "latency.json").read_text())["rates"][0]["n"] == 20
    assert (tmp_path / "fig.png").stat().st_size > 0
    assert "p99 ms" in bench.format_table(result)
