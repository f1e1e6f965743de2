"""LCBench surrogate import: OpenML-shaped datasets, tasks, a flow, setups and surrogate runs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tunegym.cli import app
from tunegym.metastore import (
    Dataset,
    Evaluation,
    Flow,
    MetaStore,
    Run,
    Setup,
    Source,
    Task,
    import_lcbench,
)
from tunegym.metastore.importers import (
    LCBENCH_FAMILY,
    LCBENCH_FLOW_NAME,
    LCBENCH_MEASURES,
    LCBENCH_SPLIT,
    read_lcbench_curves,
)
from tunegym.surrogates import LCBENCH_HYPERPARAMETERS, LCBench, find_lcbench_dir

TASKS = (126025, 189905)  # adult, car
EVALS_PER_RUN = 52 * len(LCBENCH_MEASURES) + len(LCBENCH_MEASURES)  # per epoch, then final


@pytest.fixture(scope="module")
def bench() -> LCBench:
    try:
        folder = find_lcbench_dir()
    except FileNotFoundError as exc:
        pytest.skip(f"LCBench surrogate files not found: {exc}")
    return LCBench.open(folder)


@pytest.fixture
def memory_store() -> Iterator[MetaStore]:
    with MetaStore(":memory:") as opened:
        yield opened


def _frame(store: MetaStore, *columns: object) -> pd.DataFrame:
    with store.engine.connect() as connection:
        rows = [tuple(row) for row in connection.execute(select(*columns))]  # type: ignore[call-overload]
    return pd.DataFrame(rows, columns=range(len(columns)))


def test_import_is_idempotent_on_every_store(store: MetaStore, bench: LCBench) -> None:
    first = import_lcbench(store, bench, tasks=TASKS, n_configs=3, seed=0)
    assert (first.datasets, first.tasks, first.setups, first.runs) == (2, 2, 3, 6)
    assert (first.skipped_runs, first.evaluations) == (0, 6 * EVALS_PER_RUN)
    stats = store.stats()
    assert (stats.datasets, stats.tasks, stats.flows, stats.setups, stats.runs) == (2, 2, 1, 3, 6)
    assert stats.runs_by_source == {"surrogate": 6}
    assert stats.evaluations == 6 * EVALS_PER_RUN and stats.epochs == 6 * 52
    again = import_lcbench(store, bench, tasks=TASKS, n_configs=3, seed=0)
    assert (again.runs, again.skipped_runs, again.evaluations) == (0, 6, 0)
    assert store.stats() == stats
    # more configurations of the same draw add only the new ones
    more = import_lcbench(store, bench, tasks=TASKS, n_configs=5, seed=0)
    assert (more.runs, more.skipped_runs) == (4, 6)
    assert store.stats().runs == 10 and store.stats().setups == 5


def test_datasets_tasks_flow_and_setups(memory_store: MetaStore, bench: LCBench) -> None:
    configs = bench.sample_configs(2, seed=1)
    import_lcbench(memory_store, bench, tasks=["adult", 189905], configs=configs)
    datasets = memory_store.datasets()
    assert sorted(datasets["name"]) == ["adult", "car"]
    assert datasets["openml_did"].isna().all() and (datasets["source"] == "surrogate").all()
    tasks = _frame(memory_store, Task.openml_task_id, Task.key, Task.procedure)
    assert sorted(tasks[0]) == sorted(TASKS)
    assert set(tasks[1]) == {LCBENCH_SPLIT.key}
    (flow,) = _frame(
        memory_store, Flow.name, Flow.family, Flow.model_spec, Flow.search_space
    ).itertuples(index=False)
    assert flow[:2] == (LCBENCH_FLOW_NAME, LCBENCH_FAMILY)
    assert "YAHPO Gym LCBench surrogate" in flow[2]["name"]
    assert set(flow[2]["search_space"]) == set(LCBENCH_HYPERPARAMETERS)
    assert flow[2]["search_space"]["learning_rate"]["log"] is True
    assert flow[3] is None  # the lr x batch-size grid column is tunegym's own flows'
    params = sorted(_frame(memory_store, Setup.params)[0], key=lambda p: p["learning_rate"])
    expected = sorted(configs, key=lambda p: p["learning_rate"])
    for stored, config in zip(params, expected, strict=True):
        assert set(stored) == set(LCBENCH_HYPERPARAMETERS)
        assert isinstance(stored["batch_size"], int)
        for name in LCBENCH_HYPERPARAMETERS:
            assert stored[name] == pytest.approx(config[name], rel=1e-12)


def test_evaluations_are_the_surrogate_curves(memory_store: MetaStore, bench: LCBench) -> None:
    config = bench.sample_configs(1, seed=2)[0]
    import_lcbench(memory_store, bench, tasks=["car"], configs=[config])
    curve = bench.curves("car", [config])
    (run,) = _frame(
        memory_store, Run.id, Run.seed, Run.status, Run.source, Run.total_seconds
    ).itertuples(index=False)
    assert run[1:4] == (0, "ok", Source.SURROGATE)
    assert run[4] == pytest.approx(curve["time"].iloc[-1])
    rows = _frame(
        memory_store, Evaluation.measure, Evaluation.split, Evaluation.epoch, Evaluation.value,
        Evaluation.elapsed_seconds,
    )  # fmt: skip
    rows.columns = ["measure", "split", "epoch", "value", "seconds"]
    assert len(rows) == EVALS_PER_RUN
    for column, (measure, split) in LCBENCH_MEASURES.items():
        mine = rows[(rows["measure"] == measure) & (rows["split"] == split)]
        per_epoch = mine.dropna(subset=["epoch"]).sort_values("epoch")
        assert per_epoch["epoch"].tolist() == list(range(1, 53))
        np.testing.assert_allclose(per_epoch["value"], curve[column], rtol=1e-12)
        np.testing.assert_allclose(per_epoch["seconds"], curve["seconds"], rtol=1e-12)
        final = mine[mine["epoch"].isna()]
        assert final["value"].tolist() == pytest.approx([curve[column].iloc[-1]])
    names = {(m, str(s)) for m, s in LCBENCH_MEASURES.values()}
    assert names == {
        ("predictive_accuracy", "val"), ("unweighted_recall", "val"), ("cross_entropy", "val"),
        ("unweighted_recall", "test"), ("cross_entropy", "test"),
    }  # fmt: skip


def test_an_openml_task_already_stored_is_reused(memory_store: MetaStore, bench: LCBench) -> None:
    adult = memory_store.get_or_create_dataset("adult", openml_did=1590, source="openml")
    task = memory_store.get_or_create_task(adult, LCBENCH_SPLIT, openml_task_id=126025)
    import_lcbench(memory_store, bench, tasks=[126025], n_configs=2)
    assert memory_store.stats().datasets == 1
    assert set(_frame(memory_store, Run.task_id)[0]) == {task.id}
    assert _frame(memory_store, Dataset.source)[0].tolist() == ["openml"]


def test_bad_input_writes_nothing(memory_store: MetaStore, bench: LCBench) -> None:
    with pytest.raises(ValueError, match=r"Unknown LCBench task 'adlut'.*Did you mean 'adult'"):
        import_lcbench(memory_store, bench, tasks=["adult", "adlut"], n_configs=2)
    bad = {**bench.default_config(), "momentum": 2.0}
    with pytest.raises(ValueError, match=r"'momentum' must be in .*configs\[1\]"):
        import_lcbench(memory_store, bench, tasks=["adult"], configs=[bench.default_config(), bad])
    with pytest.raises(ValueError, match="configs or n_configs, not both"):
        import_lcbench(memory_store, bench, configs=[bench.default_config()], n_configs=1)
    with pytest.raises(TypeError, match=r"collection of tasks \(e.g. \['adult'\]\)"):
        import_lcbench(memory_store, bench, tasks="adult", n_configs=1)
    assert memory_store.stats().runs == 0 and memory_store.stats().datasets == 0


def test_repeated_configs_are_one_run(memory_store: MetaStore, bench: LCBench) -> None:
    config = bench.default_config()
    summary = import_lcbench(memory_store, bench, tasks=["kc1"], configs=[config, dict(config)])
    assert (summary.setups, summary.runs) == (1, 1)


def test_read_lcbench_curves_batches_per_task(bench: LCBench) -> None:
    configs = bench.sample_configs(3, seed=4)
    curves = list(read_lcbench_curves(bench, configs, tasks=["car", "kc1"]))
    assert [(c.task, c.task_name) for c in curves] == [(189905, "car")] * 3 + [(167181, "kc1")] * 3
    alone = bench.curves("kc1", [configs[1]])
    assert curves[4].total_seconds == pytest.approx(alone["time"].iloc[-1], rel=1e-6)
    assert curves[4].params["max_units"] == configs[1]["max_units"]


runner = CliRunner()


def test_cli_import_lcbench(tmp_path: Path, bench: LCBench) -> None:
    url = str(tmp_path / "ms.sqlite")
    args = ["metastore", "import", "lcbench", "--task", "adult", "--task", "189905"]
    result = runner.invoke(app, [*args, "--n-configs", "2", "--seed", "3", "--store", url])
    assert result.exit_code == 0, result.output
    assert "imported 4 surrogate runs (0 already stored" in " ".join(result.output.split())
    result = runner.invoke(app, [*args, "--n-configs", "2", "--seed", "3", "--store", url])
    assert "imported 0 surrogate runs (4 already stored" in " ".join(result.output.split())
    with MetaStore(url) as store:
        assert store.stats().runs_by_source == {"surrogate": 4}
    result = runner.invoke(
        app, ["metastore", "import", "lcbench", "--task", "adlut", "--store", url]
    )
    assert result.exit_code == 2
    assert "Did you mean 'adult'" in " ".join(result.output.split())
    help_text = runner.invoke(app, ["metastore", "import", "lcbench", "--help"])
    assert help_text.exit_code == 0 and "--n-configs" in help_text.output
