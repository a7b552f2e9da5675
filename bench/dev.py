"""``wisp dev`` benchmarks: cold start as a client sees it, and start-up to every example ready.

* Cold start: the Python hello example (``examples/hello.yaml`` with a 1 s idle timeout) at zero
  replicas, then one call with curl; the figure is curl's ``time_total`` (connect to the gateway
  → last byte), median of several runs, each after the gateway scaled it back to zero. Measured
  with the fork server (the default) and with ``--no-prewarm``, beside a fresh runtime process's
  own start (launcher spawn → listening).
* Start-up: ``wisp dev examples/`` spawned → the "ready" line (dependencies already cached, as
  on every run after the first), and → every example answered once (its cold start included).

Results go to the "wisp dev" section of docs/benchmarks.md (``--no-docs`` to only print).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench import docs

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, bench/ itself would come first on the path: put the repository root there
# instead.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]

from tests.dev.process import WispDev, http, wait_until  # noqa: E402

CALLS = {  # every example -> a call that answers 200
    "/function/hello": b'{"name": "bench"}',
    "/function/node-hello": b'{"name": "bench"}',
    "/function/sizes": b'{"bytes": 1000}',
    "/orders/1": None,
    "/function/report": b'{"data": {"kind": "bench"}}',
    "/function/welcome": b'{"data": {"email": "a@b"}}',
}


def curl_time(url: str, body: bytes) -> float:
    """curl's own time_total for one POST, in seconds."""
    done = subprocess.run(
        ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{time_total}", "-d", body.decode(), url],
        capture_output=True,
        text=True,
        check=True,
    )
    code, seconds = done.stdout.split()
    if code != "200":
        raise RuntimeError(f"{url} answered {code}")
    return float(seconds)


def cold_starts(work: Path, cache: Path, rounds: int, *extra: str) -> list[float]:
    folder = work / f"cold{'-'.join(extra)}"
    folder.mkdir()
    text = (ROOT / "examples" / "hello.yaml").read_text().replace("idleTimeout: 30s", "idleTimeout: 1s")
    (folder / "hello.yaml").write_text(text)
    dev = WispDev(folder, work / f"{folder.name}.log", extra, env={"WISP_DEV_CACHE": str(cache)}).start()
    times = []
    try:
        for _ in range(rounds):
            wait_until(lambda: not dev.endpoints("hello"), timeout=60, what="hello at zero")
            time.sleep(0.3)  # let the previous process finish exiting (its CPU is not the next start's)
            times.append(curl_time(f"{dev.url}/function/hello", b'{"name": "cold"}'))
    finally:
        dev.stop()
    return times


def process_starts(rounds: int) -> list[float]:
    """launcher spawn -> the runtime listening, for the same handler (no gateway involved)."""
    from wisp.api import Runtime
    from wisp.launcher import LaunchSpec, start_runtime

    async def once(code: str) -> float:
        started = time.perf_counter()
        process = await start_runtime(
            LaunchSpec(Runtime.PYTHON312, code, env={"WISP_HANDLER": "main.handler"})
        )
        await process.wait_ready()
        elapsed = time.perf_counter() - started
        await process.stop()
        return elapsed

    with tempfile.TemporaryDirectory() as code:
        Path(code, "main.py").write_text("def handler(event, context):\n    return {'ok': True}\n")
        return [asyncio.run(once(code)) for _ in range(rounds)]


def start_up(work: Path, cache: Path, index: int) -> tuple[float, float]:
    folder = work / f"examples-{index}"
    shutil.copytree(ROOT / "examples", folder)
    dev = WispDev(folder, work / f"start-{index}.log", env={"WISP_DEV_CACHE": str(cache)})
    started = time.perf_counter()
    dev.start(wait=False)
    try:
        dev.wait_for_output("wisp dev: ready", timeout=300)
        ready = time.perf_counter() - started
        with ThreadPoolExecutor(len(CALLS)) as pool:
            answers = list(
                pool.map(
                    lambda item: http(
                        "POST" if item[1] is not None else "GET", f"{dev.url}{item[0]}", item[1]
                    ),
                    CALLS.items(),
                )
            )
        bad = [(path, a.status) for path, a in zip(CALLS, answers, strict=True) if a.status != 200]
        if bad:
            raise RuntimeError(f"examples that did not answer: {bad}")
        return ready, time.perf_counter() - started
    finally:
        dev.stop()


