"""Where parallel work runs: in this process, in spawned processes, or as Ray tasks.

`Workers` says where (how many workers, a Ray address, torch threads per worker); `executor`
opens a `concurrent.futures.Executor` there, and `as_completed_results` runs one function over
many jobs on it, yielding each job with its result (or its exception) as it ends. The collection
(``tunegym collect``), the benchmark (``tunegym bench``) and live tuning run their work this way.

Ray is optional (the extra ``ray``) and imported only when work goes to it. A Ray session this
process already holds (the user's own, a test fixture's) is used and left running; one started
here is shut down on exit.

Workers die with this process, however it ends (``kill -9`` included): a spawned worker watches
its parent, and a local Ray started here has a watcher process that kills Ray's processes once
this one is gone (Ray's agents would otherwise outlive it by a minute or more).

Example:
    >>> from tunegym.parallel import Workers, as_completed_results, executor
    >>> with executor(Workers(1)) as pool:
    ...     sorted(as_completed_results(pool, pow, [1, 2, 3], 2))
    [(1, 1), (2, 4), (3, 9)]
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import multiprocessing
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from concurrent.futures import BrokenExecutor, Executor, Future, ProcessPoolExecutor
from concurrent.futures import wait as wait_for
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

from tunegym.errors import MissingExtraError

if TYPE_CHECKING:
    from ray import ObjectRef

__all__ = [
    "InlineExecutor",
    "RayExecutor",
    "Workers",
    "WorkersKind",
    "as_completed_results",
    "executor",
    "is_worker_failure",
    "ray_available",
]

WorkersKind = Literal["inline", "processes", "ray"]

# ray.init waits up to minutes for an address nobody answers at: a plain TCP connection first
# tells within seconds.
_CONNECT_SECONDS: Final = 5.0
_AUTH_NOTICE: Final = "ray._private.authentication.authentication_token_setup"
# How often a worker checks that its parent lives, and a local Ray's watcher that the driver does
# (and, less often, which processes the driver's Ray has: a scan of every process).
_PARENT_POLL_S: Final = 0.5
_TREE_POLL_S: Final = 1.0
_PR_SET_PDEATHSIG: Final = 1  # <linux/prctl.h>
# Ray's exceptions that say a worker, a node or the session went away (not that the job raised).
_RAY_FAILURES: Final = (
    "WorkerCrashedError",
    "NodeDiedError",
    "LocalRayletDiedError",
    "RaySystemError",
    "ObjectLostError",
    "OutOfMemoryError",
    "TaskCancelledError",
    "RuntimeEnvSetupError",
)


def ray_available() -> bool:
    """Whether the ``ray`` package is installed (it is not imported)."""
    return importlib.util.find_spec("ray") is not None


@dataclass(frozen=True)
class Workers:
    """Where parallel work runs.

    Attributes:
        n: workers. With an address, the cluster's CPUs set the parallelism instead, except for
            ``"local"``, which starts a local Ray of ``n`` CPUs.
        ray_address: a Ray cluster: ``"ray://HOST:10001"`` (Ray Client), ``"HOST:6379"`` (from a
            node of the cluster), ``"auto"`` (the cluster this machine belongs to, or
            ``$RAY_ADDRESS``), or ``"local"`` (start a local Ray of ``n`` CPUs).
        threads: torch threads per worker (workers in this process keep the process's setting).

    Example:
        >>> Workers(1).kind
        'inline'
        >>> Workers(2, "ray://head:10001").describe()
        'on the Ray cluster at ray://head:10001'
    """

    n: int = 1
    ray_address: str | None = None
    threads: int = 1

    def __post_init__(self) -> None:
        for name, value in (("workers", self.n), ("threads", self.threads)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}.")
        if self.ray_address is not None and not self.ray_address.strip():
            raise ValueError(
                "ray_address is empty; give a Ray address (ray://HOST:10001, HOST:6379), "
                "'auto' or 'local', or None to run without Ray."
            )
        if self.ray_address not in (None, "auto", "local"):
            _endpoint(self.ray_address)  # a malformed address fails here, not when connecting

    @property
    def kind(self) -> WorkersKind:
        """``"ray"`` with an address, or for ``n > 1`` when Ray is installed; ``"processes"``
        for ``n > 1`` without Ray; ``"inline"`` (this process) for one worker and no address."""
        if self.ray_address is not None:
            return "ray"
        if self.n == 1:
            return "inline"
        return "ray" if ray_available() else "processes"

    @property
    def starts_ray(self) -> bool:
        """Whether the work needs a local Ray started for it (no address, or ``"local"``)."""
        return self.kind == "ray" and self.ray_address in (None, "local")

    def describe(self) -> str:
        """Where the work runs, for messages: ``"on a local Ray (2 CPUs)"``, ``"in this
        process"``, ``"in 2 processes"``, ``"on the Ray cluster at ray://head:10001"``."""
        if self.kind == "inline":
            return "in this process"
        if self.kind == "processes":
            return f"in {self.n} processes"
        if self.starts_ray:
            return f"on a local Ray ({self.n} CPU{'s' if self.n > 1 else ''})"
        if self.ray_address == "auto":
            found = os.environ.get("RAY_ADDRESS")
            return f"on the Ray cluster at {found}" if found else "on the running Ray cluster"
        return f"on the Ray cluster at {self.ray_address}"


class InlineExecutor(Executor):
    """Runs each call at once, in this process: `submit` returns a finished future."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        future: Future[Any] = Future()
        future.set_running_or_notify_cancel()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # the job's failure is its result; Ctrl-C goes through
            future.set_exception(exc)
        return future


class _RemoteTraceback(Exception):
    """The worker's traceback, chained to an exception raised in a Ray task."""

    def __str__(self) -> str:
        return f"\n{self.args[0]}" if self.args else ""


def _job_error(error: BaseException) -> BaseException:
    """The exception the job raised, out of Ray's wrapper (as a process pool gives it)."""
    from ray.exceptions import RayTaskError

    cause = getattr(error, "cause", None)
    if isinstance(error, RayTaskError) and isinstance(cause, BaseException):
        # Ray's message holds the worker's traceback (in colour: the codes go).
        cause.__cause__ = _RemoteTraceback(re.sub(r"\x1b\[[0-9;]*m", "", str(error)))
        return cause
    return error


class _RayFuture(Future[Any]):
    """A task's future: cancelling it cancels the task; a job's exception comes unwrapped."""

    def __init__(self, ref: ObjectRef[Any]) -> None:
        super().__init__()
        self._ref = ref
        ref.future().add_done_callback(self._settle)

    def _settle(self, task: Future[Any]) -> None:
        if not self.set_running_or_notify_cancel():
            return  # cancelled
        error = task.exception()
        try:
            if error is None:
                self.set_result(task.result())
            else:
                self.set_exception(_job_error(error))
        except Exception as exc:  # settled all the same: nobody waits forever
            self.set_exception(exc)

    def cancel(self) -> bool:
        if self.done():
            return self.cancelled()
        import ray

        ray.cancel(self._ref)
        return super().cancel()


def _set_threads(threads: int) -> None:
    """torch's threads in this worker, without importing torch for work that does not use it."""
    torch = sys.modules.get("torch")
    if torch is None:
        os.environ["OMP_NUM_THREADS"] = str(threads)  # torch reads it when it loads
    elif torch.get_num_threads() != threads:
        torch.set_num_threads(threads)


def _die_with(parent: int) -> None:
    """End this process as soon as ``parent``, the process that spawned it, is gone.

    On Linux the kernel kills it (``PR_SET_PDEATHSIG``: with the thread that spawned it, so a
    pool is to be used from the thread that opened it); everywhere a daemon thread checks every
    `_PARENT_POLL_S` seconds that the parent is still the one (an orphan gets another).
    """
    if sys.platform == "linux":
        with suppress(OSError, AttributeError):  # no libc prctl: the thread below does it
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # gone before the signal was asked for
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="tunegym-parent-watch", daemon=True).start()


