"""`tunegym.parallel`: where work runs (this process, spawned processes, Ray), one contract for
every executor, and the collection and the benchmark giving the same results wherever they run."""

from __future__ import annotations

import dataclasses
import doctest
import importlib.util
import json
import os
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from concurrent.futures.process import BrokenProcessPool
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from tests._jobs import die, environment, sleep_then_mark, square_unless_three
from tests.bench.test_v2 import toy_table
from tunegym import parallel
from tunegym.bench import BenchPlan, run_suite
from tunegym.cli import app
from tunegym.envs import SearchSpace, collect
from tunegym.errors import MissingExtraError
from tunegym.metastore import MetaStore
from tunegym.parallel import Workers, as_completed_results, executor, is_worker_failure
from tunegym.space import LCBENCH_SPACE

KINDS = ("inline", "processes", "ray")


@pytest.fixture
def no_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """Ray looks uninstalled: ``Workers(n > 1)`` spawns processes."""
    monkeypatch.setattr(parallel, "ray_available", lambda: False)


def _workers(kind: str, request: pytest.FixtureRequest) -> Workers:
    """``Workers`` of ``kind``: processes with Ray hidden, Ray tasks on the session's Ray."""
    if kind == "processes":
        request.getfixturevalue("no_ray")
    if kind == "ray":
        request.getfixturevalue("ray_local")
    workers = Workers(1 if kind == "inline" else 2, threads=2)
    assert workers.kind == kind
    return workers


@pytest.fixture(params=KINDS)
def pool(request: pytest.FixtureRequest) -> Iterator[Executor]:
    with executor(_workers(request.param, request), env={"PYTHONHASHSEED": "7"}) as ex:
        yield ex


