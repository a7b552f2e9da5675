"""Results of bench/runtimes.py and the "Runtimes" section of docs/benchmarks.md they become."""

from __future__ import annotations

import datetime
import os
import platform
import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from bench import docs

SECTION_TITLE = "## Runtimes"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class Warm:
    samples: list[float]  # milliseconds per call

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)

    def describe(self) -> str:
        return f"p50 {self.p50:.3f} ms  p99 {self.p99:.3f} ms"


@dataclass(frozen=True)
class Cold:
    samples: list[float]  # milliseconds from spawn to the first healthy answer
    cpu: list[float]  # CPU milliseconds the process used until then (steadier under load)
    first_call: list[float]  # milliseconds of the first invocation after that

    @property
    def median(self) -> float:
        return statistics.median(self.samples)

    def describe(self) -> str:
        return (
            f"median {self.median:.0f} ms  (min {min(self.samples):.0f}, "
            f"max {max(self.samples):.0f}, n={len(self.samples)})  "
            f"cpu {statistics.median(self.cpu):.0f} ms  "
            f"first call {statistics.median(self.first_call):.1f} ms"
        )


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (`nproc`), {model}, {platform.system()} {platform.release()}"


def load_average() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown"
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f}"


def render(
    warm: Mapping[str, Warm],
    cold: Mapping[str, Cold],
    baseline: Mapping[str, str],
    imports: Mapping[str, float],
    calls: int,
    runs: int,
) -> str:
    today = datetime.date.today().isoformat()
    lines = [
        SECTION_TITLE,
        "",
        f"Written by `bench/runtimes.py` on {today}. Machine: {machine()}; load average "
        f"during the run {load_average()} (other work shares this machine, so absolute numbers "
        "are pessimistic; the comparison with the bare servers measured in the same run is "
        "what the targets are about).",
        "",
        f"**Warm invocation** — {calls} sequential POSTs of a small JSON event over one "
        "keep-alive connection, after a warm-up; the handler echoes the event.",
        "",
        "| server | p50 | p99 | overhead p50 | overhead p99 |",
        "|---|---|---|---|---|",
    ]
    for name, result in warm.items():
        base = warm.get(baseline.get(name, ""))
        if base is None:
            over50 = over99 = "—"
        else:
            over50 = f"{result.p50 - base.p50:+.3f} ms"
            over99 = f"{result.p99 - base.p99:+.3f} ms"
        lines.append(f"| {name} | {result.p50:.3f} ms | {result.p99:.3f} ms | {over50} | {over99} |")
    lines += [
        "",
        f"**Cold start** — process spawn until `/healthz` answers 200, median of {runs} runs "
        '(the wisp runtimes import the handler before they listen, so this is "ready"); the '
        "process's CPU time until then (user + system, all threads: steadier than wall time on a "
        "busy machine); and the first call's latency after that.",
        "",
        "| server | ready | min - max | over bare | CPU time to ready | first call |",
        "|---|---|---|---|---|---|",
    ]
    for name, started in cold.items():
        base_cold = cold.get(baseline.get(name, ""))
        over = f"{started.median - base_cold.median:+.0f} ms" if base_cold else "—"
        lines.append(
            f"| {name} | **{started.median:.0f} ms** | {min(started.samples):.0f} - "
            f"{max(started.samples):.0f} ms | {over} | {statistics.median(started.cpu):.0f} ms | "
            f"{statistics.median(started.first_call):.1f} ms |"
        )
    lines += [
        "",
        "**Where a Python cold start goes** — CPU time (user + system) of a fresh interpreter "
        f"running each snippet, interpreter start included, least of {runs} runs:",
        "",
        "| snippet | CPU time |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | {ms:.0f} ms |" for name, ms in imports.items()]
    lines += ["", *NOTES, ""]
    return "\n".join(lines)


NOTES = [
    "Reading the numbers:",
    "",
    "* Targets: warm overhead ≤ 0.3 ms p50 over the bare server of the language; start → ready "
    "≤ 150 ms (Python) and ≤ 100 ms (Node.js). Wall-clock cold starts on a shared, loaded machine "
    "stretch with the load for every server alike, bare ones included; the CPU time to ready is "
    "the steadier comparison of how much work each start is.",
    "* The Python runtime serves HTTP/1.1 with its own small asyncio protocol around httptools "
    "(llhttp, Node.js's parser) on uvloop. Most of what is left of its cold start is the "
    "interpreter and `asyncio` itself (which imports ssl, logging, concurrent.futures, inspect); "
    "the runtime's own modules and httptools cost a few milliseconds, and nothing the first call "
    "does not need is imported (`/metrics` is rendered by hand). The bare aiohttp hello world "
    "pays for importing aiohttp, whose HTTP client builds two TLS contexts (loading the CA "
    "bundle) at import time; that is why the runtime no longer uses it.",
    "* The Python servers run from a virtual environment set up like the runtime image (only "
    "the runtime's dependencies, modules byte-compiled), not from the development one.",
    "* A `def` handler pays a hop to the bounded worker thread pool and back "
    "(`call_soon_threadsafe`); an `async def` handler runs on the event loop.",
    "* The Node.js runtime runs handlers in a `worker_threads` worker so that a handler "
    "stuck in a synchronous loop can be terminated at its timeout. That costs a copy of the "
    "request and of the response between threads per call (the overhead column) and, in the "
    "cold start, one worker's boot: Node runs its bootstrap from scratch for a worker, where the "
    "main thread starts from Node's built-in snapshot, so a worker costs about what `node -e 0` "
    "does. The runtime starts the worker first and loads and warms up its HTTP side while the "
    "worker boots; the socket opens once the handler has loaded, as in Python, so ready means "
    "loaded.",
    "* Every server gets a container's environment (PATH, HOME, locale), not the shell's: a "
    "machine-wide `NODE_EXTRA_CA_CERTS` makes each Node.js process parse a CA bundle at start, "
    "tens of milliseconds that no image pays.",
]


def write_section(section: str, path: Path) -> None:
    """Replaces the "Runtimes" section of ``path`` (or appends it), leaving the rest alone."""
    docs.write_section(SECTION_TITLE.removeprefix("## "), section, path)
