"""The fast data path: ``/function/NAME[/...]``, HTTP Trigger and Lambda Invoke API calls
served on asyncio's protocol API with httptools, without aiohttp's request and response
objects (docs/gateway.md, "The fast path and the aiohttp path").

Every connection of the invocation port starts here (``FastServer`` is the app's aiohttp
server; ``serve_fast`` installs it on the app, so every runner serves with it). A request is
taken when its whole head is in and it is a plain call: HTTP/1.1, GET/POST/PUT/PATCH/DELETE,
a target under ``/function/``, ``POST /2015-03-31/functions/NAME/invocations`` or taken by a
Trigger, a sized body of at most ``BUFFER_BYTES``, no ``Expect``, ``Upgrade`` or
``Transfer-Encoding``, and a guard (``FastGuard``) that can decide it from its head (and, for
a signature, its body once in). Anything else — a head that arrives in pieces, a malformed
one, HTTP/1.0, chunked uploads, WebSocket handshakes, unknown functions, functions whose
Secrets are still loading, the other declared routes (the console, the APIs) — is handed to
aiohttp's protocol with the bytes of that request: the connection stays on aiohttp from then
on, where every check and answer is the one the aiohttp path gives.

Requests on a connection are served one after the other (pipelined ones wait in the buffer);
a body is read whole before the call takes a slot (``Gateway.serve``'s rule) and within the
body-read timeout; an idle connection is closed after the server's keep-alive timeout. A call
that can go straight to a pod is sent from ``data_received`` (``wisp.gateway.direct``); the
others, and the rest of those that turn out not to be so simple, are served by the
connection's worker task.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

import httptools
from aiohttp import web
from aiohttp.web_protocol import RequestHandler
from multidict import CIMultiDict

from wisp.gateway import direct
from wisp.gateway.admission import FastGuard, FastHead
from wisp.gateway.fastcall import (
    INVOKE_PREFIX,
    InvokePlan,
    Plan,
    Resumed,
    framing_for,
    plan_call,
    response_head,
    serve_call,
    serve_invoke_call,
    verified,
)
from wisp.gateway.flow import WriteFlow
from wisp.gateway.handlers import request_lines
from wisp.gateway.lambda_api import EVENTS, EventSubmitter
from wisp.gateway.proxy import BUFFER_BYTES
from wisp.gateway.resolve import DISPATCH_ROUTE
from wisp.gateway.service import error_response
from wisp.gateway.state import COMPONENTS, Components

log = logging.getLogger("wisp.gateway.fastpath")

METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE"})
MAX_HEAD_BYTES = 8190  # aiohttp's line limit: a longer head is aiohttp's to judge
PAUSE_BYTES = 4 * BUFFER_BYTES  # stop reading while this much waits behind a call
_NOT_TAKEN = frozenset({"expect", "upgrade", "transfer-encoding"})
_INTERNAL_ERROR = error_response(500, "InternalError", "the gateway failed on this request")


@dataclass(frozen=True)
class FastPath:
    parts: Components
    guard: FastGuard | None
    keepalive: float
    declared: frozenset[str] = frozenset()  # first path segments of the app's declared routes
    events: EventSubmitter | None = None  # the event path, for the Invoke API's Event calls


def fast_path_for(app: web.Application, keepalive: float) -> FastPath | None:
    """The fast path for the invocation app, or None when it cannot stand in for aiohttp's:
    a middleware it does not know, or a declared route that could match ``/function/``."""
    parts = app.get(COMPONENTS)
    if parts is None:
        return None
    guard = parts.fast_guard
    for middleware in app.middlewares:
        if middleware is not request_lines and (guard is None or middleware is not guard.middleware):
            return None
    declared: set[str] = set()
    for resource in app.router.resources():
        if resource.name == DISPATCH_ROUTE:
            continue
        first = resource.canonical.lstrip("/").split("/", 1)[0]
        if first == "function" or first.startswith("{"):
            return None
        declared.add(first)
    return FastPath(parts, guard, keepalive, frozenset(declared), app.get(EVENTS))


def serve_fast(app: web.Application) -> None:
    """Serve ``app`` with a ``FastServer`` whichever runner starts it."""
    make_handler = app._make_handler

    def make(**kwargs: Any) -> web.Server:
        made = make_handler(**kwargs)  # freezes the app: its middlewares are final
        keepalive = float(made._kwargs.get("keepalive_timeout", 75.0))
        return FastServer(
            made.request_handler,
            request_factory=made.request_factory,
            handler_cancellation=made.handler_cancellation,
            loop=made._loop,
            fast=fast_path_for(app, keepalive),
            **made._kwargs,
        )

    app._make_handler = make  # type: ignore[method-assign]


class FastServer(web.Server):
    """aiohttp's server whose connections start on the fast path (when ``fast`` is set);
    ``fallback_protocol`` makes the aiohttp protocol a connection is handed to."""

    def __init__(self, handler: Any, *, fast: FastPath | None, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self.fast = fast
        self.fast_connections: set[FastProtocol] = set()
        self.handed_off = 0  # connections handed to aiohttp's protocol
        self.served_direct = 0  # calls sent from the connection's callbacks (``direct``)
        self.closing = False
        self._drained: asyncio.Future[None] | None = None  # no call in flight, once closing

    def __call__(self) -> Any:
        if self.fast is None:
            return self.fallback_protocol()
        return FastProtocol(self, self.fast)

    def fallback_protocol(self) -> RequestHandler:
        return super().__call__()

    @property
    def connections(self) -> list[RequestHandler]:
        """aiohttp's connections and the fast path's."""
        return [*super().connections, *self.fast_connections]  # type: ignore[list-item]

    def pre_shutdown(self) -> None:
        for connection in list(self.fast_connections):
            if not connection.busy:
                connection.close()
        super().pre_shutdown()

    async def shutdown(self, timeout: float | None = None) -> None:  # noqa: ASYNC109 (aiohttp's signature)
        self.closing = True  # a connection serving a call closes once it is answered
        if any(c.busy for c in self.fast_connections):
            self._drained = drained = asyncio.get_running_loop().create_future()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(drained, timeout)
        for connection in list(self.fast_connections):
            connection.close()
        await super().shutdown(timeout)

    def call_ended(self) -> None:
        """A call was answered while closing: the shutdown's wait ends with the last."""
        drained = self._drained
        if drained is not None and not drained.done() and not any(c.busy for c in self.fast_connections):
            drained.set_result(None)


