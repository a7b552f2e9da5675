"""Async invocations end to end: HTTP accept -> Redis -> consumer -> real runtime -> record,
callback, retries and dead-letter."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.queue.conftest import Managers, function
from tests.queue.runtime import RuntimeProcess
from tests.support.redis import RedisServer
from tests.support.wait import eventually
from wisp.queue.manager import QueueManager
from wisp.queue.routes import RouteSettings, add_routes

pytestmark = pytest.mark.redis


class CallbackReceiver:
    """A loopback HTTP endpoint that keeps every callback it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        app = web.Application()
        app.router.add_post("/done", self._done)
        self.server = TestServer(app, host="127.0.0.1")

    async def _done(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.json()))
        return web.Response(status=204)

    @property
    def url(self) -> str:
        return str(self.server.make_url("/done"))


@pytest.fixture
async def receiver() -> AsyncIterator[CallbackReceiver]:
    receiver = CallbackReceiver()
    await receiver.server.start_server()
    yield receiver
    await receiver.server.close()


async def serve_routes(manager: QueueManager, known: set[str]) -> TestServer:
    app = web.Application()
    add_routes(
        app,
        manager.invocations,
        lambda name, namespace: manager_function(manager, name, namespace, known),
        RouteSettings(max_body_bytes=64 * 1024),
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


def manager_function(manager: QueueManager, name: str, namespace: str, known: set[str]) -> Any:
    return function(name, "events.record") if f"{name}.{namespace}" in known else None


@pytest.fixture
async def gateway() -> AsyncIterator[Callable[[QueueManager, set[str]], Any]]:
    servers: list[TestServer] = []

    async def start(manager: QueueManager, known: set[str]) -> TestServer:
        server = await serve_routes(manager, known)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


async def status_of(session: aiohttp.ClientSession, server: TestServer, invocation: str) -> Any:
    async with session.get(server.make_url(f"/invocations/{invocation}")) as response:
        return await response.json() if response.status == 200 else None


async def test_async_call_is_accepted_then_run_and_reported_to_the_callback(
    redis_url: str,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
    gateway: Any,
    receiver: CallbackReceiver,
) -> None:
    runtime = runtimes("events.record")
    manager = managers(redis_url, {"hello.default": runtime.url})
    server = await gateway(manager, {"hello.default"})
    manager.update_functions([function("hello", "events.record")])

    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.make_url("/async-function/hello.default"),
            data=b'{"name": "ada"}',
            headers={"Content-Type": "application/json", "X-Callback-Url": receiver.url, "X-Wisp-Hops": "3"},
        ) as response:
            assert response.status == 202
            accepted = await response.json()
            assert accepted["status"] == "queued"
            assert response.headers["X-Wisp-Invocation-Id"] == accepted["invocationId"]
        invocation = accepted["invocationId"]

        await eventually(lambda: receiver.received)
        headers, record = receiver.received[0]
        assert headers["X-Wisp-Invocation-Id"] == invocation
        assert headers["X-Wisp-Hops"] == "4"  # the callback carries the chain's count on
        assert record["status"] == "succeeded"
        assert record["attempts"] == 1
        assert record["result"]["statusCode"] == 200
        assert json.loads(record["result"]["body"])["requestId"] == invocation

        status = await status_of(session, server, invocation)
        assert status["status"] == "succeeded"
        assert status["result"] == record["result"]

        async with session.post(server.make_url("/async-function/nope"), data=b"{}") as response:
            assert response.status == 404
            assert (await response.json())["error"] == "FunctionNotFound"
        async with session.post(
            server.make_url("/async-function/hello"), data=b"x" * (65 * 1024)
        ) as response:
            assert response.status == 413
        async with session.get(server.make_url("/invocations/unknown")) as response:
            assert response.status == 404

    [done] = runtime.records()
    assert done["event"] == {"name": "ada"}


