"""The HTTP side of the runtime: one request handler for every request (``httpserver`` serves it).

``GET /healthz``, ``/livez`` and ``/metrics`` (without ``X-Wisp-Event``) are answered directly;
everything else is an invocation: admission (concurrency, body size), event building, the call
through the ``Invoker``, and the response with the contract's headers, metrics and log line.
"""

from __future__ import annotations

import contextlib
import contextvars
import hmac
import json
import os
import time
import traceback
from collections.abc import Callable
from typing import Any, NamedTuple

from wisp_runtime import config, tracing
from wisp_runtime.context import (
    ClientContext,
    CognitoIdentity,
    ContextHeaderError,
    LambdaContext,
    decode_object,
)
from wisp_runtime.events import (
    EventError,
    HttpRequestParts,
    ResponseError,
    error_body,
    http_event,
    json_event,
    raw_response,
    shape_response,
)
from wisp_runtime.generic import SPECIALISE_PATH, Specialisation, SpecialiseError, parse_specialisation
from wisp_runtime.httpserver import Request, Response
from wisp_runtime.invoke import Invoker, Outcome, OutcomeKind
from wisp_runtime.lambdaenv import FunctionIdentity
from wisp_runtime.loader import LoadFailure
from wisp_runtime.logs import Capture, RequestScope, current_scope, tail_header
from wisp_runtime.metrics import RuntimeMetrics
from wisp_runtime.pool import WorkerPool
from wisp_runtime.stream import DEFAULT_TYPE, HandlerStream, stream_source

_JSON = "application/json"
_OK = b'{"status":"ok"}'
_PROBES = frozenset((config.HEALTH_PATH, config.LIVENESS_PATH, config.METRICS_PATH))


class Specialised(NamedTuple):
    """What a generic runtime becomes: the function's settings, handler (or why it did not
    load), worker pool and identity."""

    settings: config.Settings
    invoker: Invoker | None
    failure: LoadFailure | None
    pool: WorkerPool
    function: FunctionIdentity


Specialiser = Callable[[Specialisation], Specialised]


