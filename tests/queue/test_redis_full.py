"""Redis out of memory (``maxmemory`` with ``noeviction``): every write is refused while reads
still work. Accepting answers the documented 503 JSON with ``Retry-After``; consumers and
schedules log the outage once, back off, and finish their work when Redis takes writes again;
nothing is lost or acknowledged early.

A private redis-server per test: ``CONFIG SET maxmemory 1`` puts it over its limit at once and
``maxmemory 0`` lifts the limit, so the test decides when the outage starts and ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.queue.conftest import FAST, Managers, function
from tests.queue.runtime import RuntimeProcess
from tests.queue.test_async import gateway  # noqa: F401 (fixture)
from tests.support.redis import RedisServer
from tests.support.wait import eventually
from wisp.api.trigger import parse_trigger
from wisp.queue import names
from wisp.queue.broker import BrokerUnavailable, SubscriptionSpec
from wisp.queue.redis_broker import RedisBroker
from wisp.queue.schedule import LONGEST_SLEEP
from wisp.queue.settings import RedisSettings

pytestmark = pytest.mark.redis


async def refuse_writes(client: aioredis.Redis) -> None:
    await client.config_set("maxmemory-policy", "noeviction")
    await client.config_set("maxmemory", "1")


async def accept_writes(client: aioredis.Redis) -> None:
    await client.config_set("maxmemory", "0")


@pytest.fixture
async def full_redis(redis_server_factory: Callable[..., RedisServer]) -> Any:
    server = redis_server_factory()
    client = aioredis.Redis.from_url(server.url)
    yield server.url, client
    await client.aclose()


def warnings_and_errors(caplog: pytest.LogCaptureFixture, logger: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == logger and r.levelno >= logging.WARNING]


async def test_accepting_while_redis_is_full_answers_503_json_with_retry_after(
    full_redis: tuple[str, aioredis.Redis],
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
    gateway: Any,  # noqa: F811
) -> None:
    url, client = full_redis
    runtime = runtimes("events.record")
    manager = managers(url, {"hello.default": runtime.url})
    server = await gateway(manager, {"hello.default"})
    await refuse_writes(client)

    async with aiohttp.ClientSession() as session:
        for _ in range(2):  # every request, not just the first
            async with session.post(server.make_url("/async-function/hello"), data=b"{}") as response:
                assert response.status == 503
                assert response.content_type == "application/json"
                assert response.headers["Retry-After"] == "1"
                body = await response.json()
                assert body["error"] == "QueueUnavailable"
                assert "out of memory" in body["message"]
        assert await client.exists(names.async_stream("hello.default")) == 0

        await accept_writes(client)
        manager.update_functions([function("hello", "events.record")])
        async with session.post(server.make_url("/async-function/hello"), data=b'{"n": 1}') as response:
            assert response.status == 202
    await eventually(lambda: runtime.records())
    assert [r["event"] for r in runtime.records()] == [{"n": 1}]


async def test_a_delivery_that_cannot_be_settled_waits_for_redis_and_is_logged_once(
    full_redis: tuple[str, aioredis.Redis],
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
    gateway: Any,  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="wisp.queue.consumer")
    url, client = full_redis
    gate = tmp_path / "gate"
    runtime = runtimes("events.gated", env={"GATE_FILE": str(gate)})
    manager = managers(url, {"hello.default": runtime.url})
    server = await gateway(manager, {"hello.default"})
    manager.update_functions([function("hello", "events.gated")])
    async with aiohttp.ClientSession() as session:
        async with session.post(server.make_url("/async-function/hello"), data=b'{"n": 1}') as response:
            invocation = (await response.json())["invocationId"]
        await eventually(lambda: runtime.records("start"))

        await refuse_writes(client)
        gate.touch()  # the call succeeds now, but its acknowledgement is refused
        await eventually(lambda: sum("still failing" in r.getMessage() for r in caplog.records) >= 3)
        assert (await manager.invocations.status(invocation) or {})["status"] == "queued"
        pending: Any = await client.xpending(names.async_stream("hello.default"), names.ASYNC_GROUP)
        assert pending["pending"] == 1  # not acknowledged: a crash now would redeliver it

        await accept_writes(client)

        async def succeeded() -> bool:
            status = await manager.invocations.status(invocation)
            return status is not None and status["status"] == "succeeded"

        await eventually(succeeded)
    assert len(runtime.records("start")) == 1  # settled after the outage, not called again
    [warning] = warnings_and_errors(caplog, "wisp.queue.consumer")
    assert "out of memory" in warning.getMessage()
    assert any("works again" in r.getMessage() for r in caplog.records)


async def test_retries_and_dead_letters_are_refused_whole_and_delayed_ones_are_not_lost(
    full_redis: tuple[str, aioredis.Redis],
) -> None:
    url, client = full_redis
    broker = RedisBroker(RedisSettings(url=url), read_block=0.1)
    spec = SubscriptionSpec(stream="orders", group="billing", dead_letter="orders.dead", consumer="c1")
    subscription = broker.subscription(spec)
    delayed = names.delayed_set("orders", "billing")
    try:
        await subscription.prepare()
        await client.xadd("orders", {"order": "1"})
        await client.xadd("orders", {"order": "2"})
        first, second = await subscription.fetch(2, 0.1)
        await subscription.retry(first, attempt=2, delay=0.0, error="boom", now=time.time())
        assert await client.zcard(delayed) == 1

        await refuse_writes(client)
        with pytest.raises(BrokerUnavailable, match="out of memory"):
            await subscription.promote_due(time.time() + 1)
        assert await client.zcard(delayed) == 1  # still waiting, not dropped
        with pytest.raises(BrokerUnavailable, match="out of memory"):
            await subscription.retry(second, attempt=2, delay=0.0, error="boom", now=time.time())
        with pytest.raises(BrokerUnavailable, match="out of memory"):
            await subscription.dead_letter(second, reason="rejected", error="bad")
        pending: Any = await client.xpending("orders", "billing")
        assert pending["pending"] == 1  # the second delivery: still pending, nothing half-done
        assert await client.exists("orders.dead") == 0

        await accept_writes(client)
        assert await subscription.promote_due(time.time() + 1) == 1
        [again] = await subscription.fetch(1, 0.1)
        assert (again.fields, again.attempt) == ({"order": b"1"}, 2)
    finally:
        await broker.close()


async def test_schedules_retry_a_refused_tick_soon_and_log_the_outage_once(
    full_redis: tuple[str, aioredis.Redis],
    managers: Managers,
    caplog: pytest.LogCaptureFixture,
) -> None:
    url, client = full_redis
    now = datetime(2025, 1, 1, 10, 0, 30, tzinfo=UTC)
    manager = managers(url, {}, schedule_clock=lambda: now)
    trigger = parse_trigger(
        {
            "metadata": {"name": "hourly", "namespace": "default"},
            "spec": {"function": "report", "schedule": {"cron": "0 * * * *"}},
        }
    )
    manager.scheduler.update([trigger])
    await refuse_writes(client)

    tick = datetime(2025, 1, 1, 11, 0, 10, tzinfo=UTC)
    assert await manager.scheduler.fire_due(tick) == []
    assert await manager.scheduler.fire_due(tick) == []
    # Tried again within the reconnect backoff, not at the next tick an hour later.
    assert manager.scheduler.seconds_to_next_tick(tick) <= FAST.reconnect_max
    assert len(warnings_and_errors(caplog, "wisp.queue.schedule")) == 1

    await accept_writes(client)
    assert await manager.scheduler.fire_due(tick) == ["hourly.default@20250101T1100Z"]
    assert manager.scheduler.seconds_to_next_tick(tick) == LONGEST_SLEEP