def test_where_work_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Workers().kind == "inline" and Workers().describe() == "in this process"
    assert Workers(1, "auto").kind == "ray"  # an address always means Ray
    monkeypatch.setattr(parallel, "ray_available", lambda: True)
    assert Workers(2).kind == "ray" and Workers(2).describe() == "on a local Ray (2 CPUs)"
    assert Workers(3, "local").describe() == "on a local Ray (3 CPUs)"
    cluster = Workers(8, "ray://head:10001")
    assert not cluster.starts_ray
    assert cluster.describe() == "on the Ray cluster at ray://head:10001"
    monkeypatch.setenv("RAY_ADDRESS", "head:6379")
    assert Workers(2, "auto").describe() == "on the Ray cluster at head:6379"
    monkeypatch.setattr(parallel, "ray_available", lambda: False)
    assert Workers(2).kind == "processes" and Workers(2).describe() == "in 2 processes"
    assert Workers(2, "head:6379").kind == "ray"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"n": 0}, "workers must be a whole number >= 1, got 0"),
        ({"n": 2.5}, "got 2.5"),
        ({"threads": 0}, "threads must be a whole number >= 1, got 0"),
        ({"ray_address": " "}, "ray_address is empty"),
    ],
)
def test_workers_reject_bad_values(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Workers(**arguments)


def test_every_executor_gives_results_and_job_errors_alike(pool: Executor) -> None:
    results = dict(as_completed_results(pool, square_unless_three, range(6)))
    failure = results.pop(3)
    assert results == {0: 0, 1: 1, 2: 4, 4: 16, 5: 25}
    assert type(failure) is ValueError  # the job's own exception, not a wrapper of it
    assert str(failure) == "three is not welcome, got 3"
    future = pool.submit(square_unless_three, 3)
    assert type(future.exception()) is ValueError
    assert pool.submit(square_unless_three, 4).result() == 16


def test_workers_get_their_threads_and_environment(pool: Executor) -> None:
    seen = pool.submit(environment, None).result()
    if isinstance(pool, parallel.InlineExecutor):  # this process keeps its own settings
        assert seen == (os.environ.get("PYTHONHASHSEED"), 1)
    else:
        assert seen == ("7", 2)


def test_processes_environment_is_put_back(no_ray: None) -> None:
    before = os.environ.get("PYTHONHASHSEED")
    with executor(Workers(2), env={"PYTHONHASHSEED": "7"}) as pool:
        assert pool.submit(environment, None).result()[0] == "7"
    assert os.environ.get("PYTHONHASHSEED") == before


@pytest.mark.parametrize("kind", KINDS)
def test_closing_the_results_cancels_the_rest(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    jobs = [(0.0, str(tmp_path / "0"))] + [(0.5, str(tmp_path / f"{i}")) for i in range(1, 16)]
    with executor(_workers(kind, request)) as pool:
        with closing(as_completed_results(pool, sleep_then_mark, jobs)) as results:
            job, seconds = next(results)
        assert job == jobs[0] and seconds == 0.0
    time.sleep(1.0)  # Ray's cancelled tasks are stopped, not waited for
    # Ray stops its running tasks; a process pool finishes the running ones and those it has
    # queued for its workers already (up to n + 1), and cancels the rest.
    ran_on = {"inline": 0, "processes": 5, "ray": 2}[kind]
    assert 1 <= len(list(tmp_path.iterdir())) <= 1 + ran_on


def test_a_dead_process_is_raised_not_yielded(no_ray: None) -> None:
    with executor(Workers(2)) as pool, pytest.raises(BrokenProcessPool):
        list(as_completed_results(pool, die, range(3)))
    assert is_worker_failure(BrokenProcessPool("gone"))
    assert not is_worker_failure(ValueError("a job's failure"))


def test_a_dead_ray_worker_is_raised_not_yielded(ray_local: None) -> None:
    from ray.exceptions import WorkerCrashedError

    with executor(Workers(2)) as pool, pytest.raises(WorkerCrashedError):
        list(as_completed_results(pool, die, range(2)))


def test_ray_without_the_extra_names_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(MissingExtraError, match=r"pip install -e '.*\[ray\]'"):  # noqa: SIM117
        with executor(Workers(2, "ray://head:10001")):
            pass


@pytest.fixture
def fresh_ray(monkeypatch: pytest.MonkeyPatch) -> None:
    """No Ray session held (the suite's own, if started, is hidden): addresses get connected."""
    ray = pytest.importorskip("ray")
    monkeypatch.setattr(ray, "is_initialized", lambda: False)


def test_an_unreachable_address_fails_fast_in_one_line(fresh_ray: None) -> None:
    started = time.perf_counter()
    with pytest.raises(ConnectionError) as raised:  # noqa: SIM117
        with executor(Workers(2, "ray://127.0.0.1:1")):
            pass
    message = str(raised.value)
    assert message.startswith("Cannot reach the Ray cluster at 'ray://127.0.0.1:1'")
    assert "\n" not in message and "ray start --head" in message
    assert time.perf_counter() - started < 10
    with pytest.raises(ValueError, match="HOST:PORT"):
        Workers(2, "head:port")


# -- the collection and the benchmark, wherever they run ---------------------------------------

GRID = SearchSpace(lrs=(1e-2, 1e20), batch_sizes=(16, 64), max_epochs=2)  # 1e20 diverges
SAMPLE = SearchSpace.sampled(LCBENCH_SPACE, 3, seed=0, max_epochs=2, k_choices=(1,))


def _curves(workers: Workers | int, space: SearchSpace, path: Path) -> dict[str, pd.DataFrame]:
    with MetaStore(path) as store:
        summary = collect(["sklearn:iris", "sklearn:wine"], space, (0, 1), store=store,
                          workers=workers, meta_features=False)  # fmt: skip
        assert summary.failures == () and summary.runs_logged == 2 * 2 * space.n_configs
        return {
            spec: store.curves(spec).drop(columns="seconds").reset_index(drop=True)
            for spec in ("sklearn:iris", "sklearn:wine")
        }


@pytest.mark.parametrize("space", [GRID, SAMPLE], ids=["grid", "lcbench-sample"])
def test_collection_on_ray_stores_what_one_process_stores(
    space: SearchSpace, tmp_path: Path, ray_local: None
) -> None:
    alone = _curves(1, space, tmp_path / "alone.sqlite")
    on_ray = _curves(Workers(2, threads=1), space, tmp_path / "ray.sqlite")
    assert sorted(alone) == sorted(on_ray)
    for spec, frame in alone.items():
        pd.testing.assert_frame_equal(frame, on_ray[spec], check_like=True)


def test_the_benchmark_on_ray_gives_the_frame_of_one_process(
    tmp_path: Path, ray_local: None
) -> None:
    path = tmp_path / "curves.csv"
    toy_table(n_configs=12, datasets=3).to_csv(path, index=False)
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"format": "tunegym.split", "datasets": [
        {"dataset": f"toy{d}", "family": f"fam{d}", "part": p}
        for d, p in enumerate(["meta-train", "meta-test", "meta-test"])
    ]}))  # fmt: skip
    plan = BenchPlan(suite=str(path), peers=("random", "hyperband", "fixed-script"),
                     budgets=(30,), seeds=2, split=str(split), workers=1)  # fmt: skip
    alone = run_suite(plan)
    on_ray = run_suite(dataclasses.replace(plan, workers=2))
    assert on_ray.attrs["bench"]["where"] == "on a local Ray (2 CPUs)"
    columns = [c for c in alone.columns if c != "decision_seconds"]  # the tuners' wall time
    pd.testing.assert_frame_equal(alone[columns], on_ray[columns])
    with pytest.raises(ValueError, match="ray_address is empty"):
        BenchPlan(ray_address="")


