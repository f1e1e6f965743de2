"""`collect` under stress: its workers die with it (``kill -9`` included), and collectors
running at once on one store share its work, each job trained once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests._jobs import nothing
from tunegym.data import load_dataset
from tunegym.envs import CollectProgress, CollectUnit, SearchSpace, _sharing, collect
from tunegym.envs import _collect as collect_module
from tunegym.envs._backends import trial_setup
from tunegym.metastore import MetaStore
from tunegym.metastore._claims import WorkClaims
from tunegym.metastore._schema import CollectClaim
from tunegym.parallel import InlineExecutor, as_completed_results
from tunegym.space import LCBENCH_SPACE

ROOT = Path(__file__).parents[2]
# Eight small LCBench networks (one layer of 64 units, batch 128): 3 epochs of iris take ~0.1 s.
SMALL = [
    {"batch_size": 128, "learning_rate": lr, "max_dropout": 0.0, "max_units": 64,
     "momentum": 0.9, "num_layers": 1, "weight_decay": 1e-4}
    for lr in (1e-4, 3e-4, 1e-3, 2e-3, 5e-3, 1e-2, 3e-2, 1e-1)
]  # fmt: skip
SPACE = SearchSpace.sampled(LCBENCH_SPACE, 8, include=SMALL, max_epochs=3, k_choices=(1,))
SEEDS = (0, 1)
TRIALS = SPACE.n_configs * len(SEEDS)


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT)}


# --- workers die with their parent ------------------------------------------------------------

# `tunegym collect` on 2 workers of a kind, with trials long enough to be training when killed.
_COLLECT_CLI = """
import sys
from tunegym import parallel
if sys.argv[1] == "processes":
    parallel.ray_available = lambda: False  # as where Ray is not installed
from tunegym.cli import app
app(["collect", "--datasets", "sklearn:iris", "--space", "lcbench", "--n-configs", "4",
     "--max-epochs", "5000", "--seeds", "0", "--workers", "2", "--store", sys.argv[2],
     "--no-meta-features"])
"""
# How each kind's workers show in `ps` once they train.
_WORKER = {"processes": "spawn_main", "ray": "ray::_call_in_worker"}


@pytest.mark.parametrize("kind", ["processes", "ray"])
def test_workers_die_with_a_collect_killed_by_sigkill(kind: str, tmp_path: Path) -> None:
    psutil = pytest.importorskip("psutil")
    if kind == "ray":
        pytest.importorskip("ray", reason="the extra 'ray' is not installed")

    def alive(process: psutil.Process) -> bool:
        try:
            return process.is_running() and process.status() != psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return False

    command = [sys.executable, "-c", _COLLECT_CLI, kind, str(tmp_path / "ms.sqlite")]
    collector = subprocess.Popen(
        command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    parent = psutil.Process(collector.pid)
    descendants: dict[int, psutil.Process] = {}
    workers: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and collector.poll() is None:
            with_children = parent.children(recursive=True)
            descendants.update((p.pid, p) for p in with_children)
            workers = []
            for process in with_children:
                try:
                    if _WORKER[kind] in " ".join(process.cmdline()):
                        workers.append(process)
                except psutil.Error:
                    pass
            if len(workers) == 2:
                break
            time.sleep(0.2)
        assert collector.poll() is None, "the collection ended before it was killed"
        assert len(workers) == 2, f"no 2 {kind} workers within 60 s: {descendants}"
        time.sleep(1.0)  # training
        descendants.update((p.pid, p) for p in parent.children(recursive=True))
        collector.send_signal(signal.SIGKILL)
        collector.wait()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(map(alive, descendants.values())):
            time.sleep(0.1)
        left = [p for p in descendants.values() if alive(p)]
        assert left == [], f"alive 5 s after the collector was killed: {left}"
    finally:
        collector.kill()
        for process in descendants.values():
            if alive(process):
                process.kill()


# --- collectors share the work of a store -----------------------------------------------------

# A collector that says it is ready (a file), then collects once the file ``go`` exists.
_COLLECTOR = """
import json, sys, time
from pathlib import Path
from tests.envs.test_collect_durability import SEEDS, SPACE
from tunegym.envs import collect
from tunegym.metastore import MetaStore

url, ready, go = sys.argv[1:]
with MetaStore(url) as store:
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.005)
    summary = collect(["sklearn:iris"], SPACE, SEEDS, store=store)
print(json.dumps({"runs": summary.runs_logged, "units": summary.units_trained,
                  "elsewhere": summary.units_elsewhere, "failures": summary.failures}))
"""


def _counts(store: MetaStore) -> dict[str, int]:
    stats = store.stats()
    with store.engine.connect() as connection:
        claims = connection.scalar(select(func.count()).select_from(CollectClaim))
    return {
        "runs": stats.runs,
        "evaluations": stats.evaluations,
        "datasets": stats.datasets,
        "meta_features": int(store.meta_features().notna().sum().sum()),
        "claims": int(claims or 0),
    }


@pytest.fixture(scope="module")
def one_collection(tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """The store's row counts after one collector alone."""
    with MetaStore(tmp_path_factory.mktemp("one") / "ms.sqlite") as store:
        assert collect(["sklearn:iris"], SPACE, SEEDS, store=store).runs_logged == TRIALS
        return _counts(store)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A new store: a SQLite file, or a new database on the session's PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'ms.sqlite'}"
        return
    yield request.getfixturevalue("fresh_postgres")


