"""`tune`'s run: the tuner and the live env set up from the run's arguments, the loop that
drives them (one trial at a time, or on workers at once for the freeze-thaw agent), and the
`TuningResult` built from it, also when the run is interrupted.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tunegym.agent._agent import Agent, load_agent
from tunegym.agent._finetune import add_to_zoo, find_source, finetune_search
from tunegym.agent._live import ExecutorLauncher, TrialCache, TuneBackend
from tunegym.agent._result import (
    BestConfig,
    StepRecord,
    TrialCurve,
    TuningResult,
    score_on_test,
)
from tunegym.agent._session import FREEZE_THAW, TuneArgs, TuningInterrupted, write_report
from tunegym.agent._tunesetup import (
    _check_args,
    _ft_candidates,
    _ft_prior,
    _ft_search,
    _load,
    _load_ft_agent,
    _transfer_agent,
    _warm_start,
    _with_portfolio,
)
from tunegym.baselines import WARM_STARTED, Policy, make_baseline
from tunegym.data import TabularDataset
from tunegym.envs import (
    AsyncRunner,
    AsyncStep,
    FreezeThawEnv,
    RankWeightedPrior,
    SearchSpace,
    make_tuning_env,
)
from tunegym.space import learning_rate_of
from tunegym.training import MLP, MLPSpec, build_mlp

if TYPE_CHECKING:
    import numpy as np

    from tunegym.agent._ftagent import FreezeThawAgent
    from tunegym.data import FittedPreprocessor
    from tunegym.envs import TuningEnv
    from tunegym.metastore import MetaStore


def _run(
    args: TuneArgs,
    data: Any,
    target: Any,
    agent: Agent | FreezeThawAgent | str | Path | None,
    *,
    store: MetaStore | str | None,
    progress: Callable[[StepRecord], None] | None,
    report: Path | None,
    cache: TrialCache | None,
    keep_checkpoints: bool,
    ray_address: str | None = None,
) -> TuningResult:
    started = time.perf_counter()
    _check_args(args)
    tuner = ft = None
    space, n_slots = args.search_space, args.n_slots
    if args.method == "agent":
        if agent is not None and not isinstance(agent, Agent | str | Path):
            raise ValueError(
                f"method='agent' runs a v1 agent, not a {type(agent).__name__}; a freeze-thaw "
                f"agent runs with method={FREEZE_THAW!r} (or 'auto')."
            )
        tuner = agent if isinstance(agent, Agent) else load_agent(agent)
        space, n_slots = space or tuner.spec.space, n_slots or tuner.spec.n_slots
    elif args.method == FREEZE_THAW:
        ft = _load_ft_agent(agent)
        space = _ft_search(space, args)
    space, n_slots = space or SearchSpace(), n_slots or 8
    folds = _load(data, target, args)
    ws, prior_source = None, "none"
    ft_warm = ft is not None and args.warm_start and bool(ft.spec.get("warm", True))
    if args.method in WARM_STARTED or (tuner is not None and args.warm_start) or ft_warm:
        k = tuner.spec.prior_k if tuner is not None else 5
        ws, prior_source = _warm_start(data, target, folds[0], space, k)
        if args.method in WARM_STARTED or ft is not None:
            space = _with_portfolio(space, ws)
    elif ft is not None:
        prior_source = (
            "none (warm_start=False)"
            if not args.warm_start
            else "none (the agent was meta-trained without a warm start)"
        )
    policy: Policy | None = None
    if ft is not None and ft_warm and ws is None and args.fallback is not None:
        # method="auto" where no warm start is to be had: the agent without one did no better
        # than random search (its ablation, docs/AGENT.md), the best cold tuner runs instead
        prior_source += f"; method auto ran {args.fallback} instead of {FREEZE_THAW}"
        if args.workers > 1:
            prior_source += f" (on one worker: {args.fallback} decides one trial at a time)"
        if args.price > 0:
            prior_source += (
                f" (price={args.price:g} not applied: {args.fallback} spends the whole budget)"
            )
        args = replace(args, method=args.fallback, fallback=None)
        ft = None
        policy = make_baseline(args.method)
    elif ft is not None:
        space = _ft_candidates(space, args, ft, ws)
    elif tuner is not None:
        policy = tuner
    elif args.method in WARM_STARTED and ws is None and args.fallback is not None:
        prior_source += f"; method auto ran {args.fallback} instead of {args.method}"
        args = replace(args, method=args.fallback, fallback=None)
        policy = make_baseline(args.method)
    elif args.method in WARM_STARTED:
        if ws is None:
            raise ValueError(
                f"Method {args.method!r} needs a warm start, and there is {prior_source}."
            )
        policy = make_baseline(args.method, warm_start=ws)
    else:
        policy = make_baseline(args.method)
    model = args.network or MLPSpec()
    owned = None
    if isinstance(store, str):
        from tunegym.metastore import MetaStore

        store = owned = MetaStore(store)
    source = None
    if ft is not None:
        source, found = find_source(store, folds[0], args.from_model, transfer=args.transfer)
        if source is not None and args.transfer_check and source.probes(folds[0]):
            check = source.transfer_check(folds[0], seed=args.seed)
            found += f"; transfer check: {check.describe()}"
            if not check.pays:
                found += (", so no fine-tuning candidates (transfer_check=False / "
                          "--no-transfer-check adds them)")  # fmt: skip
                source = None
        prior_source += f"; {found}" if found else ""
    elif args.from_model is not None:
        raise ValueError(
            f"from_model= fine-tunes with the freeze-thaw agent (method 'auto' or "
            f"{FREEZE_THAW!r}), not with method {args.method!r}."
        )
    backend = TuneBackend(
        folds, space, model, metric=args.metric, device=args.device, store=store, cache=cache,
        val_size=args.val_size, test_size=args.test_size, source=source,
    )  # fmt: skip
    n_folds = len(folds)
    driver: _PolicyDriver | _FreezeThawDriver
    if ft is not None:
        assert space.space is not None  # _ft_search rejects the grid
        prior: np.ndarray | RankWeightedPrior | None = None
        n_portfolio = 0 if ws is None else sum(e.config is not None for e in ws.portfolio)
        if source is not None:
            search = finetune_search(space, source, seed=args.seed)
            space, prior, n_portfolio = search.space, search.prior, search.portfolio
            prior_source += search.note
            backend.space = space
            if agent is None:  # an agent that learnt fine-tuning, where one is installed
                ft, note = _transfer_agent(ft)
                prior_source += note
        elif ws is not None:
            meta = backend.meta_features if ft.net.use_meta else None
            prior, note = _ft_prior(space.candidates, meta)
            prior_source += note
        assert space.space is not None
        ft_env = FreezeThawEnv(
            space.space,
            space.candidates,
            backend,
            budget=args.budget_epochs // n_folds,
            max_epochs=space.max_epochs,
            prior=prior,
            k_choices=ft.k_choices,
            trial_seeds=(args.seed,),
            budget_seconds=args.budget_seconds,
            portfolio=range(min(n_portfolio, space.n_configs)),
            price=args.price,
        )
        driver = _FreezeThawDriver(ft, ft_env, backend, n_folds)
        searched = space
    else:
        assert policy is not None
        env = make_tuning_env(
            folds[0],
            backend,
            space=space,
            budget_epochs=args.budget_epochs // n_folds,
            budget_seconds=args.budget_seconds,
            n_slots=n_slots,
            model=model,
            # Three seeds from the run's, as the replayed curves the v1 agent learnt on have: a
            # configuration started again trains with a new seed, at most three times.
            trial_seeds=tuple(args.seed + i for i in range(3)),
            metric=args.metric,
            prior=ws.prior if ws is not None and tuner is not None else None,
        )
        driver = _PolicyDriver(policy, env, n_folds)
        searched = env.task.space
    history: list[StepRecord] = []

    def result(status: str) -> TuningResult:
        return _result(
            args, folds, searched, backend, history, prior_source, status=status,
            wall_seconds=time.perf_counter() - started, cache=cache,
        )  # fmt: skip

    def record(step: StepRecord, done: bool) -> None:
        history.append(step)
        if report is not None and not done:
            write_report(result("running"), report)
        if progress is not None:
            progress(step)

    try:
        if isinstance(driver, _FreezeThawDriver) and (args.workers > 1 or ray_address):
            _run_async(driver, args.workers, ray_address, args.seed, record)
        else:
            _run_steps(driver, args.seed, record)
        backend.finish()  # the store's runs of this run's trials are no longer partial
        final = result("finished")
        if ft is not None and store is not None and not isinstance(store, str):
            zoo_name = add_to_zoo(store, final, folds[0])  # before an owned store closes
            if zoo_name is not None:
                note = f"{final.prior}; best model kept in the zoo as {zoo_name}"
                final = replace(final, prior=note)
    except KeyboardInterrupt as interrupt:
        partial = result("interrupted")
        if report is not None:
            write_report(partial, report)
        raise TuningInterrupted(partial) from interrupt
    finally:
        driver.env.close()
        if owned is not None:
            owned.close()
    if cache is not None and not keep_checkpoints:
        cache.clear()
        final = replace(final, checkpoints=None)
    if report is not None:
        write_report(final, report)
    return final


def _run_steps(
    driver: _PolicyDriver | _FreezeThawDriver,
    seed: int,
    record: Callable[[StepRecord, bool], None],
) -> None:
    """One trial at a time: act, step, observe, until the episode ends."""
    obs = driver.reset(seed)
    done = False
    while not done:
        tick = time.perf_counter()
        action = driver.act(obs)
        decision = time.perf_counter() - tick
        obs, _, terminated, truncated, info = driver.env.step(action)
        tick = time.perf_counter()
        driver.observe(info)
        decision += time.perf_counter() - tick
        done = terminated or truncated
        record(driver.record(info, decision, action), done)


def _run_async(
    driver: _FreezeThawDriver,
    n: int,
    ray_address: str | None,
    seed: int,
    record: Callable[[StepRecord, bool], None],
) -> None:
    """Up to ``n`` trials at once: the agent decides whenever a worker is free, trials still
    training pending in its observation (`tunegym.envs.AsyncRunner`)."""
    from tunegym.parallel import Workers, executor

    workers = Workers(n, ray_address)
    with executor(workers) as pool:
        launcher = ExecutorLauncher(driver.backend, pool)
        runner = AsyncRunner(driver.env, driver.act, launcher, workers.n)

        def on_step(step: AsyncStep) -> None:
            entry = driver.record(step.info, step.decision_seconds, step.action)
            record(replace(entry, pending=step.pending), step.done)

        runner.run(seed=seed, on_step=on_step)


class _PolicyDriver:
    """`_run`'s loop on a `TuningEnv`: the v1 agent or a baseline acts and observes."""

    def __init__(self, policy: Policy, env: TuningEnv, n_folds: int) -> None:
        self.policy, self.env, self.n_folds = policy, env, n_folds
        self.epochs_of: dict[int, int] = {}

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        self.policy.reset(self.env, seed)
        self.epochs_of = {}
        return obs

    def act(self, obs: np.ndarray) -> int:
        return self.policy.act(obs, self.env.action_masks())

    def observe(self, info: dict[str, Any]) -> None:
        self.policy.observe(info)

    def record(self, info: dict[str, Any], decision: float, action: int) -> StepRecord:
        return _step_record(info["step"], decision, self.epochs_of, self.n_folds)


