"""Keep-alive HTTP/1.1 connections to pods, without a general-purpose client in the way.

The hop to a pod is the gateway's hottest path, and a general HTTP client spends most of its
time on things a proxy does not need (URL objects, cookie jars, redirect and auth handling,
auto headers, a stream object per answer). Here a request is one pre-built byte string written
to a pooled connection, and the answer is parsed by ``httptools`` (llhttp, the parser Node.js
uses; the runtime and the gateway's fast path parse requests with it too) straight into the
head and a small ``Body`` buffer.

* ``UpstreamConnections.send`` returns the response head and a ``Body``; the caller reads or
  streams the body and then calls ``finish`` (back to the idle pool when the exchange ended
  cleanly, closed otherwise).
* Without a coroutine in the way: ``UpstreamConnections.idle`` gives a pooled connection at once
  (or none), ``UpstreamProtocol.begin`` expects an answer for a ``Listener``, which the protocol
  calls from its own callbacks with the head, and ``Body.on_end`` once the body is in
  (``wisp.gateway.direct``).
* ``ConnectFailed``: no connection could be made, so nothing was sent (safe to retry on
  another endpoint). ``UpstreamFailed``: the exchange broke after that.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol, cast

import httptools
from multidict import CIMultiDict, CIMultiDictProxy

from wisp.gateway.flow import WriteFlow

IDLE_SECONDS = 15.0  # well below the runtime's keep-alive (75 s): no reuse of a closing socket
MAX_IDLE_PER_ENDPOINT = 512
MAX_HEAD_BYTES = 64 * 1024  # a pod's status line and headers together
BODY_HIGH_WATER = 256 * 1024  # buffered body bytes at which the pod's socket stops being read
BODY_LOW_WATER = 64 * 1024  # ...and below which it is read again
Address = tuple[str, int]


class ConnectFailed(Exception):
    """The TCP connection to the endpoint could not be made; no byte was sent."""


class UpstreamFailed(Exception):
    """The exchange failed after the request started."""


class InvalidResponse(UpstreamFailed):
    """The pod answered something that is not a valid final HTTP answer (the message says
    what); the connection is closed."""


class ResponseTooLarge(InvalidResponse):
    """The pod's answer is larger than the gateway passes on (``WISP_MAX_RESPONSE_BYTES``)."""


class StaleConnection(ConnectFailed):
    """A pooled keep-alive connection turned out closed by the pod before it answered anything.

    A server closes only idle keep-alive connections this way (one carrying a request is
    answered first), so the request was not processed; with a body held in memory it is safe to
    send again. The endpoint itself is not suspect.
    """


class Disconnected(ConnectionError):
    """The pod closed the connection (or it broke) before the answer was complete."""


def not_final(code: int) -> InvalidResponse:
    """A 1xx as the answer: the gateway never sends Expect nor offers an upgrade, and the
    runtime contract has no interim answers, so it is a handler's invalid status. It is refused
    at once (waiting for a final answer would hang until the timeout), and its connection is
    never pooled, whatever else it may still carry."""
    return InvalidResponse(
        f"the function answered with the informational status {code}, which is not a final answer"
    )


_MALFORMED = (
    "the function's answer is not valid HTTP/1.1: a malformed status line or header "
    "(a header name must be a token: no spaces, colons or quotes)"
)


@dataclass(slots=True)
class Head:
    """A pod's status and headers."""

    code: int
    headers: CIMultiDictProxy[str]


