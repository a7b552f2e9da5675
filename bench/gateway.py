"""Gateway benchmark: the cost of the hop, the cold-start wait it adds, and a step-load trace.

    python -m bench.gateway [--quick] [--no-docs]      (from the repository root)
    python -P bench/gateway.py [--quick] [--no-docs]

(``-P``: keep bench/ off sys.path, where a sibling script named like a standard module would shadow
the standard library's module of the same name.)

1. Hop cost. Two functions: the wisp Python runtime (handler = sha256 of the event) and a bare
   aiohttp server (the reference function of the peer figures). Each is called directly and
   through a gateway process (``bench/gateway_server.py``, the real app with a static backend),
   interleaved in rounds, at 1, 50 and 200 concurrent clients (one aiohttp client, keep-alive,
   64-byte JSON body). Reports added p50/p99, the throughput ratio, and the gateway's CPU per
   request from /proc/<pid>/stat deltas; with 50 clients also the throughput with the client
   apart (this process on the first core, every server on the others: ``client_apart``), and
   ``wrk -t1 -c50`` as another opinion when installed.
2. Cold start. An in-process gateway at zero replicas: the scale hook starts a runtime, waits
   for its /healthz, notes the time and publishes the endpoint; the wait the activator adds is
   the call's end minus that moment minus a warm call's latency.
3. Step-load trace. An in-process gateway with the autoscaler (time-compressed windows) and a
   backend that starts/stops runtime processes; clients step 0 → 4 → 30 → 4 → 0; replicas over
   time are drawn to docs/images/autoscaling-step.png.

Results go to the "Gateway" section of docs/benchmarks.md (other sections are left alone).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import json
import math
import os
import platform
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import uvloop
from bench import docs
from bench.gateway_peers import (
    OPENFAAS_GATEWAY_PORT,
    Peer,
    children,
    find_peers,
    nginx_argv,
    openfaas_gateway_env,
    watchdog_env,
)
from bench.procs import cpu_seconds, free_port, stop

from wisp.api import contract
from wisp.api.function import Function, parse_function

ROOT = Path(__file__).resolve().parents[1]

HANDLER = """
import hashlib, json, time

def handler(event, context):
    if isinstance(event, dict) and event.get("sleep"):
        time.sleep(event["sleep"])
    return {"sha256": hashlib.sha256(json.dumps(event).encode()).hexdigest()}
