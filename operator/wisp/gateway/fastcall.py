"""One call on the fast data path (``wisp.gateway.fastpath``): the same steps as
``Gateway.serve`` — access, meter, slot from the activator, forward with retries and balancing,
metrics, trace — with the caller's request and answer as bytes on its connection.

``plan_call`` decides from the head alone (route, the guard's admission, the function's
upstream), so a call the fast path cannot serve is handed to aiohttp before anything happened;
``serve_call`` runs it. Answers are written as ``Gateway.serve`` writes them: whole when small
and sized, else streamed (``X-Wisp-Stream`` answers through ``relay_stream``, within the
Function's streaming limits).
"""

from __future__ import annotations

import asyncio
import email.utils
import http
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import unquote

from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from wisp.api.trigger import RESERVED_PATHS, RESERVED_PREFIXES, Trigger
from wisp.gateway.activator import Acquired, Rejected
from wisp.gateway.admission import Admitted, FastGuard, FastHead
from wisp.gateway.answers import Forwarded
from wisp.gateway.connections import Address, Body, Head, UpstreamProtocol
from wisp.gateway.httpevent import trigger_headers
from wisp.gateway.lambda_api import LATEST, EventSubmitter, InvokeCall, serve_invoke, tag_refusal
from wisp.gateway.proxy import (
    InvocationResult,
    forwarded_headers,
    sent_body,
)
from wisp.gateway.registry import Unavailable, Upstream
from wisp.gateway.resolve import INVOKE_ROUTE
from wisp.gateway.router import FUNCTION_PREFIX, function_target, parse_lambda_name
from wisp.gateway.service import (
    COLD_HEADER,
    COLD_MS_HEADER,
    VERSION_HEADER,
    EventKind,
    Failure,
    Gateway,
    end_trace,
    error_response,
    observe_call,
)
from wisp.gateway.state import Components

_REASONS = {status.value: status.phrase for status in http.HTTPStatus}


class _Date:
    """The Date header's value, formatted once a second."""

    second = 0
    text = ""

    @classmethod
    def now(cls) -> str:
        second = int(time.time())
        if second != cls.second:
            cls.second = second
            cls.text = email.utils.formatdate(second, usegmt=True)
        return cls.text


def framing_for(status: int, length: int) -> str:
    """The Content-Length of a whole answer, which a 1xx, 204 or 304 answer never carries."""
    if status < 200 or status in (204, 304):
        return ""
    return f"Content-Length: {length}\r\n"


def response_head(status: int, headers: Iterable[tuple[str, str]], framing: str, close: bool) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\n"]
    lines.extend(f"{name}: {value}\r\n" for name, value in headers)
    lines.append(framing)
    lines.append(f"Date: {_Date.now()}\r\n")
    if close:
        lines.append("Connection: close\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8", "surrogateescape")


class Connection(Protocol):
    """The caller's connection, as ``FastProtocol`` offers it to a call."""

    close_after: bool  # the answer ends the connection (the caller asked for it)

    @property
    def transport(self) -> asyncio.Transport | None: ...

    def write(self, data: bytes) -> None: ...

    async def drain(self) -> None: ...

    def answer(
        self, status: int, headers: Iterable[tuple[str, str]], body: bytes, close: bool = False
    ) -> None: ...

    def answer_response(self, response: web.Response, close: bool = False) -> None: ...

    def abort(self) -> None: ...


# The values made for every call (this, ``Taken``, ``Admitted``, ``Acquired``, ``Forwarded``,
# the pod's ``Head``) are plain dataclasses: a frozen one's __init__ sets each field through
# object.__setattr__, about three times the cost, and they are never changed once made anyway.
@dataclass(slots=True)
class Plan:
    """A call the fast path serves: where it goes and what the gateway sees of it."""

    head: FastHead
    up: Upstream
    path_qs: str  # what the runtime is sent
    headers: CIMultiDict[str]  # the caller's headers as the guard left them
    event: str  # EventKind: the function form's JSON event, or a Trigger's HTTP event
    wisp: Sequence[tuple[str, str]]  # what the gateway tells the runtime (a Trigger's route)
    leave: Callable[[], None] | None  # the guard's, once the call is over
    verify: Callable[[bytes], web.Response | None] | None = None  # the guard's, on the body


