"""Benchmark of the two event brokers behind the ``Broker`` protocol: Redis Streams and NATS
JetStream (one server, and a 3-server cluster with 3 replicas), on this machine.

For each: async submits/s (``publish`` with its invocation record, 32 concurrent producers),
end-to-end completions/s (publish -> fetch -> ack with a record update, as a consumer settles a
success) with 1 and 2 consumers (each its own connection: gateway replicas), and enqueue ->
delivery p50/p99 at low load (publish to the moment a waiting consumer holds the event: where
the handler would start). No gateway, no runtime: the broker's share of the event path.

Writes the "Event brokers" section of docs/benchmarks.md (``--no-write`` to only print).
Run: ``python -m bench.brokers``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from bench import docs
from bench.events import machine
from bench.procs import free_port, stop

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))

from wisp.queue.broker import (  # noqa: E402
    Broker,
    BrokerUnavailable,
    Delivery,
    RecordUpdate,
    Subscription,
    SubscriptionSpec,
)
from wisp.queue.nats_broker import NatsBroker  # noqa: E402
from wisp.queue.redis_broker import RedisBroker  # noqa: E402
from wisp.queue.settings import NatsSettings, RedisSettings  # noqa: E402

STREAM = "wisp:async:default:bench"


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)


def redis_server(work: Path) -> tuple[list[subprocess.Popen[bytes]], Callable[[], Broker]]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(work)]
    process = start(args, work / "redis.log")
    time.sleep(0.5)
    url = f"redis://127.0.0.1:{port}/0"
    return [process], lambda: RedisBroker(RedisSettings(url=url), read_block=0.5)


def nats_servers(work: Path, size: int) -> tuple[list[subprocess.Popen[bytes]], Callable[[], Broker]]:
    built = subprocess.run(
        ["bash", str(ROOT / "tests" / "support" / "build-nats.sh")],
        capture_output=True,
        text=True,
        check=True,
    )
    binary = built.stdout.strip().splitlines()[-1]
    ports = [free_port() for _ in range(size)]
    routes = [free_port() for _ in range(size)]
    processes = []
    for i in range(size):
        args = [
            binary,
            "-a",
            "127.0.0.1",
            "-p",
            str(ports[i]),
            "-js",
            "-sd",
            str(work / f"n{i}"),
            "-n",
            f"n{i}",
        ]
        if size > 1:
            others = ",".join(f"nats://127.0.0.1:{p}" for j, p in enumerate(routes) if j != i)
            args += [
                "--cluster_name",
                "bench",
                "--cluster",
                f"nats://127.0.0.1:{routes[i]}",
                "--routes",
                others,
            ]
        processes.append(start(args, work / f"nats-{i}.log"))
    time.sleep(3.0 if size > 1 else 0.5)  # a cluster elects its JetStream meta leader
    settings = NatsSettings(url=",".join(f"nats://127.0.0.1:{p}" for p in ports), replicas=size)
    return processes, lambda: NatsBroker(settings, ack_wait=30.0)


async def subscribe(broker: Broker, consumer: str) -> Subscription:
    spec = SubscriptionSpec(
        stream=STREAM, group="bench", dead_letter=STREAM + ":dead", consumer=consumer, owned=True
    )
    subscription = broker.subscription(spec)
    deadline = time.monotonic() + 60
    while True:  # a fresh cluster answers once it elected its leaders
        try:
            await subscription.prepare()
            return subscription
        except BrokerUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.5)


async def publish_many(broker: Broker, count: int, concurrency: int, tag: str) -> float:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for n in range(count):
        queue.put_nowait(n)

    async def producer() -> None:
        while not queue.empty():
            n = queue.get_nowait()
            record = {"status": "queued", "function": "bench.default"}
            while True:  # as a producer retries a 503 (a repeated publish is dropped as a duplicate)
                try:
                    await broker.publish(
                        STREAM, {"body": b"{}"}, record_id=f"{tag}-{n}", record=record, retention=600
                    )
                    break
                except BrokerUnavailable:
                    await asyncio.sleep(0.05)

    started = time.perf_counter()
    await asyncio.gather(*(producer() for _ in range(concurrency)))
    return time.perf_counter() - started


async def consume(subscription: Subscription, done: list[int], stop_when: int) -> None:
    async def settle(delivery: Delivery) -> None:
        record = RecordUpdate(f"done-{delivery.origin_id}", {"status": "succeeded"}, 600)
        await subscription.ack(delivery, record=record)

    while len(done) < stop_when:
        deliveries = await subscription.fetch(64, 0.2)
        await asyncio.gather(*(settle(d) for d in deliveries))
        done.extend(1 for _ in deliveries)


async def end_to_end(
    make: Callable[[], Broker], count: int, concurrency: int, consumers: int, tag: str
) -> float:
    producer = make()
    brokers = [make() for _ in range(consumers)]
    subscriptions = [await subscribe(b, f"c{i}") for i, b in enumerate(brokers)]
    done: list[int] = []
    started = time.perf_counter()
    tasks = [asyncio.create_task(consume(s, done, count)) for s in subscriptions]
    await publish_many(producer, count, concurrency, tag)
    while len(done) < count:  # noqa: ASYNC110 - polls the consumers' count
        await asyncio.sleep(0.005)
    seconds = time.perf_counter() - started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    for broker in [producer, *brokers]:
        await broker.close()
    return count / seconds


async def latency(make: Callable[[], Broker], count: int) -> tuple[float, float]:
    broker, producer = make(), make()
    subscription = await subscribe(broker, "lat")
    waits: list[float] = []
    for n in range(count):
        fetching = asyncio.create_task(subscription.fetch(1, 2.0))
        await asyncio.sleep(0.005)  # the consumer is waiting, as an idle one does
        sent = time.perf_counter()
        await producer.publish(STREAM, {"body": b"{}"}, record_id=f"lat-{n}", record={}, retention=600)
        deliveries = await fetching
        while not deliveries:
            deliveries = await subscription.fetch(1, 2.0)
        waits.append(time.perf_counter() - sent)
        await subscription.ack(deliveries[0])
    await broker.close()
    await producer.close()
    return 1000 * statistics.median(waits), 1000 * statistics.quantiles(waits, n=100)[98]


async def measure(make: Callable[[], Broker], count: int, concurrency: int) -> dict[str, float]:
    broker = make()
    await subscribe(broker, "warm")
    await publish_many(broker, 200, concurrency, "warm")
    submits = count / await publish_many(broker, count, concurrency, "submit")
    await broker.close()
    drain = make()
    sub = await subscribe(drain, "drain")
    done: list[int] = []
    await consume(sub, done, count + 200)
    await drain.close()
    one = await end_to_end(make, count, concurrency, 1, "e2e1")
    two = await end_to_end(make, count, concurrency, 2, "e2e2")
    p50, p99 = await latency(make, 300)
    return {"submits": submits, "e2e_1": one, "e2e_2": two, "p50_ms": p50, "p99_ms": p99}


def section(
    results: dict[str, dict[str, float]], count: int, concurrency: int, load: tuple[float, float]
) -> str:
    scaling = ", ".join(f"x{r['e2e_2'] / r['e2e_1']:.2f} ({name})" for name, r in results.items())
    rows = "\n".join(
        f"| {name} | {r['submits']:.0f} /s | {r['e2e_1']:.0f} /s | {r['e2e_2']:.0f} /s "
        f"| {r['p50_ms']:.2f} ms | {r['p99_ms']:.2f} ms |"
        for name, r in results.items()
    )
    return f"""## Event brokers

