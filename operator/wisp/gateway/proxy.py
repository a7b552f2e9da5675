"""The hop to a pod: headers in and out, bodies streamed, pooled keep-alive connections.

Small bodies (up to ``BUFFER_BYTES`` with a Content-Length) are read whole, which on loopback
is cheaper than chunk-by-chunk streaming; anything larger, or without a length, streams in both
directions without being re-serialised. Hop-by-hop headers are dropped both ways.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from aiohttp import StreamReader, web
from aiohttp.http import HttpVersion11
from multidict import CIMultiDict, CIMultiDictProxy, MultiMapping

from wisp.api import contract
from wisp.api.function import StreamingSpec
from wisp.api.tracecontext import TRACEPARENT, TRACESTATE
from wisp.gateway.answers import Answer, Forwarded
from wisp.gateway.connections import Body as Payload
from wisp.gateway.connections import (
    Head,
    ResponseTooLarge,
    UpstreamConnections,
    UpstreamFailed,
    UpstreamProtocol,
    request_head,
)
from wisp.gateway.deadlines import Deadlines
from wisp.gateway.streaming import relay_stream

BUFFER_BYTES = 256 * 1024
DEFAULT_STREAMING = StreamingSpec()
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
        # The gateway answers Expect itself (100 or 417) and sends pods whole requests: a pod's
        # interim 100 would otherwise be taken for its answer (wisp.security.errors).
        "expect",
    }
)
_RESPONSE_DROP = HOP_BY_HOP | {"date", "server"}
_WISP_SET = frozenset(
    {contract.EVENT_HEADER.lower(), "x-forwarded-for", "x-forwarded-proto", "x-forwarded-host"}
)

_TRACE_HEADERS = frozenset({TRACEPARENT, TRACESTATE})

Address = tuple[str, int]
Body = bytes | AsyncIterator[bytes] | None
# A body already read in full before the call was forwarded (by the security layer, to check
# a webhook signature): the forwarder sends it instead of reading the request again.
BODY = web.RequestKey("wisp-body", bytes)
# The caller's address as the security layer determined it (its trusted-proxy rules applied);
# without that layer, the connection's peer.
CLIENT_ADDRESS = web.RequestKey("wisp-client-address", str)


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class InvocationResult:
    """An answer read whole (the queue's async path and other internal callers)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    cold_start_ms: float | None = None
    version: str = "$LATEST"  # the version that served the call (a number, for a version's)
    # Set when the gateway answered itself (the call got no answer from the function): its
    # errorType, so callers branch on it instead of searching the body.
    gateway_error: str | None = None

    @property
    def request_id(self) -> str:
        return self.headers.get(contract.REQUEST_ID_HEADER, "")


_CONTINUE = web.RequestKey("wisp-continue", list)  # [sent?]: the caller awaits a 100 Continue


async def expect_handler(request: web.Request) -> None:
    """``Expect`` on the catch-all route. ``100-continue`` is answered when the body is about
    to be read (``send_continue``): a call refused from its head (401, 403, 413) gets its final
    answer without ever inviting the upload. Anything else is a JSON 417 (aiohttp's default
    echoes the value, and fails on non-UTF-8 bytes). ``Expect`` never reaches a pod."""
    if request.version != HttpVersion11:
        return
    if request.headers.get("Expect", "").lower() == "100-continue":
        request[_CONTINUE] = [False]
        return
    raise _expectation_failed()


async def expect_at_once(request: web.Request) -> None:
    """``Expect`` on every other route (``answer_expect``): ``100-continue`` is answered at once,
    as aiohttp's default does; anything else is the catch-all's JSON 417."""
    if request.version != HttpVersion11:
        return
    if request.headers.get("Expect", "").lower() == "100-continue":
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        request.writer.output_size = 0
        return
    raise _expectation_failed()


def _expectation_failed() -> web.HTTPExpectationFailed:
    return web.HTTPExpectationFailed(
        text='{"errorType": "ExpectationFailed", "errorMessage": "only Expect: 100-continue is supported"}',
        content_type="application/json",
    )


def answer_expect(app: web.Application) -> None:
    """Every route of ``app`` but the catch-all gets ``expect_at_once``.

    aiohttp runs a route's expect handler before any middleware, and its default one answers an
    unknown expectation with a text 417, and ``Expect: \\x80`` with a 500. aiohttp takes the
    handler only as an argument of ``add_route``; the routes the gateway's parts add (Lambda's
    Invoke API, async invocations, the queue's admin, the console) are set here, once all are in."""
    for route in app.router.routes():
        if route._expect_handler is not expect_handler:  # the catch-all keeps its own
            route._expect_handler = expect_at_once


async def send_continue(request: web.Request) -> None:
    """Invite the body of a caller that asked to be (once, just before reading it)."""
    waiting = request.get(_CONTINUE)
    if waiting is None or waiting[0]:
        return
    waiting[0] = True
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # an interim answer: the final one may still be an error


def _connection_tokens(headers: Mapping[str, str]) -> frozenset[str]:
    value = headers.get("Connection")
    if not value:
        return frozenset()
    return frozenset(t.strip().lower() for t in value.split(","))


def upstream_headers(
    request: web.BaseRequest,
    event: str,
    wisp: Iterable[tuple[str, str]] = (),
    trace: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """The request's end-to-end headers plus wisp's (``wisp``: what the gateway tells the
    runtime about this call) and the X-Forwarded-* ones. A caller's own ``X-Wisp-*`` headers
    never reach the runtime, except the request id it may choose. ``trace``: the trace context
    the gateway sends instead of the caller's (its own span's, when tracing is on)."""
    return forwarded_headers(
        request.headers, request.remote or "", request.scheme, request.host, event, wisp, trace
    )


def forwarded_headers(
    incoming: MultiMapping[str],
    peer: str,
    scheme: str,
    host: str,
    event: str,
    wisp: Iterable[tuple[str, str]] = (),
    trace: Sequence[tuple[str, str]] = (),
) -> list[tuple[str, str]]:
    """``upstream_headers`` from a request's parts: its headers, the peer's address, the scheme
    and host it was sent to (the fast data path has no aiohttp request)."""
    extra = _connection_tokens(incoming)
    if trace:
        extra = extra | _TRACE_HEADERS
    out: list[tuple[str, str]] = []
    request_id = ""
    for name, value in incoming.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in extra or lower in _WISP_SET:
            continue
        if lower.startswith("x-wisp-"):
            if lower != "x-wisp-request-id":
                continue
            request_id = value
        out.append((name, value))
    if not request_id:
        out.append((contract.REQUEST_ID_HEADER, os.urandom(16).hex()))  # uuid4().hex without the object
    previous = incoming.get("X-Forwarded-For")
    out.append((contract.EVENT_HEADER, event))
    out.extend(wisp)
    out.extend(trace)
    out.append(("X-Forwarded-For", f"{previous}, {peer}" if previous else peer))
    out.append(("X-Forwarded-Proto", incoming.get("X-Forwarded-Proto") or scheme))
    out.append(("X-Forwarded-Host", incoming.get("X-Forwarded-Host") or host))
    return out


def downstream_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    extra = _connection_tokens(headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower in _RESPONSE_DROP or lower in extra:
            continue
        out.add(name, value)
    return out


class Refused(Exception):
    """The runtime turned the call away, before running the handler, for being at its
    ``WISP_CONCURRENCY``: 429 with ``X-Wisp-Throttled: runtime`` (a handler's own 429 lacks it)."""


def runtime_refused(status: int, headers: Mapping[str, str]) -> bool:
    return status == 429 and headers.get(contract.THROTTLED_HEADER) == "runtime"


class BodyTimeout(Exception):
    """The caller did not send its body within the body-read timeout."""


class ClientGone(Exception):
    """The caller's connection broke while its body was being read."""


_READ_FAILURES = (OSError, web.RequestPayloadError)


async def _read_timed(read: Awaitable[bytes], deadline: float) -> bytes:
    try:
        async with asyncio.timeout_at(deadline):
            return await read
    except TimeoutError:
        raise BodyTimeout from None
    except _READ_FAILURES as exc:
        raise ClientGone(str(exc) or type(exc).__name__) from exc


async def _head(stream: StreamReader, size: int, deadline: float) -> bytes:
    """Up to ``size`` bytes of a body (fewer only at its end)."""
    parts: list[bytes] = []
    seen = 0
    while seen < size:
        chunk = await _read_timed(stream.readany(), deadline)
        if not chunk:
            break
        parts.append(chunk)
        seen += len(chunk)
    return b"".join(parts)


async def _rest(first: bytes, stream: StreamReader, limit: int, deadline: float) -> AsyncIterator[bytes]:
    """``first``, then the rest of the body as it arrives: at most ``limit`` bytes in all, by
    ``deadline`` (the wait is timed, never the hand-over to the pod)."""
    seen = len(first)
    yield first
    while True:
        chunk = await _read_timed(stream.readany(), deadline)
        if not chunk:
            return
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge
        yield chunk


def sent_body(method: str, body: bytes) -> bytes | None:
    """A body read whole, as the pod is sent it: an empty one goes as ``Content-Length: 0``
    with the methods that carry a body, and as no body with the others."""
    return body if body or method in ("POST", "PUT", "PATCH") else None


def body_kind(body: Body) -> str:
    """What ``request_head`` is told of ``body``: none, chunked, or its length."""
    if body is None:
        return "none"
    if isinstance(body, bytes):
        return str(len(body))
    return "chunked"


def _sized(headers: CIMultiDictProxy[str], limit: int) -> int | None:
    """The answer's Content-Length, refused up front when past ``limit``."""
    length = headers.get("Content-Length")
    if length is None:
        return None
    size = int(length)
    if size > limit:
        raise ResponseTooLarge(_too_large(limit))
    return size


def _too_large(limit: int) -> str:
    return f"the function's answer exceeds {limit} bytes (WISP_MAX_RESPONSE_BYTES)"


class Forwarder:
    def __init__(
        self,
        max_body_bytes: int,
        connections: UpstreamConnections | None = None,
        max_response_bytes: int = 6 * 1024 * 1024,
    ) -> None:
        self.max_body_bytes = max_body_bytes
        self.max_response_bytes = max_response_bytes
        self.connections = connections or UpstreamConnections()
        self.deadlines = Deadlines()

    async def request_body(self, request: web.Request, deadline: float) -> Body:
        """The body to send, read before the call takes a slot on a pod (a slow or vanishing
        uploader holds no slot): whole when small and sized, else its first ``BUFFER_BYTES``
        and a limited stream of the rest. Every wait for the caller ends at ``deadline`` (loop
        time, ``BodyTimeout``); a broken caller raises ``ClientGone``."""
        if BODY in request:
            return request[BODY]
        length = request.content_length
        if length is not None and length <= BUFFER_BYTES:
            if length:
                await send_continue(request)
                return await _read_timed(request.read(), deadline)
            return sent_body(request.method, b"")
        if length is None and not request.body_exists:
            return None
        await send_continue(request)
        stream = request.content
        first = await _head(stream, BUFFER_BYTES, deadline)
        if len(first) > self.max_body_bytes:
            raise BodyTooLarge
        if stream.at_eof():
            return first
        return _rest(first, stream, self.max_body_bytes, deadline)

    async def forward(
        self,
        answer: Answer,
        address: Address,
        path_qs: str,
        headers: Sequence[tuple[str, str]],
        body: Body,
        limit: float,
        extra: Mapping[str, str],
        streaming: StreamingSpec = DEFAULT_STREAMING,
        sent: tuple[UpstreamProtocol, Head, Payload] | None = None,
    ) -> Forwarded:
        """Send the call to ``address`` and answer the caller through ``answer`` (within
        ``limit`` seconds; an answer marked ``X-Wisp-Stream`` within ``streaming`` instead,
        once its head is in). Both data paths forward with this: aiohttp's answers with its
        response objects (``ResponseAnswer``), the fast path writes to its connection. With
        ``sent``, the call went out already and this is its answer so far (a direct call's,
        ``wisp.gateway.direct``)."""
        method = answer.method
        connections = self.connections
        with self.deadlines.start(limit) as deadline:
            if sent is None:
                head = request_head(method, path_qs, f"{address[0]}:{address[1]}", headers, body_kind(body))
                proto, message, payload = await connections.send(
                    address, head, body, skip_body=method == "HEAD"
                )
            else:
                proto, message, payload = sent
            clean = False
            try:
                if runtime_refused(message.code, message.headers):
                    await payload.read()
                    clean = True
                    raise Refused
                status = message.code
                out_headers = downstream_headers(message.headers)
                out_headers.update(extra)
                if contract.STREAM_HEADER in message.headers and method != "HEAD":
                    # The stream has its own limits from here, counted from the call's start.
                    stream_deadline = deadline.when - limit + streaming.timeout
                    deadline.end()
                    sink = answer.stream(status, out_headers, None)
                    clean = await relay_stream(answer.caller, sink, payload, streaming, stream_deadline)
                    return Forwarded(status, out_headers, clean)
                most = self.max_response_bytes
                size = _sized(message.headers, most)
                if size is not None and size <= BUFFER_BYTES:
                    data = await payload.read()
                    clean = True
                    if method == "HEAD":
                        out_headers["Content-Length"] = str(size)
                    answer.whole(status, out_headers, data)
                    return Forwarded(status, out_headers, True)
                sink = answer.stream(status, out_headers, size)
                await sink.prepare(answer.caller)
                seen = 0
                async for chunk in payload.iter_any():
                    seen += len(chunk)
                    if seen > most:
                        # The status is sent already: cut the caller off rather than pass on
                        # more, so the answer cannot be taken for a complete one.
                        answer.abort()
                        raise ResponseTooLarge(_too_large(most))
                    await sink.write(chunk)
                await sink.write_eof()
                clean = True
                return Forwarded(status, out_headers, True)
            except (OSError, ValueError) as exc:
                raise UpstreamFailed(str(exc)) from exc
            finally:
                connections.finish(address, proto, payload, clean)

    async def call(
        self, address: Address, headers: Mapping[str, str], body: bytes, limit: float
    ) -> tuple[int, dict[str, str], bytes]:
        host = f"{address[0]}:{address[1]}"
        head = request_head("POST", "/", host, headers.items(), str(len(body)))
        with self.deadlines.start(limit):
            proto, message, payload = await self.connections.send(address, head, body)
            clean = False
            try:
                most = self.max_response_bytes
                _sized(message.headers, most)
                parts: list[bytes] = []
                seen = 0
                async for chunk in payload.iter_any():
                    seen += len(chunk)
                    if seen > most:
                        raise ResponseTooLarge(_too_large(most))
                    parts.append(chunk)
                data = b"".join(parts)
                clean = True
            except UpstreamFailed:
                raise
            except Exception as exc:
                raise UpstreamFailed(str(exc)) from exc
            finally:
                self.connections.finish(address, proto, payload, clean)
        if runtime_refused(message.code, message.headers):
            raise Refused
        return message.code, dict(message.headers), data