@dataclass(slots=True)
class InvokePlan:
    """A call of Lambda's Invoke API the fast path serves (``serve_invoke``)."""

    head: FastHead
    call: InvokeCall
    leave: Callable[[], None] | None  # the guard's, once the call is over
    verify: Callable[[bytes], web.Response | None] | None = None  # the guard's, on the body


Sent = tuple[UpstreamProtocol, Head, Body]  # a request sent, and its answer's head and body


@dataclass(slots=True)
class Resumed:
    """What a call started as a direct exchange (``wisp.gateway.direct``) did before it became
    the coroutine's."""

    started: float  # monotonic: the meter counts the call from here
    since: float  # wall clock, for asking why a pod went away
    acquired: Acquired  # its slot
    headers: list[tuple[str, str]]  # what was sent (its request id among them)
    sent: Sent | None = None  # an answer whose head is in
    limit: float = 0.0  # what is left of the call's timeout, with ``sent``
    error: Exception | None = None  # how the exchange failed (the first attempt's)


INVOKE_PREFIX = "/2015-03-31/functions/"
INVOKE_SUFFIX = "/invocations"


def plan_call(
    parts: Components, guard: FastGuard | None, declared: frozenset[str], head: FastHead
) -> Plan | InvokePlan | web.Response | None:
    """The call ``head`` asks for, the answer refusing it, or None when aiohttp must serve it:
    a declared route or a reserved path, a path no Trigger takes, a name that is not a DNS
    label, a call the guard cannot decide from its head."""
    path = head.path
    trigger: Trigger | None = None
    if path.startswith(INVOKE_PREFIX):
        return _plan_invoke(parts, guard, head)
    if path.startswith(FUNCTION_PREFIX):
        target = function_target(path, parts.config.default_namespace)
        if target is None:
            return None
        key, qualifier = target
    else:
        first = path[1:].split("/", 1)[0]
        if first in declared or path.startswith(RESERVED_PREFIXES) or path in RESERVED_PATHS:
            return None
        trigger = parts.registry.routes.match(head.host, path, head.method).trigger
        if trigger is None:  # aiohttp answers 404 or 405
            return None
        key, qualifier = trigger.function_key, trigger.qualifier
    if guard is None:
        admitted = Admitted(head.headers, head.peer)
    else:
        decided = guard.admit(head, key, path)
        if decided is None or isinstance(decided, web.Response):
            return decided
        admitted = decided
    up = parts.registry.select(key, qualifier)
    refusal: web.Response | None = None
    if isinstance(up, Unavailable):
        refusal = error_response(up.status, up.error_type, up.message)
    elif up is None:
        missing = (
            f"function {key} not found"
            if trigger is None
            else f"trigger {trigger.key} names a missing function"
        )
        refusal = error_response(404, "FunctionNotFound", missing)
    if refusal is not None or up is None or isinstance(up, Unavailable):
        if admitted.leave is not None:
            admitted.leave()
        return refusal
    if trigger is None:
        # The path keeps raw "/" as its only separator, so segments line up one to one.
        query = head.target.partition("?")[2]
        raw = path.split("/", 3)
        subpath = "/" + raw[3] if len(raw) > 3 else "/"
        path_qs = f"{subpath}?{query}" if query else subpath
        return Plan(head, up, path_qs, admitted.headers, EventKind.JSON, (), admitted.leave, admitted.verify)
    assert trigger.http is not None  # a route match is an HTTP Trigger
    host = admitted.headers.get("X-Forwarded-Host") or head.host
    wisp = trigger_headers(trigger.http, path, admitted.client, host.split(",", 1)[0].strip())
    return Plan(
        head, up, head.target, admitted.headers, EventKind.HTTP, wisp, admitted.leave, admitted.verify
    )


