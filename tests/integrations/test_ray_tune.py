"""The freeze-thaw agent as Ray Tune's searcher and scheduler.

Three layers: `from_ray` on every kind of Ray domain; the controller driven by a small
in-process stand-in for Ray's trial loop (fast, every edge case); and real ``Tuner.fit`` runs
on a local Ray with a synthetic trainable (a deterministic learning curve, a checkpoint per
epoch, every trained epoch written to a log that the tests read back).
"""

from __future__ import annotations

import json
import math
import sys
import tempfile
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

pytest.importorskip("ray.tune")

from ray import tune
from ray.tune import Checkpoint
from ray.tune.schedulers import TrialScheduler
from ray.tune.search import Searcher
from ray.tune.search.sample import Categorical as Categorical_

from tunegym.integrations.ray_tune import (
    FreezeThawController,
    freeze_thaw,
    from_ray,
    warm_portfolio,
)
from tunegym.space import Categorical, Float, Int

# ---------------------------------------------------------------------------- from_ray


def test_from_ray_maps_every_bounded_domain() -> None:
    space = from_ray(
        {
            "lr": tune.loguniform(1e-4, 1e-1),
            "dropout": tune.uniform(0.0, 0.5),
            "decay": tune.quniform(0.0, 1.0, 0.25),
            "layers": tune.randint(1, 5),  # Ray excludes 5
            "width": tune.lograndint(16, 513),
            "batch": tune.qrandint(16, 256, 16),  # quantised: 256 included
            "act": tune.choice(["relu", "tanh"]),
            "sizes": tune.choice([[64, 64], [128], None]),  # not Categorical values: indices
            "model": {"depth": tune.randint(2, 4), "name": "mlp"},
            "epochs": 50,
        }
    )
    assert space.params == (
        Float("lr", 1e-4, 1e-1, log=True),
        Float("dropout", 0.0, 0.5),
        Float("decay", 0.0, 1.0),
        Int("layers", 1, 4),
        Int("width", 16, 512, log=True),
        Int("batch", 16, 256),
        Categorical("act", ("relu", "tanh")),
        Categorical("sizes", (0, 1, 2)),
        Int("model__depth", 2, 3),
    )