class Body:
    """A pod's answer body as it arrives, for one reader: ``read`` (all of it), ``readany``
    (what is there, ``b""`` at its end) or ``iter_any``. Past ``BODY_HIGH_WATER`` buffered
    bytes the pod's socket is not read until the reader catches up."""

    __slots__ = ("_chunks", "_eof", "_exception", "_protocol", "_size", "_waiter", "on_end")

    def __init__(self, protocol: UpstreamProtocol) -> None:
        self._protocol = protocol
        self._chunks: deque[bytes] = deque()
        self._size = 0
        self._eof = False
        self._exception: BaseException | None = None
        self._waiter: asyncio.Future[None] | None = None
        # Called, instead of waking a reader, once the body is in or broke off (``failure``).
        self.on_end: Callable[[], None] | None = None

    def is_eof(self) -> bool:
        """The whole body arrived and was read."""
        return self._eof and not self._chunks

    @property
    def buffered(self) -> int:
        """Bytes arrived and not read yet."""
        return self._size

    def _feed(self, data: bytes) -> None:
        self._chunks.append(data)
        self._size += len(data)
        if self._size > BODY_HIGH_WATER:
            self._protocol.pause_reading()
        self._wake()

    def _end(self, exception: BaseException | None = None) -> None:
        if self._eof or self._exception is not None:
            return
        if exception is None:
            self._eof = True
        else:
            self._exception = exception
        if self.on_end is not None:
            self.on_end()
        else:
            self._wake()

    @property
    def failure(self) -> BaseException | None:
        """Why the body broke off, if it did."""
        return self._exception

    def take(self) -> bytes:
        """Every byte buffered (the whole body once it is in), without waiting."""
        chunks = self._chunks
        data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._size = 0
        return data

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def readany(self) -> bytes:
        while not self._chunks:
            if self._exception is not None:
                raise self._exception
            if self._eof:
                return b""
            self._waiter = self._protocol.loop.create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        data = self._chunks.popleft()
        self._size -= len(data)
        if self._size < BODY_LOW_WATER:
            self._protocol.resume_reading()
        return data

    async def read(self) -> bytes:
        """The whole body (the caller decided from its length that it may be held)."""
        parts = []
        while chunk := await self.readany():
            parts.append(chunk)
        return parts[0] if len(parts) == 1 else b"".join(parts)

    async def iter_any(self) -> AsyncIterator[bytes]:
        while chunk := await self.readany():
            yield chunk


class Listener(Protocol):
    """Who an answer expected with ``UpstreamProtocol.begin`` is for."""

    def headed(self, message: Head, payload: Body) -> None:
        """The answer's head is in; its body arrives in ``payload`` (set ``on_end`` to hear of
        its end). Any status, a 1xx included."""

    def failed(self, exc: Exception) -> None:
        """No head came: the connection broke (``Disconnected``) or the head was invalid
        (``InvalidResponse``); the connection is closed."""


