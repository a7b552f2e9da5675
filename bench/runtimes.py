"""Python and Node.js runtime benchmark: warm overhead and cold start against bare servers.

    python -m bench.runtimes [--calls N] [--runs N] [--no-docs]

In one run, on this machine:

1. Warm overhead. A bare aiohttp hello world, a bare Node ``http`` hello world, and wisp's
   runtimes (Python with a ``def`` and an ``async def`` handler, Node.js) each get ``calls``
   sequential POSTs of a small JSON event over one keep-alive connection, after a warm-up.
   p50/p99 latency, and each runtime's overhead over the bare server of its language.
2. Cold start. ``runs`` fresh processes each: spawn → first 200 from ``/healthz`` (polled every
   millisecond over loopback, the same for every server). Median and spread.
3. Import costs (CPU time) that explain the Python cold start (``python -X importtime`` has
   the detail).

The Python servers run as the runtime image runs them: in a virtual environment that holds only
the runtime's dependencies (plus aiohttp for the baseline), kept in ~/.cache/wisp/bench, with
the runtime's modules byte-compiled beforehand (pip does that in the image). The packages are
those of uv.lock, installed from the images' hashed requirement files. The development
virtual environment would add its editable-install import hooks to every start. Every server
gets a container's environment, not the calling shell's (``container_env``).

Results go to the "Runtimes" section of docs/benchmarks.md; other sections are left alone.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

from bench.procs import cpu_seconds, free_port, stop
from bench.runtime_client import KeepAliveClient, healthz_status
from bench.runtime_report import Cold, Warm, render, write_section

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
PYTHON_HANDLERS = ROOT / "tests" / "runtimes" / "handlers" / "python"
NODE_HANDLERS = ROOT / "tests" / "runtimes" / "handlers" / "node"
EVENT = b'{"name": "bench", "items": [1, 2, 3], "nested": {"ok": true}}'
RUNTIME_SOURCE = ROOT / "runtime-images" / "python"
IMAGE_VENV = Path.home() / ".cache" / "wisp" / "bench" / "python-runtime"


def image_python() -> str:
    """An interpreter set up like the Python runtime image (see the module's docstring)."""
    python = IMAGE_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(IMAGE_VENV)], check=True)
    # The runtime image's packages, and aiohttp (with its own) from the wisp image's list; the
    # rest of that list is installed but never imported by any server measured.
    requirements = [RUNTIME_SOURCE / "requirements.txt", ROOT / "deploy" / "requirements.txt"]
    pip = [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", "--require-hashes"]
    subprocess.run([*pip, "--no-deps", *(f"--requirement={path}" for path in requirements)], check=True)
    compile_dirs = [RUNTIME_SOURCE / "wisp_runtime", PYTHON_HANDLERS]
    subprocess.run([python, "-m", "compileall", "-q", *map(str, compile_dirs)], check=True)
    return str(python)


def servers(port: int, python: str) -> dict[str, tuple[list[str], dict[str, str]]]:
    """name -> (command, extra environment) of every server measured."""
    python_runtime = {
        "PYTHONPATH": str(RUNTIME_SOURCE),
        "WISP_CODE_DIR": str(PYTHON_HANDLERS),
        "WISP_HOST": "127.0.0.1",
        "WISP_PORT": str(port),
    }
    node_runtime = {
        "WISP_CODE_DIR": str(NODE_HANDLERS),
        "WISP_HOST": "127.0.0.1",
        "WISP_PORT": str(port),
        "WISP_HANDLER": "handlers.echo",
    }
    bare = {"BENCH_PORT": str(port)}
    return {
        "bare aiohttp": ([python, str(BENCH / "runtime_bare_aiohttp.py")], bare),
        "wisp python (def)": (
            [python, "-m", "wisp_runtime"],
            {**python_runtime, "WISP_HANDLER": "handlers.echo"},
        ),
        "wisp python (async def)": (
            [python, "-m", "wisp_runtime"],
            {**python_runtime, "WISP_HANDLER": "handlers.async_echo"},
        ),
        "bare node http": (["node", str(BENCH / "runtime_bare_node.js")], bare),
        "wisp node": (["node", str(ROOT / "runtime-images" / "node" / "index.js")], node_runtime),
    }


BASELINE = {
    "wisp python (def)": "bare aiohttp",
    "wisp python (async def)": "bare aiohttp",
    "wisp node": "bare node http",
}


def container_env(extra: dict[str, str]) -> dict[str, str]:
    """A container's environment: PATH, HOME and the locale, then the server's own variables.

    Nothing else of the calling shell's environment is passed on. Notably NODE_EXTRA_CA_CERTS,
    which machines behind a TLS-inspecting proxy set: Node.js then reads and parses that bundle
    at every start (about 80 ms here, before any JavaScript runs); the images do not set it.
    """
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    return {**{k: os.environ[k] for k in keep if k in os.environ}, **extra}


def spawn(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        command,
        env=container_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
    )


def wait_healthy(port: int, process: subprocess.Popen[bytes], timeout: float = 60.0) -> float:
    """Seconds until ``/healthz`` answers 200 (measured by the caller's clock)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = healthz_status(port)
        if status == 200:
            return time.monotonic()
        if status is not None:
            raise RuntimeError(f"/healthz answered {status}: the handler did not load")
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        time.sleep(0.001)
    raise RuntimeError("server did not become healthy")


def cold_start(command: list[str], env: dict[str, str], port: int, runs: int) -> Cold:
    ready, cpu, first = [], [], []
    for _ in range(runs):
        started = time.monotonic()
        process = spawn(command, env)
        try:
            ready.append((wait_healthy(port, process) - started) * 1000)
            cpu.append(cpu_seconds(process.pid) * 1000)
            with KeepAliveClient("127.0.0.1", port) as client:
                call_started = time.perf_counter()
                client.post("/", EVENT)
                first.append((time.perf_counter() - call_started) * 1000)
        finally:
            stop(process)
    return Cold(ready, cpu, first)


def warm(command: list[str], env: dict[str, str], port: int, calls: int) -> Warm:
    process = spawn(command, env)
    try:
        wait_healthy(port, process)
        with KeepAliveClient("127.0.0.1", port) as client:
            for _ in range(max(200, calls // 10)):
                client.post("/", EVENT)
            samples = []
            for _ in range(calls):
                started = time.perf_counter_ns()
                status = client.post("/", EVENT)
                samples.append((time.perf_counter_ns() - started) / 1e6)
                if status != 200:
                    raise RuntimeError(f"call failed with {status}")
        return Warm(samples)
    finally:
        stop(process)


def import_costs(runs: int, python: str) -> dict[str, float]:
    """CPU milliseconds (user + system) of a fresh interpreter running each snippet, interpreter
    start included: the least of ``runs``, since other load on the machine only ever adds."""
    snippets = {
        "python -c pass": [python, "-c", "pass"],
        "python: import asyncio": [python, "-c", "import asyncio"],
        "python: import asyncio, uvloop": [python, "-c", "import asyncio, uvloop"],
        "python: import httptools": [python, "-c", "import httptools"],
        "python: every module the runtime imports before it listens": [
            python,
            "-c",
            "import wisp_runtime.main, wisp_runtime.server, wisp_runtime.invoke, uvloop",
        ],
        "python: import aiohttp.web (the bare baseline's framework)": [
            python,
            "-c",
            "import aiohttp.web",
        ],
        "node -e 0": ["node", "-e", "0"],
    }
    env = container_env({"PYTHONPATH": str(RUNTIME_SOURCE)})
    costs = {}
    for name, command in snippets.items():
        samples = []
        for _ in range(runs):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run(command, env=env, check=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            used = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
            samples.append(used * 1000)
        costs[name] = min(samples)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--no-docs", action="store_true", help="print only")
    args = parser.parse_args()

    port = free_port()
    python = image_python()
    table = servers(port, python)
    warm_results: dict[str, Warm] = {}
    cold_results: dict[str, Cold] = {}
    for name, (command, env) in table.items():
        warm_results[name] = warm(command, env, port, args.calls)
        print(f"warm  {name:28} {warm_results[name].describe()}", flush=True)
    for name, (command, env) in table.items():
        cold_results[name] = cold_start(command, env, port, args.runs)
        print(f"cold  {name:28} {cold_results[name].describe()}", flush=True)
    costs = import_costs(args.runs, python)
    for name, ms in costs.items():
        print(f"import {name:50} {ms:7.1f} ms", flush=True)

    section = render(warm_results, cold_results, BASELINE, costs, args.calls, args.runs)
    if args.no_docs:
        print(section)
    else:
        write_section(section, ROOT / "docs" / "benchmarks.md")
        print("wrote the Runtimes section of docs/benchmarks.md")


if __name__ == "__main__":
    main()