"""
BODY = b'{"message": "' + b"x" * 49 + b'"}'  # 64 bytes of JSON
PY = sys.executable
PY_ARGS = [PY, "-P"]


def bench_function(name: str = "bench", **spec: object) -> Function:
    return parse_function(
        {
            "metadata": {"name": name},
            "spec": {
                "runtime": "python3.12",
                "handler": "main.handler",
                "code": {"inline": HANDLER},
                **spec,
            },
        }
    )


class Processes:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen[bytes]] = []
        self.tmp = Path(tempfile.mkdtemp(prefix="wisp-bench-"))

    def start(self, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            argv,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        self.procs.append(proc)
        return proc

    def runtime(self, fn: Function, port: int) -> subprocess.Popen[bytes]:
        code = self.tmp / f"code-{port}"
        code.mkdir()
        for name, text in fn.spec.code_files().items():
            (code / name).write_text(text)
        env = contract.runtime_environment(fn, code_dir=str(code), host="127.0.0.1", port=port)
        return self.start([PY, "-m", "wisp_runtime"], env)

    def stop(self, proc: subprocess.Popen[bytes]) -> None:
        stop(proc)

    def stop_all(self) -> None:
        for proc in self.procs:
            self.stop(proc)
        shutil.rmtree(self.tmp, ignore_errors=True)


async def wait_http(url: str, within: float = 30) -> None:
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(url) as resp:
                    if resp.status < 500:
                        return
            await asyncio.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


# -- 1. hop cost -------------------------------------------------------------------------------


@dataclass
class Run:
    latencies: list[float]
    elapsed: float
    cpu: float = 0.0

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.elapsed


async def load(session: aiohttp.ClientSession, url: str, total: int, clients: int) -> Run:
    latencies: list[float] = []
    remaining = total

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            start = time.perf_counter()
            async with session.post(url, data=BODY, headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                if resp.status != 200:
                    raise RuntimeError(f"{url}: {resp.status}")
            latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    return Run(latencies, time.perf_counter() - began)


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


@dataclass
class Pair:
    direct: list[Run] = field(default_factory=list)
    via: list[Run] = field(default_factory=list)
    path_cpu: float = 0.0  # every process on the path (proxies and function) over the via runs

    def summary(self) -> dict[str, float]:
        d = [x for r in self.direct for x in r.latencies]
        g = [x for r in self.via for x in r.latencies]
        direct_rps = statistics.median(r.rps for r in self.direct)
        via_rps = statistics.median(r.rps for r in self.via)
        requests = sum(len(r.latencies) for r in self.via)
        direct_requests = sum(len(r.latencies) for r in self.direct)
        return {
            "direct_p50": pct(d, 0.5),
            "direct_p99": pct(d, 0.99),
            "via_p50": pct(g, 0.5),
            "via_p99": pct(g, 0.99),
            "added_p50": pct(g, 0.5) - pct(d, 0.5),
            "added_p99": pct(g, 0.99) - pct(d, 0.99),
            "direct_rps": direct_rps,
            "via_rps": via_rps,
            "ratio": via_rps / direct_rps,
            "cpu_us": sum(r.cpu for r in self.via) / requests * 1e6,
            "direct_cpu_us": sum(r.cpu for r in self.direct) / direct_requests * 1e6,
            "path_cpu_us": self.path_cpu / requests * 1e6,
        }


@dataclass
class Hop:
    """A way through to a function: what to call directly, what to call through the proxy, and
    whose CPU counts (the proxy's processes; the function's, called directly)."""

    label: str
    argv: list[str]
    env: dict[str, str]
    via_url: str
    ready_url: str
    direct_url: str
    function_pids: list[int]
    proxy_children: bool = False  # the proxy's children are proxies too (nginx's worker)
    watchdog: int | None = None  # a second proxy on the path, whose child is the function


# The rows of the hop table: wisp's gateway, then the peers, each in front of the same function.
HOPS = {
    "runtime": "wisp gateway → wisp Python runtime",
    "bare": "wisp gateway → bare aiohttp function",
    "bare-aiohttp": "wisp gateway, aiohttp path only (`--aiohttp-only`: no fast path) → bare function",
    "nginx": "nginx (keep-alive upstream) → bare function",
    "openfaas": "OpenFaaS gateway → bare function",
    "openfaas-watchdog": "OpenFaaS gateway → of-watchdog → bare function (OpenFaaS's whole path)",
}


def pin(pids: list[int], cpus: set[int]) -> None:
    """Every thread of ``pids`` (a Go binary has several) to run on ``cpus`` only."""
    for pid in pids:
        with contextlib.suppress(OSError):
            for task in Path(f"/proc/{pid}/task").iterdir():
                with contextlib.suppress(OSError):
                    os.sched_setaffinity(int(task.name), cpus)


@contextlib.contextmanager
def client_apart(servers: list[int]) -> Iterator[bool]:
    """The load generator (this process) on the first core and the servers on the others, as
    when the callers are on other machines; True when the machine has the cores for it."""
    cpus = os.sched_getaffinity(0)
    if len(cpus) < 2:
        yield False
        return
    first = min(cpus)
    pin(servers, cpus - {first})
    os.sched_setaffinity(0, {first})
    try:
        yield True
    finally:
        os.sched_setaffinity(0, cpus)
        pin(servers, cpus)


def cpu_of(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        with contextlib.suppress(OSError):
            total += cpu_seconds(pid)
    return total


def hops(procs: Processes, peers: dict[str, Peer]) -> list[Hop]:
    fn = bench_function(concurrency=1000)
    runtime_port, bare_port = free_port(), free_port()
    runtime = procs.runtime(fn, runtime_port)
    bare = procs.start([*PY_ARGS, "bench/gateway_upstream.py", "--port", str(bare_port)])
    bare_url = f"http://127.0.0.1:{bare_port}/"
    found = []
    for label, port, pid in (
        ("runtime", runtime_port, runtime.pid),
        ("bare", bare_port, bare.pid),
        ("bare-aiohttp", bare_port, bare.pid),
    ):
        gw_port, admin_port = free_port(), free_port()
        argv = [*PY_ARGS, "bench/gateway_server.py", "--port", str(gw_port), "--admin-port", str(admin_port)]
        argv += [
            "--upstream",
            f"127.0.0.1:{port}",
            *(["--aiohttp-only"] if label.endswith("-aiohttp") else []),
        ]
        found.append(
            Hop(
                label,
                argv,
                {},
                f"http://127.0.0.1:{gw_port}/function/bench",
                f"http://127.0.0.1:{admin_port}/readyz",
                f"http://127.0.0.1:{port}/",
                [pid],
            )
        )
    if (nginx := peers["nginx"].binary) is not None:
        port = free_port()
        workdir = procs.tmp / "nginx"
        workdir.mkdir()
        argv = nginx_argv(nginx, workdir, port, bare_port)
        url = f"http://127.0.0.1:{port}/function/bench"
        found.append(Hop("nginx", argv, {}, url, url, bare_url, [bare.pid], proxy_children=True))
    if (gateway := peers["openfaas-gateway"].binary) is not None:
        url = f"http://127.0.0.1:{OPENFAAS_GATEWAY_PORT}/function/bench"
        ready = f"http://127.0.0.1:{OPENFAAS_GATEWAY_PORT}/healthz"
        env = openfaas_gateway_env(bare_port)
        found.append(Hop("openfaas", [gateway], env, url, ready, bare_url, [bare.pid]))
        if (watchdog := peers["of-watchdog"].binary) is not None:
            # The watchdog starts its own copy of the function, as in an OpenFaaS pod.
            function_port, watchdog_port = free_port(), free_port()
            fprocess = shlex.join(
                [*PY_ARGS, str(ROOT / "bench/gateway_upstream.py"), "--port", str(function_port)]
            )
            started = procs.start([watchdog], watchdog_env(watchdog_port, function_port, fprocess))
            found.append(
                Hop(
                    "openfaas-watchdog",
                    [gateway],
                    openfaas_gateway_env(watchdog_port),
                    url,
                    url,  # answered once the watchdog's function is up
                    bare_url,
                    [bare.pid],
                    watchdog=started.pid,
                )
            )
    return found


async def hop_cost(
    procs: Processes, quick: bool, peers: dict[str, Peer]
) -> dict[str, dict[int, dict[str, float]]]:
    results: dict[str, dict[int, dict[str, float]]] = {}
    for hop in hops(procs, peers):
        proxy = procs.start(hop.argv, hop.env)
        await wait_http(hop.direct_url.removesuffix("/") + "/healthz")
        await wait_http(hop.ready_url)
        proxy_pids = [proxy.pid, *(children(proxy.pid) if hop.proxy_children else [])]
        behind = hop.function_pids
        if hop.watchdog is not None:
            # OpenFaaS's whole path: the watchdog is a proxy too, and the function behind it is
            # the one it started.
            proxy_pids.append(hop.watchdog)
            behind = children(hop.watchdog)
        path_pids = proxy_pids + behind
        direct_url, via_url = hop.direct_url, hop.via_url
        results[hop.label] = {}
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            await load(session, direct_url, 300, 10)
            await load(session, via_url, 300, 10)
            for clients, total in (
                (1, 1000 if quick else 3000),
                (50, 2000 if quick else 6000),
                (200, 2000 if quick else 6000),
            ):
                pair = Pair()
                for _ in range(2 if quick else 3):
                    before = cpu_of(hop.function_pids)
                    run = await load(session, direct_url, total // 3, clients)
                    run.cpu = cpu_of(hop.function_pids) - before
                    pair.direct.append(run)
                    before, path_before = cpu_of(proxy_pids), cpu_of(path_pids)
                    run = await load(session, via_url, total // 3, clients)
                    run.cpu = cpu_of(proxy_pids) - before
                    pair.path_cpu += cpu_of(path_pids) - path_before
                    pair.via.append(run)
                results[hop.label][clients] = pair.summary()
                if clients == 50:
                    results[hop.label][clients] |= await apart(
                        session, direct_url, via_url, path_pids + hop.function_pids, total, quick
                    )
                print(
                    hop.label,
                    clients,
                    {k: round(v, 3) for k, v in results[hop.label][clients].items()},
                    flush=True,
                )
        results[hop.label][0] = wrk_ratio(direct_url, via_url) if shutil.which("wrk") else {}
        procs.stop(proxy)
    return results


async def apart(
    session: aiohttp.ClientSession, direct_url: str, via_url: str, servers: list[int], total: int, quick: bool
) -> dict[str, float]:
    """Throughput with 50 clients, direct and through the path, with the load generator on a
    core of its own (``client_apart``); empty on a machine with one core."""
    with client_apart(servers) as pinned:
        if not pinned:
            return {}
        direct: list[float] = []
        via: list[float] = []
        for _ in range(2 if quick else 3):
            direct.append((await load(session, direct_url, total // 3, 50)).rps)
            via.append((await load(session, via_url, total // 3, 50)).rps)
    direct_rps, via_rps = statistics.median(direct), statistics.median(via)
    return {"apart_direct_rps": direct_rps, "apart_via_rps": via_rps, "apart_ratio": via_rps / direct_rps}


def wrk_ratio(direct_url: str, via_url: str) -> dict[str, float]:
    script = Path(tempfile.mkstemp(suffix=".lua")[1])
    script.write_text(
        'wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
        f"wrk.body = {json.dumps(BODY.decode())}\n"
    )
    rates = {}
    for name, url in (
        ("direct", direct_url),
        ("via", via_url),
        ("direct2", direct_url),
        ("via2", via_url),
    ):
        out = subprocess.run(
            ["wrk", "-t1", "-c50", "-d4s", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
        match = re.search(r"Requests/sec:\s+([\d.]+)", out)
        rates[name] = float(match.group(1)) if match else float("nan")
    script.unlink()
    direct = (rates["direct"] + rates["direct2"]) / 2
    via = (rates["via"] + rates["via2"]) / 2
    return {"wrk_direct_rps": direct, "wrk_via_rps": via, "wrk_ratio": via / direct}


# -- 2. cold start -----------------------------------------------------------------------------


async def cold_start(procs: Processes, rounds: int) -> dict[str, float]:
    from aiohttp.test_utils import TestServer

    from wisp.gateway.app import make_app
    from wisp.gateway.backend import Endpoint, FunctionInfo
    from wisp.gateway.config import GatewayConfig
    from wisp.gateway.static import StaticBackend

    fn = bench_function("cold")
    ready_at: list[float] = []
    running: list[subprocess.Popen[bytes]] = []
    backend: StaticBackend

    async def on_scale(key: str, replicas: int) -> None:
        if replicas == 0:
            backend.set_endpoints(key, ())
            for proc in running:
                procs.stop(proc)
            running.clear()
            return
        port = free_port()
        running.append(procs.runtime(fn, port))
        await wait_http(f"http://127.0.0.1:{port}/healthz")
        ready_at.append(time.perf_counter())
        backend.set_endpoints(key, (Endpoint("127.0.0.1", port),))

    backend = StaticBackend(on_scale=on_scale)
    backend.set_function(FunctionInfo(fn))
    backend.replicas[fn.key] = 0
    app = make_app(GatewayConfig(host="127.0.0.1", pod_name="bench"), backend, autoscale=False)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    added: list[float] = []
    url = str(server.make_url("/function/cold"))
    async with aiohttp.ClientSession() as session:
        for _ in range(rounds):
            async with session.post(url, data=BODY) as resp:
                await resp.read()
                done = time.perf_counter()
                assert resp.headers.get("X-Wisp-Cold-Start") == "true"
            warm = []
            for _ in range(20):
                start = time.perf_counter()
                async with session.post(url, data=BODY) as resp:
                    await resp.read()
                warm.append(time.perf_counter() - start)
            added.append((done - ready_at[-1] - statistics.median(warm)) * 1000)
            await backend.scale(fn.key, 0)
    await server.close()
    return {"added_p50_ms": statistics.median(added), "added_max_ms": max(added), "rounds": rounds}


# -- 3. step-load trace ------------------------------------------------------------------------


async def step_trace(procs: Processes, out_png: Path, quick: bool) -> dict[str, object]:
    from aiohttp.test_utils import TestServer

    from wisp.autoscaler.decider import Settings
    from wisp.autoscaler.loop import LoopSettings
    from wisp.gateway.app import make_app
    from wisp.gateway.backend import Endpoint, FunctionInfo
    from wisp.gateway.config import GatewayConfig
    from wisp.gateway.state import COMPONENTS
    from wisp.gateway.static import StaticBackend

    fn = bench_function("step", concurrency=10, scale={"min": 0, "max": 10, "target": 5, "idleTimeout": "8s"})
    running: dict[int, subprocess.Popen[bytes]] = {}
    backend: StaticBackend
    lock = asyncio.Lock()

    async def on_scale(key: str, replicas: int) -> None:
        async with lock:
            while len(running) > replicas:
                port, proc = running.popitem()
                backend.set_endpoints(key, tuple(Endpoint("127.0.0.1", p) for p in running))
                await asyncio.to_thread(procs.stop, proc)
            new: list[tuple[int, subprocess.Popen[bytes]]] = []
            while len(running) + len(new) < replicas:
                port = free_port()
                new.append((port, procs.runtime(fn, port)))
            for port, proc in new:
                await wait_http(f"http://127.0.0.1:{port}/healthz")
                running[port] = proc
                backend.set_endpoints(key, tuple(Endpoint("127.0.0.1", p) for p in running))

    backend = StaticBackend(on_scale=on_scale)
    backend.set_function(FunctionInfo(fn))
    backend.replicas[fn.key] = 0
    app = make_app(GatewayConfig(host="127.0.0.1", pod_name="bench", autoscale_tick=1.0), backend)
    parts = app[COMPONENTS]
    assert parts.autoscaler is not None
    parts.autoscaler.settings = LoopSettings(tick=1.0, decider=Settings(stable_window=20, panic_window=2))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    url = str(server.make_url("/function/step"))
    steps = [(5, 0), (20, 4), (20, 30), (25, 4), (20, 0)]
    trace: list[tuple[float, int, int, int]] = []
    errors = 0
    calls = 0
    clients_now = 0
    began = time.monotonic()
    stop = asyncio.Event()

    async def client(session: aiohttp.ClientSession, until: float) -> None:
        nonlocal errors, calls
        while time.monotonic() < until:
            async with session.post(url, json={"sleep": 0.1}) as resp:
                await resp.read()
                calls += 1
                errors += resp.status != 200

    async def sampler() -> None:
        up = parts.registry.upstreams[fn.key]
        while not stop.is_set():
            desired = parts.replicas.get((fn.key, "desired"), backend.replicas.get(fn.key, 0))
            trace.append((time.monotonic() - began, clients_now, desired, up.pool.ready_count))
            await asyncio.sleep(0.5)

    sample_task = asyncio.create_task(sampler())
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
        for seconds, clients in steps:
            clients_now = clients
            until = time.monotonic() + seconds
            await asyncio.gather(*(client(session, until) for _ in range(clients)), asyncio.sleep(seconds))
    # wait for scale to zero
    deadline = time.monotonic() + 60
    while backend.replicas.get(fn.key) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.5)
    await asyncio.sleep(1)
    stop.set()
    await sample_task
    await server.close()
    for proc in running.values():
        procs.stop(proc)
    plot(trace, out_png)
    peak = max(d for _, _, d, _ in trace)
    return {
        "calls": calls,
        "errors": errors,
        "peak_replicas": peak,
        "ended_at_zero": trace[-1][2] == 0,
        "seconds": round(trace[-1][0]),
    }


def plot(trace: list[tuple[float, int, int, int]], out_png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = [row[0] for row in trace]
    fig, ax = plt.subplots(figsize=(8, 3.6), dpi=110)
    ax.step(t, [row[2] for row in trace], where="post", label="desired replicas", linewidth=2)
    ax.step(t, [row[3] for row in trace], where="post", label="ready replicas", linestyle="--")
    ax.set_xlabel("seconds")
    ax.set_ylabel("replicas")
    ax2 = ax.twinx()
    ax2.fill_between(t, [row[1] for row in trace], step="post", alpha=0.15, color="gray", label="clients")
    ax2.set_ylabel("concurrent clients (100 ms calls)")
    lines = ax.get_legend_handles_labels()
    fills = ax2.get_legend_handles_labels()
    ax.legend(lines[0] + fills[0], lines[1] + fills[1], loc="upper right", fontsize=8)
    ax.set_title("wisp autoscaler, step load (target 5 in flight per pod; windows 20 s / 2 s)")
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png)


# -- report ------------------------------------------------------------------------------------


def machine() -> str:
    cpu = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{os.cpu_count()} cores (`nproc`), {cpu}, Python {platform.python_version()}, uvloop"


LOAD: list[float] = []


NAN = float("nan")

# The targets for the gateway hop (one client; throughput at 50 clients).
TARGETS = {"cpu_us": 200.0, "added_p50": 0.35, "added_p99": 0.7, "ratio": 0.65}


def hop_verdict(hop: dict[str, dict[int, dict[str, float]]]) -> list[str]:
    """wisp's gateway hop beside OpenFaaS's and nginx's, against the targets."""
    rows = [label for label in ("bare", "openfaas", "nginx") if label in hop]
    lines = [
        "The gateway hop alone, in front of the bare function (one client; throughput with 50, the "
        "aiohttp client sharing the cores with the servers, then on a core of its own, then `wrk`):",
        "",
        "| proxy | added p50 | added p99 | throughput / direct: shared; apart; `wrk` | CPU per request |",
        "|---|---|---|---|---|",
        f"| target | ≤ +{TARGETS['added_p50']:.2f} ms | ≤ +{TARGETS['added_p99']:.2f} ms "
        f"| ≥ {TARGETS['ratio']:.2f} | ≤ {TARGETS['cpu_us']:.0f} µs |",
    ]
    names = {"bare": "wisp gateway", "openfaas": "OpenFaaS gateway", "nginx": "nginx"}
    for label in rows:
        one, fifty, wrk = hop[label][1], hop[label][50], hop[label].get(0, {})
        ratios = "; ".join(
            "not run" if math.isnan(value) else f"{value:.2f}"
            for value in (fifty["ratio"], fifty.get("apart_ratio", NAN), wrk.get("wrk_ratio", NAN))
        )
        lines.append(
            f"| {names[label]} | {one['added_p50']:+.2f} ms | {one['added_p99']:+.2f} ms "
            f"| {ratios} | {one['cpu_us']:.0f} µs |"
        )
    return lines