def _plan_invoke(
    parts: Components, guard: FastGuard | None, head: FastHead
) -> InvokePlan | web.Response | None:
    """``POST /2015-03-31/functions/NAME/invocations`` as aiohttp's route and ``resolve`` take it;
    None for anything else under the prefix and for a name that names nothing (aiohttp's 404)."""
    path = head.path
    raw_name = path[len(INVOKE_PREFIX) : -len(INVOKE_SUFFIX)]
    if head.method != "POST" or not path.endswith(INVOKE_SUFFIX) or not raw_name or "/" in raw_name:
        return None
    # An SDK percent-encodes the ":" of an ARN or a qualifier; a decoded name that is no DNS
    # label (an encoded "/" or "%" among them) is refused by parse_lambda_name below.
    name = unquote(raw_name) if "%" in raw_name else raw_name
    config = parts.config
    named = parse_lambda_name(name, config.default_namespace, config.account_id)
    if named is None:
        return None
    fn, qualifier = named
    if guard is None:
        admitted = Admitted(head.headers, head.peer)
    else:
        decided = guard.admit(head, fn.key, INVOKE_ROUTE)
        if isinstance(decided, web.Response):
            tag_refusal(decided)  # an AWS SDK's caller: Lambda's error types
        if decided is None or isinstance(decided, web.Response):
            return decided
        admitted = decided
    asked = URL(head.target, encoded=True).query.get("Qualifier") if "?" in head.target else None
    call = InvokeCall(fn.key, name, asked or qualifier or LATEST, admitted.headers)
    return InvokePlan(head, call, admitted.leave, admitted.verify)


def verified(plan: Plan | InvokePlan, body: bytes) -> web.Response | None:
    """The guard's refusal of a call once its body is in (a signature that does not cover it),
    or None to serve it."""
    if plan.verify is None:
        return None
    refusal = plan.verify(body)
    if refusal is not None and isinstance(plan, InvokePlan):
        tag_refusal(refusal)
    return refusal


async def serve_invoke_call(
    parts: Components, submit: EventSubmitter | None, plan: InvokePlan, body: bytes, connection: Connection
) -> bool:
    """Serve an Invoke API call whose body is in; the caller's connection is always kept."""

    async def payload() -> bytes:
        return body

    connection.answer_response(await serve_invoke(parts, submit, plan.call, payload))
    return True


async def serve_call(
    gateway: Gateway, plan: Plan, body: bytes, connection: Connection, resumed: Resumed | None = None
) -> bool:
    """Serve the call and answer it; False when the connection cannot be kept (an answer cut
    off, a caller gone). ``resumed``: what a direct exchange did of the call already."""
    head = plan.head
    up = plan.up
    if resumed is None:
        started = time.monotonic()
        up.meter.started(started)
    else:
        started = resumed.started
    status = 502
    trace = None if gateway.tracing is None else gateway.tracing.begin(plan.headers)
    acquired = None if resumed is None else resumed.acquired
    answered: InvocationResult | None = None
    try:
        if acquired is None:
            try:
                acquired = await gateway.activator.acquire(up)
            except Rejected as exc:
                status = exc.status
                connection.answer_response(
                    error_response(exc.status, exc.error_type, exc.message, exc.retry_after)
                )
                return True
            except Unavailable as exc:
                status = exc.status
                connection.answer_response(error_response(exc.status, exc.error_type, exc.message))
                return True
        if resumed is not None:
            headers = resumed.headers
        else:
            trace_headers = trace.headers() if trace is not None else ()
            headers = forwarded_headers(
                plan.headers, head.peer, head.scheme, head.host, plan.event, plan.wisp, trace_headers
            )
        extra: dict[str, str] = {VERSION_HEADER: up.info.version}
        if acquired.cold_wait is not None:
            extra |= {COLD_HEADER: "true", COLD_MS_HEADER: f"{acquired.cold_wait * 1000:.1f}"}
        outgoing = sent_body(head.method, body)
        since = time.time() if resumed is None else resumed.since
        answer = _ConnectionAnswer(head, connection)
        streaming = up.info.function.spec.streaming
        forwarder = gateway.forwarder

        def forward(
            address: Address, sent: Sent | None = None, limit: float = up.timeout
        ) -> Awaitable[Forwarded]:
            return forwarder.forward(
                answer, address, plan.path_qs, headers, outgoing, limit, extra, streaming, sent
            )

        outcome = await gateway.on_an_endpoint(
            up,
            acquired,
            forward if resumed is None else _resuming(resumed, forward, up.timeout),
            retry_refused=True,
        )
        if isinstance(outcome, Failure):
            outcome = await gateway.explain(up, outcome, since)
            status = outcome.status
            if answer.started:  # the answer began: it cannot become an error any more
                connection.abort()
                return False
            connection.answer_response(
                error_response(outcome.status, outcome.error_type, outcome.message, outcome.retry_after)
            )
            return True
        status = outcome.status
        if trace is not None:
            answered = InvocationResult(status, outcome.headers, b"")
        return outcome.clean
    finally:
        observe_call(up, started, status)
        if trace is not None:
            attributes: dict[str, str | int | float | bool] = {
                "http.request.method": head.method,
                "url.path": head.path,
            }
            end_trace(trace, f"{head.method} {head.path}", up, status, acquired, answered, attributes)


