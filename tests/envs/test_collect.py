"""`collect`: the meta-dataset collection — resumable, idempotent, parallel, and its command."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tunegym import parallel
from tunegym.cli import app
from tunegym.data import load_dataset
from tunegym.envs import (
    CollectProgress,
    CollectUnit,
    SearchSpace,
    collect,
    completed_units,
    record_curves,
    resolve_datasets,
)
from tunegym.envs import _collect as collect_module
from tunegym.metastore import MetaStore, Run, load_snapshot, snapshot_stats
from tunegym.space import LCBENCH_SPACE

# 1e20 diverges in its first epoch: every unit holds a diverged run, kept and marked.
SPACE = SearchSpace(lrs=(1e-2, 1e20), batch_sizes=(16, 64), max_epochs=2)
SPECS = ["sklearn:iris", "sklearn:wine", "keel:haberman"]
SEEDS = (0, 1)
UNITS = len(SPECS) * len(SEEDS)


class Interrupted(Exception):
    """Raised by a progress callback to stop a collection mid-way."""


def _count_training(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[int, ...]]]:
    calls: list[tuple[str, tuple[int, ...]]] = []
    real = collect_module.record_curves

    def counting(dataset, space, seeds, **kwargs):  # type: ignore[no-untyped-def]
        calls.append((dataset.name, tuple(seeds)))
        return real(dataset, space, seeds, **kwargs)

    monkeypatch.setattr(collect_module, "record_curves", counting)
    return calls


def _content(store: MetaStore) -> dict[str, pd.DataFrame]:
    """Every dataset's curves (wall-clock seconds aside) and meta-features, comparable."""
    labels = store.datasets()["spec"]
    out = {
        str(s): store.curves(str(s)).drop(columns="seconds").reset_index(drop=True) for s in labels
    }
    out["meta-features"] = store.meta_features().set_axis(list(labels), axis=0)
    return out


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        pd.testing.assert_frame_equal(a[key], b[key], check_like=True)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    with MetaStore(tmp_path_factory.mktemp("full") / "ms.sqlite") as store:
        summary = collect(SPECS, SPACE, SEEDS, store=store)
        assert summary.units_trained == UNITS
        assert summary.runs_logged == UNITS * SPACE.n_configs
        return _content(store)


def test_interrupted_collection_resumes_without_redoing_or_duplicating(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    uninterrupted: dict[str, pd.DataFrame],
) -> None:
    calls = _count_training(monkeypatch)
    reports: list[CollectProgress] = []

    def stop_after_three(p: CollectProgress) -> None:
        reports.append(p)
        if p.units_done == 3:
            raise Interrupted

    with MetaStore(tmp_path / "ms.sqlite") as store:
        with pytest.raises(Interrupted):
            collect(SPECS, SPACE, SEEDS, store=store, progress=stop_after_three)
        assert len(calls) == 3
        assert store.stats().runs == 3 * SPACE.n_configs
        first = list(calls)

        summary = collect(SPECS, SPACE, SEEDS, store=store)
        assert (summary.units_skipped, summary.units_trained) == (3, UNITS - 3)
        assert len(calls) == UNITS
        assert not set(calls[3:]) & set(first)  # no finished unit trained again
        stats = store.stats()
        assert stats.runs == UNITS * SPACE.n_configs
        assert stats.runs_by_status["diverged"] == UNITS * len(SPACE.batch_sizes)  # lr=1e20
        _assert_same(_content(store), uninterrupted)

        again = collect(SPECS, SPACE, SEEDS, store=store)
        assert (again.units_trained, again.units_skipped, len(calls)) == (0, UNITS, UNITS)
        assert store.stats() == stats
    assert reports[0].unit is None and reports[0].units_total == UNITS
    assert [p.units_done for p in reports[1:]] == [1, 2, 3]
    assert reports[-1].configs_trained == 3 * SPACE.n_configs
    assert reports[-1].configs_per_second > 0 and reports[-1].eta_seconds is not None


_KILLED_RUN = """
import os, signal, sys
from tunegym.envs import SearchSpace, collect
from tunegym.metastore import MetaStore

def kill_after_two(p):
    if p.units_done == 2:  # no cleanup, no flush: SIGKILL
        os.kill(os.getpid(), signal.SIGKILL)

with MetaStore(sys.argv[1]) as store:
    collect({specs!r}, SearchSpace(lrs={lrs!r}, batch_sizes={bss!r}, max_epochs={epochs}),
            {seeds!r}, store=store, progress=kill_after_two)
"""


def test_killed_collection_resumes_in_parallel(
    tmp_path: Path, uninterrupted: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch
) -> None:
    # In processes, as where Ray is not installed (tests/test_parallel.py runs collect on Ray).
    monkeypatch.setattr(parallel, "ray_available", lambda: False)
    path = tmp_path / "ms.sqlite"
    code = _KILLED_RUN.format(
        specs=SPECS, lrs=SPACE.lrs, bss=SPACE.batch_sizes, epochs=SPACE.max_epochs, seeds=SEEDS
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2])}
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code), str(path)], env=env)
    assert done.returncode == -signal.SIGKILL
    with MetaStore(path) as store:
        assert store.stats().runs == 2 * SPACE.n_configs
        summary = collect(SPECS, SPACE, SEEDS, store=store, workers=2)
        assert (summary.units_skipped, summary.units_trained) == (2, UNITS - 2)
        assert summary.failures == ()
        _assert_same(_content(store), uninterrupted)


