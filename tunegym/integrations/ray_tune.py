"""The freeze-thaw agent as a Ray Tune searcher and scheduler, in one call.

`freeze_thaw` builds a `TunegymSearcher` and a `TunegymScheduler` that share one
`FreezeThawController`: a `tunegym.envs.FreezeThawEnv` over ``N`` candidate configurations of
the Ray search space (the agent's number, Sobol points, an optional portfolio first), and the
agent that acts on it. Ray trains; the agent decides, whenever one of the ``W`` workers is
free, which candidate to advance by how many epochs::

    from ray import tune
    from tunegym.integrations.ray_tune import freeze_thaw

    param_space = {"lr": tune.loguniform(1e-4, 1e-1), "batch_size": tune.choice([32, 64, 128])}
    searcher, scheduler = freeze_thaw(
        param_space, metric="val_accuracy", mode="max", budget=200, max_t=50, seed=0
    )
    tuner = tune.Tuner(
        train_fn,  # reports once per epoch, checkpoints every report (see below)
        tune_config=tune.TuneConfig(
            search_alg=searcher, scheduler=scheduler, num_samples=-1,
            max_concurrent_trials=2, reuse_actors=True,
        ),
    )
    tuner.fit()
    print(searcher.summary())

Semantics:

* **Decisions.** Advancing a candidate not yet started makes `TunegymSearcher.suggest` return its
  configuration (a new Ray trial); continuing one resumes its PAUSED Ray trial
  (`TunegymScheduler.choose_trial_to_run`). The agent sees every result so far and the trials
  still training (the env's asynchronous API, as `tunegym.envs.AsyncRunner` drives it). Ray may
  ask more often than there are decisions: it then gets ``None``.
* **Epochs.** One epoch is one step of ``time_attr`` (``training_iteration``: one
  ``tune.report`` per epoch). When a trial has trained the ``k`` epochs it was sent for, the
  scheduler returns CONTINUE if the agent continues it at once, STOP at ``max_t`` or when the
  tuning is over, else PAUSE. Exactly ``budget`` epochs are trained unless the agent stops
  earlier or trials end early.
* **Scores.** The env reads scores on [0, 1], larger is better: ``score`` maps the metric there
  (default: the value itself for ``mode="max"``, e.g. an accuracy; ``exp(-value)`` for
  ``mode="min"``, as tunegym scores a loss). A NaN or infinite value is a diverged trial: it
  stops and the tuning goes on; so does an errored trial, and one that ends on its own.
* **Checkpoints.** PAUSE stops the trial's actor; the trial resumes from its last checkpoint.
  A function trainable must report a checkpoint with every result
  (``tune.report(metrics, checkpoint=...)``) and restore it (``tune.get_checkpoint()``), so that
  ``training_iteration`` and the model carry on; a trial that reports an epoch it had already
  trained raises an error naming this.

See ``docs/RAY_TUNE.md``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

try:
    from ray.tune.experiment import Trial
    from ray.tune.schedulers import TrialScheduler
    from ray.tune.search import Searcher
except ImportError as error:  # pragma: no cover - the extra is missing
    raise ImportError(
        "tunegym.integrations.ray_tune needs Ray Tune: pip install 'ray[tune]' "
        "(or tunegym's 'ray' extra)."
    ) from error

from tunegym.integrations._ray_controller import FreezeThawController, RayTuneSummary
from tunegym.integrations._ray_space import SEPARATOR, from_ray, parse_space

__all__ = [
    "SEPARATOR",
    "FreezeThawController",
    "RayTuneSummary",
    "TunegymScheduler",
    "TunegymSearcher",
    "freeze_thaw",
    "from_ray",
    "warm_portfolio",
]


class TunegymSearcher(Searcher):
    """Ray Tune's searcher side of a `FreezeThawController`: new candidates' configurations.

    Ray calls `suggest` whenever it could add a trial; it gets a configuration when the agent
    starts a candidate, ``None`` while there is nothing to start, ``FINISHED`` at the end.
    Build it with `freeze_thaw`.
    """

    def __init__(self, controller: FreezeThawController) -> None:
        super().__init__(metric=controller.metric, mode=controller.mode)
        self.controller = controller

    def set_max_concurrency(self, max_concurrent: int) -> bool:
        """``max_concurrent_trials`` is the agent's number of workers (Ray's
        `ConcurrencyLimiter` then leaves the limiting to the controller)."""
        self.controller.workers = int(max_concurrent)
        return True

    def set_search_properties(
        self, metric: str | None, mode: str | None, config: dict[str, Any], **spec: Any
    ) -> bool:
        return self.controller.check_properties(metric, mode, config)

    def suggest(self, trial_id: str) -> dict[str, Any] | str | None:  # type: ignore[override]
        # Ray's annotation leaves out the FINISHED its docstring (and SearchGenerator) take.
        return self.controller.suggest(trial_id)

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        pass  # the scheduler counts the epochs (it returns the decision)

    def on_trial_complete(
        self, trial_id: str, result: dict[str, Any] | None = None, error: bool = False
    ) -> None:
        self.controller.trial_ended(trial_id, result, error)

    def summary(self) -> RayTuneSummary:
        """The run's summary (`FreezeThawController.summary`)."""
        return self.controller.summary()