def whole_path(hop: dict[str, dict[int, dict[str, float]]]) -> list[str]:
    """wisp's gateway → runtime → handler against OpenFaaS's gateway → of-watchdog → function,
    both against the bare function called directly."""
    lines = [
        *hop_verdict(hop),
        "",
        "The whole data path against the bare function called directly (one client; throughput with "
        "50; CPU: every process on the path per request, less what the bare function takes called "
        "directly):",
        "",
        "| data path | added p50 | added p99 | throughput / direct | CPU per request beyond the function |",
        "|---|---|---|---|---|",
    ]
    paths = [("wisp: gateway → runtime → handler", hop["runtime"], hop["bare"])]
    if "openfaas-watchdog" in hop:
        paths.append(
            ("OpenFaaS: gateway → of-watchdog → function", hop["openfaas-watchdog"], hop["openfaas-watchdog"])
        )
    for name, via, direct in paths:
        one, fifty = via[1], via[50]
        lines.append(
            f"| {name} | {one['via_p50'] - direct[1]['direct_p50']:+.2f} ms "
            f"| {one['via_p99'] - direct[1]['direct_p99']:+.2f} ms "
            f"| {fifty['via_rps'] / direct[50]['direct_rps']:.2f} "
            f"| {one['path_cpu_us'] - direct[1]['direct_cpu_us']:.0f} µs |"
        )
    if "openfaas-watchdog" not in hop:
        lines += ["", "OpenFaaS's whole path was not run (see the peers above)."]
    return lines


