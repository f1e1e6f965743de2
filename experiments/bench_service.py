"""Latency of ``POST /v1/warmstart`` under an open-loop load on loopback, shipped meta-store.

(1) Starts ``tunegym serve --no-store --host 127.0.0.1 --port <free port>`` (the shipped snapshot,
    144 datasets, read-only) as a subprocess, or uses the running service at ``--url``; waits for
    ``GET /v1/health``; the server it started is always terminated at the end.
(2) For each rate in ``--rates``: an open-loop load generator (one asyncio loop, an
    ``httpx.AsyncClient`` with a pool of ``connections`` keep-alive connections) schedules request
    i at ``t0 + i / rate`` whatever the answers do, and times each one from its *scheduled* send
    time, so a server (or client) that falls behind shows up as latency instead of as fewer sends
    (no coordinated omission). ``warmup`` seconds of requests go first, in the same stream, and are
    not counted; then ``min(duration * rate, max_requests)`` counted ones. Requests still running
    ``time_limit`` seconds after the first scheduled send are cancelled and count as errors.
    Bodies cycle through the snapshot datasets' meta-features (OpenML qualities; no id, family,
    part or ``tunegym.*`` columns; missing values left out), so consecutive requests describe
    different datasets; search space lr (log, 1e-4..1e-1) × batch_size (log, 16..512), k = 8.
    Reported per rate: offered and achieved rate (answers/s between the first and the last
    answer), n, errors (status != 200 or no answer), p50, p90, p99, max latency (ms), how late
    the generator itself sent (p99), and the CPU time the server process used per request (from
    /proc, when this script started it) and by this script, and how many cores everything else
    on the machine kept busy meanwhile (from /proc/stat; near 0 for clean figures), and the
    longest garbage-collection pause of the load generator (its GC is frozen during the load
    unless ``--no-freeze-client-gc``: a gen-2 pass over the imports' objects stalls it ~170 ms).
(3) In-process cost, no HTTP: ``WarmStartService.warm_start`` on the same (already validated)
    requests, and the whole handler work without transport (validate the JSON body, answer,
    serialise the answer), median and p99 over ``inprocess_requests`` calls.

Writes the CSV (one row per rate, with the machine and versions), the JSON of everything, and a
figure (latency CDF per rate; latency over the run).

Run (the command that produced docs/SERVICE_BENCH.md):
    .venv/bin/python experiments/bench_service.py
"""

from __future__ import annotations

import asyncio
import csv
import gc
import importlib.util
import json
import math
import os
import platform
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

import tunegym
from tunegym._args import parse_dataclass_args
from tunegym.metastore import snapshot_meta_features

SEARCH_SPACE: dict[str, Any] = {
    "parameters": [
        {"name": "lr", "type": "float", "low": 1e-4, "high": 1e-1, "log": True},
        {"name": "batch_size", "type": "int", "low": 16, "high": 512, "log": True},
    ]
}
_DROPPED = ("openml_did", "family", "part")
LAG_LIMIT_MS = 10.0
"""A rate whose sends were more than this late at p99 is flagged ``generator_behind``."""
CSV_FIELDS = [
    "offered_rps", "achieved_rps", "n", "ok", "errors", "p50_ms", "p90_ms", "p99_ms", "max_ms",
    "mean_ms", "send_lag_p99_ms", "generator_behind", "server_cpu_ms_per_request",
    "client_cpu_ms_per_request", "other_cpu_cores", "client_gc_max_ms", "duration_s",
    "warmup_requests", "connections", "inprocess_warm_start_median_ms",
    "inprocess_handler_median_ms", "cpu_count", "cpu_model", "python", "uvicorn", "uvicorn_http",
    "uvicorn_loop", "fastapi", "httpx", "tunegym", "commit",
]  # fmt: skip


