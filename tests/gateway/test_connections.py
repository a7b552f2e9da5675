"""The gateway's HTTP/1.1 client for the hop to a pod (``wisp.gateway.connections``), against a
scripted pod (a raw socket server that writes exactly the bytes of each case, in pieces), on
both event loops the gateway runs on: asyncio's in the tests and uvloop's in ``wisp gateway``.

Every way a pod frames an answer (a length, chunks, the connection's close, none for HEAD, 204
and 304), what makes a connection unfit for the next call, and the refusals the gateway turns
into a clear 502 (an interim status, a malformed head, an endless head, a pod that hangs up).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvloop

from wisp.gateway.connections import (
    BODY_HIGH_WATER,
    MAX_HEAD_BYTES,
    Disconnected,
    InvalidResponse,
    StaleConnection,
    UpstreamConnections,
    request_head,
)

LOOPS = {"asyncio": asyncio.run, "uvloop": uvloop.run}
SAFETY_NET = 10.0  # a hung exchange fails the test instead of hanging it; never asserted on


@pytest.fixture(params=sorted(LOOPS))
def run(request: pytest.FixtureRequest) -> Callable[[Coroutine[Any, Any, None]], None]:
    return LOOPS[request.param]  # type: ignore[return-value]


@dataclass
class Pod:
    """Answers the n-th request on any connection with ``script(n)``: pieces written one by
    one with a pause between them, then the connection closed if ``close`` is in the script."""

    script: Callable[[int], list[bytes | str]]
    requests: int = 0
    connections: int = 0
    heads: list[bytes] = field(default_factory=list)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                self.requests += 1
                for piece in self.script(self.requests):
                    if piece == "close":
                        return
                    if piece == "pause":
                        await asyncio.sleep(0.02)
                        continue
                    assert isinstance(piece, bytes)
                    writer.write(piece)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


async def _with_pod(
    script: Callable[[int], list[bytes | str]],
    scenario: Callable[[UpstreamConnections, tuple[str, int], Pod], Awaitable[None]],
) -> None:
    pod = Pod(script)
    server = await asyncio.start_server(pod.serve, "127.0.0.1", 0)
    connections = UpstreamConnections()
    try:
        address = ("127.0.0.1", int(server.sockets[0].getsockname()[1]))
        async with asyncio.timeout(SAFETY_NET):
            await scenario(connections, address, pod)
    finally:
        await connections.close()
        server.close()
        await server.wait_closed()


def _get(method: str = "GET") -> bytes:
    return request_head(method, "/", "pod", [("Accept", "*/*")], "none")


async def _call(
    connections: UpstreamConnections, address: tuple[str, int], method: str = "GET"
) -> tuple[int, dict[str, str], bytes]:
    proto, head, body = await connections.send(address, _get(method), None, skip_body=method == "HEAD")
    clean = False
    try:
        data = b"".join([chunk async for chunk in body.iter_any()])
        clean = True
    finally:
        connections.finish(address, proto, body, clean)
    return head.code, dict(head.headers), data


SIZED = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Kind: sized\r\n\r\nhello"
CHUNKED = [
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
    "pause",
    b"3\r\nhel\r\n",
    "pause",
    b"2\r\nlo\r\n",
    "pause",
    b"0\r\n\r\n",
]


# (case, the pod's script, method, answer, the second call reuses the connection)
FRAMINGS = [
    ("a length, in one piece", lambda n: [SIZED], "GET", (200, b"hello"), True),
    (
        "a length, the head and body apart",
        lambda n: [SIZED[:40], "pause", SIZED[40:]],
        "GET",
        (200, b"hello"),
        True,
    ),
    ("chunks, as they come", lambda n: CHUNKED, "GET", (200, b"hello"), True),
    (
        "the connection's close",
        lambda n: [b"HTTP/1.1 200 OK\r\n\r\nhel", "pause", b"lo", "close"],
        "GET",
        (200, b"hello"),
        False,
    ),
    (
        "HTTP/1.0 without keep-alive",
        lambda n: [b"HTTP/1.0 200 OK\r\nContent-Length: 5\r\n\r\nhello"],
        "GET",
        (200, b"hello"),
        False,
    ),
    (
        "Connection: close",
        lambda n: [b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello"],
        "GET",
        (200, b"hello"),
        False,
    ),
    (
        "none for HEAD, whatever the length",
        lambda n: [b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"],
        "HEAD",
        (200, b""),
        False,
    ),
    ("none for 204", lambda n: [b"HTTP/1.1 204 No Content\r\n\r\n"], "GET", (204, b""), True),
    ("none for 304", lambda n: [b'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n'], "GET", (304, b""), True),
]


@pytest.mark.parametrize(
    ("script", "method", "answer", "reused"),
    [case[1:] for case in FRAMINGS],
    ids=[case[0] for case in FRAMINGS],
)
def test_every_framing_of_an_answer_is_read_whole_and_the_connection_kept_only_when_it_can_be(
    run: Callable[[Coroutine[Any, Any, None]], None],
    script: Callable[[int], list[bytes | str]],
    method: str,
    answer: tuple[int, bytes],
    reused: bool,
) -> None:
    async def scenario(connections: UpstreamConnections, address: tuple[str, int], pod: Pod) -> None:
        for _ in range(2):
            status, _, body = await _call(connections, address, method)
            assert (status, body) == answer
        assert pod.connections == (1 if reused else 2)

    run(_with_pod(script, scenario))


def test_headers_arrive_as_sent_with_repeats_and_any_case(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    head = (
        b"HTTP/1.1 201 Created\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\n"
        b"X-Name: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n"
    )

    async def scenario(connections: UpstreamConnections, address: tuple[str, int], pod: Pod) -> None:
        proto, answer, body = await connections.send(address, _get(), None)
        connections.finish(address, proto, body, True)
        assert answer.code == 201
        assert answer.headers.getall("Set-Cookie") == ["a=1", "b=2"]
        assert answer.headers["x-name"] == "café"

    run(_with_pod(lambda n: [head], scenario))


REFUSED = [
    ("an interim status", [b"HTTP/1.1 100 Continue\r\n\r\n"], "informational status 100"),
    (
        "a switch of protocols",
        [b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n"],
        "informational status 101",
    ),
    (
        "a header name with a space",
        [b"HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n"],
        "not valid HTTP/1.1",
    ),
    ("no status line", [b"hello there\r\n\r\n"], "not valid HTTP/1.1"),
    (
        "an endless head",
        [b"HTTP/1.1 200 OK\r\n", *[b"X-Filler: " + b"f" * 1000 + b"\r\n"] * 70],
        f"a head over {MAX_HEAD_BYTES} bytes",
    ),
]


@pytest.mark.parametrize(
    ("pieces", "message"), [case[1:] for case in REFUSED], ids=[case[0] for case in REFUSED]
)
def test_an_answer_that_is_not_a_final_http_answer_is_refused_saying_why_and_never_pooled(
    run: Callable[[Coroutine[Any, Any, None]], None], pieces: list[bytes | str], message: str
) -> None:
    async def scenario(connections: UpstreamConnections, address: tuple[str, int], pod: Pod) -> None:
        with pytest.raises(InvalidResponse, match=message):
            await connections.send(address, _get(), None)
        await _call(connections, address)
        assert pod.connections == 2

    run(_with_pod(lambda n: pieces if n == 1 else [SIZED], scenario))


def test_bytes_after_an_answer_are_never_read_as_the_next_calls_answer(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    stray = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstray"

    async def scenario(connections: UpstreamConnections, address: tuple[str, int], pod: Pod) -> None:
        assert await _call(connections, address) == (
            200,
            {"Content-Length": "5", "X-Kind": "sized"},
            b"hello",
        )
        await asyncio.sleep(0.1)  # the stray answer arrives while the connection is idle
        assert (await _call(connections, address))[2] == b"hello"
        assert pod.connections == 2

    run(_with_pod(lambda n: [SIZED, "pause", stray] if n == 1 else [SIZED], scenario))


def test_a_pod_hanging_up_inside_a_sized_body_is_an_error_not_a_short_answer(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    async def scenario(connections: UpstreamConnections, address: tuple[str, int], pod: Pod) -> None:
        proto, _, body = await connections.send(address, _get(), None)
        with pytest.raises(Disconnected):
            await body.read()
        connections.finish(address, proto, body, False)
        assert not proto.is_connected()

    run(_with_pod(lambda n: [b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten..", "close"], scenario))


def test_a_pooled_connection_the_pod_closes_unanswered_is_stale_so_the_call_can_be_sent_again(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    async def scenario(connections: UpstreamConnections, address: tuple[str, int], pod: Pod) -> None:
        await _call(connections, address)
        with pytest.raises(StaleConnection):  # its idle timeout ran out as the call came
            await connections.send(address, _get(), None)
        assert (await _call(connections, address))[2] == b"hello"
        assert pod.connections == 2

    run(_with_pod(lambda n: ["close"] if n == 2 else [SIZED], scenario))


def test_a_large_answer_nobody_reads_yet_stops_being_read_from_the_pod_and_then_arrives_whole(
    run: Callable[[Coroutine[Any, Any, None]], None],
) -> None:
    size = 8 * 1024 * 1024

    def script(n: int) -> list[bytes | str]:
        return [b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size, b"x" * size]

    async def scenario(connections: UpstreamConnections, address: tuple[str, int], pod: Pod) -> None:
        proto, _, body = await connections.send(address, _get(), None)
        await asyncio.sleep(0.3)  # the pod writes all it can meanwhile
        assert body.buffered < 2 * BODY_HIGH_WATER
        assert len(await body.read()) == size
        connections.finish(address, proto, body, True)
        assert (await _call(connections, address))[2] == b"x" * size
        assert pod.connections == 1

    run(_with_pod(script, scenario))