def render(
    hop: dict[str, dict[int, dict[str, float]]],
    cold: dict[str, float],
    step: dict[str, object],
    peers: dict[str, Peer],
) -> str:
    today = datetime.date.today().isoformat()
    lines = [
        "## Gateway",
        "",
        f"Measured {today} on {machine()} by `make bench` (`bench/gateway.py`): one aiohttp client on "
        "loopback (keep-alive, 64-byte JSON body), direct and through-the-proxy runs interleaved in "
        "rounds, every proxy in front of the same function in the same run; wisp's gateway is its "
        "own process (`bench/gateway_server.py`: the real app with a static backend), and each "
        "proxy's CPU per request is a /proc/<pid>/stat delta over the calls it proxied (nginx: its "
        "master and worker; OpenFaaS's whole path: the gateway and the watchdog). Absolute times "
        "drift by about ±15 % between runs; compare the added latency, the ratio and CPU.",
        "",
        f"Load average over the run: {min(LOAD):.1f} to {max(LOAD):.1f} on {os.cpu_count()} cores "
        "(other work shared the machine when it is above the core count: the latency and "
        "throughput figures are then pessimistic and noisy; the CPU per request is the steadier "
        "one).",
        "",
        "Peers in this run: " + "; ".join(peer.describe() for peer in peers.values()) + ".",
        "",
        "| path | clients | direct p50 / p99 | through it p50 / p99 "
        "| added p50 / p99 | throughput through / direct | proxy CPU per request |",
        "|---|---|---|---|---|---|---|",
    ]
    measured = [label for label in HOPS if label in hop]
    for label in measured:
        for clients in (1, 50, 200):
            s = hop[label][clients]
            lines.append(
                f"| {HOPS[label]} | {clients} | {s['direct_p50']:.2f} / {s['direct_p99']:.2f} ms "
                f"| {s['via_p50']:.2f} / {s['via_p99']:.2f} ms "
                f"| **{s['added_p50']:+.2f} / {s['added_p99']:+.2f} ms** "
                f"| {s['via_rps']:.0f} / {s['direct_rps']:.0f} rps = **{s['ratio']:.2f}** "
                f"| {s['cpu_us']:.0f} µs |"
            )
    lines += [
        "",
        "With 50 and 200 clients the load generator, the proxy and the function share the two "
        "cores, so the added latency there is mostly queueing behind the proxy's own CPU time "
        "(CPU per request times the calls in the queue), and p99 differences within the run-to-run noise "
        "show up as negative numbers.",
    ]
    wrk = [
        f"{HOPS[label]} {hop[label][0]['wrk_ratio']:.2f} ({hop[label][0]['wrk_via_rps']:.0f} / "
        f"{hop[label][0]['wrk_direct_rps']:.0f} rps)"
        for label in measured
        if hop[label].get(0)
    ]
    if wrk:
        lines += [
            "",
            "`wrk -t1 -c50` throughput through each path as a fraction of direct: " + "; ".join(wrk) + ".",
        ]
    apart = [
        f"{HOPS[label]} {hop[label][50]['apart_ratio']:.2f} ({hop[label][50]['apart_via_rps']:.0f} / "
        f"{hop[label][50]['apart_direct_rps']:.0f} rps)"
        for label in measured
        if "apart_ratio" in hop[label][50]
    ]
    if apart:
        lines += [
            "",
            "With the load generator apart (the bench's process on the first core, every server of "
            "the path, and the function called directly, on the other, as when the callers are on "
            "other machines), 50 clients, throughput through each path as a fraction of direct: "
            + "; ".join(apart)
            + ".",
        ]
    lines += ["", *whole_path(hop), ""]
    lines += [
        f"Cold start: the wait the activator adds after the endpoint turned ready (scale hook publishes "
        f"the endpoint the moment the runtime's /healthz answers; the call's end minus that moment minus a "
        f"warm call), {cold['rounds']:.0f} rounds: **{cold['added_p50_ms']:.2f} ms p50**, "
        f"{cold['added_max_ms']:.2f} ms max (target ≤ 20 ms). On Kubernetes the pod watch's "
        "propagation comes on top of this.",
        "",
        f"Step load (time-compressed windows: stable 20 s, panic 2 s, tick 1 s; idle timeout 8 s; "
        f"real runtime processes started and stopped by the backend): {step['calls']} calls, "
        f"**{step['errors']} errors**, peak {step['peak_replicas']} replicas, back at zero: "
        f"{'yes' if step['ended_at_zero'] else 'no'}.",
        "",
        "![replicas under a step load](images/autoscaling-step.png)",
        "",
    ]
    return "\n".join(lines)


def write_section(section: str, path: Path) -> None:
    docs.write_section("Gateway", section, path)


async def main_async(args: argparse.Namespace) -> None:
    procs = Processes()
    LOAD.append(os.getloadavg()[0])
    peers = find_peers()
    print("peers", [peer.describe() for peer in peers.values()], flush=True)
    try:
        hop = await hop_cost(procs, args.quick, peers)
        cold = await cold_start(procs, 5 if args.quick else 10)
        print("cold", cold, flush=True)
        step = await step_trace(procs, ROOT / "docs/images/autoscaling-step.png", args.quick)
        print("step", step, flush=True)
    finally:
        procs.stop_all()
    LOAD.append(os.getloadavg()[0])
    section = render(hop, cold, step, peers)
    print(section)
    if not args.no_docs:
        write_section(section, ROOT / "docs/benchmarks.md")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer calls and rounds")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    uvloop.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
