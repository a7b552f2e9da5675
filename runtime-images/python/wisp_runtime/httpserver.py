"""The runtime's HTTP/1.1 server: asyncio protocols around httptools' llhttp parser.

Why not aiohttp: importing aiohttp costs about 300 ms of CPU on a small core (its client builds
TLS contexts at import), which is most of a pod's cold start. This server imports in a few
milliseconds and does only what the runtime contract needs:

* keep-alive and pipelined requests, answered in order, one at a time per connection;
* ``Content-Length`` and chunked request bodies, collected whole (the handler gets bytes) up to
  ``max_body_bytes``; past that the request is answered by the application with
  ``request.body is None`` and the connection is closed once the answer is out;
* ``Expect: 100-continue`` (curl sends it for large bodies);
* every response has a ``Content-Length`` (1xx, 204 and 304 have no body), a ``Date`` and,
  when the connection ends, ``Connection: close``; except a streamed one (``Response.stream``),
  sent chunked, each chunk written as the stream yields it. A client that goes away mid-stream
  stops it at once (the stream's pending step is cancelled) and the stream is closed however it
  ends; a stream that raises has the connection closed without the terminating chunk, so the
  client sees an incomplete answer, never a complete one;
* malformed requests get a JSON 400 and oversized request heads a JSON 431, then the
  connection is closed; an exception in the application is a JSON 500 and the connection lives;
* idle keep-alive connections are closed after ``keepalive_timeout``;
* ``shutdown`` stops accepting, closes idle connections, and waits for the calls in flight.

A closing connection is shut down for writing first and drained for a moment before it is
closed ("lingering close", as nginx does), so a client still sending a body it was refused
reads the answer instead of a connection reset.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Protocol, cast, overload

import httptools

MAX_HEAD_BYTES = 64 * 1024  # request line + headers
LINGER_SECONDS = 2.0
_PIPELINE_DEPTH = 16  # requests parsed ahead of the one being answered before reading pauses

_REASONS = {
    100: "Continue",
    200: "OK",
    201: "Created",
    202: "Accepted",
    204: "No Content",
    301: "Moved Permanently",
    302: "Found",
    304: "Not Modified",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    422: "Unprocessable Content",
    429: "Too Many Requests",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


class Headers:
    """Request or response headers: ordered pairs, looked up without regard to case."""

    __slots__ = ("_pairs",)

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = list(pairs)

    @overload
    def get(self, name: str) -> str | None: ...
    @overload
    def get(self, name: str, default: str) -> str: ...
    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of ``name``."""
        wanted = name.lower()
        for key, value in self._pairs:
            if key.lower() == wanted:
                return value
        return default

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.get(name) is not None

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def __setitem__(self, name: str, value: str) -> None:
        """Replaces every value of ``name`` with one."""
        wanted = name.lower()
        self._pairs = [pair for pair in self._pairs if pair[0].lower() != wanted]
        self._pairs.append((name, value))

    def add(self, name: str, value: str) -> None:
        self._pairs.append((name, value))

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._pairs)

    def __len__(self) -> int:
        return len(self._pairs)

    def __repr__(self) -> str:
        return f"Headers({self._pairs!r})"


class Request:
    """One request, read whole. ``body`` is None when it was larger than the server's limit."""

    __slots__ = ("body", "headers", "keep_alive", "method", "path", "peer", "query_string", "version")

    def __init__(
        self,
        method: str,
        target: bytes,
        headers: Headers,
        body: bytes | None,
        version: str = "1.1",
        keep_alive: bool = True,
        peer: str = "",
    ) -> None:
        self.method = method
        self.peer = peer  # the client's address (the gateway's, in a pod)
        path, _, query = target.partition(b"?")
        self.path = _unquote_path(path.partition(b"#")[0])
        self.query_string = _text(query.partition(b"#")[0])
        self.headers = headers
        self.body = body
        self.version = version
        self.keep_alive = keep_alive


