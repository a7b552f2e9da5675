"""The provided runtime (Lambda's Runtime API) against the Python runtime: warm and cold.

    python -m bench.runtime_provided [--calls N] [--runs N] [--no-docs]

Three servers, each run as its image runs it (the runtimes from the image-like virtual
environment of bench/runtimes.py, given a container's environment):

* ``wisp python (def)``: the Python runtime with an echo handler, the baseline;
* ``provided + aws-lambda-go``: the provided runtime with the Go function of
  tests/runtimes/provided/go (aws-lambda-go, built once and cached) as its bootstrap;
* ``provided + awslambdaric``: the provided runtime running ``python -m awslambdaric app.handler``
  (awslambdaric from PyPI, in its own cached virtual environment).

Warm: ``calls`` sequential POSTs of a small JSON event over one keep-alive connection after a
warm-up, p50/p99, and the overhead over the baseline. Cold: spawn until ``/healthz`` answers 200
(for the provided runtime: the bootstrap has started and asked for its first invocation), the
CPU time of the whole process tree until then, and the first call. Results go to the "Runtime
API runtime (provided)" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import json
import statistics
import subprocess
import time
from pathlib import Path

from bench import docs
from bench.procs import CLK_TCK, cpu_seconds, free_port, stop
from bench.runtime_client import KeepAliveClient
from bench.runtime_report import Cold, Warm, load_average, machine
from bench.runtimes import EVENT, PYTHON_HANDLERS, ROOT, RUNTIME_SOURCE, image_python, spawn, wait_healthy
from tests.runtimes.provided import clients

HEADING = "Runtime API runtime (provided)"
PROVIDED_SOURCE = ROOT / "runtime-images" / "provided"
RIC_FUNCTIONS = ROOT / "tests" / "runtimes" / "provided" / "functions" / "python"
BASELINE = "wisp python (def)"


def servers(port: int, python: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    common = {"WISP_HOST": "127.0.0.1", "WISP_PORT": str(port), "WISP_RUNTIME_API": "127.0.0.1:0"}
    provided_path = f"{PROVIDED_SOURCE}:{RUNTIME_SOURCE}"
    go = clients.go_bootstrap()
    ric = clients.awslambdaric_python()
    return {
        BASELINE: (
            [python, "-m", "wisp_runtime"],
            {
                **common,
                "PYTHONPATH": str(RUNTIME_SOURCE),
                "WISP_CODE_DIR": str(PYTHON_HANDLERS),
                "WISP_HANDLER": "handlers.echo",
            },
        ),
        "provided + aws-lambda-go": (
            [python, "-m", "wisp_provided", "--", str(go)],
            {
                **common,
                "PYTHONPATH": provided_path,
                "WISP_CODE_DIR": str(go.parent),
                "WISP_HANDLER": "bootstrap",
            },
        ),
        "provided + awslambdaric": (
            [python, "-m", "wisp_provided", "--", str(ric), "-m", "awslambdaric", "app.handler"],
            {
                **common,
                "PYTHONPATH": provided_path,
                "WISP_CODE_DIR": str(RIC_FUNCTIONS),
                "WISP_HANDLER": "app.handler",
            },
        ),
    }


def tree_cpu_ms(pid: int) -> float:
    """CPU milliseconds (user + system) of ``pid`` and its living descendants, from /proc."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / CLK_TCK * 1000
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except OSError:
            continue
    return total


def cold_starts(table: dict[str, tuple[list[str], dict[str, str]]], port: int, runs: int) -> dict[str, Cold]:
    """``runs`` fresh starts of every server, taken in turn (one of each, then again), so a load
    that comes and goes on a shared machine falls on all of them alike."""
    ready: dict[str, list[float]] = {name: [] for name in table}
    cpu: dict[str, list[float]] = {name: [] for name in table}
    first: dict[str, list[float]] = {name: [] for name in table}
    for _ in range(runs):
        for name, (command, env) in table.items():
            started = time.monotonic()
            process = spawn(command, env)
            try:
                ready[name].append((wait_healthy(port, process) - started) * 1000)
                cpu[name].append(tree_cpu_ms(process.pid))
                with KeepAliveClient("127.0.0.1", port) as client:
                    call_started = time.perf_counter()
                    client.post("/", EVENT)
                    first[name].append((time.perf_counter() - call_started) * 1000)
            finally:
                stop(process)
    return {name: Cold(ready[name], cpu[name], first[name]) for name in table}


