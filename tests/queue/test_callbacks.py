"""Callbacks are events of their own: an endpoint that never answers holds callback slots only,
never the function's deliveries, and a callback is queued atomically with its invocation's
final record (so it survives a crash after the settlement)."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.queue.conftest import FAST, Managers, function
from tests.queue.runtime import RuntimeProcess
from tests.queue.test_async import gateway  # noqa: F401 (fixture)
from tests.support.wait import eventually
from wisp.queue import names
from wisp.security.redact import redact_url

pytestmark = pytest.mark.redis

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class SilentServer:
    """Accepts connections and reads requests, never answers."""

    def __init__(self) -> None:
        self.connections: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._hold, "127.0.0.1", 0)

    async def _hold(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(writer)
        while await reader.read(65536):
            pass

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/done"

    async def close(self) -> None:
        for writer in self.connections:
            writer.close()
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()


@pytest.fixture
async def silent() -> AsyncIterator[SilentServer]:
    server = SilentServer()
    await server.start()
    yield server
    await server.close()


async def test_a_callback_that_never_answers_does_not_hold_up_other_invocations(
    redis_url: str,
    redis_client: aioredis.Redis,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
    gateway: Any,  # noqa: F811
    silent: SilentServer,
) -> None:
    # Callback attempts outlast the test; the function's consumer has 4 delivery slots.
    settings = dataclasses.replace(FAST, callback_timeout=300.0, callback_concurrency=2)
    runtime = runtimes("events.record", concurrency=2)
    manager = managers(redis_url, {"hello.default": runtime.url}, settings=settings)
    server = await gateway(manager, {"hello.default"})
    manager.update_functions([function("hello", "events.record", concurrency=2)])

    async with aiohttp.ClientSession() as session:

        async def submit(n: int, callback: str | None) -> str:
            headers = {"X-Callback-Url": callback} if callback else {}
            url = server.make_url("/async-function/hello")
            async with session.post(url, json={"n": n}, headers=headers) as response:
                assert response.status == 202
                return str((await response.json())["invocationId"])

        with_callback = [await submit(n, silent.url) for n in range(8)]
        without = [await submit(n, None) for n in range(8, 16)]

        await eventually(lambda: len(runtime.records()) == 16)

        async def all_succeeded() -> bool:
            statuses = [await manager.invocations.status(i) for i in with_callback + without]
            return all(s is not None and s["status"] == "succeeded" for s in statuses)

        await eventually(all_succeeded)
        # The callbacks wait in their own queue, at most callback_concurrency of them in flight.
        await eventually(lambda: len(silent.connections) == 2)
        assert await redis_client.xlen(names.CALLBACK_STREAM) == 8
        assert len(silent.connections) == 2
    assert sorted(r["event"]["n"] for r in runtime.records()) == list(range(16))


class Receiver:
    """``/done`` answers 204, ``/fail`` 500; both keep the headers they got."""

    def __init__(self) -> None:
        self.headers: list[dict[str, str]] = []
        app = web.Application()
        app.router.add_post("/done", self._answer)
        app.router.add_post("/fail", self._answer)
        self.server = TestServer(app, host="127.0.0.1")

    async def _answer(self, request: web.Request) -> web.Response:
        self.headers.append(dict(request.headers))
        return web.Response(status=204 if request.path == "/done" else 500)


async def test_callback_credentials_reach_the_endpoint_but_never_the_record_or_the_logs(
    redis_url: str,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
    gateway: Any,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver = Receiver()
    await receiver.server.start_server()
    try:
        runtime = runtimes("events.record")
        manager = managers(redis_url, {"hello.default": runtime.url})
        server = await gateway(manager, {"hello.default"})
        manager.update_functions([function("hello", "events.record")])
        base = f"http://ada:s3cr3t-pw@127.0.0.1:{receiver.server.port}"
        async with aiohttp.ClientSession() as session:
            ids = []
            for path in ("/done", "/fail"):
                async with session.post(
                    server.make_url("/async-function/hello"),
                    data=b"{}",
                    headers={
                        "X-Callback-Url": f"{base}{path}?token=t0k3n-value&tag=1",
                        "traceparent": TRACEPARENT,
                    },
                ) as response:
                    ids.append((await response.json())["invocationId"])
            await eventually(lambda: len(receiver.headers) == 1 + FAST.callback_attempts)
            for invocation in ids:
                async with session.get(server.make_url(f"/invocations/{invocation}")) as response:
                    document = await response.json()
                assert document["callbackUrl"].startswith("http://[REDACTED]@127.0.0.1:")
                assert document["callbackUrl"].endswith("?token=[REDACTED]&tag=1")
    finally:
        await receiver.server.close()

    assert receiver.headers[0]["Authorization"] == "Basic " + base64.b64encode(b"ada:s3cr3t-pw").decode()
    # The callback carries the invocation's trace: the caller's (docs/tracing.md).
    assert {h.get("traceparent") for h in receiver.headers} == {TRACEPARENT}
    assert any("/fail" in r.getMessage() for r in caplog.records)  # the failures were logged
    assert "s3cr3t-pw" not in caplog.text
    assert "t0k3n-value" not in caplog.text


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://u:p@h.example/x?a=1", "https://[REDACTED]@h.example/x?a=1"),
        ("https://only-a-token@h.example/x", "https://[REDACTED]@h.example/x"),
        (
            "https://h.example/x?sig=abc&api_key=k&n=2",
            "https://h.example/x?sig=[REDACTED]&api_key=[REDACTED]&n=2",
        ),
        ("https://h.example:8443/plain", "https://h.example:8443/plain"),
    ],
)
def test_redact_url_masks_user_info_and_secret_query_values(url: str, shown: str) -> None:
    assert redact_url(url) == shown