@dataclass
class Args:
    """Benchmark settings (each is a ``--flag`` of the same name with dashes)."""

    rates: list[float] = field(default_factory=lambda: [50.0, 200.0])
    """Offered request rates (requests/s), one run each, in this order."""
    duration: float = 10.0
    """Seconds of counted requests per rate (their number is capped by ``max_requests``)."""
    max_requests: int = 2000
    """At most this many counted requests per rate."""
    warmup: float = 2.0
    """Seconds of requests at the same rate before the counted ones (not counted)."""
    time_limit: float = 60.0
    """Hard limit per rate, from the first scheduled send; later answers count as errors."""
    request_timeout: float = 10.0
    """httpx timeout of one request (connect, pool wait, read); a timeout counts as an error."""
    connections: int = 64
    """Size of the client's connection pool (and of its keep-alive pool)."""
    k: int = 8
    """Configurations asked for per request."""
    url: str = ""
    """A running service to load (e.g. http://127.0.0.1:8000); empty: start ``tunegym serve``."""
    server_log_level: str = "warning"
    """``--log-level`` of the started server (``info`` adds one access-log line per request)."""
    freeze_client_gc: bool = True
    """``gc.freeze()`` in this process during each rate, so that the load generator's own gen-2
    collections (~170 ms here, over the imported modules' objects) do not stall it; the
    server's collections are the server's and stay in the figures."""
    startup_timeout: float = 60.0
    """Seconds to wait for the started server's ``/v1/health``."""
    inprocess_requests: int = 1000
    """Calls timed in part (3) (0: skip it)."""
    csv_out: Path = Path("docs/benchmarks/service_latency.csv")
    json_out: Path = Path("docs/benchmarks/service_latency.json")
    figure: Path = Path("docs/figures/service_latency.png")
    """Output paths; an empty ``--figure ''`` writes no figure."""


def parse_args(argv: list[str] | None = None) -> Args:
    """`Args` from the command line."""
    return parse_dataclass_args(Args, argv, __doc__)


# --------------------------------------------------------------------------- requests


def request_bodies(k: int = 8) -> list[dict[str, Any]]:
    """One ``/v1/warmstart`` body per snapshot dataset, described by its meta-features only."""
    table = snapshot_meta_features()
    columns = [c for c in table.columns if c not in _DROPPED and not c.startswith("tunegym.")]
    bodies = []
    for _, row in table[columns].iterrows():
        features = {
            name: float(value) for name, value in row.items() if math.isfinite(float(value))
        }
        bodies.append(
            {"dataset": {"meta_features": features}, "search_space": SEARCH_SPACE, "k": k}
        )
    return bodies


# --------------------------------------------------------------------------- server


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def serve_command(port: int, log_level: str) -> list[str]:
    """``tunegym serve --no-store`` on loopback, with this interpreter's tunegym."""
    script = Path(sys.executable).parent / "tunegym"
    launcher = (
        [str(script)]
        if script.exists()
        else [sys.executable, "-c", "from tunegym.cli import main; main()"]
    )
    return [
        *launcher, "serve", "--no-store", "--host", "127.0.0.1", "--port", str(port),
        "--log-level", log_level,
    ]  # fmt: skip


def wait_healthy(url: str, timeout: float, process: subprocess.Popen[bytes] | None = None) -> float:
    """Poll ``GET /v1/health`` until it answers 200; return the seconds waited."""
    start = time.perf_counter()
    with httpx.Client(timeout=2.0) as client:
        while True:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"the server exited with code {process.returncode}")
            try:
                if client.get(f"{url}/v1/health").status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"{url}/v1/health did not answer within {timeout} s")
            time.sleep(0.1)


