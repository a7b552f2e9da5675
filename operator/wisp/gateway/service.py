"""One call through the gateway, start to end: meter, slot, forward, retry, record.

``Gateway.serve`` answers an HTTP request routed to a function; ``Gateway.invoke`` is the same
path for internal callers (the queue's async invocations) with a body in memory and an
``InvocationResult`` out. Both count the call as in flight from its arrival (held calls are
demand the autoscaler must see), take a slot from the ``Activator``, and retry on another
endpoint only when the connection could not be made (nothing was sent) or when the runtime
refused the call for being at its concurrency (another gateway replica filled the pod): such a
call is held and retried, within the queue timeout, and never reaches the caller as the pod's 429.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from aiohttp import web
from multidict import CIMultiDict

from wisp.api import contract
from wisp.gateway.activator import Acquired, Activator, Rejected
from wisp.gateway.answers import ResponseAnswer
from wisp.gateway.backend import OUT_OF_MEMORY, Endpoint, failure_cause
from wisp.gateway.connections import (
    Address,
    ConnectFailed,
    InvalidResponse,
    ResponseTooLarge,
    StaleConnection,
    UpstreamFailed,
)
from wisp.gateway.proxy import (
    Body,
    BodyTimeout,
    BodyTooLarge,
    ClientGone,
    Forwarder,
    InvocationResult,
    Refused,
    upstream_headers,
)
from wisp.gateway.registry import Registry, Unavailable, Upstream
from wisp.gateway.tracing import CallTrace, SpanKind, Tracing

MAX_CONNECT_RETRIES = 3
T = TypeVar("T")
COLD_HEADER = "X-Wisp-Cold-Start"
COLD_MS_HEADER = "X-Wisp-Cold-Start-Ms"
VERSION_HEADER = "X-Wisp-Version"  # which version served the call ($LATEST or a number)


class EventKind:
    JSON = "json"
    HTTP = "http"


def error_response(
    status: int, error_type: str, message: str, retry_after: int | None = None
) -> web.Response:
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    response = web.json_response(
        {"errorType": error_type, "errorMessage": message}, status=status, headers=headers
    )
    if status == 429:
        response.headers[contract.THROTTLED_HEADER] = "gateway"
    return response


@dataclass
class Gateway:
    registry: Registry
    activator: Activator
    forwarder: Forwarder
    max_body_bytes: int
    body_read_timeout: float = 30.0
    tracing: Tracing | None = None  # None: tracing off (docs/tracing.md)

    async def serve(
        self,
        request: web.Request,
        up: Upstream,
        path_qs: str,
        event: str,
        wisp: Sequence[tuple[str, str]] = (),
    ) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > self.max_body_bytes:
            return error_response(413, "RequestTooLarge", f"body exceeds {self.max_body_bytes} bytes")
        # The body (or its first part) is read before the call takes a slot, so an uploader that
        # is slow or goes away never holds one of the function's slots while it does.
        deadline = asyncio.get_running_loop().time() + self.body_read_timeout
        try:
            body = await self.forwarder.request_body(request, deadline)
        except BodyTimeout:
            return error_response(408, "RequestTimeout", self._body_timeout_message())
        except BodyTooLarge:
            return error_response(413, "RequestTooLarge", f"body exceeds {self.max_body_bytes} bytes")
        except ClientGone as exc:
            return error_response(400, "ClientDisconnected", f"the request body broke off: {exc}")
        started = time.monotonic()
        up.meter.started(started)
        status = 502
        trace = None if self.tracing is None else self.tracing.begin(request.headers)
        acquired: Acquired | None = None
        response: web.StreamResponse | None = None
        try:
            try:
                acquired = await self.activator.acquire(up)
            except Rejected as exc:
                status = exc.status
                return error_response(exc.status, exc.error_type, exc.message, exc.retry_after)
            except Unavailable as exc:
                status = exc.status
                return error_response(exc.status, exc.error_type, exc.message)
            response = await self._forward(request, up, acquired, path_qs, event, body, wisp, trace)
            status = response.status
            return response
        finally:
            observe_call(up, started, status)
            if trace is not None:
                attributes: dict[str, str | int | float | bool] = {
                    "http.request.method": request.method,
                    "url.path": request.path,
                }
                end_trace(
                    trace, f"{request.method} {request.path}", up, status, acquired, response, attributes
                )

    def _body_timeout_message(self) -> str:
        return f"the request body did not arrive within {self.body_read_timeout:g} s"

    async def _forward(
        self,
        request: web.Request,
        up: Upstream,
        acquired: Acquired,
        path_qs: str,
        event: str,
        body: Body,
        wisp: Sequence[tuple[str, str]],
        trace: CallTrace | None,
    ) -> web.StreamResponse:
        headers = upstream_headers(request, event, wisp, trace.headers() if trace is not None else ())
        extra: dict[str, str] = {VERSION_HEADER: up.info.version}
        if acquired.cold_wait is not None:
            extra |= {COLD_HEADER: "true", COLD_MS_HEADER: f"{acquired.cold_wait * 1000:.1f}"}
        since = time.time()
        answer = ResponseAnswer(request)
        outcome = await self.on_an_endpoint(
            up,
            acquired,
            lambda address: self.forwarder.forward(
                answer, address, path_qs, headers, body, up.timeout, extra, up.info.function.spec.streaming
            ),
            # A streamed body was (partly) consumed by the refused try: it cannot be sent again.
            retry_refused=body is None or isinstance(body, bytes),
        )
        if isinstance(outcome, Failure):
            outcome = await self.explain(up, outcome, since)
            return error_response(outcome.status, outcome.error_type, outcome.message, outcome.retry_after)
        assert answer.response is not None  # a forwarded call was answered
        return answer.response

    async def invoke(
        self, function_key: str, body: bytes, headers: Mapping[str, str] | None = None, qualifier: str = ""
    ) -> InvocationResult:
        """Call a function (its version or alias ``qualifier``) with a JSON event body, with the
        same balancing and activation."""
        up = self.registry.select(function_key, qualifier)
        if isinstance(up, Unavailable):
            return _result(up.status, up.error_type, up.message)
        if up is None:
            return _result(404, "FunctionNotFound", f"function {function_key} not found")
        started = time.monotonic()
        up.meter.started(started)
        status = 502
        out: CIMultiDict[str] = CIMultiDict(headers or {})
        enqueued_ms = out.popall(contract.ENQUEUED_HEADER, [""])[0]
        trace = None if self.tracing is None else self.tracing.begin(out)
        acquired: Acquired | None = None
        result: InvocationResult | None = None
        try:
            try:
                acquired = await self.activator.acquire(up)
            except Unavailable as exc:
                status = exc.status
                return _result(exc.status, exc.error_type, exc.message)
            out[contract.EVENT_HEADER] = EventKind.JSON
            if trace is not None:
                for name, value in trace.headers():
                    out[name] = value
            cold_ms = None if acquired.cold_wait is None else acquired.cold_wait * 1000
            since = time.time()
            outcome = await self.on_an_endpoint(
                up,
                acquired,
                lambda address: self.forwarder.call(address, out, body, up.timeout),
                retry_refused=True,
            )
            if isinstance(outcome, Failure):
                outcome = await self.explain(up, outcome, since)
                status = outcome.status
                return _result(outcome.status, outcome.error_type, outcome.message)
            status, resp_headers, data = outcome
            result = InvocationResult(status, resp_headers, data, cold_ms, version=up.info.version)
            return result
        finally:
            observe_call(up, started, status)
            if trace is not None:
                # A queued event's delivery, or a direct call (Lambda's Invoke API, the console).
                queued_ns = _ms_to_ns(enqueued_ms)
                attributes: dict[str, str | int | float | bool] = {}
                if queued_ns:
                    attributes["messaging.operation.type"] = "process"
                name = "deliver" if queued_ns else "invoke"
                end_trace(trace, name, up, status, acquired, result, attributes, queued_ns)

    async def explain(self, up: Upstream, failure: Failure, since: float) -> Failure:
        """A connection that broke mid-call: ask the backend why (off the hot path: the call has
        already failed), so that a function killed for memory says so, as Lambda's
        ``Runtime.OutOfMemory`` does, to sync callers, async records and queue deliveries alike."""
        if failure.lost is None:
            return failure
        cause = await failure_cause(self.activator.backend, up.key, failure.lost, since)
        if cause != OUT_OF_MEMORY:
            return failure
        memory = f"{up.info.function.spec.memory_mib}Mi"
        return Failure(
            502,
            OUT_OF_MEMORY,
            f"the function ran out of memory: it used more than its {memory} limit and was killed "
            "(OOMKilled); raise spec.memory or make the handler use less",
        )

    async def on_an_endpoint(
        self,
        up: Upstream,
        acquired: Acquired,
        attempt: Callable[[Address], Awaitable[T]],
        *,
        retry_refused: bool,
    ) -> T | Failure:
        """``attempt`` on the acquired endpoint, again on another one (a new slot) while no
        connection could be made or the pod refused the call as full (until ``queue_timeout``
        after the first refusal); the slot goes back to the pool after each try."""
        attempts = 0
        queue_limit: float | None = None
        refused_until: float | None = None
        while True:
            slot = acquired.slot
            try:
                return await attempt((slot.endpoint.host, slot.endpoint.port))
            except ConnectFailed as exc:
                if not isinstance(exc, StaleConnection):
                    self.registry.mark_failed(up, slot)
                attempts += 1
                if attempts > MAX_CONNECT_RETRIES:
                    return Failure(502, "BadGateway", "no endpoint accepted the connection")
            except Refused:
                # The runtime answered 429 + X-Wisp-Throttled: runtime before running the
                # handler, so trying the call again (here or on another pod) is safe: the pod is
                # fuller than this gateway counted (other replicas' calls), not the handler's 429.
                self.registry.mark_full(up, slot)
                now = time.monotonic()
                if refused_until is None:
                    refused_until = now + self.activator.settings.queue_timeout
                queue_limit = refused_until - now
                if not retry_refused or queue_limit <= 0:
                    up.metrics.throttled("concurrency")
                    return Failure(
                        429, "TooManyRequests", "every endpoint is at its concurrency limit", retry_after=1
                    )
            except TimeoutError:
                return Failure(504, "GatewayTimeout", "the function did not answer in time")
            except ResponseTooLarge as exc:
                return Failure(502, "ResponseTooLarge", str(exc))
            except InvalidResponse as exc:
                return Failure(502, "InvalidFunctionResponse", str(exc))
            except UpstreamFailed as exc:
                cause = exc.__cause__
                if isinstance(cause, BodyTooLarge):
                    return Failure(413, "RequestTooLarge", f"body exceeds {self.max_body_bytes} bytes")
                if isinstance(cause, BodyTimeout):
                    return Failure(408, "RequestTimeout", self._body_timeout_message())
                if isinstance(cause, ClientGone):
                    return Failure(400, "ClientDisconnected", f"the request body broke off: {cause}")
                message = f"the function's connection failed: {exc}"
                return Failure(502, "BadGateway", message, lost=slot.endpoint)
            finally:
                self.registry.release(up, slot)
            try:
                acquired = await self.activator.acquire(up, queue_limit)
            except Unavailable as exc:
                return Failure(exc.status, exc.error_type, exc.message, getattr(exc, "retry_after", None))


@dataclass(frozen=True)
class Failure:
    """Why a call got no answer from the function; ``serve`` and ``invoke`` each render it."""

    status: int
    error_type: str
    message: str
    retry_after: int | None = None
    lost: Endpoint | None = None  # the endpoint whose connection broke mid-call


def observe_call(up: Upstream, started: float, status: int) -> None:
    """One finished call, served or invoked: the autoscaler's meter, metrics and stats."""
    now = time.monotonic()
    up.meter.finished(now)
    seconds = now - started
    up.metrics.call(status, seconds, up.memory_gib)
    up.stats.record(time.time(), seconds, status, up.memory_gib)


