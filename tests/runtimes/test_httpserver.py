"""The Python runtime's HTTP/1.1 server, spoken to byte by byte over real loopback sockets.

The contract table (test_contract.py) covers what a handler sees; these cases cover the wire:
keep-alive, pipelining, chunked bodies, ``Expect: 100-continue``, limits, malformed input,
idle and shutdown behaviour, which a client or the gateway's connection pool would notice.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from wisp_runtime.httpserver import HttpServer, Request, Response

LIMIT = 1024


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> object:
        return json.loads(self.body)


@dataclass
class App:
    """Echoes what it was asked; ``/boom`` raises; ``/hold`` waits until released."""

    seen: list[Request] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    holding: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, request: Request) -> Response:
        self.seen.append(request)
        if request.path == "/boom":
            raise RuntimeError("a bug in the application")
        if request.path == "/hold":
            self.holding.set()
            await self.release.wait()
        if request.path.startswith("/stream"):
            return Response(200, headers=[("Content-Type", "text/plain")], stream=Chunks(request.path))
        if request.path.startswith("/status/"):
            return Response(int(request.path.rsplit("/", 1)[1]), b"ignored for bodiless statuses")
        if request.body is None:
            return Response(413, b'{"errorType":"RequestTooLarge"}', content_type="application/json")
        echo = {
            "method": request.method,
            "path": request.path,
            "query": request.query_string,
            "body": request.body.decode(),
            "x": request.headers.get("x-test"),
        }
        return Response(200, json.dumps(echo).encode(), content_type="application/json")


class Chunks:
    """A streamed body: two chunks; ``/stream-fail`` raises after the first."""

    def __init__(self, path: str) -> None:
        self.items = [b"one ", b"two"]
        self.fail = path == "/stream-fail"
        self.closed = False

    def __aiter__(self) -> Chunks:
        return self

    async def __anext__(self) -> bytes:
        if not self.items:
            raise StopAsyncIteration
        if self.fail and len(self.items) == 1:
            raise RuntimeError("the stream broke")
        return self.items.pop(0)

    async def aclose(self) -> None:
        self.closed = True


def error_response(status: int, error_type: str, message: str) -> Response:
    body = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
    return Response(status, body, content_type="application/json")


@dataclass
class Served:
    app: App
    server: HttpServer
    port: int

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


@pytest.fixture
async def served() -> AsyncIterator[Served]:
    app = App()
    server = HttpServer(app, error_response, max_body_bytes=LIMIT, keepalive_timeout=0.5)
    listener = await asyncio.get_running_loop().create_server(server, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield Served(app, server, port)
    finally:
        app.release.set()
        listener.close()
        await server.shutdown(1.0)
        await listener.wait_closed()


async def read_reply(reader: asyncio.StreamReader, head_only: bool = False) -> Reply:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status_line, *lines = head.decode("latin-1").split("\r\n")[:-2]
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    body = b""
    if not head_only:
        body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return Reply(int(status_line.split()[1]), headers, body)


async def closed(reader: asyncio.StreamReader) -> bool:
    """Whether the server ended the connection (EOF without another byte)."""
    return await asyncio.wait_for(reader.read(1), 5) == b""


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: t\r\n{extra}\r\n".encode()


def post(path: str, body: bytes, extra: str = "") -> bytes:
    return f"POST {path} HTTP/1.1\r\nHost: t\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def test_keep_alive_serves_several_requests_on_one_connection(served: Served) -> None:
    reader, writer = await served.connect()
    for n in range(3):
        writer.write(post(f"/call?n={n}", f'{{"n": {n}}}'.encode(), "X-Test: yes\r\n"))
        reply = await read_reply(reader)
        assert reply.status == 200
        assert reply.json() == {
            "method": "POST",
            "path": "/call",
            "query": f"n={n}",
            "body": f'{{"n": {n}}}',
            "x": "yes",
        }
        assert "connection" not in reply.headers
        assert reply.headers["date"].endswith("GMT")
    writer.close()


async def test_pipelined_requests_are_answered_in_order(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"".join(post(f"/p{n}", b"x" * n) for n in range(1, 6)))
    replies = [await read_reply(reader) for _ in range(5)]
    assert [r.json()["path"] for r in replies] == ["/p1", "/p2", "/p3", "/p4", "/p5"]  # type: ignore[index]
    assert [r.json()["body"] for r in replies] == ["x", "xx", "xxx", "xxxx", "xxxxx"]  # type: ignore[index]
    writer.close()


async def test_chunked_body_is_joined(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(
        b"POST /c HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\n\r\n"
    )
    reply = await read_reply(reader)
    assert reply.json()["body"] == "hello world"  # type: ignore[index]
    writer.close()


async def test_path_is_percent_decoded_and_query_kept_raw(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(get("/caf%C3%A9/a%20b?q=a%20b&x=1"))
    reply = await read_reply(reader)
    assert reply.json()["path"] == "/café/a b"  # type: ignore[index]
    assert reply.json()["query"] == "q=a%20b&x=1"  # type: ignore[index]
    writer.close()


async def test_body_over_the_limit_by_content_length_is_refused_before_it_is_sent(
    served: Served,
) -> None:
    reader, writer = await served.connect()
    writer.write(
        f"POST /big HTTP/1.1\r\nHost: t\r\nContent-Length: {LIMIT + 1}\r\n"
        "Expect: 100-continue\r\n\r\n".encode()
    )
    reply = await read_reply(reader)  # no "100 Continue" first: the answer is final
    assert reply.status == 413
    assert reply.headers["connection"] == "close"
    assert served.app.seen[-1].body is None
    assert await closed(reader)


async def test_chunked_body_over_the_limit_is_413_while_the_client_still_sends(served: Served) -> None:
    reader, writer = await served.connect()
    chunk = b"%x\r\n%s\r\n" % (16384, b"y" * 16384)
    # 1 MiB sent without waiting: the server answers at the limit and must drain the rest (a
    # close with unread input would reset the connection and lose the answer).
    writer.write(b"POST /big HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 64)
    reply = await read_reply(reader)
    assert reply.status == 413
    assert reply.headers["connection"] == "close"
    assert await closed(reader)


async def test_expect_continue_is_honoured_under_the_limit(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"POST /e HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\nExpect: 100-continue\r\n\r\n")
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"data")
    reply = await read_reply(reader)
    assert (reply.status, reply.json()["body"]) == (200, "data")  # type: ignore[index]
    writer.close()


async def test_malformed_request_is_a_json_400_then_close(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    reply = await read_reply(reader)
    assert reply.status == 400
    assert reply.json()["errorType"] == "BadRequest"  # type: ignore[index]
    assert await closed(reader)


async def test_answers_before_a_malformed_request_still_arrive(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(get("/first") + b"GARBAGE\r\n\r\n")
    assert (await read_reply(reader)).json()["path"] == "/first"  # type: ignore[index]
    assert (await read_reply(reader)).status == 400
    assert await closed(reader)


async def test_oversized_head_is_431(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(get("/h", "X-Big: " + "z" * (70 * 1024) + "\r\n"))
    reply = await read_reply(reader)
    assert reply.status == 431
    assert reply.json()["errorType"] == "RequestHeadersTooLarge"  # type: ignore[index]
    assert await closed(reader)


async def test_upgrade_is_ignored_and_the_connection_then_ends(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(get("/ws", "Connection: Upgrade\r\nUpgrade: websocket\r\n"))
    reply = await read_reply(reader)
    assert reply.status == 200
    assert reply.headers["connection"] == "close"
    assert await closed(reader)


async def test_application_exception_is_a_500_and_the_connection_lives(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(get("/boom"))
    reply = await read_reply(reader)
    assert reply.status == 500
    assert "a bug in the application" in reply.json()["errorMessage"]  # type: ignore[index]
    writer.write(get("/after"))
    assert (await read_reply(reader)).json()["path"] == "/after"  # type: ignore[index]
    writer.close()


@pytest.mark.parametrize("status", [204, 304])
async def test_bodiless_statuses_send_no_body_and_keep_the_connection(served: Served, status: int) -> None:
    reader, writer = await served.connect()
    writer.write(get(f"/status/{status}") + get("/next"))
    head = await read_reply(reader, head_only=True)
    assert head.status == status
    assert "content-length" not in head.headers
    assert (await read_reply(reader)).json()["path"] == "/next"  # type: ignore[index]
    writer.close()


async def test_non_ascii_header_values_arrive_as_text(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(get("/u", "X-Test: café\r\n"))  # UTF-8 on the wire
    assert (await read_reply(reader)).json()["x"] == "café"  # type: ignore[index]
    writer.close()


async def test_head_gets_headers_without_a_body(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"HEAD /h HTTP/1.1\r\nHost: t\r\n\r\n" + get("/next"))
    head = await read_reply(reader, head_only=True)
    assert head.status == 200 and int(head.headers["content-length"]) > 0
    assert (await read_reply(reader)).json()["path"] == "/next"  # type: ignore[index]
    writer.close()


@pytest.mark.parametrize(
    ("request_bytes", "closes"),
    [
        (b"GET /a HTTP/1.0\r\n\r\n", True),
        (b"GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", False),
        (b"GET /a HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", True),
        (b"GET /a HTTP/1.1\r\nHost: t\r\n\r\n", False),
    ],
    ids=["1.0", "1.0 keep-alive", "1.1 close", "1.1"],
)
async def test_connection_persistence_follows_the_request(
    served: Served, request_bytes: bytes, closes: bool
) -> None:
    reader, writer = await served.connect()
    writer.write(request_bytes)
    reply = await read_reply(reader)
    assert reply.status == 200
    assert (reply.headers.get("connection") == "close") is closes
    if closes:
        assert await closed(reader)
    else:
        writer.write(get("/again"))
        assert (await read_reply(reader)).status == 200
    writer.close()


async def test_client_half_close_still_gets_its_answer(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(get("/half"))
    writer.write_eof()
    assert (await read_reply(reader)).json()["path"] == "/half"  # type: ignore[index]
    assert await closed(reader)


async def test_idle_connection_is_closed_after_the_keepalive_timeout(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(get("/once"))
    assert (await read_reply(reader)).status == 200
    assert await closed(reader)  # 0.5 s in this fixture


async def test_a_call_longer_than_the_keepalive_timeout_is_not_cut(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(get("/hold"))
    await served.app.holding.wait()
    await asyncio.sleep(0.8)
    served.app.release.set()
    assert (await read_reply(reader)).status == 200
    writer.close()


async def test_shutdown_finishes_calls_in_flight_and_closes_idle_connections(served: Served) -> None:
    served.server.keepalive_timeout = 60.0  # idle connections end by the shutdown, not by time
    busy_reader, busy_writer = await served.connect()
    idle_reader, idle_writer = await served.connect()
    idle_writer.write(get("/idle"))
    assert (await read_reply(idle_reader)).status == 200
    busy_writer.write(get("/hold"))
    await served.app.holding.wait()

    shutting = asyncio.create_task(served.server.shutdown(5.0))
    assert await closed(idle_reader)
    assert not shutting.done()
    served.app.release.set()
    reply = await read_reply(busy_reader)
    assert reply.status == 200
    assert reply.headers["connection"] == "close"  # no more calls on a stopping server
    await asyncio.wait_for(shutting, 5)
    assert await closed(busy_reader)


async def test_a_streamed_answer_is_chunked_and_the_connection_kept(served: Served) -> None:
    reader, writer = await served.connect()
    for _ in range(2):
        writer.write(get("/stream"))
        reply = await read_reply(reader, head_only=True)
        assert reply.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in reply.headers
        body = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
        assert body == b"4\r\none \r\n3\r\ntwo\r\n0\r\n\r\n"
    writer.close()


async def test_a_stream_that_raises_ends_the_connection_without_the_last_chunk(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(get("/stream-fail"))
    reply = await read_reply(reader, head_only=True)
    assert reply.status == 200
    rest = await asyncio.wait_for(reader.read(), 5)  # up to the connection's end
    assert rest == b"4\r\none \r\n"  # no terminating chunk: not a complete answer
    writer.close()


async def test_a_head_request_for_a_stream_gets_no_body(served: Served) -> None:
    reader, writer = await served.connect()
    writer.write(b"HEAD /stream HTTP/1.1\r\nHost: t\r\n\r\n" + get("/status/204"))
    head = await read_reply(reader, head_only=True)
    assert head.status == 200 and head.headers["transfer-encoding"] == "chunked"
    after = await read_reply(reader, head_only=True)  # the next answer follows the head at once
    assert after.status == 204
    writer.close()
