"""`AsyncRunner`: a freeze-thaw policy deciding while up to W trials train at once.

The policy acts whenever a worker is free: each advance it picks is dispatched to the env
(`FreezeThawEnv.dispatch`: the candidate shows as pending, its epochs are reserved) and sent to a
`Launcher`; the runner then waits for the first advance to finish and brings its epochs in
(`FreezeThawEnv.complete`), so the policy's next decision sees every result so far and every
trial still out. With one worker this is `FreezeThawEnv.step`, action for action.

Launchers run the advances: `InlineLauncher` in this process, one at a time; `SimulatedLauncher`
on a replay or pool backend with a clock (an advance ends its recorded seconds after it was sent,
W at once), which is how asynchronous episodes are replayed and tested without workers;
`tunegym.agent`'s live launcher trains them on processes or Ray.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from tunegym.envs._backends import Backend, Segment
from tunegym.envs._freezethaw import FreezeThawEnv

__all__ = ["AsyncRunner", "AsyncStep", "InlineLauncher", "Launcher", "SimulatedLauncher"]

Policy = Callable[[npt.NDArray[np.float32], npt.NDArray[np.bool_]], int]


class Launcher(Protocol):
    """Where dispatched advances train (one per trial handle at a time)."""

    def submit(self, handle: int, k: int) -> None:
        """Start training ``k`` more epochs of the trial ``handle``."""

    def wait(self) -> list[tuple[int, Segment]]:
        """Block until at least one submitted advance ends; ``(handle, its epochs)`` of those
        that ended, in the order they were submitted."""

    def cancel(self) -> None:
        """Drop every advance still out (the episode ended)."""


class InlineLauncher:
    """Trains each advance in this process when `wait` asks for it, first sent first."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self._queue: list[tuple[int, int]] = []

    def submit(self, handle: int, k: int) -> None:
        self._queue.append((handle, k))

    def wait(self) -> list[tuple[int, Segment]]:
        handle, k = self._queue.pop(0)
        return [(handle, self.backend.advance(handle, k))]

    def cancel(self) -> None:
        self._queue.clear()


class SimulatedLauncher:
    """W workers on a clock over a backend that knows each epoch's seconds (replay, pools).

    An advance is read from the backend when it is sent and ends ``sum(seconds)`` after the
    later of its sending and a worker becoming free; `wait` moves the clock to the next end.
    """

    def __init__(self, backend: Backend, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be >= 1, got {workers}.")
        self.backend, self.workers = backend, workers
        self.clock = 0.0
        self._order = 0
        self._running: list[tuple[float, int, int, Segment]] = []  # (end, order, handle, epochs)

    def submit(self, handle: int, k: int) -> None:
        if len(self._running) >= self.workers:
            raise RuntimeError(f"All {self.workers} workers are busy; wait() first.")
        segment = self.backend.advance(handle, k)
        end = self.clock + float(np.sum(segment.seconds))
        heapq.heappush(self._running, (end, self._order, handle, segment))
        self._order += 1

    def wait(self) -> list[tuple[int, Segment]]:
        end, order, handle, segment = heapq.heappop(self._running)
        self.clock = end
        done = [(order, handle, segment)]
        while self._running and self._running[0][0] <= end:
            _, order, handle, segment = heapq.heappop(self._running)
            done.append((order, handle, segment))
        return [(h, s) for _, h, s in sorted(done, key=lambda d: d[0])]

    def cancel(self) -> None:
        self._running.clear()


@dataclass
class AsyncStep:
    """One completed advance (or the final stop) of an asynchronous episode.

    Attributes:
        info: the env's ``info`` after it (``info["step"]`` is its log entry).
        reward: its reward.
        action: the action that dispatched it (the stop action for the stop).
        decision_seconds: the policy's time to choose that action.
        pending: trials still out when it came in.
        done: the episode ended with it.
    """

    info: dict[str, Any]
    reward: float
    action: int
    decision_seconds: float
    pending: int
    done: bool = False


@dataclass
class AsyncRunner:
    """Runs a policy on a `FreezeThawEnv` with up to ``workers`` advances in flight.

    Args:
        env: the env (its backend is the one the launcher trains on).
        policy: ``(observation, mask) -> action``.
        launcher: where advances train.
        workers: advances in flight at most.
    """

    env: FreezeThawEnv
    policy: Policy
    launcher: Launcher
    workers: int = 1
    steps: list[AsyncStep] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}.")

    def run(
        self, seed: int | None = None, on_step: Callable[[AsyncStep], None] | None = None
    ) -> dict[str, Any]:
        """One episode; the env's last ``info`` with ``return``, ``decisions`` and ``steps``.

        A stop from the policy sends nothing more; the trials still out are waited for, then
        the env takes the stop. Whatever ends the episode (the budget, the seconds, an
        exception), advances still out are cancelled.
        """
        env = self.env
        obs, info = env.reset(seed=seed)
        self.steps = []
        out: dict[int, tuple[int, int, float]] = {}  # handle -> (candidate, action, decision)
        stopping, done, total = False, False, 0.0
        decisions: list[float] = []
        try:
            while not done:
                while not stopping and len(out) < self.workers:
                    mask = env.action_masks()
                    if not mask[: env.stop_action].any() and out:
                        break  # every action waits on a pending trial's result (or budget)
                    tick = time.perf_counter()
                    action = int(self.policy(obs, mask))
                    decision = time.perf_counter() - tick
                    decisions.append(decision)
                    if not 0 <= action < mask.size or not mask[action]:
                        raise ValueError(f"The policy chose action {action}, which is masked.")
                    if action == env.stop_action:
                        stopping = True
                        stop = (action, decision)
                        break
                    i, k = env.dispatch(action)
                    obs = env.observation
                    out[env.handle(i)] = (i, action, decision)
                    self.launcher.submit(env.handle(i), k)
                if not out:
                    action, decision = stop if stopping else (env.stop_action, 0.0)
                    obs, reward, terminated, truncated, info = env.step(env.stop_action)
                    self._record(info, reward, action, decision, 0, True, on_step)
                    total += reward
                    break
                for handle, segment in self.launcher.wait():
                    i, action, decision = out.pop(handle)
                    obs, reward, terminated, truncated, info = env.complete(i, segment)
                    total += reward
                    ended = terminated or truncated
                    self._record(info, reward, action, decision, len(out), ended, on_step)
                    if terminated or truncated:
                        done = True
                        break
        finally:
            self.launcher.cancel()
        info["return"] = total
        info["decisions"] = decisions
        return info

    def _record(
        self,
        info: dict[str, Any],
        reward: float,
        action: int,
        decision: float,
        pending: int,
        done: bool,
        on_step: Callable[[AsyncStep], None] | None,
    ) -> None:
        step = AsyncStep(info, float(reward), int(action), decision, pending, done)
        self.steps.append(step)
        if on_step is not None:
            on_step(step)