Measured {datetime.now(UTC):%Y-%m-%d} on {machine()}, with `python -m bench.brokers`: the
`Broker` protocol alone (no gateway, no runtime), every server on this one machine and on
loopback, file storage for JetStream; {count} events, {concurrency} concurrent producers. The
machine is shared with other work (1-minute load average {load[0]:.1f} at the start,
{load[1]:.1f} at the end): rates move by tens of percent between runs. Submits: `publish` with
its invocation record (what a 202 waits for). End to end: publish -> fetch -> ack with a record
update (a successful delivery's settlement), with 1 and 2 consumers, each with its own
connection (two gateway replicas). Enqueue -> delivery: from `publish` to a waiting consumer
holding the event (where the handler would start), one event at a time.

| broker | submits | end to end, 1 consumer | end to end, 2 consumers | enqueue -> delivery p50 | p99 |
|---|---|---|---|---|---|
{rows}

A second consumer changes end-to-end throughput by {scaling} (same machine: its two CPUs are
shared by the servers, the producers and the consumers, so this is not how either scales over
machines). Redis does each step in one pipelined script call; JetStream's are several requests
(invocation record in KV, publish; settling: record compare-and-set, ack, delete of the owned
entry), each acknowledged by the server, and in a cluster replicated to a quorum before that.
JetStream is chosen for availability and for spreading servers over machines
(docs/events.md), not for speed on one box.
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    load_start = os.getloadavg()[0]
    results: dict[str, dict[str, float]] = {}
    setups: list[tuple[str, Callable[[Path], tuple[list[subprocess.Popen[bytes]], Callable[[], Broker]]]]] = [
        ("Redis (one redis-server)", redis_server),
        ("NATS JetStream, 1 server", lambda work: nats_servers(work, 1)),
        ("NATS JetStream, 3-server cluster, 3 replicas", lambda work: nats_servers(work, 3)),
    ]
    for name, setup in setups:
        with tempfile.TemporaryDirectory() as tmp:
            processes, make = setup(Path(tmp))
            try:
                results[name] = asyncio.run(measure(make, args.count, args.concurrency))
            finally:
                for process in processes:
                    stop(process)
        print(name, json.dumps({k: round(v, 2) for k, v in results[name].items()}), flush=True)
    text = section(results, args.count, args.concurrency, (load_start, os.getloadavg()[0]))
    print(text)
    if not args.no_write:
        docs.write_section("Event brokers", text)


if __name__ == "__main__":
    main()