class RuntimeHandler:
    """The request handler; ``invoker`` is None when the handler failed to load.

    In generic mode (``specialiser`` and ``token`` given: a warm pool pod, ``generic.py``) it has
    no function until ``POST /_wisp/specialise`` gives it one; ``/healthz`` says ok meanwhile.
    """

    def __init__(
        self,
        settings: config.Settings,
        invoker: Invoker | None,
        failure: LoadFailure | None,
        pool: WorkerPool,
        capture: Capture,
        function: FunctionIdentity,
        *,
        specialiser: Specialiser | None = None,
        token: str = "",
    ) -> None:
        self._settings = settings
        self._function = function
        self._invoker = invoker
        self._failure = failure
        self._pool = pool
        self._capture = capture
        self._log = capture.writer
        self.metrics = RuntimeMetrics()
        self._specialiser = specialiser
        self._token = token
        self.generic = specialiser is not None and bool(token)
        # The specialisation this runtime took and its answer: the same one sent again (two
        # gateway replicas handing the pod the same function in one burst) gets the same answer.
        self._taken: tuple[bytes, Response] | None = None

    @property
    def pool(self) -> WorkerPool:
        return self._pool

    async def __call__(self, request: Request) -> Response:
        if request.path == SPECIALISE_PATH and self._specialiser is not None:
            return self._specialise(request, self._specialiser)
        if (
            request.method in ("GET", "HEAD")
            and request.path in _PROBES
            and config.EVENT_HEADER not in request.headers
        ):
            return self._probe(request.path)
        return await self._invocation(request)

    # -- probes ----------------------------------------------------------------------------

    def _probe(self, path: str) -> Response:
        if path == config.HEALTH_PATH:
            if self._failure is None or self.generic:
                return Response(body=_OK, content_type=_JSON)
            return _json_response(503, _status_error(self._failure.error_type, self._failure.message))
        if path == config.LIVENESS_PATH:
            if not self._pool.exhausted:
                return Response(body=_OK, content_type=_JSON)
            message = (
                f"{self._pool.runaways} handler thread(s) are still running past their "
                "timeout and the pool cannot replace more; restart the runtime"
            )
            return _json_response(503, _status_error("RunawayHandlers", message))
        self.metrics.runaway_threads = self._pool.runaways
        return Response(
            body=self.metrics.render().encode(),
            content_type="text/plain; version=0.0.4; charset=utf-8",
        )

    # -- specialisation (generic mode) -------------------------------------------------------

    def _specialise(self, request: Request, specialiser: Specialiser) -> Response:
        if request.method != "POST":
            return _json_response(405, _status_error("MethodNotAllowed", f"{SPECIALISE_PATH} takes POST"))
        given = request.headers.get("Authorization", "")
        expected = f"Bearer {self._token}"
        if not self._token or not hmac.compare_digest(given.encode(), expected.encode()):
            return _json_response(401, _status_error("Unauthorized", "a valid pool token is required"))
        if not self.generic:
            if self._taken is not None and self._taken[0] == (request.body or b""):
                return self._taken[1]
            return _json_response(
                409, _status_error("AlreadySpecialised", "this runtime was given a function already")
            )
        self.generic = False  # once in a life, whatever comes of it
        answer = self._specialise_once(request, specialiser)
        self._taken = (request.body or b"", answer)
        return answer

    def _specialise_once(self, request: Request, specialiser: Specialiser) -> Response:
        try:
            wanted = parse_specialisation(request.body)
        except SpecialiseError as exc:
            return _json_response(400, _status_error("InvalidSpecialisation", str(exc)))
        started = time.monotonic()
        try:
            done = specialiser(wanted)
        except (config.SettingsError, OSError) as exc:
            return _json_response(400, _status_error("InvalidSpecialisation", str(exc)))
        self._settings = done.settings
        self._function = done.function
        self._pool.shutdown()
        self._pool = done.pool
        self._invoker = done.invoker
        self._failure = done.failure
        self._capture.writer.function = done.settings.function_name
        if done.failure is not None:
            message = f"the handler did not load: {done.failure.message}"
            return _json_response(500, _status_error(done.failure.error_type, message))
        self._log.log(
            "INFO",
            f"specialised as {done.settings.function_name}",
            event="wisp.runtime.specialised",
            handler=done.settings.handler,
            loadMs=round((time.monotonic() - started) * 1000, 3),
        )
        return Response(body=_OK, content_type=_JSON)

    # -- invocations -----------------------------------------------------------------------

    async def _invocation(self, request: Request) -> Response:
        request_id = request.headers.get(config.REQUEST_ID_HEADER) or new_request_id()
        metrics = self.metrics
        if self._invoker is None:
            failure = self._failure or LoadFailure("HandlerNotLoaded", "no handler")
            metrics.count(503)
            metrics.errors += 1
            return _error(503, failure.error_type, failure.message, request_id)
        if metrics.inflight >= self._settings.concurrency:
            metrics.count(429)
            response = _error(
                429,
                "TooManyRequests",
                f"more than {self._settings.concurrency} calls in flight",
                request_id,
            )
            response.headers["Retry-After"] = "1"
            response.headers[config.THROTTLED_HEADER] = "runtime"
            return response
        metrics.inflight += 1
        answer: Response | None = None
        try:
            answer = await self._admitted(request, request_id, self._invoker)
            return answer
        finally:
            if answer is None or answer.stream is None:
                metrics.inflight -= 1  # a stream is in flight until it ends (its on_end)

    async def _admitted(self, request: Request, request_id: str, invoker: Invoker) -> Response:
        settings = self._settings
        body = request.body
        if body is None:  # the server stopped reading it at the limit
            return self._finish(
                request_id,
                _error(
                    413,
                    "RequestTooLarge",
                    f"the request body is larger than {settings.max_body_bytes} bytes",
                    request_id,
                ),
            )
        try:
            event = self._event(request, body, request_id)
            client_context, identity = _lambda_callers(request)
        except EventError as exc:
            return self._finish(request_id, _error(400, exc.error_type, str(exc), request_id))
        timeout = _effective_timeout(
            settings.timeout, request.headers.get(config.DEADLINE_HEADER), time.time()
        )
        if timeout <= 0:
            return self._finish(
                request_id,
                _error(
                    504,
                    "TimeoutError",
                    "the caller's deadline passed before the call started",
                    request_id,
                    error=config.ERROR_TIMEOUT,
                ),
            )
        context = LambdaContext(
            request_id=request_id,
            function=self._function,
            deadline=time.monotonic() + timeout,
            client_context=client_context,
            identity=identity,
        )
        scope = RequestScope(request_id)
        if request.headers.get(config.LOG_TAIL_HEADER) == "1":
            scope.tail = []
        token = current_scope.set(scope)
        trace = tracing.parse(
            request.headers.get(tracing.TRACEPARENT), request.headers.get(tracing.TRACESTATE)
        )
        trace_token = None
        if trace is not None:
            context.trace = trace
            trace_token = tracing.enter(trace)
        else:
            tracing.clear()
        try:
            outcome = await invoker.invoke(event, context, timeout)
            call_context = contextvars.copy_context()  # a stream goes on in the call's scope
        finally:
            self._capture.flush_scope(scope)
            if trace_token is not None:
                tracing.leave(trace_token)
            current_scope.reset(token)
        raw = request.headers.get(config.RAW_RESULT_HEADER) == "1"
        source = stream_source(outcome.value) if outcome.kind is OutcomeKind.RETURNED else None
        if source is not None:
            return self._streamed(outcome, source, request_id, call_context)
        response = self._outcome_response(outcome, request_id, timeout, raw)
        self.metrics.observe(outcome.seconds)
        response.headers[config.DURATION_HEADER] = f"{outcome.seconds * 1000:.3f}"
        if scope.tail is not None:
            response.headers[config.LOG_TAIL_HEADER] = tail_header(scope.tail)
        return self._finish(request_id, response, outcome.seconds)

    def _streamed(
        self, outcome: Outcome, source: Any, request_id: str, call_context: contextvars.Context
    ) -> Response:
        """The answer of a handler that yields its body: the head now, chunks as they come."""
        value = outcome.value
        status, headers = 200, [("Content-Type", DEFAULT_TYPE)]
        if isinstance(value, dict) and "statusCode" in value:
            try:
                shaped = shape_response({**value, "body": None})
            except ResponseError as exc:
                self.metrics.errors += 1
                self._log.log("ERROR", str(exc), request_id=request_id, errorType="InvalidHandlerResponse")
                _close_quietly(source)
                self.metrics.inflight -= 1
                return self._finish(
                    request_id,
                    _error(500, "InvalidHandlerResponse", str(exc), request_id, error=config.ERROR_UNHANDLED),
                )
            status, headers = shaped.status, shaped.headers
            if not any(name.lower() == "content-type" for name, _ in headers):
                headers.append(("Content-Type", DEFAULT_TYPE))
        started = time.perf_counter() - outcome.seconds

        def on_error(exc: BaseException) -> None:
            self.metrics.errors += 1
            self._log.log(
                "ERROR",
                f"{type(exc).__name__}: {exc}",
                request_id=request_id,
                errorType=type(exc).__name__,
                stackTrace="".join(user_stack_trace(exc)),
            )

        def on_end(sent: int) -> None:
            seconds = time.perf_counter() - started
            self.metrics.inflight -= 1
            self.metrics.observe(seconds)
            self._log.log(
                "INFO",
                "stream finished",
                request_id=request_id,
                bytes=sent,
                durationMs=round(seconds * 1000, 3),
            )

        stream = HandlerStream(source, self._pool, call_context, on_error, on_end)
        response = Response(status=status, headers=headers, stream=stream)
        response.headers[config.STREAM_HEADER] = "1"
        self.metrics.count(status)
        response.headers[config.REQUEST_ID_HEADER] = request_id
        return response

    def _event(self, request: Request, body: bytes, request_id: str) -> Any:
        kind = request.headers.get(config.EVENT_HEADER, "json").strip().lower()
        if kind == "json":
            return json_event(body)
        if kind == "http":
            return http_event(
                HttpRequestParts(
                    method=request.method,
                    path=request.path,
                    query_string=request.query_string,
                    headers=request.headers.items(),
                    body=body,
                    request_id=request_id,
                    peer=request.peer,
                    protocol=f"HTTP/{request.version}",
                ),
                self._settings.account,
                time.time(),
            )
        raise EventError("InvalidEventType", f"{config.EVENT_HEADER} must be json or http")

    def _outcome_response(self, outcome: Outcome, request_id: str, timeout: float, raw: bool) -> Response:
        if outcome.kind is OutcomeKind.RETURNED:
            try:
                shaped = raw_response(outcome.value) if raw else shape_response(outcome.value)
            except ResponseError as exc:
                self.metrics.errors += 1
                self._log.log("ERROR", str(exc), request_id=request_id, errorType="InvalidHandlerResponse")
                return _error(
                    500, "InvalidHandlerResponse", str(exc), request_id, error=config.ERROR_UNHANDLED
                )
            response = Response(status=shaped.status, body=shaped.body)
            for name, value in shaped.headers:
                response.headers.add(name, value)
            return response
        self.metrics.errors += 1
        if outcome.kind is OutcomeKind.TIMED_OUT:
            message = f"the handler did not finish within {timeout:g} seconds"
            self._log.log("ERROR", message, request_id=request_id, errorType="TimeoutError")
            return _error(504, "TimeoutError", message, request_id, error=config.ERROR_TIMEOUT)
        raised: BaseException = outcome.value
        trace = user_stack_trace(raised)
        self._log.log(
            "ERROR",
            f"{type(raised).__name__}: {raised}",
            request_id=request_id,
            errorType=type(raised).__name__,
            stackTrace="".join(trace),
        )
        return _error(
            500,
            type(raised).__name__,
            str(raised),
            request_id,
            stack_trace=trace if self._settings.stack_traces else None,
            error=config.ERROR_UNHANDLED,
        )

    def _finish(self, request_id: str, response: Response, seconds: float = 0.0) -> Response:
        self.metrics.count(response.status)
        self._log.log(
            "INFO",
            "invocation finished",
            request_id=request_id,
            status=response.status,
            durationMs=round(seconds * 1000, 3),
        )
        response.headers[config.REQUEST_ID_HEADER] = request_id
        return response


