"""The runtime contract's side (docs/runtime-contract.md): each call becomes one invocation.

``/healthz`` is 200 once the bootstrap asked for its first invocation, 503 with the reason
before that, after an ``/init/error`` or when there is no bootstrap. Every other request is an
invocation: admitted (body size, ``WISP_CONCURRENCY`` calls queued or in flight), turned into
the event the bootstrap reads from ``/next``, and answered with what it posts back. Past the
deadline the call is answered ``504`` and the bootstrap is killed and started again (Lambda
re-initialises a runtime after a timeout).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import os
import time
from typing import Any

from wisp_provided.bootstrap import Bootstrap
from wisp_provided.invocations import Broker, Invocation, Outcome, OutcomeKind
from wisp_runtime import config
from wisp_runtime.events import (
    EventError,
    HttpRequestParts,
    ResponseError,
    dumps,
    error_body,
    http_event,
    json_event,
    shape_response,
)
from wisp_runtime.httpserver import Request, Response
from wisp_runtime.logs import LogWriter, RequestScope, tail_header
from wisp_runtime.metrics import RuntimeMetrics

_JSON = "application/json"
_OK = b'{"status":"ok"}'
_PROBES = frozenset((config.HEALTH_PATH, config.LIVENESS_PATH, config.METRICS_PATH))
TRACE_HEADER = "X-Amzn-Trace-Id"  # passed on as Lambda-Runtime-Trace-Id when the caller sent one


class ProvidedHandler:
    def __init__(
        self,
        settings: config.Settings,
        broker: Broker,
        bootstrap: Bootstrap,
        log: LogWriter,
    ) -> None:
        self._settings = settings
        self._broker = broker
        self._bootstrap = bootstrap
        self._log = log
        self.metrics = RuntimeMetrics()

    async def __call__(self, request: Request) -> Response:
        if (
            request.method in ("GET", "HEAD")
            and request.path in _PROBES
            and config.EVENT_HEADER not in request.headers
        ):
            return self._probe(request.path)
        return await self._invocation(request)

    def _probe(self, path: str) -> Response:
        if path == config.HEALTH_PATH:
            failure = self._bootstrap.failure
            if failure is not None:
                return _status_error(failure.error_type, failure.message)
            if not self._bootstrap.ever_ready:
                return _status_error(
                    "Runtime.Initializing", "the bootstrap has not asked for an invocation yet"
                )
            return Response(body=_OK, content_type=_JSON)
        if path == config.LIVENESS_PATH:
            return Response(body=_OK, content_type=_JSON)
        text = self.metrics.render() + (
            "# HELP wisp_runtime_bootstrap_restarts_total Times the bootstrap process was started again.\n"
            "# TYPE wisp_runtime_bootstrap_restarts_total counter\n"
            f"wisp_runtime_bootstrap_restarts_total {self._bootstrap.restarts}\n"
        )
        return Response(body=text.encode(), content_type="text/plain; version=0.0.4; charset=utf-8")

    async def _invocation(self, request: Request) -> Response:
        request_id = request.headers.get(config.REQUEST_ID_HEADER) or new_request_id()
        metrics = self.metrics
        failure = self._bootstrap.failure
        if failure is not None:
            metrics.count(503)
            metrics.errors += 1
            return _error(503, failure.error_type, failure.message, request_id)
        if metrics.inflight >= self._settings.concurrency:
            metrics.count(429)
            response = _error(
                429, "TooManyRequests", f"more than {self._settings.concurrency} calls in flight", request_id
            )
            response.headers["Retry-After"] = "1"
            response.headers[config.THROTTLED_HEADER] = "runtime"
            return response
        metrics.inflight += 1
        try:
            return await self._admitted(request, request_id)
        finally:
            metrics.inflight -= 1

    async def _admitted(self, request: Request, request_id: str) -> Response:
        settings = self._settings
        if request.body is None:
            message = f"the request body is larger than {settings.max_body_bytes} bytes"
            return self._finish(request_id, _error(413, "RequestTooLarge", message, request_id))
        now = time.time()
        timeout = settings.timeout
        deadline_header = request.headers.get(config.DEADLINE_HEADER)
        if deadline_header:
            with contextlib.suppress(ValueError):
                timeout = min(timeout, float(deadline_header) / 1000.0 - now)
        try:
            invocation = Invocation(
                request_id=request_id,
                payload=self._payload(request, request.body, request_id, now),
                deadline_ms=int((now + max(timeout, 0.0)) * 1000),
                trace_id=request.headers.get(TRACE_HEADER) or new_trace_id(now),
                client_context=_lambda_header(request, config.CLIENT_CONTEXT_HEADER),
                identity=_lambda_header(request, config.IDENTITY_HEADER),
            )
        except EventError as exc:
            return self._finish(request_id, _error(400, exc.error_type, str(exc), request_id))
        if timeout <= 0:
            message = "the caller's deadline passed before the call started"
            return self._finish(request_id, self._timeout(request_id, message))
        if request.headers.get(config.LOG_TAIL_HEADER) == "1":  # Lambda's LogType: Tail
            invocation.scope = RequestScope(request_id)
            invocation.scope.tail = []
        started = time.monotonic()
        self._broker.submit(invocation)
        try:
            outcome = await asyncio.wait_for(asyncio.shield(invocation.future), timeout)
        except TimeoutError:
            if self._broker.withdraw(invocation):
                self._log.log(
                    "ERROR", "the invocation timed out: restarting the runtime", request_id=request_id
                )
                self._bootstrap.kill()
            message = f"the function did not finish within {timeout:g} seconds"
            response = self._timeout(request_id, message)
        else:
            response = self._outcome_response(outcome, request_id)
        seconds = time.monotonic() - started
        self.metrics.observe(seconds)
        response.headers[config.DURATION_HEADER] = f"{seconds * 1000:.3f}"
        if invocation.scope is not None and invocation.scope.tail is not None:
            await self._bootstrap.drained()  # what it printed before answering
            response.headers[config.LOG_TAIL_HEADER] = tail_header(invocation.scope.tail)
        return self._finish(request_id, response, seconds)

    def _payload(self, request: Request, body: bytes, request_id: str, now: float) -> bytes:
        kind = request.headers.get(config.EVENT_HEADER, "json").strip().lower()
        if kind == "json":
            if not body.strip():
                return b"{}"
            json_event(body)  # raises InvalidEventJSON; the bootstrap gets the bytes as sent
            return body
        if kind == "http":
            parts = HttpRequestParts(
                method=request.method,
                path=request.path,
                query_string=request.query_string,
                headers=request.headers.items(),
                body=body,
                request_id=request_id,
                peer=request.peer,
                protocol=f"HTTP/{request.version}",
            )
            return dumps(http_event(parts, self._settings.account, now))
        raise EventError("InvalidEventType", f"{config.EVENT_HEADER} must be json or http")

    def _outcome_response(self, outcome: Outcome, request_id: str) -> Response:
        if outcome.kind is OutcomeKind.RESPONSE:
            return self._success(outcome.body, request_id)
        self.metrics.errors += 1
        stack: list[str] | None = None
        if outcome.kind is OutcomeKind.ERROR:
            error = _json_object(outcome.body)
            trace = error.get("stackTrace")
            if isinstance(trace, list):
                stack = [str(line) for line in trace]
            elif isinstance(trace, str):
                stack = [trace]
        self._log.log(
            "ERROR",
            f"{outcome.error_type}: {outcome.message}",
            request_id=request_id,
            errorType=outcome.error_type,
            **({"stackTrace": "\n".join(stack)} if stack else {}),
        )
        status = 503 if outcome.kind is OutcomeKind.NOT_STARTED else 500
        return _error(
            status,
            outcome.error_type,
            outcome.message,
            request_id,
            stack_trace=stack if self._settings.stack_traces else None,
            error=config.ERROR_UNHANDLED,
        )

    def _success(self, body: bytes, request_id: str) -> Response:
        if b'"statusCode"' in body:  # maybe a proxy response: let it shape the HTTP answer
            try:
                shaped = shape_response(json.loads(body))
            except ResponseError as exc:
                self.metrics.errors += 1
                return _error(
                    500, "InvalidHandlerResponse", str(exc), request_id, error=config.ERROR_UNHANDLED
                )
            except ValueError:
                pass  # not JSON: sent as it is
            else:
                response = Response(status=shaped.status, body=shaped.body)
                for name, value in shaped.headers:
                    response.headers.add(name, value)
                return response
        return Response(200, body, content_type=_JSON)

    def _timeout(self, request_id: str, message: str) -> Response:
        self.metrics.errors += 1
        self._log.log("ERROR", message, request_id=request_id, errorType="TimeoutError")
        return _error(504, "TimeoutError", message, request_id, error=config.ERROR_TIMEOUT)

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


def _lambda_header(request: Request, name: str) -> str | None:
    """A client context or identity header as the Runtime API passes it: JSON text."""
    raw = request.headers.get(name)
    if raw is None:
        return None
    text = raw.strip()
    try:
        if not text.startswith("{"):
            text = base64.b64decode(text, validate=True).decode()
        parsed = json.loads(text)
    except (binascii.Error, ValueError) as exc:
        raise EventError("InvalidContextHeader", f"{name} is not base64-encoded JSON: {exc}") from None
    if not isinstance(parsed, dict):
        raise EventError("InvalidContextHeader", f"{name} must hold a JSON object")
    if name == config.IDENTITY_HEADER:
        # Lambda's identity always has both ids; clients that read it (Rust's lambda_runtime)
        # refuse an invocation whose identity lacks one, so a missing one is given as empty.
        for key in _IDENTITY_KEYS:
            parsed.setdefault(key, "")
        return json.dumps(parsed, separators=(",", ":"))
    return text


_IDENTITY_KEYS = ("cognitoIdentityId", "cognitoIdentityPoolId")


def new_request_id() -> str:
    """A random (version 4) UUID."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    text = raw.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def new_trace_id(now: float) -> str:
    """An X-Ray trace header as Lambda passes it when the caller sent none (not sampled)."""
    return f"Root=1-{int(now):08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def protocol_error(status: int, error_type: str, message: str) -> Response:
    return Response(status=status, body=error_body(error_type, message), content_type=_JSON)


def _status_error(error_type: str, message: str) -> Response:
    body = {"status": "error", "errorType": error_type, "errorMessage": message}
    return Response(503, json.dumps(body).encode(), content_type=_JSON)


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
        status=status, body=error_body(error_type, message, request_id, stack_trace), content_type=_JSON
    )
    response.headers[config.REQUEST_ID_HEADER] = request_id
    if error is not None:
        response.headers[config.ERROR_HEADER] = error
    return response