class _HeadParser:
    """httptools' callbacks for one request head."""

    def __init__(self) -> None:
        self.url = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self.complete = False

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.complete = True


@dataclass(slots=True)
class Taken:
    """A request the fast path serves: its head, its size on the wire, its body's length."""

    head: FastHead
    head_bytes: int
    body_bytes: int


class FastProtocol(WriteFlow, asyncio.Protocol):
    def __init__(self, server: FastServer, fast: FastPath) -> None:
        self.server = server
        self.fast = fast
        self.loop = asyncio.get_running_loop()
        self.transport: asyncio.Transport | None = None
        # The connection's calls are served one after the other by one task, made at its first
        # call, rather than a task each (a task costs more to make than a future to wait on).
        self.worker: asyncio.Task[None] | None = None
        self._job: tuple[Plan | InvokePlan, bytes, Resumed | None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self.busy = False
        self.closed = False
        self.close_after = False  # the call being served asked for Connection: close
        self.responded = False  # some of the current call's answer was written
        self._buffer = bytearray()
        self._pending: tuple[Taken, Plan | InvokePlan] | None = None
        self._timer: asyncio.TimerHandle | None = None  # a body's read timeout
        # The keep-alive timer is not moved at every call: it checks, when due, how long the
        # connection has been idle (since ``_idle_since``) and is set again for the rest.
        self._keepalive: asyncio.TimerHandle | None = None
        self._idle_since = 0.0
        self._reading_paused = False
        self._peer = ""
        self._scheme = "http"

    # -- asyncio.Protocol -------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports do not derive from asyncio.Transport, but are one.
        self.transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info("peername")
        self._peer = peer[0] if isinstance(peer, tuple) else ""
        self._scheme = "https" if transport.get_extra_info("sslcontext") is not None else "http"
        self.server.fast_connections.add(self)
        self._idle()

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        if self.busy:
            if len(self._buffer) > PAUSE_BYTES and not self._reading_paused and self.transport is not None:
                self._reading_paused = True
                self.transport.pause_reading()
            return
        self._next()

    def connection_lost(self, exc: BaseException | None) -> None:
        self.closed = True
        self.transport = None
        self._cancel_timer()
        self._cancel_keepalive()
        self._drop_pending()
        self.server.fast_connections.discard(self)
        self.end_drain()
        self._stop_worker()

    def gone(self) -> Exception:
        return ConnectionResetError("the caller's connection closed")

    # -- writing (wisp.gateway.fastcall) ------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Send bytes to the caller; ``ConnectionResetError`` once its connection is closed."""
        transport = self.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the caller's connection closed")
        self.responded = True
        transport.write(data)

    def answer(
        self, status: int, headers: Iterable[tuple[str, str]], body: bytes, close: bool = False
    ) -> None:
        """A whole answer; dropped when the caller has gone."""
        head = response_head(status, headers, framing_for(status, len(body)), close or self.close_after)
        with contextlib.suppress(ConnectionResetError):
            self.write(head + body if body else head)

    def crashed(self, plan: Plan | InvokePlan) -> None:
        """The gateway failed on the call: an answer begun is cut off, else it is a 500; the
        connection closes."""
        if self.responded:
            self.abort()
        self.answer_response(_INTERNAL_ERROR, close=True)
        self.call_over(plan, False)

    def answer_response(self, response: web.Response, close: bool = False) -> None:
        """An answer built as an aiohttp ``Response`` (the gateway's and the guard's errors)."""
        body = response.body
        self.answer(
            response.status, response.headers.items(), body if isinstance(body, bytes) else b"", close
        )

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    # -- requests ---------------------------------------------------------------------------------

    def _next(self) -> None:
        """Start the next request in the buffer once its body is in; hand the connection to
        aiohttp at the first request the fast path does not take."""
        if self.closed or self.busy:
            return
        pending = self._pending
        if pending is None:
            buffer = self._buffer
            if not buffer:
                self._idle()
                return
            self._cancel_timer()
            end = buffer.find(b"\r\n\r\n")
            taken = None if end < 0 or end + 4 > MAX_HEAD_BYTES else self._take(bytes(buffer[: end + 4]))
            # Decided from the head, as aiohttp's middlewares decide before the body is read.
            fast = self.fast
            plan = None if taken is None else plan_call(fast.parts, fast.guard, fast.declared, taken.head)
            if taken is None or plan is None:
                self._hand_off()
                return
            self.server.requests_count += 1
            if isinstance(plan, web.Response):
                self._refuse(taken, plan)
                return
            pending = self._pending = (taken, plan)
        taken, plan = pending
        total = taken.head_bytes + taken.body_bytes
        if len(self._buffer) < total:
            if self._timer is None:
                timeout = self.fast.parts.gateway.body_read_timeout
                self._timer = self.loop.call_later(timeout, self._body_too_slow)
            return
        self._cancel_timer()
        self._pending = None
        body = bytes(self._buffer[taken.head_bytes : total])
        del self._buffer[:total]
        try:
            refusal = verified(plan, body)
        except Exception:
            log.exception("checking the body of %s %s failed", taken.head.method, taken.head.path)
            refusal = _INTERNAL_ERROR
        if refusal is not None:
            if plan.leave is not None:
                plan.leave()
            self.answer_response(refusal, close=not taken.head.keep_alive)
            self._finished(taken.head.keep_alive)
            return
        self.busy = True
        self.close_after = not taken.head.keep_alive
        self.responded = False
        if type(plan) is Plan and direct.start(self.fast.parts.gateway, plan, body, self):
            self.server.served_direct += 1
            return
        self._start((plan, body, None))

    def resume(self, plan: Plan, body: bytes, resumed: Resumed) -> None:
        """The rest of a direct call is the worker's."""
        self._start((plan, body, resumed))

    def _start(self, job: tuple[Plan | InvokePlan, bytes, Resumed | None]) -> None:
        self._job = job
        if self.worker is None:
            self.worker = self.loop.create_task(self._work())
        elif self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def _refuse(self, taken: Taken, refusal: web.Response) -> None:
        """Answer a call refused from its head; its body is skipped when it is in already, else
        the connection closes after the answer (its bytes are never read as a next head)."""
        total = taken.head_bytes + taken.body_bytes
        keep_alive = taken.head.keep_alive and len(self._buffer) >= total
        if keep_alive:
            del self._buffer[:total]
        self.answer_response(refusal, close=not keep_alive)
        self._finished(keep_alive)

    async def _serve(self, plan: Plan | InvokePlan, body: bytes, resumed: Resumed | None) -> None:
        keep_alive = plan.head.keep_alive
        fast = self.fast
        try:
            if isinstance(plan, InvokePlan):
                served = await serve_invoke_call(fast.parts, fast.events, plan, body, self)
            else:
                served = await serve_call(fast.parts.gateway, plan, body, self, resumed)
        except Exception:
            log.exception("the fast path failed on %s %s", plan.head.method, plan.head.path)
            self.crashed(plan)
            return
        except BaseException:
            if plan.leave is not None:
                plan.leave()
            raise
        self.call_over(plan, served and keep_alive)

    def call_over(self, plan: Plan | InvokePlan, keep_alive: bool) -> None:
        """The call is answered: the guard's hold on it ends, and the next request starts."""
        if plan.leave is not None:
            plan.leave()
        self.busy = False
        self.close_after = False
        self._finished(keep_alive)

    async def _work(self) -> None:
        """Serve the connection's calls as ``_next`` hands them over, until it closes or goes
        to aiohttp."""
        while self.transport is not None:
            job = self._job
            if job is None:
                self._wake = wake = self.loop.create_future()
                try:
                    await wake
                finally:
                    self._wake = None
                continue
            self._job = None
            await self._serve(*job)

    def _stop_worker(self) -> None:
        wake = self._wake
        if wake is not None and not wake.done():
            wake.set_result(None)

    def _finished(self, keep_alive: bool) -> None:
        if not keep_alive or self.server.closing:
            self.close()
            if self.server.closing:
                self.server.call_ended()
            return
        if self._reading_paused and self.transport is not None:
            self._reading_paused = False
            self.transport.resume_reading()
        self._next()

    def _take(self, raw: bytes) -> Taken | None:
        """The head if the fast path serves this request, else None."""
        parsed = _HeadParser()
        parser = httptools.HttpRequestParser(parsed)
        try:
            parser.feed_data(raw)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade):
            return None
        if not parsed.complete or parser.get_http_version() != "1.1":
            return None
        method = parser.get_method().decode("ascii", "replace")
        url = parsed.url
        if method not in METHODS or not url.startswith(b"/"):
            return None
        try:
            target = url.decode("ascii")
        except UnicodeDecodeError:
            return None
        path = target.partition("?")[0]
        if "#" in target or "/." in path or "//" in path:
            return None  # aiohttp normalises such paths: its router decides
        if "%" in path and not path.startswith(INVOKE_PREFIX):
            return None  # aiohttp decodes such paths: its router decides (an SDK encodes ARNs)
        pairs: list[tuple[str, str]] = []
        length: int | None = None
        host: str | None = None
        # HTTP/1.1 keeps the connection unless the caller says close (httptools' own answer is
        # reset once a body-less message completes).
        keep_alive = True
        for raw_name, raw_value in parsed.headers:
            try:
                name = raw_name.decode("ascii")
                value = raw_value.decode("utf-8")
            except UnicodeDecodeError:
                return None
            lower = name.lower()
            if lower in _NOT_TAKEN:
                return None
            if lower == "content-length":
                if length is not None or not value.isdigit():
                    return None
                length = int(value)
            elif lower == "host":
                if host is not None:
                    return None
                host = value
            elif lower == "connection" and any(t.strip().lower() == "close" for t in value.split(",")):
                keep_alive = False
            pairs.append((name, value))
        length = length or 0
        if host is None or length > BUFFER_BYTES or length > self.fast.parts.config.max_body_bytes:
            return None
        headers = CIMultiDict(pairs)  # built at once: cheaper than one add per header
        head = FastHead(method, target, path, headers, self._peer, host, self._scheme, keep_alive)
        return Taken(head, len(raw), length)

    def _hand_off(self) -> None:
        """Give the connection, and every byte not served yet, to aiohttp's protocol."""
        transport = self.transport
        if transport is None:
            return
        self._cancel_timer()
        self._cancel_keepalive()
        self.server.fast_connections.discard(self)
        self.server.handed_off += 1
        self.transport = None
        protocol = self.server.fallback_protocol()
        transport.set_protocol(protocol)
        protocol.connection_made(transport)
        data = bytes(self._buffer)
        self._buffer.clear()
        self._drop_pending()
        self._stop_worker()
        if data:
            protocol.data_received(data)
        if self._reading_paused:
            transport.resume_reading()

    def _drop_pending(self) -> None:
        """A call whose body never came: the guard's hold on it ends."""
        pending = self._pending
        self._pending = None
        if pending is not None and pending[1].leave is not None:
            pending[1].leave()

    def _idle(self) -> None:
        self._cancel_timer()
        self._idle_since = now = self.loop.time()
        if self._keepalive is None:
            self._keepalive = self.loop.call_at(now + self.fast.keepalive, self._keepalive_due)

    def _keepalive_due(self) -> None:
        self._keepalive = None
        if self.closed or self.busy or self._pending is not None or self._buffer:
            return  # not idle: ``_idle`` sets the timer again once it is
        due = self._idle_since + self.fast.keepalive
        if self.loop.time() >= due:
            self.close()
        else:
            self._keepalive = self.loop.call_at(due, self._keepalive_due)

    def _cancel_keepalive(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            self._keepalive = None

    def _body_too_slow(self) -> None:
        self._timer = None
        if self.busy or self._pending is None:
            return
        gateway = self.fast.parts.gateway
        message = f"the request body did not arrive within {gateway.body_read_timeout:g} s"
        body = f'{{"errorType": "RequestTimeout", "errorMessage": "{message}"}}'.encode()
        self._drop_pending()
        self.answer(408, [("Content-Type", "application/json; charset=utf-8")], body, close=True)
        self.close()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