def test_the_commands_take_a_ray_address(tmp_path: Path, fresh_ray: None) -> None:
    runner = CliRunner()
    for command in ("collect", "bench"):
        result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0 and "--ray-address" in result.output
    args = ["collect", "--datasets", "sklearn:iris", "--seeds", "0", "--lrs", "1e-2",
            "--batch-sizes", "32", "--max-epochs", "1", "--store", str(tmp_path / "ms.sqlite"),
            "--no-meta-features", "--ray-address", "ray://127.0.0.1:1"]  # fmt: skip
    result = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 2
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Cannot reach the Ray cluster at 'ray://127.0.0.1:1'" in errors[0]
    assert "Traceback" not in result.output
    toy_table(n_configs=12, datasets=2).to_csv(tmp_path / "curves.csv", index=False)
    args = ["bench", "--suite", str(tmp_path / "curves.csv"), "--quick", "--peer", "random",
            "--out", str(tmp_path / "out"), "--doc", str(tmp_path / "B.md"),
            "--figures", str(tmp_path / "fig"), "--ray-address", "ray://127.0.0.1:1"]  # fmt: skip
    result = runner.invoke(app, args, env={"COLUMNS": "400"})
    assert result.exit_code == 2
    assert "error: Cannot reach the Ray cluster at 'ray://127.0.0.1:1'" in result.output
    assert not (tmp_path / "B.md").exists()


def test_the_speedup_script_runs_on_a_tiny_budget(tmp_path: Path, ray_local: None) -> None:
    path = Path(__file__).parents[1] / "experiments" / "parallel_speedup.py"
    spec = importlib.util.spec_from_file_location("parallel_speedup", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    sys.modules["parallel_speedup"] = script  # dataclasses look their module up
    try:
        spec.loader.exec_module(script)
        args = script.parse_args(["--datasets", "sklearn:iris", "--n-configs", "2", "--seeds", "0",
                                  "--max-epochs", "2", "--setups", "inline", "ray-warm",
                                  "--tasks", "10", "--round-trips", "3",
                                  "--out-dir", str(tmp_path)])  # fmt: skip
        rows = script.run(args)
    finally:
        del sys.modules["parallel_speedup"]
    measured = {(row.measure, row.setup) for row in rows}
    assert measured == {(m, s) for m in ("tasks", "round-trips") for s in ("inline", "ray")} | {
        ("collect", "inline"),
        ("collect", "ray-warm"),
    }
    assert len(pd.read_csv(tmp_path / "parallel_speedup.csv")) == len(rows)
    assert json.loads((tmp_path / "parallel_speedup.json").read_text())["args"]["n_configs"] == 2
    with pytest.raises(ValueError, match="Unknown setups"):
        script.parse_args(["--setups", "threads"])


def test_the_examples_run() -> None:
    result = doctest.testmod(parallel)
    assert result.attempted >= 4 and result.failed == 0