class ByteStream(Protocol):
    """A streamed body: chunks as they are produced, and a way to stop producing them."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...
    async def aclose(self) -> None: ...


class Response:
    """A whole response (the server adds ``Content-Length``, ``Date`` and ``Connection``), or a
    streamed one when ``stream`` is set (sent chunked; ``body`` is ignored)."""

    __slots__ = ("body", "headers", "status", "stream")

    def __init__(
        self,
        status: int = 200,
        body: bytes = b"",
        *,
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        stream: ByteStream | None = None,
    ) -> None:
        self.status = status
        self.body = body
        self.stream = stream
        self.headers = Headers(headers)
        if content_type is not None:
            self.headers["Content-Type"] = content_type


Handler = Callable[[Request], Awaitable[Response]]
ErrorResponse = Callable[[int, str, str], Response]
"""Builds the server's own error answers: ``(status, errorType, errorMessage) -> Response``."""


class HttpServer:
    """The protocol factory for ``loop.create_server``, and the registry of its connections."""

    def __init__(
        self,
        handler: Handler,
        error_response: ErrorResponse,
        *,
        max_body_bytes: int,
        keepalive_timeout: float = 75.0,
    ) -> None:
        self.handler = handler
        self.error_response = error_response
        self.max_body_bytes = max_body_bytes
        self.keepalive_timeout = keepalive_timeout
        self.closing = False
        self.connections: set[HttpConnection] = set()
        self._idle = asyncio.Event()
        self._idle.set()

    def __call__(self) -> HttpConnection:
        return HttpConnection(self)

    def _track(self, connection: HttpConnection, busy: bool) -> None:
        if busy:
            self._idle.clear()
        elif not any(c.busy for c in self.connections):
            self._idle.set()

    async def shutdown(self, grace: float) -> None:
        """Answers the calls in flight (up to ``grace`` seconds), then closes every connection."""
        self.closing = True
        for connection in list(self.connections):
            if not connection.busy:
                connection.close()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(grace):
                await self._idle.wait()
        for connection in list(self.connections):
            connection.close()