def test_completed_units_needs_every_configuration(tmp_path: Path) -> None:
    iris = load_dataset("sklearn:iris")
    with MetaStore(tmp_path / "ms.sqlite") as store:
        partial = SearchSpace(lrs=SPACE.lrs, batch_sizes=(16,), max_epochs=2)
        store.log_curves(record_curves(iris, partial, seeds=(0,)))
        assert completed_units(store, SPACE) == set()
        assert completed_units(store, partial) == {CollectUnit("sklearn:iris", 0)}
        longer = SearchSpace(lrs=SPACE.lrs, batch_sizes=(16,), max_epochs=3)
        assert completed_units(store, longer) == set()


def test_failed_unit_is_reported_and_the_rest_goes_on(tmp_path: Path) -> None:
    with MetaStore(tmp_path / "ms.sqlite") as store:
        summary = collect([str(tmp_path / "missing.csv"), "sklearn:iris"], SPACE, (0,), store=store)
    assert summary.units_trained == 1
    assert [(Path(d).name, s) for d, s, _ in summary.failures] == [("missing.csv", 0)]


def test_openml_twins_are_collected_once(tmp_path: Path) -> None:
    tiny = SearchSpace(lrs=(1e-2,), batch_sizes=(32,), max_epochs=1)
    with MetaStore(tmp_path / "ms.sqlite") as store:
        summary = collect(["sklearn:iris", "keel:iris"], tiny, (0,), store=store)
        assert summary.twins == (("keel:iris", "sklearn:iris"),)
        assert summary.units_trained == 1
        # Stored first, kept: the twin stays the one not collected, whatever the order.
        again = collect(["keel:iris", "sklearn:iris"], tiny, (0,), store=store)
        assert (again.twins, again.units_skipped) == ((("keel:iris", "sklearn:iris"),), 1)
        assert list(store.datasets()["spec"]) == ["sklearn:iris"]


def test_collect_rejects_bad_arguments(tmp_path: Path) -> None:
    with MetaStore(":memory:") as store:
        with pytest.raises(ValueError, match="at least one dataset"):
            collect([], SPACE, store=store)
        with pytest.raises(ValueError, match="non-negative"):
            collect(["sklearn:iris"], SPACE, (-1,), store=store)
        with pytest.raises(ValueError, match="workers"):
            collect(["sklearn:iris"], SPACE, store=store, workers=0)


def test_resolve_datasets() -> None:
    every = resolve_datasets(["all"])
    assert len(every) == 147 and len(set(every)) == 147
    assert every[:2] == ["keel:optdigits", "keel:letter"]  # largest (rows × features) first
    assert resolve_datasets(["sklearn"]) == [
        "sklearn:digits", "sklearn:breast_cancer", "sklearn:wine", "sklearn:iris",
    ]  # fmt: skip
    assert resolve_datasets(["my.csv", "sklearn:iris", "sklearn:iris"]) == [
        "sklearn:iris",
        "my.csv",
    ]
    with pytest.raises(ValueError, match="Did you mean 'keel:german'"):
        resolve_datasets(["keel:germen"])


def test_collect_command(tmp_path: Path) -> None:
    runner = CliRunner()
    help_text = runner.invoke(app, ["collect", "--help"]).output
    assert "--datasets" in help_text and "--snapshot" in help_text
    store, snapshot = tmp_path / "ms.sqlite", tmp_path / "snap"
    args = ["collect", "--datasets", "sklearn:iris,keel:haberman", "--seeds", "0",
            "--lrs", "1e-2,1e20", "--batch-sizes", "16", "--max-epochs", "2",
            "--store", str(store), "--snapshot", str(snapshot)]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "trained 2 units (4 runs)" in result.output
    stats = snapshot_stats(snapshot)
    assert (stats.datasets, stats.runs, stats.diverged_runs) == (2, 4, 2)
    assert set(load_snapshot(path=snapshot)["dataset"]) == {"sklearn:iris", "keel:haberman"}
    result = runner.invoke(app, args)
    assert "trained 0 units (0 runs), skipped 2" in result.output
    result = runner.invoke(app, ["collect", "--datasets", "keel:nope", "--store", str(store)])
    assert result.exit_code == 2


# LCBench's space: 3 Sobol candidates (funnel MLPs with SGD), one Trial each.
LCBENCH = SearchSpace.sampled(LCBENCH_SPACE, 3, seed=0, max_epochs=2, k_choices=(1, 2))


def _count_trials(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int, int]]:
    calls: list[tuple[str, int, int]] = []
    real = collect_module._train_trial

    def counting(job, *args):  # type: ignore[no-untyped-def]
        unit, index = job
        calls.append((unit.dataset, unit.seed, index))
        return real(job, *args)

    monkeypatch.setattr(collect_module, "_train_trial", counting)
    return calls