def test_two_collectors_on_one_store_train_each_trial_once(
    store_url: str, tmp_path: Path, one_collection: dict[str, int]
) -> None:
    go, ready = tmp_path / "go", [tmp_path / "ready-a", tmp_path / "ready-b"]
    collectors = [
        subprocess.Popen(
            [sys.executable, "-c", _COLLECTOR, store_url, str(flag), str(go)],
            env=_env(),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for flag in ready
    ]
    deadline = time.monotonic() + 60
    while not all(flag.exists() for flag in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()  # both start together
    summaries = []
    for collector in collectors:
        out, _ = collector.communicate(timeout=120)
        assert collector.returncode == 0
        summaries.append(json.loads(out.strip().splitlines()[-1]))
    assert [s["failures"] for s in summaries] == [[], []]
    # Each trial trained once, by one collector or the other (each trained all 16 before).
    assert sum(s["runs"] for s in summaries) == TRIALS
    assert all(s["runs"] > 0 for s in summaries), summaries
    with MetaStore(store_url) as store:
        assert _counts(store) == one_collection  # no claim left behind either


def _claim_key(index: int, seed: int = 0) -> str:
    identities = collect_module._candidate_identities(SPACE, None)
    return collect_module._key("sklearn:iris", seed, identities[index])


def test_a_collector_waits_for_the_jobs_others_hold_and_takes_over_expired_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sharing, "WAIT_POLL_S", 0.05)
    unit = CollectUnit("sklearn:iris", 0)
    reports: list[tuple[float, int]] = []
    with MetaStore(tmp_path / "ms.sqlite") as store:
        other = WorkClaims(store)  # a live collector, training trial 0
        assert other.take(_claim_key(0))
        assert WorkClaims(store, seconds=1.5).take(_claim_key(1))  # killed: expires soon
        expires = time.monotonic() + 1.5
        assert WorkClaims(store, seconds=0.01).take(_claim_key(2))  # killed long ago
        time.sleep(0.02)

        def other_stores_trial_0(p: CollectProgress) -> None:
            reports.append((time.monotonic(), p.configs_trained))
            if p.configs_trained == 1:  # the collector has met the claim on trial 0
                model = collect_module.MLPSpec()
                history, _ = collect_module._train_trial((unit, 0), SPACE, model, None, None)
                train, spec = trial_setup(SPACE.candidates[0], SPACE.max_epochs, 0, model)
                store.log_trial(load_dataset(unit.dataset, seed=0), train, spec, history)
                other.release(_claim_key(0))

        summary = collect([unit.dataset], SPACE, (0,), store=store, progress=other_stores_trial_0)
        assert summary.failures == ()
        assert summary.runs_logged == SPACE.n_configs - 1  # all but the other's trial 0
        assert (summary.units_trained, summary.units_elsewhere) == (1, 0)
        # Trial 1 waited for its claim to expire: 6 trials before, the 7th after.
        assert max(n for t, n in reports if t < expires) <= SPACE.n_configs - 2
        assert reports[-1][0] >= expires
        assert _counts(store)["runs"] == SPACE.n_configs
        assert _counts(store)["claims"] == 0


def test_a_unit_another_collector_finished_is_counted_as_done_elsewhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_sharing, "WAIT_POLL_S", 0.05)
    space = SearchSpace(lrs=(1e-3, 1e-2), batch_sizes=(32,), max_epochs=2)
    model = collect_module.MLPSpec()
    mine, theirs = CollectUnit("sklearn:iris", 0), CollectUnit("sklearn:iris", 1)
    key = collect_module._unit_key(theirs, space, model)
    with MetaStore(tmp_path / "ms.sqlite") as store:
        other = WorkClaims(store)
        assert other.take(key)

        def other_stores_its_unit(p: CollectProgress) -> None:
            if p.unit == mine:  # the collector has met the claim on the other unit
                frame, _ = collect_module._train_unit(theirs, space, model, None, None)
                store.log_curves(frame)
                other.release(key)

        summary = collect(
            ["sklearn:iris"], space, (0, 1), store=store, progress=other_stores_its_unit
        )
        assert (summary.units_trained, summary.units_elsewhere) == (1, 1)
        assert (summary.runs_logged, store.stats().runs) == (2, 4)


def test_claims_are_one_owners_at_a_time(tmp_path: Path) -> None:
    with MetaStore(tmp_path / "ms.sqlite") as store:
        with WorkClaims(store) as mine:
            theirs = WorkClaims(store, seconds=0.05)
            assert mine.take("a") and mine.take("a")  # taking one's own again holds it
            assert not theirs.take("a") and theirs.free(["a", "b"]) == {"b"}
            assert theirs.take("b") and mine.free(["a", "b"]) == {"a"}
            time.sleep(0.1)  # theirs expires: it is mine to take
            assert mine.free(["b"]) == {"b"} and mine.take("b") and not theirs.take("b")
            mine.release("b")
            assert theirs.take("b")
        assert WorkClaims(store).free(["a"]) == {"a"}  # leaving the block released "a"
        with pytest.raises(ValueError, match="positive number of seconds, got 0"):
            WorkClaims(store, seconds=0)


def test_a_window_reads_jobs_as_they_end() -> None:
    pulled: list[int] = []
    yielded = 0

    def jobs() -> Iterator[int]:
        for job in range(10):
            assert len(pulled) - yielded < 3  # never more than the window ahead
            pulled.append(job)
            yield job

    with ThreadPoolExecutor(4) as pool:
        for _ in as_completed_results(pool, nothing, jobs(), window=3):
            yielded += 1
    assert (yielded, pulled) == (10, list(range(10)))
    with pytest.raises(ValueError, match="window must be None or >= 1, got 0"):
        next(as_completed_results(InlineExecutor(), nothing, [1], window=0))