class _FreezeThawDriver:
    """`_run`'s loop on a `FreezeThawEnv`: the freeze-thaw agent acts greedily on the masks.

    A candidate's trial is its `TuneBackend` handle (the order the env started trials in: the
    result's trials).
    """

    def __init__(
        self, agent: FreezeThawAgent, env: FreezeThawEnv, backend: TuneBackend, n_folds: int
    ) -> None:
        self.agent, self.env, self.backend, self.n_folds = agent, env, backend, n_folds

    def reset(self, seed: int) -> np.ndarray:
        obs, _ = self.env.reset(seed=seed)
        return obs

    def act(self, obs: np.ndarray, mask: np.ndarray | None = None) -> int:
        return self.agent.decide(self.env, obs, mask)

    def observe(self, info: dict[str, Any]) -> None:
        return None

    def record(self, info: dict[str, Any], decision: float, action: int) -> StepRecord:
        """A step of the env's log (`FreezeThawEnv`'s entries) as a record."""
        entry = info["step"]
        candidate = entry.get("candidate")
        trial = lr = batch_size = val = None
        if candidate is not None:
            trial = self.env.handle(int(candidate))
            config = self.env.candidates[int(candidate)]
            lr = learning_rate_of(config)
            batch_size = None if config.get("batch_size") is None else int(config["batch_size"])
            scores = self.backend.logs[trial].val
            val = scores[-1] if scores else None
        incumbent = info.get("incumbent")
        return StepRecord(
            step=int(entry["step"]),
            action=-1 if entry["kind"] == "invalid" else int(action),
            kind=str(entry["kind"]),
            trial=trial,
            lr=lr,
            batch_size=batch_size,
            epochs=int(entry.get("epochs", 0)),
            trial_epochs=int(entry.get("epoch_to", 0)),
            val_score=val,
            incumbent_val=0.0 if incumbent is None else float(incumbent["val_score"]),
            epochs_used=int(entry["epochs_used"]) * self.n_folds,
            seconds=float(entry["seconds"]),
            decision_seconds=decision,
        )