def machine() -> str:
    model = "unknown CPU"
    try:
        found = re.search(r"^model name\s*:\s*(.+)$", Path("/proc/cpuinfo").read_text(), re.M)
        model = found.group(1) if found else model
    except OSError:
        pass
    load = os.getloadavg()[0]
    python = platform.python_version()
    return f"{os.cpu_count()} cores (`nproc`), {model}, Python {python}; 1-minute load {load:.2f}"


def render(
    cold: list[float], fresh: list[float], spawn: list[float], starts: list[tuple[float, float]], host: str
) -> str:
    ms = [t * 1000 for t in cold]
    fresh_ms = [t * 1000 for t in fresh]
    med = statistics.median
    ready = [s[0] for s in starts]
    answered = [s[1] for s in starts]
    return "\n".join(
        [
            "## wisp dev",
            "",
            f"Measured {datetime.date.today()} on {host}, by `make bench` (`bench/dev.py`). The machine "
            "was shared with other work: compare with the load figure in mind.",
            "",
            "| what | median | runs | min / max |",
            "|---|---|---|---|",
            f"| cold start of the Python hello example, zero replicas → first response (curl `time_total`) "
            f"| **{statistics.median(ms):.0f} ms** | {len(ms)} | {min(ms):.0f} / {max(ms):.0f} ms |",
            f"| the same with `--no-prewarm` (a fresh interpreter per start) | {med(fresh_ms):.0f} ms "
            f"| {len(fresh_ms)} | {min(fresh_ms):.0f} / {max(fresh_ms):.0f} ms |",
            f"| a fresh Python runtime process alone, spawn → listening (launcher) "
            f"| {statistics.median(spawn) * 1000:.0f} ms | {len(spawn)} | {min(spawn) * 1000:.0f} / "
            f"{max(spawn) * 1000:.0f} ms |",
            f'| `wisp dev examples/` start → "ready" banner (dependencies cached) | {med(ready):.2f} s '
            f"| {len(ready)} | {min(ready):.2f} / {max(ready):.2f} s |",
            f"| start → every example answered once (cold starts included) | {med(answered):.2f} s "
            f"| {len(answered)} | {min(answered):.2f} / {max(answered):.2f} s |",
            "",
            "Target for the cold start: ≤ 250 ms. A fresh interpreter spends over 100 ms importing "
            "asyncio and the runtime (the `--no-prewarm` row), so `wisp dev` forks Python runtimes "
            "from a pre-warmed, "
            "function-agnostic interpreter (`wisp.dev.forkserver`, Fission's pool-of-generic-pods idea on "
            "one machine): the forked child imports only the handler and listens in tens of milliseconds, "
            "and a function at zero still has no process. The gateway's part (hold, scale, publish the "
            "endpoint, forward) is a few milliseconds (see the Gateway section). Node.js runtimes start "
            "fresh (node is quicker to start).",
            "",
        ]
    )


def write_section(section: str, path: Path) -> None:
    docs.write_section("wisp dev", section, path)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="fewer runs")
    parser.add_argument("--no-docs", action="store_true", help="print only; leave docs/benchmarks.md alone")
    args = parser.parse_args()
    host = machine()
    with tempfile.TemporaryDirectory(prefix="wisp-bench-dev-") as tmp:
        work = Path(tmp)
        cache = work / "cache"
        start_up(work, cache, 0)  # fills the dependency cache, as a first run would
        starts = [start_up(work, cache, i) for i in range(1, 2 if args.quick else 4)]
        print("start-up", starts, flush=True)
        cold = cold_starts(work, cache, 3 if args.quick else 9)
        print("cold", cold, flush=True)
        fresh = cold_starts(work, cache, 3 if args.quick else 7, "--no-prewarm")
        print("fresh", fresh, flush=True)
        spawn = process_starts(3 if args.quick else 9)
        print("spawn", spawn, flush=True)
    section = render(cold, fresh, spawn, starts, host)
    print(section)
    if not args.no_docs:
        write_section(section, ROOT / "docs" / "benchmarks.md")


if __name__ == "__main__":
    main()