def _close_quietly(source: Any) -> None:
    """Close a generator that will not be streamed (a plain one; an async one is left to the
    garbage collector, which closes it)."""
    close = getattr(source, "close", None)
    if close is not None:
        with contextlib.suppress(Exception):  # its own cleanup failing changes nothing here
            close()


def _lambda_callers(request: Request) -> tuple[ClientContext | None, CognitoIdentity | None]:
    """``context.client_context`` and ``context.identity``, from their headers when present."""
    headers = request.headers
    raw_client = headers.get(config.CLIENT_CONTEXT_HEADER)
    raw_identity = headers.get(config.IDENTITY_HEADER)
    if raw_client is None and raw_identity is None:
        return None, None
    client = identity = None
    try:
        if raw_client is not None:
            client = ClientContext(decode_object(config.CLIENT_CONTEXT_HEADER, raw_client))
        if raw_identity is not None:
            identity = CognitoIdentity(decode_object(config.IDENTITY_HEADER, raw_identity))
    except ContextHeaderError as exc:
        raise EventError("InvalidContextHeader", str(exc)) from None
    return client, identity


def new_request_id() -> str:
    """A random (version 4) UUID, as ``str(uuid.uuid4())`` gives, without importing uuid at start."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _effective_timeout(timeout: float, deadline_header: str | None, now: float) -> float:
    """The function's timeout, shortened by the caller's deadline (epoch ms) when it is given."""
    if not deadline_header:
        return timeout
    try:
        deadline = float(deadline_header) / 1000.0
    except ValueError:
        return timeout
    return min(timeout, deadline - now)


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def user_stack_trace(exc: BaseException) -> list[str]:
    """The exception's traceback without the runtime's own frames at the top."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_PACKAGE_DIR):
        tb = tb.tb_next
    return traceback.format_exception(type(exc), exc, tb)


def protocol_error(status: int, error_type: str, message: str) -> Response:
    """The server's answer to a request it could not take (malformed, head too large)."""
    return Response(status=status, body=error_body(error_type, message), content_type=_JSON)


def _status_error(error_type: str, message: str) -> dict[str, str]:
    return {"status": "error", "errorType": error_type, "errorMessage": message}


def _json_response(status: int, body: dict[str, str]) -> Response:
    return Response(status=status, body=json.dumps(body).encode(), content_type=_JSON)


def _error(
    status: int,
    error_type: str,
    message: str,
    request_id: str,
    *,
    stack_trace: list[str] | None = None,
    error: str | None = None,
) -> Response:
    response = Response(
        status=status,
        body=error_body(error_type, message, request_id, stack_trace),
        content_type=_JSON,
    )
    response.headers[config.REQUEST_ID_HEADER] = request_id
    if error is not None:
        response.headers[config.ERROR_HEADER] = error
    return response