class UpstreamProtocol(WriteFlow, asyncio.Protocol):
    """One keep-alive connection to a pod: one exchange at a time (``start``, then ``read``;
    or ``begin`` for a ``Listener``).

    Bytes that arrive while no answer is awaited (an answer sent after the last one, say) mark
    the connection ``should_close``: it is never given to another call.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop  # kept: asking asyncio for the running loop costs a syscall on 3.11
        self.transport: asyncio.Transport | None = None
        self.should_close = False
        self._parser = httptools.HttpResponseParser(self)
        self._head: asyncio.Future[tuple[Head, Body]] | None = None
        self._listener: Listener | None = None
        # A body that ended inside ``feed_data``: told once the parser is done with the bytes,
        # so that whoever hears of it may hand the connection to the next call at once.
        self._complete: Body | None = None
        self._body: Body | None = None
        self._headers: list[tuple[str, str]] = []
        self._head_bytes = 0
        self._skip_body = False
        self._until_close = False  # the answer's body ends when the pod closes the connection
        self._reading_paused = False

    # -- the connection ------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not registered as asyncio's classes: no isinstance here.
        self.transport = cast(asyncio.Transport, transport)

    def is_connected(self) -> bool:
        return self.transport is not None and not self.transport.is_closing()

    def close(self) -> None:
        self.should_close = True
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        self.should_close = True
        gone = Disconnected(str(exc) if exc else "the function closed the connection")
        head = self._head
        if head is not None and not head.done():
            head.set_exception(gone)
        listener = self._listener
        if listener is not None:
            self._listener = None
            listener.failed(gone)
        body = self._body
        if body is not None:
            body._end(None if self._until_close else gone)
        self.end_drain()

    def pause_reading(self) -> None:
        if not self._reading_paused and self.transport is not None:
            self._reading_paused = True
            self.transport.pause_reading()

    def resume_reading(self) -> None:
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()

    def gone(self) -> Exception:
        return Disconnected("the function closed the connection")

    # -- one exchange ----------------------------------------------------------------------------

    def start(self, skip_body: bool) -> asyncio.Future[tuple[Head, Body]]:
        """Expect an answer (to a HEAD request when ``skip_body``): the future of its head."""
        self._head = head = self.loop.create_future()
        self._body = None
        self._head_bytes = 0
        self._skip_body = skip_body
        return head

    def begin(self, listener: Listener) -> None:
        """Expect an answer (not to a HEAD request) for ``listener``."""
        self._listener = listener
        self._body = None
        self._head_bytes = 0
        self._skip_body = False

    def abandon(self) -> None:
        """Close the connection and tell its listener, or its body's, nothing more."""
        self._listener = None
        if self._body is not None:
            self._body.on_end = None
        self.close()

    def data_received(self, data: bytes) -> None:
        if self._head is None and self._body is None and self._listener is None:
            self.should_close = True  # nobody asked: never hand these bytes to the next call
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self.should_close = True  # a 101 was already refused as the head; nothing follows
        except httptools.HttpParserError:
            self._fail(InvalidResponse(_MALFORMED))
        else:
            if self._head is not None or self._listener is not None:  # still no whole head
                self._head_bytes += len(data)
                if self._head_bytes > MAX_HEAD_BYTES:
                    self._fail(
                        InvalidResponse(f"the function's answer has a head over {MAX_HEAD_BYTES} bytes")
                    )
        complete = self._complete
        if complete is not None:
            self._complete = None
            complete._end()

    def _fail(self, exc: Exception) -> None:
        self.close()
        head, listener, body = self._head, self._listener, self._body
        self._head = self._body = self._listener = None
        if head is not None and not head.done():
            head.set_exception(exc)
        elif listener is not None:
            listener.failed(exc)
        elif body is not None:
            body._end(exc)

    # httptools' callbacks

    def on_message_begin(self) -> None:
        self._headers = []
        if self._head is None and self._listener is None:
            self.should_close = True  # an answer nobody asked for: never pooled again

    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.append(
            (name.decode("utf-8", "surrogateescape"), value.decode("utf-8", "surrogateescape"))
        )

    def on_headers_complete(self) -> None:
        head, listener = self._head, self._listener
        if listener is None and (head is None or head.done()):
            self.should_close = True
            return
        parser = self._parser
        code = parser.get_status_code()
        headers = CIMultiDict(self._headers)
        if not parser.should_keep_alive():
            self.should_close = True
        body = Body(self)
        self._head = self._listener = None
        if code < 200:
            self.should_close = True  # an interim answer: the caller refuses it, nothing follows
        elif self._skip_body:
            # An answer to HEAD carries no body whatever its Content-Length says; the parser
            # cannot be told so, and the connection is not used again.
            self.should_close = True
            body._end()
        elif code not in (204, 304) and "Content-Length" not in headers and not _chunked(headers):
            self._until_close = True
            self.should_close = True
            self._body = body
        else:
            self._body = body
        if listener is not None:
            listener.headed(Head(code, CIMultiDictProxy(headers)), body)
        elif head is not None:
            head.set_result((Head(code, CIMultiDictProxy(headers)), body))

    def on_body(self, data: bytes) -> None:
        if self._body is not None:
            self._body._feed(data)

    def on_message_complete(self) -> None:
        body = self._body
        if body is not None:
            self._body = None
            self._complete = body


def _chunked(headers: CIMultiDict[str]) -> bool:
    return any("chunked" in value.lower() for value in headers.getall("Transfer-Encoding", ()))