@contextmanager
def started_server(args: Args) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
    """(base URL, server pid or None, facts); starts ``tunegym serve`` unless ``args.url``."""
    if args.url:
        url = args.url.rstrip("/")
        yield url, None, {"url": url, "server_command": None, "startup_s": None}
        return
    port = free_port()
    command = serve_command(port, args.server_log_level)
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            try:
                startup = wait_healthy(url, args.startup_timeout, process)
            except (RuntimeError, TimeoutError) as exc:
                log.seek(0)
                tail = log.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{shlex.join(command)}: {exc}\n{tail}") from exc
            facts = {"url": url, "server_command": shlex.join(command), "startup_s": startup}
            yield url, process.pid, facts
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def process_cpu_seconds(pid: int | None) -> float | None:
    """User + system CPU seconds of a process so far (Linux /proc), else None."""
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def machine_busy_seconds() -> float | None:
    """CPU seconds all processes of the machine spent busy so far (Linux /proc/stat), or None."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    # user nice system idle iowait irq softirq (steal is the hypervisor's; guest is in user)
    return (sum(fields[:7]) - idle) / os.sysconf("SC_CLK_TCK")


# --------------------------------------------------------------------------- load


async def open_loop(
    url: str, bodies: Sequence[dict[str, Any]], rate: float, n_warmup: int, n: int, args: Args
) -> list[dict[str, Any]]:
    """Send ``n_warmup + n`` requests at ``rate``/s open loop; one record per request.

    Request i is due at ``t0 + i / rate``; its latency runs from then to its answer. Records:
    index, warmup, due and sent (s since t0), latency (s, None if unanswered), status (0: none).
    """
    total = n_warmup + n
    payloads = [json.dumps(bodies[i % len(bodies)]).encode() for i in range(total)]
    records: list[dict[str, Any]] = [
        {"index": i, "warmup": i < n_warmup, "due": i / rate, "sent": None, "latency": None,
         "status": 0, "error": None}
        for i in range(total)
    ]  # fmt: skip
    limits = httpx.Limits(
        max_connections=args.connections, max_keepalive_connections=args.connections
    )
    headers = {"content-type": "application/json"}
    async with httpx.AsyncClient(
        base_url=url, limits=limits, timeout=args.request_timeout, headers=headers
    ) as client:
        loop = asyncio.get_running_loop()
        t0 = loop.time() + 0.05

        async def one(i: int) -> None:
            record = records[i]
            record["sent"] = loop.time() - t0
            try:
                response = await client.post("/v1/warmstart", content=payloads[i])
                await response.aread()
                record["status"] = response.status_code
            except httpx.HTTPError as exc:
                record["error"] = type(exc).__name__
            record["latency"] = loop.time() - t0 - record["due"]

        tasks = []
        deadline = t0 + args.time_limit
        for i in range(total):
            due = t0 + records[i]["due"]
            if due > deadline:
                break
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    for record in records:
        if record["latency"] is None and record["error"] is None:
            record["error"] = "time_limit"
    return records


def summarize(records: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    """Figures of the counted requests of one rate (latencies in ms)."""
    counted = [r for r in records if not r["warmup"]]
    ok = [r for r in counted if r["status"] == 200]
    latencies = np.array([r["latency"] for r in ok]) * 1e3
    lags = np.array([r["sent"] - r["due"] for r in counted if r["sent"] is not None]) * 1e3
    done = sorted(r["due"] + r["latency"] for r in ok)

    def pct(q: float) -> float:
        return float(np.percentile(latencies, q)) if latencies.size else math.nan

    return {
        "offered_rps": rate,
        # answers per second: n answers span n - 1 intervals between the first and the last
        "achieved_rps": (len(ok) - 1) / (done[-1] - done[0]) if len(ok) > 1 else math.nan,
        "n": len(counted),
        "ok": len(ok),
        "errors": len(counted) - len(ok),
        "error_kinds": sorted(
            {str(r["error"] or r["status"]) for r in counted if r["status"] != 200}
        ),
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
        "max_ms": float(latencies.max()) if latencies.size else math.nan,
        "mean_ms": float(latencies.mean()) if latencies.size else math.nan,
        "send_lag_p99_ms": float(np.percentile(lags, 99)) if lags.size else math.nan,
        # The load generator itself could not keep up: the figures then measure it.
        "generator_behind": bool(lags.size) and float(np.percentile(lags, 99)) > LAG_LIMIT_MS,
        "duration_s": done[-1] - done[0] if done else 0.0,
        "warmup_requests": len(records) - len(counted),
    }


def load_one_rate(
    url: str, bodies: Sequence[dict[str, Any]], rate: float, args: Args, pid: int | None
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Run one rate; (summary, per-request records)."""
    if rate <= 0:
        raise ValueError(f"Rates must be > 0, got {rate}.")
    n = max(1, min(args.max_requests, round(args.duration * rate)))
    n_warmup = round(args.warmup * rate)
    if args.freeze_client_gc:
        gc.collect()
        gc.freeze()  # the imports' ~330k objects: no more 100-200 ms gen-2 scans in the client
    pauses: list[float] = []
    began: list[float] = []

    def clock_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        elif began:
            pauses.append(time.perf_counter() - began.pop())

    gc.callbacks.append(clock_gc)
    server_before, client_before = process_cpu_seconds(pid), time.process_time()
    busy_before, wall_before = machine_busy_seconds(), time.perf_counter()
    try:
        records = asyncio.run(open_loop(url, bodies, rate, n_warmup, n, args))
    finally:
        gc.callbacks.remove(clock_gc)
        if args.freeze_client_gc:
            gc.unfreeze()
    server_after, client_after = process_cpu_seconds(pid), time.process_time()
    busy_after, wall = machine_busy_seconds(), time.perf_counter() - wall_before
    summary = summarize(records, rate)
    total = len(records)
    server = (
        server_after - server_before
        if server_before is not None and server_after is not None
        else None
    )
    client = client_after - client_before
    summary["server_cpu_ms_per_request"] = None if server is None else server * 1e3 / total
    summary["client_cpu_ms_per_request"] = client * 1e3 / total
    # Cores kept busy by everything else on the machine (should be ~0 for clean figures).
    summary["other_cpu_cores"] = (
        (busy_after - busy_before - client - server) / wall
        if busy_before is not None and busy_after is not None and server is not None
        else None
    )
    summary["client_gc_max_ms"] = max(pauses, default=0.0) * 1e3
    summary["connections"] = args.connections
    return summary, records


