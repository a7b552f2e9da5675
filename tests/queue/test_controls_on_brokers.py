"""Each async control of a function and of a queue Trigger, end to end through a ``QueueManager``
and real runtimes, on every broker (Redis Streams and NATS JetStream): retries exhausted reach the
failure destination, an event past its age is dropped with the reason, the success destination
gets the response, a redrive runs the fixed function, the same idempotency key runs once, a
function re-invoking itself stops at the hop limit, and a batch retries only its failed items."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.queue.conftest import FAST, Managers, function, queue_trigger
from tests.queue.runtime import RuntimeProcess
from tests.queue.test_async_controls import async_function
from tests.support.wait import eventually
from wisp.queue.broker import Broker
from wisp.queue.deadletters import SourceKind
from wisp.queue.nats_broker import NatsBroker
from wisp.queue.redis_broker import RedisBroker
from wisp.queue.settings import NatsSettings, RedisSettings


@pytest.fixture(
    params=[pytest.param("redis", marks=pytest.mark.redis), pytest.param("nats", marks=pytest.mark.nats)]
)
def broker(request: pytest.FixtureRequest) -> Broker:
    """A broker the ``managers`` fixture closes (it owns what it is given)."""
    if request.param == "redis":
        url: str = request.getfixturevalue("redis_url")
        return RedisBroker(RedisSettings(url=url), read_block=FAST.read_block)
    settings: NatsSettings = request.getfixturevalue("nats_settings")
    return NatsBroker(settings, ack_wait=FAST.visibility_timeout, retention=FAST.retention)


@pytest.fixture
async def reader(broker: Broker) -> AsyncIterator[Callable[[str, int], Any]]:
    async def records(stream: str, count: int) -> list[dict[str, Any]]:
        """The entries of ``stream`` (a destination or dead-letter stream), once there are ``count``."""

        async def arrived() -> list[Any] | None:
            entries = await broker.dead_letters(stream)
            return entries if len(entries) >= count else None

        return [dict(e.fields) for e in await eventually(arrived, f"{count} entries on {stream}")]

    yield records


async def test_exhausted_retries_reach_the_failure_destination(
    broker: Broker, reader: Any, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    runtime = runtimes("events.fails")
    manager = managers(broker, {"orders.default": runtime.url})
    manager.update_functions(
        [async_function("orders", "events.fails", maxRetries=1, onFailure={"stream": "orders.failed"})]
    )
    invocation = await manager.invocations.submit("orders.default", b'{"order": 7}', {})
    [entry] = await reader("orders.failed", 1)
    record = json.loads(entry["data"])
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["requestId"] == invocation
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responsePayload"]["errorMessage"] == "planned failure"
    assert len(runtime.records("failed")) == 2
    [dead] = await reader("wisp:async:default:orders:dead", 1)
    assert dead["wisp.reason"] == b"retries_exhausted"


async def test_an_event_past_its_age_is_dropped_with_the_reason(
    broker: Broker, reader: Any, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    runtime = runtimes("events.record")
    manager = managers(broker, {"orders.default": runtime.url}, clock=lambda: time.time() + 120)
    invocation = await manager.invocations.submit("orders.default", b'{"order": 9}', {})
    manager.update_functions(
        [async_function("orders", "events.record", maxEventAge="60s", onFailure={"stream": "too-old"})]
    )
    [entry] = await reader("too-old", 1)
    assert json.loads(entry["data"])["requestContext"]["condition"] == "EventAgeExceeded"
    status = await manager.invocations.status(invocation)
    assert status is not None
    assert (status["status"], status["reason"]) == ("failed", "event_age_exceeded")
    assert runtime.records() == []  # never run late


async def test_the_success_destination_receives_the_response(
    broker: Broker, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    orders, audit = runtimes("events.record"), runtimes("events.context_record")
    manager = managers(broker, {"orders.default": orders.url, "audit.default": audit.url})
    manager.update_functions(
        [
            async_function("orders", "events.record", onSuccess={"function": "audit"}),
            async_function("audit", "events.context_record"),
        ]
    )
    invocation = await manager.invocations.submit("orders.default", b'{"order": 8}', {})
    [done] = await eventually(audit.records, "the audit function's call")
    assert done["event"]["requestContext"]["condition"] == "Success"
    assert done["event"]["requestContext"]["requestId"] == invocation
    assert done["event"]["responsePayload"] == {"ok": True, "requestId": invocation}


async def test_a_redrive_runs_the_fixed_function(
    tmp_path: Path, broker: Broker, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    fixed = tmp_path / "fixed"
    runtime = runtimes("events.fixable", env={"FIXED_FILE": str(fixed)})
    manager = managers(broker, {"orders.default": runtime.url})
    manager.update_functions([async_function("orders", "events.fixable", maxRetries=0)])
    invocation = await manager.invocations.submit("orders.default", b'{"n": 1}', {})
    source = manager.dead_letters.source(SourceKind.FUNCTION, "orders.default")
    assert source is not None

    async def dead() -> bool:
        return await broker.count_dead_letters(source.stream) == 1

    await eventually(dead, "the dead letter")
    fixed.touch()
    assert len(await manager.dead_letters.redrive(source, None)) == 1

    async def settled() -> dict[str, Any] | None:
        status = await manager.invocations.status(invocation)
        return status if status is not None and status["status"] != "queued" else None

    status = await eventually(settled, "the redriven invocation's outcome")
    assert (status["status"], status["redrives"]) == ("succeeded", 1)
    assert len(runtime.records("done")) == 1
    assert await broker.count_dead_letters(source.stream) == 0


async def test_the_same_idempotency_key_twice_runs_once(
    broker: Broker, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    runtime = runtimes("events.context_record")
    manager = managers(broker, {"orders.default": runtime.url})
    submit = manager.invocations.submit
    first = await submit("orders.default", b'{"n": 1}', {"Idempotency-Key": "k"}, idempotency_key="k")
    again = await submit("orders.default", b'{"n": 2}', {"Idempotency-Key": "k"}, idempotency_key="k")
    other = await submit("orders.default", b'{"n": 3}', {})
    assert first == again != other
    manager.update_functions([async_function("orders", "events.context_record")])
    await eventually(lambda: len(runtime.records()) == 2, "two calls")
    assert sorted(r["event"]["n"] for r in runtime.records()) == [1, 3]


async def test_a_function_that_re_invokes_itself_stops_at_the_hop_limit(
    broker: Broker, reader: Any, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    runtime = runtimes("events.record")
    manager = managers(broker, {"loop.default": runtime.url})
    manager.update_functions(
        [
            async_function(
                "loop", "events.record", onSuccess={"function": "loop"}, onFailure={"stream": "loops"}
            )
        ]
    )
    await manager.invocations.submit("loop.default", b'{"start": true}', {})
    [entry] = await reader("loops", 1)
    assert json.loads(entry["data"])["requestContext"]["condition"] == "RecursiveInvocationLoop"
    assert len(runtime.records()) == 16


async def test_a_batch_with_two_failing_items_retries_only_those(
    broker: Broker, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    runtime = runtimes("events.batch")
    ids = []
    for n in range(5):
        data = json.dumps({"n": n, "fail": n in (1, 3)}).encode()
        ids.append(await broker.publish("orders", {"data": data}, record_id=f"m{n}", record={}, retention=60))
    manager = managers(broker, {"orders.default": runtime.url})
    manager.update_functions([function("orders", "events.batch")])
    manager.update_triggers(
        [
            queue_trigger(
                "on-order",
                "orders",
                "orders",
                batchSize=10,
                batchWindow="200ms",
                backoff={"initial": "10ms", "max": "10ms"},
            )
        ]
    )

    def handled() -> list[tuple[str, int]]:
        return [(item[0], item[1]) for call in runtime.records("batch") for item in call["items"]]

    await eventually(lambda: len(handled()) == 7, "five items, then the two failed ones again")
    assert sorted(i for i, attempt in handled() if attempt == 1) == sorted(ids)
    assert sorted(i for i, attempt in handled() if attempt == 2) == sorted([ids[1], ids[3]])
    assert await broker.count_dead_letters("orders.dead") == 0