class HttpConnection(asyncio.Protocol):
    """One client connection: parses requests and answers them in order."""

    def __init__(self, server: HttpServer) -> None:
        self._server = server
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._loop = asyncio.get_running_loop()
        # the request being parsed
        self._target = bytearray()
        self._headers: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._body: list[bytes] | None = []
        self._body_bytes = 0
        self._expect_continue = False
        self._failure: tuple[int, str, str] | None = None
        # requests parsed and waiting for their answers, in order
        self._pending: deque[Request | tuple[int, str, str]] = deque()
        self._task: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._discarding = False  # refusing further input: the connection ends after the answers
        self._eof = False  # the client will send nothing more
        self._lingering = False
        self._reading_paused = False
        self._writable: asyncio.Future[None] | None = None
        self._lost: asyncio.Future[None] | None = None  # set while a stream is being sent
        self._closed = False
        self._peer = ""

    @property
    def busy(self) -> bool:
        """Answering a request, or holding parsed ones."""
        return self._task is not None or bool(self._pending)

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's do not subclass it
        peer = transport.get_extra_info("peername")
        self._peer = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self._server.connections.add(self)
        if self._server.closing:
            self.close()
            return
        self._arm_idle_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._closed = True
        self._server.connections.discard(self)
        self._cancel_idle_timer()
        self._pending.clear()
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)
        if self._lost is not None and not self._lost.done():
            self._lost.set_result(None)
        if self._task is None:
            self._server._track(self, busy=False)
        # A call in flight is not cancelled (a sync handler could not be stopped anyway): it
        # finishes, is counted and logged, and its answer is dropped.

    def data_received(self, data: bytes) -> None:
        if self._discarding:
            return
        self._cancel_idle_timer()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # The request itself was parsed and is answered as a plain one (a server may ignore
            # Upgrade); what follows it would be another protocol, so the connection then ends.
            self._discarding = True
        except httptools.HttpParserCallbackError:
            if self._failure is not None:
                self._fail(*self._failure)
            # otherwise a callback stopped parsing after answering the request from its head
        except httptools.HttpParserError as exc:
            self._fail(400, "BadRequest", f"malformed HTTP request: {_parser_message(exc)}")
        if not self.busy and not self._discarding:
            self._arm_idle_timer()

    def eof_received(self) -> bool | None:
        # The client finished sending; answer what it asked (then close) unless it is idle.
        self._discarding = True
        self._eof = True
        if not self.busy:
            self.close()
        if self._lost is not None and not self._lost.done():
            # Mid-stream, a client that stops sending has gone away (none half-closes to wait
            # for an answer that never ends): the stream stops now, not at its next write.
            self._lost.set_result(None)
        return True  # keep the socket open for writing the answers

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # -- httptools callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        self._target = bytearray()
        self._headers = []
        self._head_bytes = 0
        self._body = []
        self._body_bytes = 0
        self._expect_continue = False
        self._failure = None

    def on_url(self, url: bytes) -> None:
        self._target += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        self._headers.append((name.decode("latin-1"), _text(value)))

    def on_headers_complete(self) -> None:
        limit = self._server.max_body_bytes
        length = _content_length(self._headers)
        if length is not None and length > limit:
            # Answer now without reading the body: the application sees body None.
            self._body = None
            self._complete()
            self._discarding = True
            raise _StopParsing
        expect = _header(self._headers, "expect")
        if expect is not None and expect.lower() == "100-continue" and self._transport is not None:
            self._transport.write(_CONTINUE)

    def on_body(self, chunk: bytes) -> None:
        if self._body is None:
            return
        self._body_bytes += len(chunk)
        if self._body_bytes > self._server.max_body_bytes:
            self._body = None
            self._complete()
            self._discarding = True
            raise _StopParsing  # the rest of the body is not read
        self._body.append(chunk)

    def on_message_complete(self) -> None:
        if self._discarding:
            return  # the request was already answered from its head
        self._complete()

    # -- answering ----------------------------------------------------------------------------

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEAD_BYTES:
            self._failure = (
                431,
                "RequestHeadersTooLarge",
                f"the request line and headers are larger than {MAX_HEAD_BYTES} bytes",
            )
            raise _StopParsing

    def _complete(self) -> None:
        parser = self._parser
        body = self._body
        request = Request(
            method=parser.get_method().decode("ascii", "replace"),
            target=bytes(self._target),
            headers=Headers(self._headers),
            body=None if body is None else (body[0] if len(body) == 1 else b"".join(body)),
            version=parser.get_http_version(),
            keep_alive=parser.should_keep_alive() and body is not None,
            peer=self._peer,
        )
        self._enqueue(request)

    def _fail(self, status: int, error_type: str, message: str) -> None:
        """Answers a request that could not be parsed, after the ones before it, then closes."""
        self._discarding = True
        self._enqueue((status, error_type, message))

    def _enqueue(self, item: Request | tuple[int, str, str]) -> None:
        self._pending.append(item)
        if len(self._pending) >= _PIPELINE_DEPTH and self._transport is not None:
            self._transport.pause_reading()
            self._reading_paused = True
        if self._task is None:
            self._server._track(self, busy=True)
            self._task = self._loop.create_task(self._answer_pending())

    async def _answer_pending(self) -> None:
        server = self._server
        try:
            while self._pending and not self._closed:
                item = self._pending.popleft()
                if isinstance(item, Request):
                    response = await self._respond(item)
                    last = self._discarding and not self._pending  # nothing more will come
                    keep_alive = item.keep_alive and not server.closing and not last
                    head = item.method == "HEAD"
                else:
                    response = server.error_response(*item)
                    keep_alive, head = False, False
                if response.stream is not None:
                    if not await self._write_stream(response, keep_alive, head):
                        self.close()
                        break
                elif self._closed:
                    break
                else:
                    self._write(response, keep_alive, head)
                if not keep_alive:
                    self._linger()
                    break
                if self._writable is not None:
                    await self._writable
                if self._reading_paused and len(self._pending) < _PIPELINE_DEPTH // 2:
                    self._reading_paused = False
                    if self._transport is not None:
                        self._transport.resume_reading()
        finally:
            self._task = None
            server._track(self, busy=False)
            if not self._closed and not self._discarding:
                if server.closing:
                    self.close()
                else:
                    self._arm_idle_timer()
            elif not self._closed and self._discarding and not self._pending:
                self._linger()

    async def _respond(self, request: Request) -> Response:
        try:
            return await self._server.handler(request)
        except Exception as exc:  # a bug in the application must not end the connection
            return self._server.error_response(500, "RuntimeError", f"{type(exc).__name__}: {exc}")

    def _write(self, response: Response, keep_alive: bool, head: bool) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        status = response.status
        body = response.body
        if status < 200 or status in (204, 304):
            body = b""  # these never carry a body (RFC 9110 6.4.1), nor a length to wait for
            framing = ""
        else:
            framing = f"Content-Length: {len(body)}"
        head_bytes = _head(response, framing, keep_alive)
        if head or not body:
            transport.write(head_bytes)
        elif len(body) < 64 * 1024:
            transport.write(head_bytes + body)
        else:
            transport.writelines((head_bytes, body))

    async def _write_stream(self, response: Response, keep_alive: bool, head: bool) -> bool:
        """Send a streamed answer chunk by chunk; False when it could not be completed (the
        client left, or the stream raised): the connection must then end."""
        stream = cast(ByteStream, response.stream)
        try:
            transport = self._transport
            if transport is None or transport.is_closing() or self._closed:
                return False
            transport.write(_head(response, "Transfer-Encoding: chunked", keep_alive))
            if head:
                return True  # a HEAD answer has no body, not even an empty chunked one
            lost = self._lost = self._loop.create_future()
            chunks = stream.__aiter__()
            while True:
                step = asyncio.ensure_future(chunks.__anext__())
                await asyncio.wait((step, lost), return_when=asyncio.FIRST_COMPLETED)
                if not step.done():  # the client went away while the stream was producing
                    step.cancel()
                    await asyncio.wait((step,))
                    return False
                if step.cancelled():
                    return False
                failure = step.exception()
                if isinstance(failure, StopAsyncIteration):
                    break
                if failure is not None:
                    return False
                chunk = step.result()
                if chunk:
                    transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                if self._writable is not None:
                    await self._writable
                if self._closed:
                    return False
            transport.write(b"0\r\n\r\n")
            return True
        finally:
            self._lost = None
            await stream.aclose()

    # -- closing ------------------------------------------------------------------------------

    def close(self) -> None:
        """Closes the connection now (answers not yet written are dropped)."""
        self._cancel_idle_timer()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.close()

    def _linger(self) -> None:
        """Ends the connection after the last answer without resetting it under the client."""
        transport = self._transport
        if transport is None or transport.is_closing() or self._lingering:
            return
        self._discarding = True
        self._lingering = True
        self._cancel_idle_timer()
        if self._eof:
            transport.close()  # nothing more comes from the client: close once the answers are out
            return
        if self._reading_paused:
            transport.resume_reading()
            self._reading_paused = False
        if transport.can_write_eof():
            transport.write_eof()  # the client reads the answer, then sees EOF; its input is drained
            self._idle_timer = self._loop.call_later(LINGER_SECONDS, self.close)
        else:
            transport.close()

    def _arm_idle_timer(self) -> None:
        self._cancel_idle_timer()
        self._idle_timer = self._loop.call_later(self._server.keepalive_timeout, self.close)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None