def end_trace(
    trace: CallTrace,
    name: str,
    up: Upstream,
    status: int,
    acquired: Acquired | None,
    answer: web.StreamResponse | InvocationResult | None,
    attributes: dict[str, str | int | float | bool],
    queued_since_ns: int = 0,
) -> None:
    fn = up.info.function
    attributes["faas.name"] = fn.name
    attributes["faas.namespace"] = fn.namespace
    handler_ms = None
    if answer is not None:
        request_id = answer.headers.get(contract.REQUEST_ID_HEADER)
        if request_id:
            attributes["faas.invocation_id"] = request_id
        handler_ms = _float(answer.headers.get(contract.DURATION_HEADER))
    cold = acquired.cold_wait if acquired is not None else None
    if cold is not None:
        attributes["faas.coldstart"] = True
    trace.finish(
        name,
        SpanKind.CONSUMER if queued_since_ns else SpanKind.SERVER,
        attributes,
        status=status,
        handler_ms=handler_ms,
        cold_start_s=cold,
        queued_since_ns=queued_since_ns,
    )


def _float(value: str | None) -> float | None:
    try:
        return float(value) if value else None
    except ValueError:
        return None


def _ms_to_ns(value: str) -> int:
    ms = _float(value)
    return int(ms * 1e6) if ms is not None else 0


def _result(status: int, error_type: str, message: str) -> InvocationResult:
    import json

    body = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
    return InvocationResult(status, {"Content-Type": "application/json"}, body, gateway_error=error_type)