class TunegymScheduler(TrialScheduler):
    """Ray Tune's scheduler side of a `FreezeThawController`: counts epochs, pauses and
    resumes trials. Build it with `freeze_thaw`."""

    # A result buffer would let a trial train past the epochs it was sent for.
    _supports_buffered_results = False

    def __init__(self, controller: FreezeThawController) -> None:
        super().__init__()
        self.controller = controller
        self._metric = controller.metric

    def set_search_properties(self, metric: str | None, mode: str | None, **spec: Any) -> bool:
        self.controller.check_properties(metric, mode)
        self.controller.check_samples(spec.get("num_samples"))
        self.controller.scheduler_attached = True
        return True

    def on_trial_add(self, tune_controller: Any, trial: Trial) -> None:
        self.controller.trial_added(trial.trial_id)

    def on_trial_error(self, tune_controller: Any, trial: Trial) -> None:
        self.controller.trial_ended(trial.trial_id, None, error=True)

    def on_trial_result(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> str:
        return self.controller.on_result(trial.trial_id, result)

    def on_trial_complete(self, tune_controller: Any, trial: Trial, result: dict[str, Any]) -> None:
        self.controller.trial_ended(trial.trial_id, result, error=False)

    def on_trial_remove(self, tune_controller: Any, trial: Trial) -> None:
        self.controller.trial_ended(trial.trial_id, None, error=False)

    def choose_trial_to_run(self, tune_controller: Any) -> Trial | None:
        return self.controller.trial_to_run(
            tune_controller.get_trials(), tune_controller.stop_trial
        )

    def debug_string(self) -> str:
        return self.controller.progress()

    def summary(self) -> RayTuneSummary:
        """The run's summary (`FreezeThawController.summary`)."""
        return self.controller.summary()


def freeze_thaw(
    param_space: Mapping[str, Any],
    *,
    metric: str,
    mode: str = "max",
    budget: int,
    max_t: int,
    **options: Any,
) -> tuple[TunegymSearcher, TunegymScheduler]:
    """The freeze-thaw agent as Ray Tune's ``(search_alg, scheduler)``.

    Pass both to ``tune.TuneConfig(search_alg=..., scheduler=..., num_samples=-1,
    max_concurrent_trials=W, reuse_actors=True)``; the trainable reports ``metric`` once per
    epoch with a checkpoint and restores it (see the module notes).

    Args:
        param_space: Ray Tune's search space (`from_ray` maps it).
        metric: the reported metric.
        mode: ``"max"`` or ``"min"``.
        budget: epochs to train in all.
        max_t: the most epochs one trial trains.
        **options: the rest of `FreezeThawController`'s arguments (``agent``, ``n_candidates``,
            ``portfolio``, ``prior``, ``meta_features``, ``seed``, ``workers``, ``time_attr``,
            ``score``, ``price``).

    Example:
        >>> from ray import tune
        >>> searcher, scheduler = freeze_thaw(
        ...     {"lr": tune.loguniform(1e-4, 1e-1)}, metric="acc", budget=20, max_t=10,
        ...     n_candidates=8)
        >>> searcher.controller is scheduler.controller, searcher.controller.env.n
        (True, 8)
    """
    controller = FreezeThawController(
        param_space, metric=metric, mode=mode, budget=budget, max_t=max_t, **options
    )
    return TunegymSearcher(controller), TunegymScheduler(controller)


def warm_portfolio(
    param_space: Mapping[str, Any],
    dataset: Any,
    *,
    k: int = 8,
    source: Any = None,
    neighbors: int = 5,
    include_self: bool = True,
    seed: int = 0,
    api_key: str | None = None,
) -> list[dict[str, Any]]:
    """The warm-start service's best configurations for ``dataset``, as `freeze_thaw`'s
    ``portfolio``.

    The service maps the space's parameters as `tunegym.integrations.optuna.warm_start` does
    (learning rate, batch size and epochs by role, LCBench's seven hyperparameters by name);
    the parameters it leaves out take the values of Sobol points of the space (``seed``).

    Args:
        param_space: Ray Tune's search space.
        dataset: an OpenML id, a dataset name the source knows (``"keel:german"``), ``(X, y)``
            (meta-features computed here), a mapping of meta-features, or a
            `tunegym.service.DatasetDescription`.
        k: configurations to ask for.
        source: ``"http://host:port"`` of a ``tunegym serve``, a `tunegym.service.Client`, a
            `WarmStartService`, a `MetaStore` or its URL, or ``None`` (the shipped snapshot).
        neighbors: similar datasets to draw from.
        include_self: use the dataset's own past runs when the source has them.
        seed: seeds the values of the parameters the service does not map.
        api_key: for a service with a read key.

    Returns:
        Up to ``k`` distinct configurations (named as `from_ray` names them), best first; none
        when the service holds nothing for the space.

    Example:
        >>> from ray import tune
        >>> space = {"lr": tune.loguniform(1e-4, 1.0), "batch_size": tune.choice([16, 32, 64])}
        >>> portfolio = warm_portfolio(space, "keel:german", k=4)  # doctest: +SKIP
        >>> searcher, scheduler = freeze_thaw(space, metric="val_accuracy", budget=100,
        ...                                   max_t=20, portfolio=portfolio)  # doctest: +SKIP
    """
    from tunegym.integrations.optuna import _ask, _description
    from tunegym.service._schemas import SearchSpaceRequest, SearchSpaceSpec, WarmStartRequest

    ray_space = parse_space(param_space)
    space = ray_space.space
    spec = SearchSpaceSpec.from_space(space)
    description = _description(dataset)
    warm = WarmStartRequest(
        dataset=description, search_space=spec, k=k, neighbors=neighbors,
        include_self=include_self,
    )  # fmt: skip
    box = SearchSpaceRequest(
        dataset=description, search_space=spec, neighbors=neighbors, include_self=include_self
    )
    answer, _ = _ask(source, warm, box, api_key)
    fill = space.sample(len(answer.configurations), seed=seed)
    keys: dict[tuple[Any, ...], dict[str, Any]] = {}
    for config, rest in zip(answer.configurations, fill, strict=True):
        params = {name: v for name, v in config.params.items() if name in space.names}
        snapped = ray_space.snap(space.validate({**rest, **params}))
        keys.setdefault(space.key(snapped), snapped)
    return list(keys.values())