def _step_record(
    entry: dict[str, Any], decision: float, epochs_of: dict[int, int], n_folds: int
) -> StepRecord:
    """A step of the env's log as a record; ``epochs_of`` counts each trial's epochs.

    The env counts epochs of a trial; with ``n_folds`` folds each costs ``n_folds`` epochs of
    the budget, which ``epochs_used`` reports.
    """
    trial = entry.get("trial")
    if trial is not None:
        epochs_of[trial] = epochs_of.get(trial, 0) + int(entry["epochs"])
    return StepRecord(
        step=int(entry["step"]),
        action=entry["action"] if isinstance(entry["action"], int) else -1,
        kind=str(entry["kind"]),
        trial=trial,
        lr=entry.get("lr"),
        batch_size=entry.get("batch_size"),
        epochs=int(entry.get("epochs", 0)),
        trial_epochs=epochs_of.get(trial, 0) if trial is not None else 0,
        val_score=entry.get("val_score"),
        incumbent_val=float(entry["incumbent_val"]),
        epochs_used=int(entry["epochs_used"]) * n_folds,
        seconds=float(entry["seconds"]),
        decision_seconds=decision,
    )


def _result(
    args: TuneArgs,
    folds: list[TabularDataset],
    space: SearchSpace,
    backend: TuneBackend,
    history: list[StepRecord],
    prior: str,
    *,
    status: str,
    wall_seconds: float,
    cache: TrialCache | None,
) -> TuningResult:
    """The result of a run (finished, or partial when interrupted)."""
    n_folds = len(folds)
    best = None
    members: tuple[tuple[MLP, FittedPreprocessor | None], ...] = ()
    states = backend.rebuild_best() if status == "finished" else backend.best_states
    if backend.best_trial is not None and states is not None:
        log = backend.logs[backend.best_trial]
        best = BestConfig(
            lr=log.lr,
            batch_size=log.batch_size,
            epochs=backend.best_epoch,
            val_score=log.val[backend.best_epoch - 1],
            test_score=log.test[backend.best_epoch - 1],
            trial=backend.best_trial,
            seed=log.seed,
            max_epochs=space.max_epochs,
            config=dict(log.config),
        )
        networks = []
        for dataset, state in zip(folds, states, strict=True):
            network = build_mlp(log.spec, dataset.n_features, dataset.n_classes)
            network.load_state_dict(state)
            networks.append(network.eval())
        members = tuple(zip(networks, (d.preprocessor for d in folds), strict=True))
    trials = tuple(
        TrialCurve(
            i, t.lr, t.batch_size, t.seed, tuple(t.val), tuple(t.test),
            tuple(u * n_folds for u in t.used),
            train_loss=tuple(t.curves["train_loss"]), val_loss=tuple(t.curves["val_loss"]),
            config=dict(t.config),
        )
        for i, t in enumerate(backend.logs)
    )  # fmt: skip
    epochs = sum(len(t.val) for t in backend.logs) * n_folds
    return TuningResult(
        method=args.method,
        dataset=folds[0].name,
        seed=args.seed,
        budget_epochs=args.budget_epochs,
        epochs_used=epochs,
        seconds=float(sum(r.seconds for t in backend.logs for e in t.records for r in e)),
        wall_seconds=wall_seconds,
        decision_seconds=float(sum(r.decision_seconds for r in history)),
        metric=args.metric,
        best=best,
        model=members[0][0] if members else None,
        preprocessor=folds[0].preprocessor,
        class_names=folds[0].info.class_labels,
        history=tuple(history),
        trials=trials,
        prior=prior,
        cv=args.cv,
        fold_models=members if n_folds > 1 else (),
        test_metrics=score_on_test(members, folds) if members else {},
        status=status,
        arguments=args.to_json(),
        checkpoints=None if cache is None else str(cache.folder),
        epochs_trained=backend.trained_epochs,
        epochs_resumed=backend.served_epochs,
    )
