"""Request bodies and a function's slots: a body is read before the call takes a slot, within
the body-read timeout, and every way a call ends gives its slot back."""

from __future__ import annotations

import asyncio

from tests.gateway.conftest import GatewayFactory, GatewayUnderTest, Runtimes, info, make_function
from tests.support.rawhttp import read_answer
from tests.support.wait import eventually
from wisp.gateway.static import StaticBackend

KEY = "limited.default"


async def _gateway(
    gateway_factory: GatewayFactory, runtimes: Runtimes, **settings: object
) -> GatewayUnderTest:
    fn = make_function("limited", concurrency=1)
    runtime = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (runtime.endpoint,))
    return await gateway_factory(backend, **settings)


def _head(length: int) -> bytes:
    return (
        "POST /function/limited HTTP/1.1\r\nHost: gw\r\nContent-Type: application/json\r\n"
        f"Content-Length: {length}\r\n\r\n"
    ).encode()


async def _open(gw: GatewayUnderTest) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert gw.server.port is not None
    return await asyncio.open_connection(gw.server.host, gw.server.port)


async def _call(gw: GatewayUnderTest) -> int:
    async with gw.session.post(gw.url("/function/limited"), json={"n": 1}) as resp:
        await resp.read()
        return resp.status


def _connections(gw: GatewayUnderTest) -> int:
    assert gw.server.runner is not None and gw.server.runner.server is not None
    return len(gw.server.runner.server.connections)


def _requests_seen(gw: GatewayUnderTest) -> int:
    assert gw.server.runner is not None and gw.server.runner.server is not None
    return gw.server.runner.server.requests_count


async def test_uploads_that_break_off_give_their_slot_back(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await _gateway(gateway_factory, runtimes, queue_timeout=0.5)
    for _ in range(4):
        _, writer = await _open(gw)
        writer.write(_head(1000) + b'{"n": ')
        await writer.drain()
        writer.close()
    await eventually(lambda: _requests_seen(gw) == 4 and _connections(gw) == 0, "the aborted uploads handled")
    assert gw.parts.registry.upstreams[KEY].pool.in_flight == 0
    assert await _call(gw) == 200


async def test_slow_uploaders_hold_no_slot(gateway_factory: GatewayFactory, runtimes: Runtimes) -> None:
    gw = await _gateway(gateway_factory, runtimes, queue_timeout=0.5)
    slow = [await _open(gw) for _ in range(5)]
    for _, writer in slow:
        writer.write(_head(100) + b'{"n": ')
        await writer.drain()
    await eventually(lambda: _requests_seen(gw) == 5, "the slow uploads' heads read")
    assert await _call(gw) == 200
    assert gw.parts.registry.upstreams[KEY].pool.in_flight == 0
    for _, writer in slow:
        writer.close()


async def test_a_body_that_does_not_arrive_in_time_is_408(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await _gateway(gateway_factory, runtimes, body_read_timeout=0.3)
    for length, sent in ((100, b'{"n": '), (1024 * 1024, b"x" * (300 * 1024))):
        reader, writer = await _open(gw)
        writer.write(_head(length) + sent)
        await writer.drain()
        answer = await read_answer(reader)
        writer.close()
        assert (answer.status, answer.json()["errorType"]) == (408, "RequestTimeout")
        assert gw.parts.registry.upstreams[KEY].pool.in_flight == 0
    assert await _call(gw) == 200