def _head(response: Response, framing: str, keep_alive: bool) -> bytes:
    """The status line and headers, ``framing`` (the body's length or chunking) among them."""
    status = response.status
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Unknown')}"]
    for name, value in response.headers:
        lines.append(f"{name}: {value}")
    if framing:
        lines.append(framing)
    lines.append(f"Date: {_http_date()}")
    if not keep_alive:
        lines.append("Connection: close")
    lines.append("\r\n")
    return "\r\n".join(lines).encode()  # UTF-8, as aiohttp sends non-ASCII values


class _StopParsing(Exception):
    """Raised in a parser callback to stop parsing the current input."""


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def _content_length(headers: list[tuple[str, str]]) -> int | None:
    value = _header(headers, "content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None  # llhttp rejects a malformed Content-Length itself


def _text(raw: bytes) -> str:
    """A header value or query string: UTF-8 when it is (what clients send today), else Latin-1."""
    try:
        return raw.decode()
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def _unquote_path(raw: bytes) -> str:
    if b"%" not in raw:
        return raw.decode("utf-8", "replace")
    from urllib.parse import unquote_to_bytes

    return unquote_to_bytes(raw).decode("utf-8", "replace")


def _parser_message(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _http_date() -> str:
    """The ``Date`` header's value."""
    return _format_date(int(time.time()))


@functools.lru_cache(maxsize=1)
def _format_date(second: int) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(second))