@pytest.mark.parametrize(
    ("param_space", "match"),
    [
        ({"lr": tune.grid_search([0.1, 0.01])}, "grid search"),
        ({"lr": Categorical_([0.1, 0.01]).grid()}, "grid search"),
        ({"lr": tune.sample_from(lambda _: 0.1)}, "sample_from"),
        ({"lr": tune.randn(0.0, 1.0)}, "no bounds"),
        ({"lr-rate": tune.uniform(0.0, 1.0)}, "identifier"),
        ({"layers": [tune.randint(1, 4)]}, "list holding search domains"),
        ({"epochs": 10}, "nothing to tune"),
    ],
)
def test_from_ray_says_what_cannot_map(param_space: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        from_ray(param_space)


def test_candidates_lie_on_ray_s_grid_and_carry_the_constants() -> None:
    searcher, _ = freeze_thaw(
        {"decay": tune.quniform(0.0, 1.0, 0.25), "batch": tune.qrandint(16, 64, 16),
         "opt": {"name": "sgd", "momentum": tune.choice([0.0, 0.9])}},
        metric="acc", budget=4, max_t=2, n_candidates=64, agent=_Script([]),
    )  # fmt: skip
    env = searcher.controller.env
    configs = [searcher.controller.ray_space.to_ray(c) for c in env.candidates]
    # 5 x 4 x 2 configurations on the grid: the 40 there are, each once
    assert len(configs) == 40
    assert len({json.dumps(c, sort_keys=True) for c in configs}) == 40
    for c in configs:
        assert c["decay"] in (0.0, 0.25, 0.5, 0.75, 1.0)
        assert c["batch"] in (16, 32, 48, 64)
        assert c["opt"]["name"] == "sgd" and c["opt"]["momentum"] in (0.0, 0.9)


def test_the_controller_rejects_what_ray_would_misrun() -> None:
    controller = FreezeThawController(
        {"lr": tune.uniform(0.0, 1.0)}, metric="acc", budget=20, max_t=10, n_candidates=8,
        agent=_Script([]),
    )  # fmt: skip
    with pytest.raises(RuntimeError, match="scheduler=scheduler"):
        controller.suggest("t0")  # the scheduler never saw Ray: it was not passed
    with pytest.raises(ValueError, match="num_samples=-1"):
        controller.check_samples(1)  # TuneConfig's default
    controller.check_samples(sys.maxsize)  # num_samples=-1
    with pytest.raises(ValueError, match="metric/mode"):
        controller.check_properties("loss", "min")
    assert controller.check_properties("acc", "max", {"lr": tune.uniform(0.0, 1.0)})
    assert not controller.check_properties(None, None, {"lr": tune.uniform(0.0, 2.0)})
    with pytest.raises(ValueError, match="mode"):
        freeze_thaw({"lr": tune.uniform(0, 1)}, metric="acc", mode="best", budget=2, max_t=2)
    with pytest.raises(ValueError, match="budget"):
        freeze_thaw({"lr": tune.uniform(0, 1)}, metric="acc", budget=0, max_t=2)


def test_the_warm_start_portfolio_comes_first(snapshot_service: Any) -> None:
    space = {"lr": tune.loguniform(1e-4, 1.0), "width": tune.lograndint(8, 257),
             "batch_size": tune.choice([16, 32, 64]), "max_t": 12}  # fmt: skip
    portfolio = warm_portfolio(space, "keel:german", k=4, source=snapshot_service)
    assert 1 <= len(portfolio) <= 4
    tunegym_space = from_ray(space)
    assert all(tunegym_space.contains(c) for c in portfolio)
    # the service's lr x batch-size grid holds lr on its decades (10^(i/2)); width is filled in
    assert all(
        math.log10(c["lr"]) * 2 == pytest.approx(round(math.log10(c["lr"]) * 2)) for c in portfolio
    )
    searcher, _ = freeze_thaw(
        space, metric="acc", budget=8, max_t=4, portfolio=portfolio, agent=_Script([]),
        n_candidates=16,
    )  # fmt: skip
    env = searcher.controller.env
    assert env.candidates[: len(portfolio)] == portfolio and env.n == 16


# ---------------------------------------------------------------------------- a stand-in Ray


class _Script:
    """A policy that plays ``(candidate, k)`` moves, then the first valid advance."""

    k_choices = (1, 2, 4)
    n_candidates = 8

    def __init__(self, moves: list[tuple[int, int]]) -> None:
        self.moves = list(moves)

    def act(self, obs: np.ndarray, mask: np.ndarray) -> int:
        while self.moves:
            i, k = self.moves.pop(0)
            action = i * len(self.k_choices) + self.k_choices.index(k)
            if mask[action]:
                return action
        return int(np.flatnonzero(mask)[0])


@dataclass
class _Trial:
    trial_id: str
    config: dict[str, Any]
    status: str = "PENDING"
    epoch: int = 0
    saved: int = 0


class _FakeRay:
    """Ray Tune's trial loop in miniature: trials start when Ray gets a configuration or the
    scheduler picks them, each running trial reports one epoch per tick, PAUSE keeps the
    epoch it saved, errors and stops call what Ray calls."""

    def __init__(
        self,
        controller: FreezeThawController,
        value: Callable[[dict[str, Any], int], float],
        fail: Callable[[dict[str, Any], int], bool] = lambda c, e: False,
    ) -> None:
        self.controller, self.value, self.fail = controller, value, fail
        self.searcher, self.scheduler = _pair(controller)
        self.trials: list[_Trial] = []
        self.most_running = 0
        self.epochs = 0

    def get_trials(self) -> list[_Trial]:
        return self.trials

    def stop_trial(self, trial: _Trial) -> None:
        self.scheduler.on_trial_remove(self, trial)
        self.searcher.on_trial_complete(trial.trial_id)
        trial.status = "TERMINATED"

    def run(self, ticks: int = 500) -> None:
        self.searcher.set_max_concurrency(self.controller.workers)
        self.scheduler.set_search_properties(None, None, num_samples=sys.maxsize)
        finished = False
        for _ in range(ticks):
            if finished and all(t.status in ("TERMINATED", "ERROR") for t in self.trials):
                return
            if not finished and not any(t.status == "PENDING" for t in self.trials):
                trial_id = f"t{len(self.trials)}"
                config = self.searcher.suggest(trial_id)
                if config == Searcher.FINISHED:
                    finished = True
                elif config is not None:
                    self.trials.append(_Trial(trial_id, config))
                    self.scheduler.on_trial_add(self, self.trials[-1])
            chosen = self.scheduler.choose_trial_to_run(self)
            if chosen is not None and chosen.status == "PAUSED":
                chosen.status, chosen.epoch = "PENDING", chosen.saved
            for trial in self.trials:
                if trial.status == "PENDING":
                    trial.status = "RUNNING"
            running = [t for t in self.trials if t.status == "RUNNING"]
            self.most_running = max(self.most_running, len(running))
            for trial in running:
                self._tick(trial)
        raise AssertionError("the stand-in Ray did not finish")

    def _tick(self, trial: _Trial) -> None:
        trial.epoch += 1
        if self.fail(trial.config, trial.epoch):
            trial.status = "ERROR"
            self.scheduler.on_trial_error(self, trial)
            self.searcher.on_trial_complete(trial.trial_id, error=True)
            return
        self.epochs += 1
        trial.saved = trial.epoch
        result = {"training_iteration": trial.epoch, "acc": self.value(trial.config, trial.epoch)}
        decision = self.scheduler.on_trial_result(self, trial, result)
        if decision == TrialScheduler.PAUSE:
            trial.status = "PAUSED"
        elif decision == TrialScheduler.STOP:
            trial.status = "TERMINATED"
            self.scheduler.on_trial_complete(self, trial, result)
            self.searcher.on_trial_complete(trial.trial_id, result)


def _pair(controller: FreezeThawController) -> tuple[Any, Any]:
    from tunegym.integrations.ray_tune import TunegymScheduler, TunegymSearcher

    return TunegymSearcher(controller), TunegymScheduler(controller)


def _acc(config: dict[str, Any], epoch: int) -> float:
    return 0.9 * config["lr"] * (1 - math.exp(-epoch / 3))


def _controller(agent: Any = None, **options: Any) -> FreezeThawController:
    kwargs = {"budget": 24, "max_t": 8, "n_candidates": 8, "seed": 0} | options
    return FreezeThawController(
        {"lr": tune.uniform(0.05, 1.0)}, metric="acc", agent=agent or _Script([]), **kwargs
    )


@pytest.mark.parametrize("workers", [1, 2, 3])
def test_the_shipped_agent_spends_the_budget_within_the_workers(workers: int) -> None:
    controller = _controller(agent=None, workers=workers, n_candidates=16)
    ray = _FakeRay(controller, _acc)
    ray.run()
    summary = controller.summary()
    assert ray.epochs == summary.epochs_used == 24  # every epoch trained is counted, once
    assert ray.most_running <= workers
    assert len({json.dumps(t.config) for t in ray.trials}) == len(ray.trials)
    assert summary.new == summary.trials == len(ray.trials)
    assert summary.new + summary.continued == len(controller.decisions)
    best = max((_acc(t.config, e), t.trial_id) for t in ray.trials for e in range(1, t.epoch + 1))
    assert (summary.best_value, summary.best_trial) == best
    assert controller.over


def test_under_a_price_the_controller_stops_when_the_rest_is_not_worth_it() -> None:
    controller = _controller(agent=None, budget=60, n_candidates=16, price=1.0)
    ray = _FakeRay(controller, _acc)
    ray.run()
    # no gain is worth a whole budget's price: the shipped agent, which learned when to stop,
    # stops long before the budget is spent
    assert controller.over and 0 < controller.summary().epochs_used < 60
    assert controller.decisions and controller.decisions[-1]["kind"] in ("new", "continue")


def test_a_paused_trial_resumes_where_it_stopped() -> None:
    controller = _controller(_Script([(0, 2), (1, 2), (0, 4), (1, 1)]), budget=9)
    ray = _FakeRay(controller, _acc)
    ray.run()
    first, second = ray.trials[:2]
    assert (first.epoch, second.epoch) == (6, 3)
    assert controller.pauses >= 2 and controller.resumes == 2
    assert [d["kind"] for d in controller.decisions] == ["new", "new", "continue", "continue"]
    assert all(t.status == "TERMINATED" for t in ray.trials)  # paused ones stopped at the end


def test_a_continue_right_after_an_advance_keeps_the_trial_running() -> None:
    controller = _controller(_Script([(0, 2), (0, 2), (0, 4)]), budget=8)
    ray = _FakeRay(controller, _acc)
    ray.run()
    assert len(ray.trials) == 1 and ray.trials[0].epoch == 8
    assert controller.pauses == 0  # at max_t it stops


def test_errored_and_nan_trials_diverge_and_the_tuning_goes_on() -> None:
    portfolio = [{"lr": 0.9}, {"lr": 0.8}]

    def value(config: dict[str, Any], epoch: int) -> float:
        return math.nan if config["lr"] == 0.8 and epoch == 2 else _acc(config, epoch)

    def fail(config: dict[str, Any], epoch: int) -> bool:
        return config["lr"] == 0.9 and epoch == 3

    controller = _controller(
        _Script([(0, 4), (1, 4), (0, 1), (1, 1)]), portfolio=portfolio, budget=12
    )
    ray = _FakeRay(controller, value, fail)
    ray.run()
    summary = controller.summary()
    assert [t.status for t in ray.trials[:2]] == ["ERROR", "TERMINATED"]
    assert (ray.trials[0].epoch, ray.trials[1].epoch) == (3, 2)
    assert summary.diverged == 2
    # 2 epochs of the errored trial and 2 of the NaN one count; the rest of the budget went on
    assert summary.epochs_used == ray.epochs == 12
    assert summary.trials > 2


def test_a_minimised_metric_is_scored_exp_minus_and_odd_scales_warn() -> None:
    controller = _controller(mode="min", budget=6)
    ray = _FakeRay(controller, lambda c, e: 1.0 / e)
    ray.run()
    assert controller.summary().best_value == pytest.approx(min(1.0 / t.epoch for t in ray.trials))
    controller = _controller(budget=4)
    with pytest.warns(UserWarning, match="score="):
        _FakeRay(controller, lambda c, e: 10.0 * e).run()


def test_ray_asking_more_often_than_there_are_decisions_gets_none() -> None:
    controller = _controller(_Script([(0, 4)]), workers=1)
    searcher, scheduler = _pair(controller)
    scheduler.set_search_properties(None, None, num_samples=sys.maxsize)
    assert isinstance(searcher.suggest("a"), dict)
    assert searcher.suggest("b") is None  # the one worker is busy
    assert scheduler.choose_trial_to_run(_FakeRay(controller, _acc)) is None
    assert len(controller.decisions) == 1


# ---------------------------------------------------------------------------- on a local Ray


def _curve(config: dict[str, Any], epoch: int) -> float:
    """A deterministic learning curve: best near lr = 1e-2, wider nets learn faster."""
    final = max(0.9 - 0.1 * (math.log10(config["lr"]) + 2.0) ** 2, 0.1)
    return final * (1.0 - math.exp(-epoch / (1.0 + 64.0 / config["width"])))


def synthetic(config: dict[str, Any]) -> None:
    """A function trainable: one report per epoch, with a checkpoint of the epoch; logs each
    epoch it trains (and whether it restored a checkpoint) to ``config["log"]``."""
    start = 0
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            start = json.loads((Path(folder) / "state.json").read_text())["epoch"]
    trial_id = tune.get_context().get_trial_id()
    for epoch in range(start + 1, 10_000):
        if config.get("fail_at") == epoch:
            raise RuntimeError("a failing trial")
        with Path(config["log"]).open("a") as log:
            line = {"trial": trial_id, "lr": config["lr"], "width": config["width"],
                    "epoch": epoch, "restored": start}  # fmt: skip
            log.write(json.dumps(line) + "\n")
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "state.json").write_text(json.dumps({"epoch": epoch}))
            tune.report(
                {"val_accuracy": _curve(config, epoch)},
                checkpoint=Checkpoint.from_directory(folder),
            )


