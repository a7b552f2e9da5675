"""Callbacks are events of their own: an endpoint that never answers holds callback slots only,
never the function's deliveries, and a callback is queued atomically with its invocation's
final record (so it survives a crash after the settlement)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from tests.queue.conftest import FAST, Managers, function
from tests.queue.runtime import RuntimeProcess
from tests.queue.test_async import gateway  # noqa: F401 (fixture)
from tests.support.wait import eventually
from wisp.queue import names

pytestmark = pytest.mark.redis


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
