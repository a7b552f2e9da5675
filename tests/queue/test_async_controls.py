"""A function's async controls against real Redis and real runtimes: per-function retries, event
age, success and failure destinations (Lambda's record shape), idempotency keys and the
recursion guard."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.queue.conftest import Managers, queue_trigger
from tests.queue.runtime import RuntimeProcess
from tests.queue.test_async import CallbackReceiver
from tests.support.wait import eventually
from wisp.api.function import Function, parse_function
from wisp.queue.manager import QueueManager
from wisp.queue.routes import add_routes

pytestmark = pytest.mark.redis


def async_function(name: str, handler: str, **controls: Any) -> Function:
    spec: dict[str, Any] = {"runtime": "python3.12", "handler": handler, "code": {"image": "unused"}}
    if controls:
        spec["async"] = controls
    return parse_function({"metadata": {"name": name, "namespace": "default"}, "spec": spec})


async def stream_records(client: aioredis.Redis, stream: str, count: int) -> list[dict[str, Any]]:
    """The destination records appended to ``stream``, once there are ``count`` of them."""

    async def arrived() -> list[Any] | None:
        entries = await client.xrange(stream)
        return entries if len(entries) >= count else None

    entries = await eventually(arrived, f"{count} records on {stream}")
    return [json.loads(fields[b"data"]) for _, fields in entries]


async def test_exhausted_retries_send_lambdas_failure_record_to_the_failure_destination(
    redis_url: str, redis_client: aioredis.Redis, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    runtime = runtimes("events.fails")
    manager = managers(redis_url, {"orders.default": runtime.url})
    manager.update_functions(
        [async_function("orders", "events.fails", maxRetries=1, onFailure={"stream": "orders.failed"})]
    )
    invocation = await manager.invocations.submit("orders.default", b'{"order": 7}', {})

    [record] = await stream_records(redis_client, "orders.failed", 1)
    assert len(runtime.records("failed")) == 2  # the first attempt and maxRetries (1), not the default 2
    assert record["version"] == "1.0"
    assert record["requestContext"] == {
        "requestId": invocation,
        "functionArn": "wisp:default:function:orders:$LATEST",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 2,
    }
    assert record["requestPayload"] == {"order": 7}
    assert record["responseContext"]["statusCode"] == 500
    assert record["responseContext"]["functionError"] == "Unhandled"
    assert record["responsePayload"]["errorMessage"] == "planned failure"
    assert record["timestamp"].endswith("Z")
    [(_, dead)] = await redis_client.xrange("wisp:async:default:orders:dead")
    assert dead[b"wisp.reason"] == b"retries_exhausted"  # the dead-letter stream keeps it too


async def test_the_success_destination_function_receives_the_response(
    redis_url: str, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    orders, audit = runtimes("events.record"), runtimes("events.context_record")
    manager = managers(redis_url, {"orders.default": orders.url, "audit.default": audit.url})
    manager.update_functions(
        [
            async_function("orders", "events.record", onSuccess={"function": "audit"}),
            async_function("audit", "events.context_record"),
        ]
    )
    invocation = await manager.invocations.submit("orders.default", b'{"order": 8}', {})

    [done] = await eventually(audit.records, "the audit function's call")
    record = done["event"]
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestContext"]["requestId"] == invocation
    assert record["requestPayload"] == {"order": 8}
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"ok": True, "requestId": invocation}
    assert done["custom"] == {"hops": "2"}  # one call further in the chain


async def test_an_event_past_its_age_is_dropped_with_the_reason_and_never_run(
    redis_url: str,
    redis_client: aioredis.Redis,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
) -> None:
    runtime = runtimes("events.record")
    receiver = CallbackReceiver()
    await receiver.server.start_server()
    # The consumer's clock says two minutes have passed since the event was accepted.
    manager = managers(redis_url, {"orders.default": runtime.url}, clock=lambda: time.time() + 120)
    invocation = await manager.invocations.submit("orders.default", b'{"order": 9}', {}, receiver.url)
    manager.update_functions(
        [async_function("orders", "events.record", maxEventAge="60s", onFailure={"stream": "too-old"})]
    )

    try:
        [(headers, callback)] = await eventually(lambda: receiver.received, "the caller's callback")
    finally:
        await receiver.server.close()
    assert callback["status"] == "failed"
    assert headers["X-Wisp-Function-Status"] == "0"  # never run
    [record] = await stream_records(redis_client, "too-old", 1)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert "statusCode" not in record["responseContext"]
    assert "maxEventAge" in record["responsePayload"]["errorMessage"]
    [(_, dead)] = await redis_client.xrange("wisp:async:default:orders:dead")
    assert dead[b"wisp.reason"] == b"event_age_exceeded"
    status = await manager.invocations.status(invocation)
    assert status is not None
    assert status["status"] == "failed"
    assert status["reason"] == "event_age_exceeded"
    assert "result" not in status
    assert runtime.records() == []  # never run late


async def serve(manager: QueueManager, known: set[str]) -> TestServer:
    app = web.Application()
    add_routes(
        app, manager.invocations, lambda name, ns: async_function(name, "x.y") if name in known else None
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


async def test_the_same_idempotency_key_twice_runs_once_and_the_handler_sees_the_key(
    redis_url: str, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    runtime = runtimes("events.context_record")
    manager = managers(redis_url, {"orders.default": runtime.url})
    server = await serve(manager, {"orders"})
    ids = []
    try:
        async with aiohttp.ClientSession() as session:
            for body, key in (
                (b'{"n": 1}', "order-42"),
                (b'{"n": 2}', "order-42"),
                (b'{"n": 3}', "order-43"),
            ):
                async with session.post(
                    server.make_url("/async-function/orders"), data=body, headers={"Idempotency-Key": key}
                ) as response:
                    assert response.status == 202
                    ids.append((await response.json())["invocationId"])
        manager.update_functions([async_function("orders", "events.context_record")])
        await eventually(lambda: len(runtime.records()) == 2, "both keys' calls")
    finally:
        await server.close()

    assert ids[0] == ids[1] != ids[2]
    calls = {r["event"]["n"]: r["custom"] for r in runtime.records()}
    assert calls == {1: {"idempotencyKey": "order-42"}, 3: {"idempotencyKey": "order-43"}}
    status = await manager.invocations.status(ids[0])
    assert status is not None
    assert status["idempotencyKey"] == "order-42"


async def test_a_function_that_re_invokes_itself_is_stopped_at_the_hop_limit(
    redis_url: str,
    redis_client: aioredis.Redis,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
) -> None:
    runtime = runtimes("events.record")
    manager = managers(redis_url, {"loop.default": runtime.url})
    # Its success destination is itself: every call's outcome invokes it again.
    manager.update_functions(
        [
            async_function(
                "loop", "events.record", onSuccess={"function": "loop"}, onFailure={"stream": "loops"}
            )
        ]
    )
    await manager.invocations.submit("loop.default", b'{"start": true}', {})

    [record] = await stream_records(redis_client, "loops", 1)
    assert record["requestContext"]["condition"] == "RecursiveInvocationLoop"
    assert len(runtime.records()) == 16  # the default limit: the 17th call never ran
    [(_, dead)] = await redis_client.xrange("wisp:async:default:loop:dead")
    assert dead[b"wisp.reason"] == b"recursion_limit"
    assert dead[b"hops"] == b"17"


async def test_a_url_destination_is_posted_through_the_callbacks_consumer(
    redis_url: str, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    receiver = CallbackReceiver()
    await receiver.server.start_server()
    try:
        runtime = runtimes("events.fails")
        manager = managers(redis_url, {"orders.default": runtime.url})
        manager.update_functions(
            [async_function("orders", "events.fails", maxRetries=0, onFailure={"url": receiver.url})]
        )
        invocation = await manager.invocations.submit("orders.default", b'{"order": 10}', {})
        [(headers, record)] = await eventually(lambda: receiver.received, "the failure record")
    finally:
        await receiver.server.close()
    assert headers["X-Wisp-Function-Status"] == "RetriesExhausted"
    assert headers["X-Wisp-Invocation-Id"] == invocation
    assert record["requestContext"]["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"order": 10}


async def test_a_queue_trigger_drops_old_messages_to_its_failure_destination(
    redis_url: str,
    redis_client: aioredis.Redis,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
) -> None:
    runtime = runtimes("events.record")
    entry = (await redis_client.xadd("orders", {"data": json.dumps({"order": 11})})).decode()
    manager = managers(redis_url, {"orders.default": runtime.url}, clock=lambda: time.time() + 120)
    manager.update_functions([async_function("orders", "events.record")])
    manager.update_triggers(
        [
            queue_trigger(
                "on-order", "orders", "orders", maxEventAge="60s", onFailure={"stream": "orders.failed"}
            )
        ]
    )

    [record] = await stream_records(redis_client, "orders.failed", 1)
    assert record["requestContext"]["condition"] == "EventAgeExceeded"
    assert record["requestContext"]["requestId"] == f"orders/{entry}"
    assert record["requestPayload"]["data"] == {"order": 11}
    [(_, dead)] = await redis_client.xrange("orders.dead")
    assert dead[b"wisp.reason"] == b"event_age_exceeded"
    assert runtime.records() == []
