"""Lambda's Runtime API (version 2018-06-01), served to the bootstrap on 127.0.0.1:9001.

* ``GET  /2018-06-01/runtime/invocation/next``: waits for the next call; 200 with the event as
  the body and ``Lambda-Runtime-Aws-Request-Id``, ``-Deadline-Ms``, ``-Invoked-Function-Arn``,
  ``-Trace-Id`` and, when the call carried them, ``-Client-Context`` and ``-Cognito-Identity``.
* ``POST /2018-06-01/runtime/invocation/{id}/response``: the call's answer; 202. One whose
  trailers carry ``Lambda-Runtime-Function-Error-Type`` (and ``-Error-Body``, base64 JSON) failed
  while it was sent, and is an error.
* ``POST /2018-06-01/runtime/invocation/{id}/error``: the call failed; 202. The body is Lambda's
  error JSON (``errorMessage``, ``errorType``, ``stackTrace``); ``Lambda-Runtime-Function-Error-Type``
  names the type when the body does not.
* ``POST /2018-06-01/runtime/init/error``: the function could not initialise; 202.

An id that is not the call in flight is ``400 InvalidRequestID``; a second ``/next`` while one
waits is ``403 InvalidStateTransition``; other paths ``404``. Errors are Lambda's JSON
(``errorType``, ``errorMessage``).
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from wisp_provided.bootstrap import Bootstrap
from wisp_provided.invocations import Broker, ConcurrentNext, Outcome, OutcomeKind
from wisp_runtime.httpserver import Request, Response

PREFIX = "/2018-06-01/runtime/"
NEXT_PATH = PREFIX + "invocation/next"
INIT_ERROR_PATH = PREFIX + "init/error"
ERROR_TYPE_HEADER = "Lambda-Runtime-Function-Error-Type"
ERROR_BODY_HEADER = "Lambda-Runtime-Function-Error-Body"  # a trailer, like the type on /response
_JSON = "application/json"
_ACCEPTED = b'{"status":"OK"}'


class RuntimeApi:
    """The request handler for the Runtime API's server."""

    def __init__(self, broker: Broker, bootstrap: Bootstrap, function_arn: str) -> None:
        self._broker = broker
        self._bootstrap = bootstrap
        self._arn = function_arn

    async def __call__(self, request: Request) -> Response:
        path = request.path
        if path == NEXT_PATH and request.method == "GET":
            return await self._next()
        if request.method == "POST":
            if path == INIT_ERROR_PATH:
                error_type, message = _error_fields(request)
                self._bootstrap.init_error(error_type, message)
                return Response(202, _ACCEPTED, content_type=_JSON)
            if path.startswith(PREFIX + "invocation/"):
                request_id, _, action = path[len(PREFIX + "invocation/") :].rpartition("/")
                if action in ("response", "error") and request_id:
                    return self._answer(request, request_id, action)
        return _lambda_error(404, "NotFound", f"no such Runtime API path: {request.method} {path}")

    async def _next(self) -> Response:
        self._bootstrap.asked_for_next()
        try:
            invocation = await self._broker.next()
        except ConcurrentNext as exc:
            return _lambda_error(403, "InvalidStateTransition", str(exc))
        if invocation is None:  # this bootstrap was replaced while it waited
            return _lambda_error(410, "RuntimeReplaced", "this runtime process was replaced")
        headers = [
            ("Lambda-Runtime-Aws-Request-Id", invocation.request_id),
            ("Lambda-Runtime-Deadline-Ms", str(invocation.deadline_ms)),
            ("Lambda-Runtime-Invoked-Function-Arn", self._arn),
            ("Lambda-Runtime-Trace-Id", invocation.trace_id),
        ]
        if invocation.client_context is not None:
            headers.append(("Lambda-Runtime-Client-Context", invocation.client_context))
        if invocation.identity is not None:
            headers.append(("Lambda-Runtime-Cognito-Identity", invocation.identity))
        return Response(200, invocation.payload, content_type=_JSON, headers=headers)

    def _answer(self, request: Request, request_id: str, action: str) -> Response:
        if request.body is None:
            outcome = Outcome(
                OutcomeKind.FAILED,
                error_type="Function.ResponseSizeTooLarge",
                message="the response is larger than the runtime's limit",
            )
            self._broker.answer(request_id, outcome)
            return _lambda_error(413, "RequestEntityTooLarge", outcome.message)
        trailer_type = request.headers.get(ERROR_TYPE_HEADER, "").strip()
        if action == "response" and not trailer_type:
            outcome = Outcome(OutcomeKind.RESPONSE, body=request.body)
        elif action == "response":
            # A response that failed while it was sent: aws-lambda-go streams every response
            # (chunked) and names the error in its trailers, the body's JSON base64-encoded.
            error = _json_object(_unbase64(request.headers.get(ERROR_BODY_HEADER, "")))
            message = error.get("errorMessage")
            outcome = Outcome(
                OutcomeKind.ERROR,
                body=json.dumps(error).encode(),
                error_type=trailer_type,
                message=str(message) if message is not None else "the response failed while it was sent",
            )
        else:
            error_type, message = _error_fields(request)
            outcome = Outcome(OutcomeKind.ERROR, body=request.body, error_type=error_type, message=message)
        if not self._broker.answer(request_id, outcome):
            return _lambda_error(400, "InvalidRequestID", f"{request_id!r} is not the invocation in flight")
        return Response(202, _ACCEPTED, content_type=_JSON)


def _error_fields(request: Request) -> tuple[str, str]:
    """The error type and message of an ``/error`` or ``/init/error`` request."""
    body = _json_object(request.body or b"")
    header_type = request.headers.get(ERROR_TYPE_HEADER, "").strip()
    error_type = body.get("errorType") if isinstance(body.get("errorType"), str) else ""
    message = body.get("errorMessage")
    return (
        str(error_type or header_type or "Unhandled"),
        str(message) if message is not None else (request.body or b"").decode("utf-8", "replace"),
    )


def _unbase64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return b""


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        parsed = json.loads(body) if body else {}
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _lambda_error(status: int, error_type: str, message: str) -> Response:
    body = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
    return Response(status, body, content_type=_JSON)