# --------------------------------------------------------------------------- in process


def in_process(bodies: Sequence[dict[str, Any]], calls: int) -> dict[str, Any]:
    """Median/p99 ms of `WarmStartService.warm_start`, and of validate + answer + serialise."""
    from tunegym.service import WarmStartRequest, WarmStartService

    service = WarmStartService.open(None)
    raw = [json.dumps(b).encode() for b in bodies]
    requests = [WarmStartRequest.model_validate_json(r) for r in raw]
    for request in requests[: min(len(requests), 20)]:  # warm up caches and lazy imports
        service.warm_start(request)
    answer, handler = [], []
    for i in range(calls):
        start = time.perf_counter()
        service.warm_start(requests[i % len(requests)])
        answer.append(time.perf_counter() - start)
    for i in range(calls):
        start = time.perf_counter()
        out = service.warm_start(WarmStartRequest.model_validate_json(raw[i % len(raw)]))
        out.model_dump_json(exclude_none=True)
        handler.append(time.perf_counter() - start)

    def ms(values: list[float], q: float) -> float:
        return float(np.percentile(values, q)) * 1e3

    return {
        "calls": calls,
        "warm_start_median_ms": statistics.median(answer) * 1e3,
        "warm_start_p99_ms": ms(answer, 99),
        "handler_median_ms": statistics.median(handler) * 1e3,
        "handler_p99_ms": ms(handler, 99),
    }


# --------------------------------------------------------------------------- run


def machine() -> dict[str, Any]:
    """CPU and versions, for the CSV and the doc."""
    import fastapi
    import uvicorn

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True, cwd=Path(__file__).parent,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit = "unknown"
    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    found = importlib.util.find_spec
    return {
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "uvicorn": uvicorn.__version__,
        # what uvicorn picks for ``--http auto`` / ``--loop auto`` in this environment
        "uvicorn_http": "httptools" if found("httptools") else "h11",
        "uvicorn_loop": "uvloop" if found("uvloop") else "asyncio",
        "fastapi": fastapi.__version__,
        "httpx": httpx.__version__,
        "tunegym": tunegym.__version__,
        "commit": commit,
    }


def run(args: Args) -> dict[str, Any]:
    """Measure every rate and the in-process cost; write CSV, JSON, figure; return the results."""
    bodies = request_bodies(args.k)
    rates: list[dict[str, Any]] = []
    all_records: dict[str, list[dict[str, Any]]] = {}
    with started_server(args) as (url, pid, server):
        for rate in args.rates:
            summary, records = load_one_rate(url, bodies, rate, args, pid)
            rates.append(summary)
            all_records[f"{rate:g}"] = records
    local = in_process(bodies, args.inprocess_requests) if args.inprocess_requests > 0 else None
    result: dict[str, Any] = {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": machine(),
        "server": server,
        "request_bodies": len(bodies),
        "rates": rates,
        "in_process": local,
    }
    write_outputs(result, all_records, args)
    return result