def _fit(tmp_path: Path, trainable: Any, searcher: Any, scheduler: Any, workers: int) -> Any:
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            search_alg=searcher,
            scheduler=scheduler,
            num_samples=-1,
            max_concurrent_trials=workers,
            reuse_actors=True,
        ),
        run_config=tune.RunConfig(storage_path=str(tmp_path / "ray"), verbose=0),
    )
    return tuner.fit()


def _epochs(log: Path) -> dict[str, list[dict[str, Any]]]:
    by_trial: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in log.read_text().splitlines():
        row = json.loads(line)
        by_trial[row["trial"]].append(row)
    return by_trial


@pytest.mark.usefixtures("ray_local")
def test_ray_trains_exactly_the_budget_with_the_shipped_agent(tmp_path: Path) -> None:
    log = tmp_path / "epochs.jsonl"
    space = {"lr": tune.loguniform(1e-4, 1.0), "width": tune.lograndint(8, 257), "log": str(log)}
    searcher, scheduler = freeze_thaw(
        space, metric="val_accuracy", mode="max", budget=24, max_t=10, seed=0, n_candidates=32
    )
    grid = _fit(tmp_path, synthetic, searcher, scheduler, workers=2)
    assert not grid.errors
    trained = _epochs(log)
    summary = searcher.summary()
    # exactly the budget, each epoch of each trial once and in order (resumed ones go on)
    assert sum(len(rows) for rows in trained.values()) == summary.epochs_used == 24
    for rows in trained.values():
        assert [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    # no candidate started twice
    configs = [(rows[0]["lr"], rows[0]["width"]) for rows in trained.values()]
    assert len(set(configs)) == len(configs) == summary.trials == len(grid)
    # the best configuration is the best trained one (Ray agrees)
    best = max(trained.values(), key=lambda rows: max(_curve(r, r["epoch"]) for r in rows))
    assert summary.best_config is not None
    assert (summary.best_config["lr"], summary.best_config["width"]) == (
        best[0]["lr"], best[0]["width"],
    )  # fmt: skip
    ray_best = grid.get_best_result("val_accuracy", "max", scope="all")
    assert ray_best.metrics_dataframe["val_accuracy"].max() == pytest.approx(summary.best_value)
    assert summary.new + summary.continued == len(searcher.controller.decisions)


@pytest.mark.usefixtures("ray_local")
def test_ray_pauses_a_trial_and_resumes_it_from_its_checkpoint(tmp_path: Path) -> None:
    log = tmp_path / "epochs.jsonl"
    space = {"lr": tune.loguniform(1e-4, 1.0), "width": tune.randint(8, 65), "log": str(log)}
    # start 0, start 1 (0 pauses), continue 0 (1 pauses, 0 resumes at epoch 3), continue 1
    script = _Script([(0, 2), (1, 2), (0, 2), (1, 1)])
    searcher, scheduler = freeze_thaw(
        space, metric="val_accuracy", budget=7, max_t=8, agent=script, n_candidates=4
    )
    grid = _fit(tmp_path, synthetic, searcher, scheduler, workers=1)
    assert not grid.errors
    trained = _epochs(log)
    first, second = trained.values()  # in the order they started
    assert [r["epoch"] for r in first] == [1, 2, 3, 4]
    assert [r["restored"] for r in first] == [0, 0, 2, 2]  # resumed from its epoch-2 checkpoint
    assert [r["epoch"] for r in second] == [1, 2, 3]
    assert searcher.controller.pauses >= 2 and searcher.controller.resumes == 2
    iterations = {r.metrics["trial_id"]: r.metrics["training_iteration"] for r in grid}
    assert Counter(iterations.values()) == Counter([4, 3])  # Ray's counter went on, too


@pytest.mark.usefixtures("ray_local")
def test_ray_errored_trial_is_data_and_the_tuning_goes_on(tmp_path: Path) -> None:
    log = tmp_path / "epochs.jsonl"
    space = {"lr": tune.choice([0.01, 0.001]), "width": 32, "log": str(log),
             "fail_at": tune.choice([2, 0])}  # fmt: skip
    portfolio = [{"lr": 0.01, "fail_at": 2}, {"lr": 0.001, "fail_at": 0}]
    searcher, scheduler = freeze_thaw(
        space, metric="val_accuracy", budget=6, max_t=6, portfolio=portfolio,
        agent=_Script([(0, 4), (1, 4)]), n_candidates=2,
    )  # fmt: skip
    grid = _fit(tmp_path, synthetic, searcher, scheduler, workers=1)
    assert len(grid.errors) == 1
    summary = searcher.summary()
    assert summary.diverged == 1 and summary.trials == 2
    assert summary.epochs_used == 1 + 4 + 1  # the failed trial's epoch; the other to its end
    assert summary.best_config is not None and summary.best_config["lr"] == 0.001


def no_checkpoint(config: dict[str, Any]) -> None:
    for epoch in range(1, 100):
        tune.report({"val_accuracy": 0.5 + 0.01 * epoch})


@pytest.mark.usefixtures("ray_local")
def test_ray_trainable_that_does_not_restore_is_named(tmp_path: Path) -> None:
    searcher, scheduler = freeze_thaw(
        {"lr": tune.uniform(0.0, 1.0)}, metric="val_accuracy", budget=3, max_t=3,
        agent=_Script([(0, 1), (1, 1), (0, 1)]), n_candidates=2,
    )  # fmt: skip
    with pytest.raises(Exception, match="did not resume from its checkpoint"):
        _fit(tmp_path, no_checkpoint, searcher, scheduler, workers=1)


def iris(config: dict[str, Any]) -> None:
    """Real training: tunegym's MLP on iris, one epoch per report, the trial in the checkpoint."""
    import torch

    from tunegym.data import load_dataset
    from tunegym.training import MLPSpec, TrainConfig, Trial

    torch.set_num_threads(1)
    dataset = load_dataset("sklearn:iris", seed=0)
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            trial = Trial.load(Path(folder) / "trial.pt", dataset)
    else:
        train = TrainConfig(config["lr"], config["batch_size"], max_epochs=config["max_epochs"])
        trial = Trial(dataset, train, MLPSpec(depth=1, width=16))
    while not trial.finished:
        (record,) = trial.train(1)
        with tempfile.TemporaryDirectory() as folder:
            trial.save(Path(folder) / "trial.pt")
            accuracy = math.nan if record.diverged else record.val_accuracy
            tune.report({"val_accuracy": accuracy}, checkpoint=Checkpoint.from_directory(folder))


@pytest.mark.slow
@pytest.mark.usefixtures("ray_local")
def test_ray_tunes_a_real_network_on_iris(tmp_path: Path) -> None:
    space = {"lr": tune.loguniform(1e-4, 1.0), "batch_size": tune.choice([8, 16, 32]),
             "max_epochs": 12}  # fmt: skip
    searcher, scheduler = freeze_thaw(
        space, metric="val_accuracy", budget=36, max_t=12, seed=0, n_candidates=32
    )
    grid = _fit(tmp_path, iris, searcher, scheduler, workers=2)
    summary = searcher.summary()
    assert not grid.errors
    assert summary.epochs_used == 36
    assert sum(int(r.metrics["training_iteration"]) for r in grid) == 36
    seen = max(r.metrics_dataframe["val_accuracy"].max() for r in grid)
    assert summary.best_value == pytest.approx(seen) and seen > 1 / 3  # above chance


@pytest.mark.usefixtures("ray_local")
def test_the_example_script_runs_with_a_tiny_budget(tmp_path: Path) -> None:
    from experiments.ray_tune_example import Args, run

    result = run(Args(budget=8, max_t=4, n_candidates=8, workers=2, out=tmp_path))
    assert result["epochs_used"] == 8 and result["ray_errors"] == 0
    saved = json.loads((tmp_path / "summary.json").read_text())
    assert saved["best_value"] == result["best_value"]
    assert len((tmp_path / "best.csv").read_text().splitlines()) == 1 + 8
    assert (tmp_path / "best.png").is_file() and (tmp_path / "decisions.csv").is_file()
