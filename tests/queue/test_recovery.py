"""Nothing accepted is lost: a consumer killed mid-call, a restart with a backlog, a Redis restart."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from tests.queue.conftest import FAST, Managers, function, queue_trigger
from tests.queue.runtime import RuntimeProcess
from tests.support.redis import RedisServer
from tests.support.wait import eventually
from wisp.queue import names

pytestmark = pytest.mark.redis

MANIFEST = """
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata: {name: slow, namespace: default}
spec: {runtime: python3.12, handler: events.slow, code: {image: unused}}
---
apiVersion: wisp.dev/v1alpha1
kind: Trigger
metadata: {name: work, namespace: default}
spec: {function: slow, queue: {stream: work, maxInFlight: 3}}
"""


@pytest.fixture
def workers(tmp_path: Path, redis_url: str) -> Iterator[Callable[[str, str], subprocess.Popen[bytes]]]:
    """``start(consumer_name, runtime_url)``: a ``python -m wisp.queue.worker`` process."""
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(MANIFEST)
    started: list[subprocess.Popen[bytes]] = []

    def start(consumer: str, url: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"worker-{consumer}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wisp.queue.worker",
                "--manifest",
                str(manifest),
                "--endpoint",
                f"slow.default={url}",
                "--consumer",
                consumer,
                "--visibility-timeout",
                "1",
                "--poll-interval",
                "0.05",
            ],
            env={**os.environ, "WISP_REDIS_URL": redis_url},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.terminate()
            process.wait(timeout=10)


async def test_a_consumer_killed_mid_call_loses_nothing(
    redis_client: aioredis.Redis,
    runtimes: Callable[..., RuntimeProcess],
    workers: Callable[[str, str], subprocess.Popen[bytes]],
) -> None:
    runtime = runtimes("events.slow", env={"SLOW_SECONDS": "1.5"})
    sent = {(await redis_client.xadd("work", {"data": json.dumps(i)})).decode() for i in range(10)}
    first = workers("first", runtime.url)
    started = await eventually(lambda: runtime.records("start"))
    first.send_signal(signal.SIGKILL)
    first.wait()
    # What the dead consumer had taken: its calls were in flight, none acknowledged.
    interrupted = {r["event"]["id"] for r in runtime.records("start")}
    assert started and interrupted

    workers("second", runtime.url)

    def all_done() -> bool:
        return {r["event"]["id"] for r in runtime.records()} >= sent

    await eventually(all_done, timeout=60)
    await eventually(lambda: _no_pending(redis_client, "work", "wisp.default.work"))
    retried = {r["event"]["id"] for r in runtime.records("start") if r["event"]["attempt"] == 2}
    # Every call the kill cut short was taken over by the second consumer, as attempt 2.
    assert interrupted <= retried


async def _no_pending(client: aioredis.Redis, stream: str, group: str) -> bool:
    summary = await client.xpending(stream, group)
    return bool(summary["pending"] == 0)


async def test_a_backlog_accepted_while_no_consumer_ran_is_drained_across_a_restart(
    redis_url: str,
    redis_client: aioredis.Redis,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
) -> None:
    runtime = runtimes("events.slow", env={"SLOW_SECONDS": "0.05"})
    endpoints = {"slow.default": runtime.url}
    accepting = managers(redis_url, endpoints)  # a gateway that accepts but runs no consumer
    accepted = [
        await accepting.invocations.submit("slow.default", json.dumps({"n": i}).encode(), {})
        for i in range(30)
    ]
    assert await redis_client.xlen(names.async_stream("slow.default")) == 30

    first = managers(redis_url, endpoints)
    first.update_functions([function("slow", "events.slow", concurrency=2)])
    await eventually(lambda: len(runtime.records()) >= 5)
    await first.close(grace=0.0)  # the gateway goes away with calls in flight

    second = managers(redis_url, endpoints)
    second.update_functions([function("slow", "events.slow", concurrency=2)])

    async def all_succeeded() -> bool:
        records = [await second.invocations.status(i) or {} for i in accepted]
        return {r.get("status") for r in records} == {"succeeded"}

    await eventually(all_succeeded, timeout=60)
    assert {r["event"]["n"] for r in runtime.records()} == set(range(30))
    assert await redis_client.xlen(names.async_stream("slow.default")) == 0  # acked entries go


async def test_a_redis_restart_mid_stream_loses_nothing(
    redis_server_factory: Callable[..., RedisServer],
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
) -> None:
    redis = redis_server_factory(appendonly=True)
    client = aioredis.Redis.from_url(redis.url)
    runtime = runtimes("events.record")
    manager = managers(redis.url, {"sink.default": runtime.url}, FAST)
    manager.update_functions([function("sink", "events.record")])
    manager.update_triggers([queue_trigger("feed", "sink", "feed")])
    sent = set()
    for i in range(20):
        sent.add((await client.xadd("feed", {"data": json.dumps(i)})).decode())
    await eventually(lambda: len(runtime.records()) >= 5)

    redis.restart()
    await client.aclose()
    client = aioredis.Redis.from_url(redis.url)  # the producer reconnects
    for i in range(20, 40):
        sent.add((await client.xadd("feed", {"data": json.dumps(i)})).decode())

    await eventually(lambda: {r["event"]["id"] for r in runtime.records()} >= sent, timeout=60)
    await eventually(lambda: _no_pending(client, "feed", "wisp.default.feed"))
    await client.aclose()