async def call_flaky_async(
    runtime: RuntimeProcess,
    redis_url: str,
    managers: Managers,
    gateway: Any,
    receiver: CallbackReceiver,
    body: bytes,
) -> tuple[str, Any]:
    """One async call to the flaky function, with a callback: its id, and its record once the
    callback came."""
    manager = managers(redis_url, {"flaky.default": runtime.url})
    server = await gateway(manager, {"flaky.default"})
    manager.update_functions([function("flaky", "events.flaky")])
    async with aiohttp.ClientSession() as session:
        async with session.post(
            server.make_url("/async-function/flaky"), data=body, headers={"X-Callback-Url": receiver.url}
        ) as response:
            invocation = (await response.json())["invocationId"]
        await eventually(lambda: receiver.received)
        return invocation, await status_of(session, server, invocation)


async def test_a_failing_call_is_retried_until_it_succeeds(
    redis_url: str,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
    gateway: Any,
    receiver: CallbackReceiver,
) -> None:
    runtime = runtimes("events.flaky", env={"FAIL_TIMES": "2"})
    _, status = await call_flaky_async(runtime, redis_url, managers, gateway, receiver, b'{"key": "k1"}')

    assert status["status"] == "succeeded"
    assert status["attempts"] == 3
    assert [r["call"] for r in runtime.records("failed")] == [1, 2]
    assert [r["call"] for r in runtime.records()] == [3]
    assert len(receiver.received) == 1  # the callback reports the final outcome only


async def test_exhausted_retries_dead_letter_the_invocation_with_its_last_error(
    redis_url: str,
    redis_client: aioredis.Redis,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
    gateway: Any,
    receiver: CallbackReceiver,
) -> None:
    runtime = runtimes("events.flaky", env={"FAIL_TIMES": "100"})
    invocation, status = await call_flaky_async(
        runtime, redis_url, managers, gateway, receiver, b'{"key": "k2"}'
    )

    assert status["status"] == "failed"
    assert status["attempts"] == 3  # the first call and maxRetries (2) retries
    assert "planned failure 3" in status["error"]
    assert len(runtime.records("failed")) == 3
    [(_, entry)] = await redis_client.xrange("wisp:async:default:flaky:dead")
    assert entry[b"wisp.reason"] == b"retries_exhausted"
    assert b"planned failure 3" in entry[b"wisp.error"]
    assert entry[b"invocation"] == invocation.encode()
    assert entry[b"body"] == b'{"key": "k2"}'


async def test_redis_down_answers_503_and_accepts_nothing(
    redis_server_factory: Callable[..., RedisServer],
    managers: Managers,
    gateway: Any,
) -> None:
    redis = redis_server_factory()
    manager = managers(redis.url, {})
    server = await gateway(manager, {"hello.default"})
    redis.stop()

    async with aiohttp.ClientSession() as session:
        url = server.make_url("/async-function/hello")
        async with session.post(url, data=b"{}") as response:
            assert response.status == 503
            assert (await response.json())["error"] == "QueueUnavailable"
            assert response.headers["Retry-After"] == "1"
        redis.start()  # back: the same gateway accepts again, on fresh connections
        async with session.post(url, data=b"{}") as response:
            assert response.status == 202


async def test_callback_to_an_internal_address_is_refused_at_submit(
    monkeypatch: pytest.MonkeyPatch, redis_url: str, managers: Managers, gateway: Any
) -> None:
    monkeypatch.delenv("WISP_CALLBACK_ALLOW")
    server = await gateway(managers(redis_url, {}), {"hello.default"})
    async with aiohttp.ClientSession() as session:
        for target in ("http://169.254.169.254/latest/meta-data", "http://127.0.0.1:9/", "http://api.svc/x"):
            async with session.post(
                server.make_url("/async-function/hello"), data=b"{}", headers={"X-Callback-Url": target}
            ) as response:
                assert response.status == 400, target
                assert (await response.json())["error"] == "CallbackRefused"