def _start_worker(threads: int, parent: int) -> None:
    """A spawned worker's initializer: it dies with ``parent`` and uses ``threads`` threads."""
    _die_with(parent)
    _set_threads(threads)


def _call_in_worker(
    threads: int, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> Any:
    _set_threads(threads)
    return fn(*args, **kwargs)


class RayExecutor(Executor):
    """Runs each call as a Ray task of one CPU, in the Ray session this process holds.

    Args:
        threads: torch threads of the task's worker.
        env: environment variables of the workers (a Ray ``runtime_env``).
    """

    def __init__(self, threads: int = 1, env: Mapping[str, str] | None = None) -> None:
        import ray

        options: dict[str, Any] = {"num_cpus": 1}
        if env:
            options["runtime_env"] = {"env_vars": dict(env)}
        self._task = ray.remote(**options)(_call_in_worker)
        self._threads = threads
        self._lock = threading.Lock()
        self._pending: set[Future[Any]] = set()
        self._closed = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new futures after shutdown")
            future = _RayFuture(self._task.remote(self._threads, fn, args, kwargs))
            self._pending.add(future)
        future.add_done_callback(self._forget)
        return future

    def _forget(self, future: Future[Any]) -> None:
        with self._lock:
            self._pending.discard(future)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        with self._lock:
            self._closed = True
            pending = list(self._pending)
        if cancel_futures:
            for future in pending:
                future.cancel()
        if wait:
            wait_for([f for f in pending if not f.cancelled()])


def is_worker_failure(error: BaseException) -> bool:
    """Whether ``error`` says that a worker, a node or the pool died, not that the job raised.

    Such an error ends the work: `as_completed_results` raises it instead of yielding it.
    """
    if isinstance(error, BrokenExecutor):  # BrokenProcessPool: a process was killed
        return True
    exceptions = sys.modules.get("ray.exceptions")
    if exceptions is None:
        return False
    failures = tuple(
        getattr(exceptions, name) for name in _RAY_FAILURES if hasattr(exceptions, name)
    )
    return isinstance(error, failures) and not isinstance(error, exceptions.RayTaskError)


def _endpoint(address: str) -> tuple[str, int] | None:
    """The (host, port) behind a Ray address, or ``None`` where Ray finds it itself."""
    if address == "auto":
        address = os.environ.get("RAY_ADDRESS", "auto")
        if address in ("auto", "local", ""):
            return None
    client = address.startswith("ray://")
    rest = address.removeprefix("ray://").rstrip("/")
    if "://" in rest:
        return None  # another scheme: Ray's own business
    host, colon, port = rest.rpartition(":")
    if not colon:
        host, port = rest, "10001" if client else "6379"
    try:
        return host.strip("[]"), int(port)
    except ValueError:
        raise ValueError(
            f"A Ray address is HOST:PORT, ray://HOST:PORT, 'auto' or 'local'; got {address!r}."
        ) from None


def _unreachable(address: str, reason: object) -> str:
    return (
        f"Cannot reach the Ray cluster at {address!r} ({reason}). Check that `ray start --head` "
        "runs there, that its port is open from this machine, and the address: HOST:6379 on a "
        "node of the cluster, ray://HOST:10001 from elsewhere, or 'auto' on a node."
    )


def _psutil() -> Any:
    """psutil: installed, or the copy Ray ships (``ray/thirdparty_files``)."""
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:
        ray = importlib.util.find_spec("ray")
        if ray is None or not ray.submodule_search_locations:
            raise
        sys.path.insert(
            0, os.path.join(next(iter(ray.submodule_search_locations)), "thirdparty_files")
        )
        import psutil
    return psutil


def _reap_when_gone(driver: int) -> None:
    """Run in a process of its own (`_ray_watcher`): note the processes ``driver`` starts from
    now on (its local Ray: GCS, raylet, agents, workers) and kill those still alive once it is
    gone."""
    psutil = _psutil()
    try:
        parent = psutil.Process(driver)
    except psutil.NoSuchProcess:
        return
    own = {child.pid for child in parent.children(recursive=True)}  # this one, and older ones
    print("watching", flush=True)  # the driver starts its Ray now
    started: dict[int, Any] = {}
    scanned = 0.0
    while os.getppid() == driver and parent.is_running():
        if time.monotonic() - scanned >= _TREE_POLL_S:
            scanned = time.monotonic()
            try:
                for child in parent.children(recursive=True):
                    if child.pid not in own:
                        started.setdefault(child.pid, child)
            except psutil.Error:
                pass  # the driver ended during the scan
        time.sleep(_PARENT_POLL_S / 2)
    for process in started.values():
        with suppress(psutil.Error):
            process.kill()  # psutil kills no process that took a dead one's pid


@contextmanager
def _ray_watcher() -> Iterator[None]:
    """A process that kills the local Ray started inside if this process dies (``kill -9``).

    Ray makes its GCS and raylet die with the driver, but the raylet's agents then wait a
    minute on the dead GCS and its workers a few seconds; the watcher kills them at once.
    """
    code = (
        "import sys; from tunegym.parallel import _reap_when_gone; "
        "_reap_when_gone(int(sys.argv[1]))"
    )
    try:
        watcher = subprocess.Popen(
            [sys.executable, "-c", code, str(os.getpid())],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal stops the driver, not the watcher
        )
    except OSError:
        watcher = None  # best effort: Ray's own fate sharing remains
    if watcher is not None and watcher.stdout is not None:
        watcher.stdout.readline()  # it knows which processes are not Ray's (or it failed)
        watcher.stdout.close()
    try:
        yield
    finally:
        if watcher is not None:
            watcher.kill()
            watcher.wait()


@contextmanager
def _ray_session(workers: Workers) -> Iterator[None]:
    """A Ray session for ``workers``: the one this process holds, else one started here."""
    try:
        import ray
    except ImportError as exc:
        raise MissingExtraError("ray", "ray", f"Running work {workers.describe()}") from exc
    if ray.is_initialized():
        yield
        return
    quiet: dict[str, Any] = {"logging_level": logging.WARNING, "log_to_driver": False}
    with ExitStack() as stack:
        if workers.starts_ray:
            stack.enter_context(_ray_watcher())
            # A Ray started for this work alone: no notice that it uses Ray's default token auth.
            notice = logging.getLogger(_AUTH_NOTICE)
            level = notice.level
            notice.setLevel(logging.ERROR)
            try:
                ray.init(address="local", num_cpus=workers.n, include_dashboard=False, **quiet)
            finally:
                notice.setLevel(level)
        else:
            address = str(workers.ray_address)
            if (endpoint := _endpoint(address)) is not None:
                try:
                    socket.create_connection(endpoint, timeout=_CONNECT_SECONDS).close()
                except OSError as exc:
                    raise ConnectionError(_unreachable(address, exc)) from exc
            try:
                ray.init(address=address, **quiet)
            except ConnectionError as exc:
                raise ConnectionError(_unreachable(address, exc)) from exc
        try:
            yield
        finally:
            ray.shutdown()


@contextmanager
def _environment(env: Mapping[str, str]) -> Iterator[None]:
    """``env`` set in this process while inside (the processes it spawns inherit it)."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def executor(workers: Workers, *, env: Mapping[str, str] | None = None) -> Iterator[Executor]:
    """An executor running work where ``workers`` says (see `Workers.kind`).

    Leaving the block normally waits for the work submitted; leaving it by an exception cancels
    the work not started (Ray tasks are cancelled even while running).

    Args:
        workers: where.
        env: environment variables the workers need (e.g. ``PYTHONHASHSEED``, which must be set
            before a Python process starts): a Ray ``runtime_env`` of the tasks; for processes,
            set in this process while the block runs (the spawned ones inherit it); work in this
            process runs without them.

    Raises:
        MissingExtraError: (an ``ImportError``) for Ray work without the ``ray`` package.
        ConnectionError: for a Ray address nothing answers at.

    Example:
        >>> with executor(Workers(1)) as pool:
        ...     pool.submit(sum, [1, 2]).result()
        3
    """
    if workers.kind == "inline":
        with InlineExecutor() as inline:
            yield inline
        return
    with ExitStack() as stack:
        pool: Executor
        if workers.kind == "ray":
            stack.enter_context(_ray_session(workers))
            pool = RayExecutor(workers.threads, env)
        else:
            stack.enter_context(_environment(env or {}))
            spawn = multiprocessing.get_context("spawn")
            pool = ProcessPoolExecutor(
                workers.n, spawn, _start_worker, (workers.threads, os.getpid())
            )
        try:
            yield pool
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        pool.shutdown(wait=True)


_Job = TypeVar("_Job")
_Result = TypeVar("_Result")


def as_completed_results(
    pool: Executor,
    function: Callable[..., _Result],
    jobs: Iterable[_Job],
    *args: Any,
    window: int | None = None,
) -> Generator[tuple[_Job, _Result | BaseException], None, None]:
    """Run ``function(job, *args)`` for every job on ``pool``; yield each job with its result
    or the exception it raised, as jobs end (those ending together in the jobs' order).

    An `InlineExecutor` runs one job per step of the iteration; other executors get every job
    at once, or with a ``window`` at most that many jobs not yet yielded: ``jobs`` is then read
    as jobs end (a generator of jobs can decide each one late, e.g. claim it). Closing the
    generator (``with contextlib.closing(...)`` around the loop, so that an exception in it
    closes it too) cancels the jobs not yet yielded.

    Raises:
        BrokenProcessPool: or Ray's ``WorkerCrashedError``, ``NodeDiedError`` ... when a worker
            died (killed, out of memory): the work cannot go on (`is_worker_failure`).
    """
    if window is not None and window < 1:
        raise ValueError(f"window must be None or >= 1, got {window!r}.")
    upcoming = iter(jobs)
    limit = 1 if isinstance(pool, InlineExecutor) else window
    ended: queue.SimpleQueue[int] = queue.SimpleQueue()
    futures: dict[int, tuple[_Job, Future[_Result]]] = {}
    submitted = 0
    exhausted = False

    def on_end(index: int) -> Callable[[Future[_Result]], None]:
        return lambda _: ended.put(index)

    try:
        while True:
            while not exhausted and (limit is None or len(futures) < limit):
                try:
                    job = next(upcoming)
                except StopIteration:
                    exhausted = True
                    break
                future = pool.submit(function, job, *args)
                futures[submitted] = job, future
                future.add_done_callback(on_end(submitted))
                submitted += 1
            if not futures:
                return
            finished = [ended.get()]
            while not ended.empty():
                finished.append(ended.get())
            for index in sorted(finished):
                job, future = futures.pop(index)
                error = future.exception()
                if error is not None and is_worker_failure(error):
                    raise error
                yield job, error if error is not None else future.result()
    finally:
        for _, future in futures.values():
            future.cancel()