def warm(command: list[str], env: dict[str, str], port: int, calls: int) -> tuple[Warm, float, float]:
    """Latencies, and the CPU microseconds per call of the runtime's process and of its whole
    tree (the bootstrap included): steadier than latencies on a shared machine."""
    process = spawn(command, env)
    try:
        wait_healthy(port, process)
        with KeepAliveClient("127.0.0.1", port) as client:
            for _ in range(max(200, calls // 10)):
                client.post("/", EVENT)
            own, tree = cpu_seconds(process.pid), tree_cpu_ms(process.pid)
            samples = []
            for _ in range(calls):
                started = time.perf_counter_ns()
                status = client.post("/", EVENT)
                samples.append((time.perf_counter_ns() - started) / 1e6)
                if status != 200:
                    raise RuntimeError(f"call failed with {status}")
            own_us = (cpu_seconds(process.pid) - own) / calls * 1e6
            tree_us = (tree_cpu_ms(process.pid) - tree) / calls * 1e3
        return Warm(samples), own_us, tree_us
    finally:
        stop(process)


def render(
    warm_results: dict[str, Warm],
    cpu_per_call: dict[str, tuple[float, float]],
    cold_results: dict[str, Cold],
    calls: int,
    runs: int,
) -> str:
    base_warm = warm_results[BASELINE]
    base_cold = cold_results[BASELINE]
    go_version = subprocess.run(["go", "version"], check=True, capture_output=True, text=True).stdout.strip()
    lines = [
        f"## {HEADING}",
        "",
        f"Written by `bench/runtime_provided.py` on {datetime.date.today().isoformat()}. Machine: "
        f"{machine()}; load average during the run {load_average()} (shared machine: compare the "
        f"rows with each other). Clients: aws-lambda-go from tests/runtimes/provided/go ({go_version}), "
        f"awslambdaric {clients.AWSLAMBDARIC_VERSION}; event: a {len(EVENT)}-byte JSON object.",
        "",
        f"**Warm invocation** — {calls} sequential POSTs over one keep-alive connection after a "
        "warm-up. Overhead is over wisp's Python runtime running an echo `def` handler. CPU per "
        "call: the runtime's process, and with its bootstrap (the steadier figures on a shared "
        "machine).",
        "",
        "| server | p50 | p99 | over Python runtime p50 | p99 | CPU per call | with bootstrap |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in warm_results.items():
        over = "—" if name == BASELINE else f"{result.p50 - base_warm.p50:+.3f} ms"
        over99 = "—" if name == BASELINE else f"{result.p99 - base_warm.p99:+.3f} ms"
        own, tree = cpu_per_call[name]
        lines.append(
            f"| {name} | {result.p50:.3f} ms | {result.p99:.3f} ms | {over} | {over99} | "
            f"{own:.0f} µs | {tree:.0f} µs |"
        )
    lines += [
        "",
        f"**Cold start** — spawn until `/healthz` answers 200, median of {runs} runs taken in turn "
        "(one start of each server, then again), so that the machine's changing load falls on "
        "all alike (for the provided runtime: its servers are up, the bootstrap has started and "
        "asked for its first invocation); CPU time of the whole process tree until then (in "
        "10 ms clock ticks); the first call after that.",
        "",
        "| server | ready | min - max | over Python runtime | CPU time to ready | first call |",
        "|---|---|---|---|---|---|",
    ]
    for name, started in cold_results.items():
        over = "—" if name == BASELINE else f"{started.median - base_cold.median:+.0f} ms"
        lines.append(
            f"| {name} | **{started.median:.0f} ms** | {min(started.samples):.0f} - "
            f"{max(started.samples):.0f} ms | {over} | {statistics.median(started.cpu):.0f} ms | "
            f"{statistics.median(started.first_call):.1f} ms |"
        )
    lines += ["", *NOTES, ""]
    return "\n".join(lines)


NOTES = [
    "Reading the numbers:",
    "",
    "* A call through the provided runtime crosses loopback HTTP three times instead of once: "
    "the caller's request, then the bootstrap's `/next` answer and its `/response` request on "
    "the Runtime API. That, and the bootstrap's own JSON decoding and encoding, is the warm "
    "overhead; Lambda's own Runtime API is the same protocol. The runtime's own CPU per call "
    "is about twice the Python runtime's: it parses and answers three requests instead of one. "
    "aws-lambda-go sends every answer as a chunked request with trailers (where it would name an "
    "error met while streaming the body), a few more reads and parses than awslambdaric's plain "
    "one.",
    "* The provided runtime binds the Runtime API's socket and starts the bootstrap first, then "
    "imports asyncio, uvloop and its HTTP server (the Python runtime's) while the bootstrap "
    "starts: a static Go binary is up in a few milliseconds, awslambdaric needs an interpreter "
    "and its imports (plus the handler's). Its first `/next` waits in the socket's backlog until "
    "the server runs. So its start is about the Python runtime's (which imports its handler "
    "instead), plus what of the bootstrap's start does not overlap; on two cores with other "
    "work the overlap is partial.",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args()

    port = free_port()
    python = image_python()
    subprocess.run([python, "-m", "compileall", "-q", str(PROVIDED_SOURCE / "wisp_provided")], check=True)
    table = servers(port, python)
    warm_results: dict[str, Warm] = {}
    cpu_per_call: dict[str, tuple[float, float]] = {}
    for name, (command, env) in table.items():
        warm_results[name], *cpu = warm(command, env, port, args.calls)
        cpu_per_call[name] = (cpu[0], cpu[1])
        print(
            f"warm  {name:28} {warm_results[name].describe()}  cpu/call {cpu[0]:.0f} / {cpu[1]:.0f} us",
            flush=True,
        )
    cold_results = cold_starts(table, port, args.runs)
    for name, result in cold_results.items():
        print(f"cold  {name:28} {result.describe()}", flush=True)
    section = render(warm_results, cpu_per_call, cold_results, args.calls, args.runs)
    if args.no_docs:
        print(section)
    else:
        docs.write_section(HEADING, section)
        print(json.dumps({"wrote": f"the {HEADING} section of docs/benchmarks.md"}))


if __name__ == "__main__":
    main()
