"""Idle Functions cost the broker nothing (``QueueManager``, ``Consumer.idle_after``), on Redis
Streams and NATS JetStream: a Function's async consumer sleeps while its stream is empty, an
event this replica accepts wakes it, it sleeps again once the stream is drained, and events left
on a sleeping stream by another replica are found by the look over sleeping streams."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.queue.conftest import FAST, Managers, function
from tests.queue.runtime import RuntimeProcess
from tests.support.wait import eventually
from wisp.queue.broker import Broker
from wisp.queue.manager import QueueManager
from wisp.queue.names import async_label
from wisp.queue.nats_broker import NatsBroker
from wisp.queue.redis_broker import RedisBroker
from wisp.queue.settings import RedisSettings

SLEEPY = replace(FAST, idle_after=0.5, sweep_interval=1.0)
IDLE = 200


@pytest.fixture(
    params=[pytest.param("redis", marks=pytest.mark.redis), pytest.param("nats", marks=pytest.mark.nats)]
)
def brokers(request: pytest.FixtureRequest) -> Callable[[], Broker]:
    """Makes a broker (one per replica) on the test's Redis or JetStream stream."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return lambda: RedisBroker(RedisSettings(url=url), read_block=SLEEPY.read_block)
    settings = request.getfixturevalue("nats_settings")
    return lambda: NatsBroker(settings, ack_wait=SLEEPY.visibility_timeout, retention=SLEEPY.retention)


def reading(manager: QueueManager, *keys: str) -> list[str]:
    """Which of the Functions ``keys`` have an async consumer reading."""
    return [key for key in keys if (c := manager.consumer(async_label(key))) is not None and c.awake]


async def reads(client: aioredis.Redis) -> int:
    stats: Any = await client.info("commandstats")
    return int(stats.get("cmdstat_xreadgroup", {}).get("calls", 0))


@pytest.mark.redis
async def test_idle_functions_make_no_reads(redis_url: str, managers: Managers) -> None:
    """200 Functions at rest: only the callbacks' consumer reads (2 reads a second at this read
    block), not one consumer per Function (400 a second)."""
    manager = managers(redis_url, {}, settings=SLEEPY)
    keys = [f"idle-{i}.default" for i in range(IDLE)]
    manager.update_functions([function(f"idle-{i}", "events.record") for i in range(IDLE)])
    client = aioredis.from_url(redis_url)
    try:
        await eventually(lambda: manager.consumer(async_label(keys[0])), "the consumers made")
        before = await reads(client)
        await asyncio.sleep(2.0)
        made = await reads(client) - before
    finally:
        await client.aclose()
    assert reading(manager, *keys) == []
    assert made <= 10, f"{made} reads in 2 s"


async def test_an_event_wakes_its_function_which_sleeps_again_once_drained(
    brokers: Callable[[], Broker], runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    runtime = runtimes("events.record")
    manager = managers(brokers(), {"orders.default": runtime.url}, settings=SLEEPY)
    manager.update_functions([function("orders", "events.record"), function("idle", "events.record")])
    await eventually(lambda: manager.consumer(async_label("orders.default")), "the consumers made")
    assert reading(manager, "orders.default", "idle.default") == []

    await manager.invocations.submit("orders.default", b'{"order": 1}', {})
    assert reading(manager, "orders.default", "idle.default") == ["orders.default"]
    [call] = await eventually(runtime.records, "the call")
    assert call["event"] == {"order": 1}
    await eventually(lambda: not reading(manager, "orders.default"), "asleep again", timeout=10)
    assert manager.demands() == {}

    await manager.invocations.submit("orders.default", b'{"order": 2}', {})  # and wakes again
    await eventually(lambda: len(runtime.records()) == 2, "the second call")


async def test_events_left_on_a_sleeping_stream_by_another_replica_are_run(
    brokers: Callable[[], Broker], runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    """A replica accepts events and dies before running them (here: one that has no consumers):
    the other replica's look over sleeping streams finds them, whether it knew the Function
    before (the look every ``sweep_interval``) or learns of it after (the look at new consumers)."""
    runtime = runtimes("events.record")
    survivor = managers(
        brokers(), {"orders.default": runtime.url, "late.default": runtime.url}, settings=SLEEPY
    )
    survivor.update_functions([function("orders", "events.record")])
    await eventually(lambda: survivor.consumer(async_label("orders.default")), "the consumer made")
    gone = managers(brokers(), {}, settings=SLEEPY)  # never told of the Functions: no consumers

    await gone.invocations.submit("orders.default", b'{"order": 1}', {})
    await gone.invocations.submit("late.default", b'{"order": 2}', {})
    [call] = await eventually(runtime.records, "the known Function's event run", timeout=10)
    assert call["event"] == {"order": 1}
    survivor.update_functions([function("orders", "events.record"), function("late", "events.record")])
    await eventually(lambda: len(runtime.records()) == 2, "the new Function's event run", timeout=10)
    assert sorted(c["event"]["order"] for c in runtime.records()) == [1, 2]


@pytest.mark.redis
async def test_an_update_keeps_unchanged_consumers_and_a_changed_one_reads_on(
    redis_url: str, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    """The gateway hands the manager every Function about once a second during a bulk apply: the
    consumers of Functions that did not change are kept as they are. A changed Function's consumer
    is made anew, still reading if the old one was (its events are not left to the next look)."""
    runtime = runtimes("events.record")
    manager = managers(redis_url, {"orders.default": runtime.url}, settings=SLEEPY)
    orders, idle = function("orders", "events.record"), function("idle", "events.record")
    manager.update_functions([orders, idle])
    before = {key: manager.consumer(async_label(key)) for key in ("orders.default", "idle.default")}
    await manager.invocations.submit("orders.default", b'{"order": 1}', {})
    await eventually(runtime.records, "the call")

    manager.update_functions([function("orders", "events.record", concurrency=5), idle])
    assert manager.consumer(async_label("idle.default")) is before["idle.default"]
    changed = manager.consumer(async_label("orders.default"))
    assert changed is not before["orders.default"]
    assert reading(manager, "orders.default", "idle.default") == ["orders.default"]
