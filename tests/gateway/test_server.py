"""The gateway's HTTP server: a request head must arrive within the head timeout, from its
first byte; idle keep-alive connections are not cut by it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from tests.support.rawhttp import read_answer
from wisp.gateway.app import make_app
from wisp.gateway.config import GatewayConfig, config_from
from wisp.gateway.server import GatewayRunner
from wisp.gateway.static import StaticBackend

HEAD_TIMEOUT = 0.3


@pytest.fixture
async def port() -> AsyncIterator[int]:
    app = make_app(GatewayConfig(host="127.0.0.1", pod_name="test"), StaticBackend(), autoscale=False)
    runner = GatewayRunner(app, head_timeout=HEAD_TIMEOUT, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield int(runner.addresses[0][1])
    await runner.cleanup()


async def test_a_head_that_does_not_end_in_time_is_408_and_closed(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /healthz HTTP/1.1\r\n")
    await writer.drain()
    for part in (b"Host: gw\r\n", b"X-Slow: 1\r\n"):  # trickling bytes does not extend the deadline
        await asyncio.sleep(HEAD_TIMEOUT / 4)
        writer.write(part)
        await writer.drain()
    answer = await read_answer(reader)
    assert (answer.status, answer.json()["errorType"]) == (408, "RequestHeaderTimeout")
    assert await reader.read() == b""  # closed
    writer.close()


async def test_an_idle_keep_alive_connection_outlives_the_head_timeout(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    request = b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n"
    writer.write(request)
    await writer.drain()
    assert (await read_answer(reader)).status == 200
    await asyncio.sleep(HEAD_TIMEOUT * 2)  # idle between requests: only keep-alive applies
    writer.write(request)
    await writer.drain()
    assert (await read_answer(reader)).status == 200
    writer.close()


def test_the_head_timeout_is_a_setting() -> None:
    assert GatewayConfig().header_read_timeout == 10.0
    assert config_from(None, {"WISP_HEADER_READ_TIMEOUT": "2.5"}).header_read_timeout == 2.5


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET / HTTP/1.1\r\nHost: gw\r\nBad Header\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: gw\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n",  # TLS on the plain port
    ],
)
async def test_requests_the_parser_refuses_get_json_400(port: int, request_bytes: bytes) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request_bytes)
    await writer.drain()
    answer = await read_answer(reader)
    writer.close()
    assert (answer.status, answer.headers["content-type"]) == (400, "application/json; charset=utf-8")
    assert answer.json() == {"errorType": "BadRequest", "errorMessage": "the request is not valid HTTP/1.1"}


async def test_the_rest_of_an_unread_body_is_not_taken_for_a_slow_head(port: int) -> None:
    # A refused request (404) whose body keeps arriving after the answer: those bytes are the
    # body's, not a head's, so no 408 follows; the connection then serves the next request.
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"POST /nowhere HTTP/1.1\r\nHost: gw\r\nContent-Length: 6\r\n\r\nab")
    await writer.drain()
    assert (await read_answer(reader)).status == 404
    await asyncio.sleep(HEAD_TIMEOUT / 2)
    writer.write(b"cd")
    await writer.drain()
    await asyncio.sleep(HEAD_TIMEOUT * 2)
    writer.write(b"ef" + b"GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n")
    await writer.drain()
    answer = await read_answer(reader)
    assert answer.status == 200
    writer.close()
