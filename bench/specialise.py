"""A warm pool pod's specialisation, runtime side, on this machine: generic runtime → function.

    python -m bench.specialise [--runs N] [--no-docs]

Each run starts a generic runtime (a pool pod's: a pool token, no handler) as a local process,
waits until it is ready and a second more, then times over one keep-alive connection (opened
with a ``GET /healthz`` first, as the gateway keeps one open to each free pool pod): the
``POST /_wisp/specialise`` (code written, environment applied, handler loaded; answered once it
is), and the first call after it. The runtime's own figure for the load is its
``wisp.runtime.specialised`` log line's ``loadMs``. Python and Node.js, and Node.js with a
Function that sets ``TZ``, which gets a freshly booted handler worker rather than the one the pool
pod booted (the way every Node.js specialisation went before the worker was booted with the
pod). This is the part of a pool start that depends least on the cluster; bench/pool.py times the
whole path on the real node. Writes the "Warm pool: specialisation (local)" section of
docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench import docs  # noqa: E402
from bench.node import machine, percentile  # noqa: E402

from wisp.api import Runtime  # noqa: E402
from wisp.launcher import LaunchSpec, start_runtime  # noqa: E402

HEADING = "Warm pool: specialisation (local)"
TOKEN = "bench-pool-token"  # noqa: S105
PYTHON = "def handler(event, context):\n    return {'hello': event.get('name', 'world')}\n"
NODE = "exports.handler = async (event) => ({ hello: event.name ?? 'world' });\n"
CASES = {
    "Python": (Runtime.PYTHON311, {"main.py": PYTHON}, {}),
    "Node.js": (Runtime.NODEJS24, {"main.js": NODE}, {}),
    "Node.js, a Function that sets TZ (worker booted at specialisation)": (
        Runtime.NODEJS24,
        {"main.js": NODE},
        {"TZ": "Asia/Tokyo"},
    ),
}


async def one_run(
    runtime: Runtime, files: dict[str, str], env: dict[str, str], work: Path
) -> dict[str, float]:
    lines: list[str] = []
    empty = work / "empty"
    empty.mkdir(exist_ok=True)
    process = await start_runtime(
        LaunchSpec(
            runtime=runtime,
            code_dir=empty,
            env={"WISP_POOL_TOKEN": TOKEN, "WISP_DEPS_DIR": str(work / "deps")},
            log_sink=lines.append,
        )
    )
    try:
        ready = await process.wait_ready(timeout=60)
        await asyncio.sleep(1)
        body = {"env": {"WISP_HANDLER": "main.handler", "WISP_FUNCTION_NAME": "hello", **env}, "files": files}
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{ready.url}/healthz") as response:
                await response.read()
            started = time.perf_counter()
            async with http.post(
                f"{ready.url}/_wisp/specialise", json=body, headers={"Authorization": f"Bearer {TOKEN}"}
            ) as response:
                assert response.status == 200, await response.text()
            specialised = time.perf_counter()
            async with http.post(ready.url, json={"name": "bench"}) as response:
                assert response.status == 200, await response.text()
            answered = time.perf_counter()
    finally:
        await process.stop(grace=5)
    load = next(
        json.loads(line)["loadMs"]
        for line in lines
        if '"wisp.runtime.specialised"' in line and line.startswith("{")
    )
    return {
        "specialise": (specialised - started) * 1000,
        "load": float(load),
        "first": (answered - specialised) * 1000,
    }


def cell(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} / {percentile(values, 95):.1f} ms"


def render(results: dict[str, list[dict[str, float]]], host: str, before: float, after: float) -> str:
    lines = [
        f"## {HEADING}",
        "",
        f"Measured {datetime.date.today()} on {host.rsplit(';', 1)[0]}; 1-minute load {before:.2f} before "
        f"and {after:.2f} after the runs (a shared machine: other builds and test suites ran meanwhile), "
        "by `bench/specialise.py`: a generic runtime (a pool pod's) started as a local process, then "
        "timed over one keep-alive connection: the specialisation request (answered once the handler "
        "is loaded), the runtime's own load time (its log), and the first call after it. p50 / p95.",
        "",
        "| runtime | specialisation (request) | of which the runtime's load | first call | runs |",
        "|---|---|---|---|---|",
    ]
    for name, rows in results.items():
        lines.append(
            f"| {name} | {cell([r['specialise'] for r in rows])} | {cell([r['load'] for r in rows])} "
            f"| {cell([r['first'] for r in rows])} | {len(rows)} |"
        )
    lines += [
        "",
        "The Node.js pool pod boots its handler worker with the pod; a Function that sets `TZ` (or "
        "`NODE_PATH`), which a worker reads only as it boots, gets a fresh worker at specialisation, "
        "which is how every Node.js specialisation went before (docs/warm-pool.md).",
    ]
    return "\n".join(lines) + "\n"


async def measure(runs: int) -> dict[str, list[dict[str, float]]]:
    results: dict[str, list[dict[str, float]]] = {}
    with tempfile.TemporaryDirectory(prefix="wisp-bench-specialise-") as tmp:
        for name, (runtime, files, env) in CASES.items():
            rows = []
            for i in range(runs):
                rows.append(await one_run(runtime, files, env, Path(tmp)))
                print(f"{name} {i}: {rows[-1]}", flush=True)
            results[name] = rows
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    host = machine()
    before = os.getloadavg()[0]
    results = asyncio.run(measure(args.runs))
    section = render(results, host, before, os.getloadavg()[0])
    print(section)
    if not args.no_docs:
        docs.write_section(HEADING, section)


if __name__ == "__main__":
    main()