class UpstreamConnections:
    def __init__(self) -> None:
        self._idle: dict[Address, list[tuple[UpstreamProtocol, float]]] = {}
        self._closed = False

    def idle(self, address: Address) -> UpstreamProtocol | None:
        """A pooled connection to ``address`` that can carry a call, if there is one."""
        idle = self._idle.get(address)
        if idle:
            now = time.monotonic()
            while idle:
                proto, since = idle.pop()
                # A connection holding bytes nobody asked for (an answer sent after the last
                # one) would hand them to the next call: it is closed, never reused.
                if now - since < IDLE_SECONDS and proto.is_connected() and not proto.should_close:
                    return proto
                proto.close()
        return None

    async def _connection(self, address: Address) -> tuple[UpstreamProtocol, bool]:
        """A connection to ``address`` and whether it was reused from the idle pool."""
        proto = self.idle(address)
        if proto is not None:
            return proto, True
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_connection(lambda: UpstreamProtocol(loop), address[0], address[1])
        except OSError as exc:
            raise ConnectFailed(f"{address[0]}:{address[1]}: {exc}") from exc
        return proto, False

    async def send(
        self,
        address: Address,
        head: bytes,
        body: bytes | AsyncIterator[bytes] | None,
        *,
        skip_body: bool = False,
    ) -> tuple[UpstreamProtocol, Head, Body]:
        """Send a request (``head`` ends with the blank line) and wait for the response head."""
        proto, reused = await self._connection(address)
        transport = proto.transport
        if transport is None:
            raise UpstreamFailed("connection closed")
        answer = proto.start(skip_body)
        try:
            if body is None or isinstance(body, bytes):
                transport.write(head + body if body else head)
            else:
                transport.write(head)
                async for chunk in body:
                    if chunk:
                        transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                        await proto.drain()
                transport.write(b"0\r\n\r\n")
            message, payload = await answer
            if message.code < 200:
                raise not_final(message.code)
        except asyncio.CancelledError:
            proto.close()
            raise
        except InvalidResponse:
            proto.close()
            raise
        except Exception as exc:
            proto.close()
            replayable = body is None or isinstance(body, bytes)
            if reused and replayable and isinstance(exc, ConnectionError):
                raise StaleConnection(str(exc) or type(exc).__name__) from exc
            raise UpstreamFailed(str(exc) or type(exc).__name__) from exc
        return proto, message, payload

    def finish(self, address: Address, proto: UpstreamProtocol, payload: Body, clean: bool) -> None:
        """The exchange is over: keep the connection for the next call if it can be reused."""
        reusable = clean and not self._closed and not proto.should_close and payload.is_eof()
        if not reusable or not proto.is_connected():
            proto.close()
            return
        idle = self._idle.setdefault(address, [])
        if len(idle) >= MAX_IDLE_PER_ENDPOINT:
            proto.close()
            return
        idle.append((proto, time.monotonic()))

    def forget(self, addresses: Iterable[Address]) -> None:
        """Close idle connections to endpoints that left the ready set."""
        for address in addresses:
            for proto, _ in self._idle.pop(address, []):
                proto.close()

    async def close(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for proto, _ in idle:
                proto.close()
        self._idle.clear()


def request_head(
    method: str, path_qs: str, host: str, headers: Iterable[tuple[str, str]], body_kind: str
) -> bytes:
    """The request line and headers; ``body_kind`` is ``none``, ``chunked`` or a length."""
    parts = [f"{method} {path_qs} HTTP/1.1\r\nHost: {host}\r\n"]
    for name, value in headers:
        parts.append(f"{name}: {value}\r\n")
    if body_kind == "chunked":
        parts.append("Transfer-Encoding: chunked\r\n")
    elif body_kind != "none":
        parts.append(f"Content-Length: {body_kind}\r\n")
    parts.append("\r\n")
    return "".join(parts).encode("utf-8", "surrogateescape")
