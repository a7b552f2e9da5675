"""Benchmark of the async path through the real gateway on each broker: Redis Streams and NATS
JetStream side by side, under the same load, in one run.

For each broker, ``bench.events.Stack`` starts the broker's server, a Python runtime and the
gateway app (``bench/gateway_server.py --redis`` or ``--nats``), then measures async submits/s
(202s), end-to-end invocations/s (submit -> function -> acknowledged) with one and with two
gateway replicas, and request -> handler start p50/p99 one event at a time. Writes the "Events
through the gateway, by broker" section of docs/benchmarks.md (``--no-write`` to only print).
Run: ``python -m bench.events_brokers``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
from bench import docs
from bench.events import Stack, drained, hammer, machine

HEADER = (
    "| broker | submits, 1 gateway | end to end, 1 gateway | submits, 2 gateways"
    " | end to end, 2 gateways | request -> handler start p50 | p99 | load |\n"
    "|---|---|---|---|---|---|---|---|"
)
BROKERS = {"redis": "Redis (one redis-server)", "nats": "NATS JetStream (one server, file storage)"}


async def async_rates(stack: Stack, count: int, concurrency: int) -> dict[str, float]:
    """Submits/s and end-to-end invocations/s, the calls shared evenly by the gateway replicas."""
    body = b"{}"
    urls = stack.async_urls

    async def submit_all(calls: int) -> float:
        started = time.perf_counter()
        share, callers = calls // len(urls), max(1, concurrency // len(urls))
        await asyncio.gather(*(hammer(url, [body] * share, callers, 202) for url in urls))
        return time.perf_counter() - started

    await submit_all(200)  # warm up
    await drained(stack)
    started = time.perf_counter()
    accept_seconds = await submit_all(count)
    await drained(stack)
    total = time.perf_counter() - started
    return {"submits": count / accept_seconds, "end_to_end": count / total}


async def handler_start(stack: Stack, count: int, gap: float) -> dict[str, float]:
    """Request sent -> handler start (the handler stamps its start), one event at a time."""
    sent: dict[int, float] = {}
    async with aiohttp.ClientSession() as session:
        for i in range(count):
            sent[i] = time.time()
            async with session.post(stack.async_url, data=json.dumps({"i": i}).encode()) as response:
                await response.read()
            await asyncio.sleep(gap)
    await drained(stack)
    starts = dict(line.split() for line in stack.stamp_file.read_text().splitlines())
    waits = sorted(float(starts[str(i)]) - sent[i] for i in sent if str(i) in starts)
    return {
        "p50_ms": 1000 * statistics.median(waits),
        "p99_ms": 1000 * statistics.quantiles(waits, n=100)[98],
    }


def measure(broker: str, work: Path, count: int, concurrency: int) -> dict[str, float]:
    results: dict[str, float] = {"load_start": os.getloadavg()[0]}
    for run in ("noop", "noop-2", "stamp"):
        (work / run).mkdir()
    stack = Stack(work / "noop", "noop", broker)
    try:
        results.update(asyncio.run(async_rates(stack, count, concurrency)))
    finally:
        stack.stop()
    stack = Stack(work / "noop-2", "noop", broker, replicas=2)
    try:
        rates = asyncio.run(async_rates(stack, count, concurrency))
        results.update({f"{name}_2": rate for name, rate in rates.items()})
    finally:
        stack.stop()
    stack = Stack(work / "stamp", "stamp", broker)
    try:
        results.update(asyncio.run(handler_start(stack, 200, 0.01)))
    finally:
        stack.stop()
    results["load_end"] = os.getloadavg()[0]
    return results


def section(results: dict[str, dict[str, float]], count: int, concurrency: int) -> str:
    rows = "\n".join(
        f"| {BROKERS[b]} | {r['submits']:.0f} /s | {r['end_to_end']:.0f} /s | {r['submits_2']:.0f} /s"
        f" | {r['end_to_end_2']:.0f} /s | {r['p50_ms']:.1f} ms | {r['p99_ms']:.1f} ms"
        f" | {r['load_start']:.1f} -> {r['load_end']:.1f} |"
        for b, r in results.items()
    )
    return f"""## Events through the gateway, by broker

Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}, with `python -m bench.events_brokers`: for
each broker its server, one Python runtime (no-op handler) and the real gateway app with async
invocations on that broker (`bench/gateway_server.py --redis` / `--nats`), all on this one machine
and on loopback; {count} async calls, {concurrency} concurrent callers. Submits: `POST
/async-function/` answered 202 (the event and its record stored). End to end: from the first
submit until every event ran and was acknowledged. 2 gateways: two gateway processes (two
replicas: each accepts half the calls and consumes the same function's events), one runtime.
Request -> handler start: one event at a time (200, 10 ms apart), one gateway. The machine is
shared with other work; the last column is the 1-minute load average before and after each
broker's run: rates move by tens of percent between runs.

{HEADER}
{rows}

The broker-only figures (no gateway, no runtime; 1 and 2 consumers, and a 3-server cluster) are
in "Event brokers". On this machine a second gateway shares the same two CPUs with the
first, the broker, the runtime and the load generator, so its column shows contention more than
scaling; over machines, replicas add CPU for the HTTP accept and the calls, which is where the
gateway's time goes. The gateway adds its HTTP accept and the call to the runtime to each
event on either broker; JetStream's settlement is several acknowledged requests where Redis's is
one script call (docs/events.md says when to choose which).
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for broker in BROKERS:
            (Path(tmp) / broker).mkdir()
            results[broker] = measure(broker, Path(tmp) / broker, args.count, args.concurrency)
    text = section(results, args.count, args.concurrency)
    print(json.dumps(results))
    print(text)
    if not args.no_write:
        docs.write_section("Events through the gateway, by broker", text)


if __name__ == "__main__":
    main()