def csv_rows(result: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per rate, with the in-process figures and the machine repeated on each."""
    local = result["in_process"] or {}
    extra = {
        "inprocess_warm_start_median_ms": local.get("warm_start_median_ms"),
        "inprocess_handler_median_ms": local.get("handler_median_ms"),
        **result["machine"],
    }
    return [{k: {**r, **extra}.get(k) for k in CSV_FIELDS} for r in result["rates"]]


def write_outputs(
    result: dict[str, Any], records: dict[str, list[dict[str, Any]]], args: Args
) -> None:
    for path in (args.csv_out, args.json_out):
        path.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv_out, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=CSV_FIELDS)
        writer.writeheader()
        for row in csv_rows(result):
            writer.writerow({k: f"{v:.4g}" if isinstance(v, float) else v for k, v in row.items()})
    args.json_out.write_text(json.dumps(result, indent=2) + "\n")
    if str(args.figure) not in ("", "."):
        plot(records, result, args.figure)


def plot(records: dict[str, list[dict[str, Any]]], result: dict[str, Any], path: Path) -> None:
    """Left: latency CDF per rate (log x). Right: each request's latency over the run."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter

    fig, (cdf, series) = plt.subplots(1, 2, figsize=(11, 4.2))
    for (rate, recs), summary in zip(records.items(), result["rates"], strict=True):
        ok = [r for r in recs if not r["warmup"] and r["status"] == 200]
        lat = np.sort([r["latency"] * 1e3 for r in ok])
        if not lat.size:
            continue
        label = f"{rate} req/s (p50 {summary['p50_ms']:.1f}, p99 {summary['p99_ms']:.1f} ms)"
        (line,) = cdf.plot(lat, np.arange(1, lat.size + 1) / lat.size, label=label)
        series.plot(
            [r["due"] for r in ok], [r["latency"] * 1e3 for r in ok], ".", ms=2,
            color=line.get_color(), label=f"{rate} req/s",
        )  # fmt: skip
    cdf.set_xscale("log")
    cdf.set_xlabel("latency from scheduled send (ms)")
    cdf.set_ylabel("fraction of requests")
    cdf.axhline(0.99, color="grey", lw=0.6, ls=":")
    cdf.axhline(0.5, color="grey", lw=0.6, ls=":")
    cdf.legend(fontsize=8, loc="lower right")
    cdf.grid(alpha=0.3, which="both")
    series.set_yscale("log")
    series.set_xlabel("scheduled send time (s from the start of the warm-up, not shown)")
    series.set_ylabel("latency (ms)")
    series.legend(fontsize=8, markerscale=4)
    series.grid(alpha=0.3, which="both")
    m = result["machine"]
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    for axis in (cdf.xaxis, series.yaxis):
        axis.set_major_formatter(plain)
        axis.set_minor_formatter(plain)
    fig.suptitle(
        f"POST /v1/warmstart, open loop on loopback, shipped snapshot (k={result['args']['k']}); "
        f"{m['cpu_count']} cores shared by server and load generator",
        fontsize=10,
    )
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def format_table(result: dict[str, Any]) -> str:
    lines = [
        "offered  achieved      n  errors   p50 ms   p90 ms   p99 ms   max ms  "
        "send-lag p99  server CPU ms/req  other cores  client GC max ms",
    ]
    lines.append("-" * len(lines[0]))
    for r in result["rates"]:
        cpu, other = r["server_cpu_ms_per_request"], r["other_cpu_cores"]
        lines.append(
            f"{r['offered_rps']:>7g}  {r['achieved_rps']:>8.1f}  {r['n']:>5}  {r['errors']:>6}  "
            f"{r['p50_ms']:>7.2f}  {r['p90_ms']:>7.2f}  {r['p99_ms']:>7.2f}  {r['max_ms']:>7.2f}  "
            f"{r['send_lag_p99_ms']:>12.2f}  {'' if cpu is None else f'{cpu:>17.2f}'}"
            f"  {'' if other is None else f'{other:>11.2f}'}  {r['client_gc_max_ms']:>16.2f}"
        )
        if r["generator_behind"]:
            lines.append(
                f"  ^ the load generator sent late (p99 > {LAG_LIMIT_MS:g} ms): this row measures"
                " it, not the service"
            )
    local = result["in_process"]
    if local:
        lines.append(
            f"in process, no HTTP ({local['calls']} calls): warm_start median "
            f"{local['warm_start_median_ms']:.2f} ms (p99 {local['warm_start_p99_ms']:.2f}); "
            f"validate + warm_start + serialise median {local['handler_median_ms']:.2f} ms "
            f"(p99 {local['handler_p99_ms']:.2f})"
        )
    m = result["machine"]
    lines.append(
        f"machine: {m['cpu_count']} cores, {m['cpu_model']}; Python {m['python']}, uvicorn "
        f"{m['uvicorn']} ({m['uvicorn_http']}, {m['uvicorn_loop']} loop), FastAPI "
        f"{m['fastapi']}, httpx {m['httpx']}"
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(format_table(run(parse_args())))