def _resuming(
    resumed: Resumed, forward: Callable[[Address, Sent | None, float], Awaitable[Forwarded]], limit: float
) -> Callable[[Address], Awaitable[Forwarded]]:
    """The attempts of a call a direct exchange began: the first is what became of that
    exchange (its answer so far, or its failure as ``forward``'s own would be raised)."""
    first: list[Resumed] = [resumed]

    async def attempt(address: Address) -> Forwarded:
        if not first:
            return await forward(address, None, limit)
        began = first.pop()
        if began.error is not None:
            raise began.error
        return await forward(address, began.sent, began.limit)

    return attempt


class _ConnectionAnswer:
    """``Answer`` (``Forwarder.forward``'s) on the fast path's connection; it is its own
    ``relay_stream`` caller."""

    def __init__(self, head: FastHead, connection: Connection) -> None:
        self.head = head
        self.connection = connection
        self.started = False  # some of a streamed answer was written

    @property
    def method(self) -> str:
        return self.head.method

    @property
    def caller(self) -> _ConnectionAnswer:
        return self

    @property
    def transport(self) -> asyncio.Transport | None:
        return self.connection.transport

    @property
    def path(self) -> str:
        return self.head.path

    def whole(self, status: int, headers: CIMultiDict[str], data: bytes) -> None:
        headers.setdefault("Content-Type", "application/octet-stream")
        self.connection.answer(status, headers.items(), data)

    def stream(self, status: int, headers: CIMultiDict[str], size: int | None) -> _Stream:
        headers.setdefault("Content-Type", "application/octet-stream")
        return _Stream(self, status, headers, size)

    def abort(self) -> None:
        self.connection.abort()


class _Stream:
    """An answer written as it comes (``relay_stream``'s ``Sink``): chunked unless sized."""

    def __init__(
        self, answer: _ConnectionAnswer, status: int, headers: CIMultiDict[str], size: int | None
    ) -> None:
        self.answer = answer
        self.status = status
        self.headers = headers
        self.size = size

    async def prepare(self, request: Any = None) -> None:
        answer = self.answer
        if answer.started:
            return
        answer.started = True
        framing = (
            "Transfer-Encoding: chunked\r\n" if self.size is None else f"Content-Length: {self.size}\r\n"
        )
        connection = answer.connection
        connection.write(response_head(self.status, self.headers.items(), framing, connection.close_after))

    async def write(self, data: bytes) -> None:
        if not data:
            return
        connection = self.answer.connection
        connection.write(data if self.size is not None else b"%x\r\n%b\r\n" % (len(data), data))
        await connection.drain()

    async def write_eof(self, data: bytes = b"") -> None:
        await self.write(data)
        if self.size is None:
            self.answer.connection.write(b"0\r\n\r\n")
