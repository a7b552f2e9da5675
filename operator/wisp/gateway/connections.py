"""Keep-alive HTTP/1.1 connections to pods, without a general-purpose client in the way.

The hop to a pod is the gateway's hottest path, and aiohttp's ``ClientSession`` spends most
of its time on things a proxy does not need (URL objects, cookie jars, redirect and auth
handling, auto headers). Here a request is one pre-built byte string written to a pooled
connection, and the answer is parsed by aiohttp's own C response parser (``ResponseHandler``),
so the parsing and the streaming of bodies stay aiohttp's well-tested code.

* ``UpstreamConnections.send`` returns the response head and a ``StreamReader`` for its body;
  the caller reads or streams the body and then calls ``finish`` (back to the idle pool when
  the exchange ended cleanly, closed otherwise).
* ``ConnectFailed``: no connection could be made, so nothing was sent (safe to retry on
  another endpoint). ``UpstreamFailed``: the exchange broke after that.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable

from aiohttp.client_exceptions import ClientOSError, ServerDisconnectedError
from aiohttp.client_proto import ResponseHandler
from aiohttp.http import RawResponseMessage
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader

IDLE_SECONDS = 15.0  # well below the runtime's keep-alive (75 s): no reuse of a closing socket
MAX_IDLE_PER_ENDPOINT = 512
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


class UpstreamConnections:
    def __init__(self) -> None:
        self._idle: dict[Address, list[tuple[ResponseHandler, float]]] = {}
        self._closed = False

    async def _connection(self, address: Address) -> tuple[ResponseHandler, bool]:
        """A connection to ``address`` and whether it was reused from the idle pool."""
        idle = self._idle.get(address)
        if idle:
            now = time.monotonic()
            while idle:
                proto, since = idle.pop()
                # A connection holding bytes nobody asked for (an answer sent after the last
                # one) would hand them to the next call: it is closed, never reused.
                if now - since < IDLE_SECONDS and proto.is_connected() and not proto.should_close:
                    return proto, True
                proto.close()
        loop = asyncio.get_running_loop()
        try:
            _, proto = await loop.create_connection(lambda: ResponseHandler(loop), address[0], address[1])
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
    ) -> tuple[ResponseHandler, RawResponseMessage, StreamReader]:
        """Send a request (``head`` ends with the blank line) and wait for the response head."""
        proto, reused = await self._connection(address)
        proto.set_response_params(skip_payload=skip_body, auto_decompress=False)
        transport = proto.transport
        if transport is None:
            raise UpstreamFailed("connection closed")
        try:
            if body is None or isinstance(body, bytes):
                transport.write(head + body if body else head)
            else:
                transport.write(head)
                async for chunk in body:
                    if chunk:
                        transport.write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
                        if proto.writing_paused:
                            await proto._drain_helper()
                transport.write(b"0\r\n\r\n")
            message, payload = await proto.read()
            if message.code < 200:
                # The gateway never sends Expect nor offers an upgrade, and the runtime contract
                # has no interim answers: a 1xx is a handler's invalid status. Answer at once
                # (waiting for a final answer would hang until the timeout), and never pool
                # the connection, whatever else it may still carry.
                raise InvalidResponse(
                    f"the function answered with the informational status {message.code}, "
                    "which is not a final answer"
                )
        except asyncio.CancelledError:
            proto.close()
            raise
        except InvalidResponse:
            proto.close()
            raise
        except HttpProcessingError as exc:
            proto.close()
            raise InvalidResponse(
                "the function's answer is not valid HTTP/1.1: a malformed status line or header "
                "(a header name must be a token: no spaces, colons or quotes)"
            ) from exc
        except Exception as exc:
            proto.close()
            replayable = body is None or isinstance(body, bytes)
            if reused and replayable and isinstance(exc, ServerDisconnectedError | ClientOSError):
                raise StaleConnection(str(exc) or type(exc).__name__) from exc
            raise UpstreamFailed(str(exc) or type(exc).__name__) from exc
        return proto, message, payload

    def finish(self, address: Address, proto: ResponseHandler, payload: StreamReader, clean: bool) -> None:
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
