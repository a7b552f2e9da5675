"""Queue triggers: any client's plain XADD becomes a ``wisp.queue`` event for the function."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from tests.queue.conftest import Managers, function, queue_trigger
from tests.queue.runtime import RuntimeProcess
from tests.support.wait import eventually

pytestmark = pytest.mark.redis


async def test_messages_in_both_layouts_arrive_as_events_and_malformed_ones_are_dead_lettered(
    redis_url: str,
    redis_client: aioredis.Redis,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
) -> None:
    runtime = runtimes("events.record")
    manager = managers(redis_url, {"orders.default": runtime.url})
    manager.update_functions([function("orders", "events.record")])
    manager.update_triggers([queue_trigger("on-order", "orders", "orders")])

    first = await redis_client.xadd("orders", {"data": json.dumps({"order": 1})})
    not_json = await redis_client.xadd("orders", {"data": "{not json"})
    too_big = await redis_client.xadd("orders", {"data": json.dumps("x" * (1024 * 1024 + 10))})
    as_map = await redis_client.xadd("orders", {"order": "2", "customer": "ada"})
    with_attributes = await redis_client.xadd("orders", {"data": "[3]", "type": "created"})

    await eventually(lambda: len(runtime.records()) == 3)
    events = {r["event"]["id"]: r["event"] for r in runtime.records()}
    assert events[first.decode()] == {
        "source": "wisp.queue",
        "stream": "orders",
        "id": first.decode(),
        "data": {"order": 1},
        "attempt": 1,
    }
    assert events[as_map.decode()]["data"] == {"order": "2", "customer": "ada"}
    assert events[with_attributes.decode()]["data"] == [3]
    assert events[with_attributes.decode()]["attributes"] == {"type": "created"}

    async def both_dead() -> list[tuple[bytes, dict[bytes, bytes]]] | None:
        entries = await redis_client.xrange("orders.dead")
        return entries if len(entries) == 2 else None

    dead = await eventually(both_dead)
    reasons = {entry[b"wisp.id"]: entry[b"wisp.reason"] for _, entry in dead}
    assert reasons == {not_json: b"malformed", too_big: b"too_large"}
    [(_, malformed)] = [e for e in dead if e[1][b"wisp.id"] == not_json]
    assert b"not JSON" in malformed[b"wisp.error"]
    assert malformed[b"data"] == b"{not json"  # the producer's fields are kept for inspection

    # Everything is settled: nothing pending, and the user's stream is left intact.
    async def settled() -> bool:
        return (await redis_client.xpending("orders", "wisp.default.on-order"))["pending"] == 0

    await eventually(settled)
    assert await redis_client.xlen("orders") == 5


async def test_a_backlog_never_has_more_than_max_in_flight_calls_at_once(
    redis_url: str,
    redis_client: aioredis.Redis,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
) -> None:
    runtime = runtimes("events.slow", env={"SLOW_SECONDS": "0.5"})
    for i in range(6):
        await redis_client.xadd("jobs", {"data": json.dumps(i)})
    manager = managers(redis_url, {"worker.default": runtime.url})
    manager.update_functions([function("worker", "events.slow")])
    manager.update_triggers([queue_trigger("jobs", "worker", "jobs", maxInFlight=2)])

    await eventually(lambda: len(runtime.records()) == 6)
    lines = runtime.record_file.read_text().splitlines()
    running = peak = 0
    for line in lines:  # the runtime appends start/done in the order they happen
        running += 1 if json.loads(line)["kind"] == "start" else -1
        peak = max(peak, running)
    assert peak == 2


async def test_failing_queue_events_retry_with_the_attempt_number_then_dead_letter(
    redis_url: str,
    redis_client: aioredis.Redis,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
) -> None:
    runtime = runtimes("events.flaky", env={"FAIL_TIMES": "100"})
    manager = managers(redis_url, {"flaky.default": runtime.url})
    manager.update_functions([function("flaky", "events.flaky")])
    manager.update_triggers(
        [
            queue_trigger(
                "in",
                "flaky",
                "inbox",
                maxRetries=1,
                deadLetter="inbox.failed",
                backoff={"initial": "10ms", "max": "50ms"},
            )
        ]
    )
    sent = await redis_client.xadd("inbox", {"data": "{}"})

    [(_, dead)] = await eventually(lambda: redis_client.xrange("inbox.failed"))
    failures = runtime.records("failed")
    assert [f["event"]["attempt"] for f in failures] == [1, 2]
    assert {f["event"]["id"] for f in failures} == {sent.decode()}  # same id on every attempt
    assert dead[b"wisp.reason"] == b"retries_exhausted"
    assert dead[b"wisp.attempts"] == b"2"
    assert b"planned failure 2" in dead[b"wisp.error"]