def test_lcbench_space_collection_stores_every_candidate_once_and_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_trials(monkeypatch)
    iris = CollectUnit("sklearn:iris", 0)
    with MetaStore(tmp_path / "ms.sqlite") as store:
        summary = collect(["sklearn:iris"], LCBENCH, (0,), store=store)
        assert (summary.units_trained, summary.runs_logged, summary.failures) == (1, 3, ())
        assert sorted(calls) == [("sklearn:iris", 0, i) for i in range(3)]
        stats = store.stats()
        assert stats.runs == 3 and stats.epochs <= 3 * 2
        assert completed_units(store, LCBENCH) == {iris}
        other = SearchSpace.sampled(LCBENCH_SPACE, 3, seed=1, max_epochs=2, k_choices=(1, 2))
        assert completed_units(store, other) == set()  # other candidates: not stored
        longer = SearchSpace.sampled(LCBENCH_SPACE, 3, seed=0, max_epochs=3, k_choices=(1, 2))
        assert completed_units(store, longer) == set()
        with store.engine.connect() as connection:  # each candidate is its own flow
            seconds = connection.execute(select(Run.total_seconds)).scalars().all()
        assert len(seconds) == 3 and all(s is not None and s > 0 for s in seconds)

        again = collect(["sklearn:iris"], LCBENCH, (0,), store=store)
        assert (again.units_trained, again.units_skipped, again.runs_logged) == (0, 1, 0)
        assert len(calls) == 3  # nothing trained again
        assert store.stats() == stats


def test_interrupted_lcbench_collection_finishes_without_duplicates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_trials(monkeypatch)
    reports: list[CollectProgress] = []

    def stop_after_one_trial(p: CollectProgress) -> None:
        reports.append(p)
        if p.configs_trained == 1:
            raise Interrupted

    with MetaStore(tmp_path / "ms.sqlite") as store:
        with pytest.raises(Interrupted):
            collect(["sklearn:iris"], LCBENCH, (0,), store=store, progress=stop_after_one_trial)
        assert store.stats().runs == 1 and calls == [("sklearn:iris", 0, 0)]
        assert completed_units(store, LCBENCH) == set()  # a unit needs every candidate
        assert reports[0].configs_total == 3 and reports[-1].eta_seconds is not None

        summary = collect(["sklearn:iris"], LCBENCH, (0,), store=store)
        assert (summary.units_trained, summary.units_skipped, summary.runs_logged) == (1, 0, 2)
        assert sorted(calls[1:]) == [("sklearn:iris", 0, 1), ("sklearn:iris", 0, 2)]
        assert store.stats().runs == 3
        assert completed_units(store, LCBENCH) == {CollectUnit("sklearn:iris", 0)}


def test_collect_command_lcbench_space(tmp_path: Path) -> None:
    runner = CliRunner()
    store = tmp_path / "ms.sqlite"
    args = ["collect", "--datasets", "sklearn:iris", "--seeds", "0", "--space", "lcbench",
            "--n-configs", "2", "--max-epochs", "1", "--store", str(store),
            "--no-meta-features"]  # fmt: skip
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "trained 1 units (2 runs)" in result.output
    assert "trained 0 units (0 runs), skipped 1" in runner.invoke(app, args).output
    result = runner.invoke(app, [*args, "--lrs", "1e-2"])
    assert result.exit_code == 2 and "--n-configs" in result.output


def _script(name: str, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    path = Path(__file__).parents[2] / "experiments" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_experiment_scripts_run_on_a_tiny_budget(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    collect_script = _script("collect_curves", monkeypatch)
    args = collect_script.parse_args(
        ["--datasets", "sklearn:iris", "keel:iris", "--seeds", "0", "--max-epochs", "2",
         "--workers", "1", "--store", str(tmp_path / "ms.sqlite"),
         "--snapshot", str(tmp_path / "snap"), "--split-file", str(tmp_path / "split.json"),
         "--record", str(tmp_path / "record.json")]
    )  # fmt: skip
    record = collect_script.run(args)
    assert record["summary"]["units_trained"] == 1
    assert record["summary"]["twins"] == (("keel:iris", "sklearn:iris"),)
    assert record["snapshot"]["runs"] == 78
    assert json.loads((tmp_path / "record.json").read_text())["store"]["epochs"] == 78 * 2
    assert (tmp_path / "split.json").read_text() == (tmp_path / "snap" / "split.json").read_text()

    plot_script = _script("plot_metadataset", monkeypatch)
    out = tmp_path / "figures"
    plot_args = ["--snapshot", str(tmp_path / "snap"), "--out-dir", str(out),
                 "--curve-datasets", "sklearn:iris"]  # fmt: skip
    summary = plot_script.run(plot_script.parse_args(plot_args))
    for figure in ("curves", "best_configs", "failures", "headroom"):
        assert (out / f"metadataset_{figure}.png").stat().st_size > 10_000
    assert summary["snapshot"]["datasets"] == 1
    assert summary["headroom_all"]["train_best"]["mean_gap_val"] == 0.0  # its own best
    assert set(summary["diverged_per_lr"]) == {f"{lr:g}" for lr in SearchSpace().lrs}
