"""Lambda's Invoke API on the gateway: ``POST /2015-03-31/functions/{name}/invocations``.

What an AWS SDK's ``lambda.invoke`` sends (boto3, the JavaScript SDK, the AWS CLI pointed at
the gateway with ``--endpoint-url``), answered as Lambda answers it. ``{name}`` is Lambda's
``FunctionName``: ``name``, ``name.namespace`` or an ARN whose account is the namespace
(``wisp.gateway.router.parse_lambda_name``). Access was decided by the security layer on the
route ``wisp.gateway.resolve`` made of it, like any call to the function.

* ``X-Amz-Invocation-Type: RequestResponse`` (the default): the payload is the event, and the
  answer is the handler's return value exactly as JSON (the runtime is asked for it with
  ``X-Wisp-Raw-Result``: a value shaped like ``{statusCode, body}`` is not made an HTTP
  response). A handler error is ``200`` with ``X-Amz-Function-Error: Unhandled`` and Lambda's
  ``{errorMessage, errorType, stackTrace}``.
* ``Event``: ``202`` once wisp's event path (the queue behind ``/async-function/``) stored it,
  with the same controls: an ``Idempotency-Key`` header answers the first submit's request id
  and runs once per key within the idempotency window (an empty or over-long key:
  ``InvalidParameterValueException``); ``X-Wisp-Hops`` from a function passing it on counts
  toward the recursion guard.
* ``DryRun``: ``204`` after the access and existence checks.
* ``Qualifier`` (query, or ``name:qualifier``): ``$LATEST``, a version number or an alias (the
  alias's weights decide per call); ``X-Amz-Executed-Version`` says which version ran. An
  ``Event`` keeps the qualifier and resolves it when it is delivered (its record's ``version``
  says which ran).
* ``X-Amz-Client-Context`` reaches the handler as its client context (``X-Wisp-Client-Context``).
* ``X-Amz-Log-Type: Tail``: ``X-Amz-Log-Result`` is base64 of the last 4 KB of the call's log
  lines (wisp's JSON lines), which the runtime hands back when asked with ``X-Wisp-Log-Tail``;
  empty from a runtime that does not (Java, ``provided``, custom images).

Errors that are the API's, not the function's, are Lambda's error JSON with the type in
``x-amzn-ErrorType`` (how the SDKs tell them apart): ``ResourceNotFoundException`` (404),
``InvalidRequestContentException`` (400), ``RequestTooLargeException`` (413),
``TooManyRequestsException`` (429), ``ServiceException`` (5xx).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web

from wisp.api import contract
from wisp.api.tracecontext import TRACEPARENT, TRACESTATE
from wisp.gateway.backend import OUT_OF_MEMORY
from wisp.gateway.proxy import BODY, InvocationResult
from wisp.gateway.registry import Unavailable
from wisp.gateway.resolve import INVOKE_ROUTE, RouteKind, resolve
from wisp.gateway.state import COMPONENTS, Components

LATEST = "$LATEST"
INVOCATION_TYPE_HEADER = "X-Amz-Invocation-Type"
LOG_TYPE_HEADER = "X-Amz-Log-Type"
LOG_RESULT_HEADER = "X-Amz-Log-Result"
CLIENT_CONTEXT_HEADER = "X-Amz-Client-Context"
FUNCTION_ERROR_HEADER = "X-Amz-Function-Error"
EXECUTED_VERSION_HEADER = "X-Amz-Executed-Version"
ERROR_TYPE_HEADER = "x-amzn-ErrorType"
REQUEST_ID_HEADER = "x-amzn-RequestId"
RAW_RESULT_HEADER = "X-Wisp-Raw-Result"
WISP_CLIENT_CONTEXT_HEADER = "X-Wisp-Client-Context"
WISP_LOG_TAIL_HEADER = "X-Wisp-Log-Tail"
INVOCATION_TYPES = ("RequestResponse", "Event", "DryRun")

# Calls the runtime or the gateway refused before the handler ran, as Lambda's API errors.
_API_ERRORS = {
    400: "InvalidRequestContentException",
    404: "ResourceNotFoundException",
    413: "RequestTooLargeException",
    429: "TooManyRequestsException",
}


# Answers made before the handler (the security layer's, in wisp's JSON) get the Lambda error
# type the SDKs branch on.
_REFUSALS = {
    401: "UnrecognizedClientException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    413: "RequestTooLargeException",
    429: "TooManyRequestsException",
}


def tag_refusal(response: web.StreamResponse) -> None:
    """Give a refusal of an Invoke API call Lambda's ``x-amzn-ErrorType``, when it has none."""
    error_type = _REFUSALS.get(response.status)
    if error_type is not None and ERROR_TYPE_HEADER not in response.headers and not response.prepared:
        response.headers[ERROR_TYPE_HEADER] = error_type


def add_invoke_route(app: web.Application) -> None:
    app.router.add_post(INVOKE_ROUTE, invoke)


def api_error(status: int, error_type: str, message: str, request_id: str = "") -> web.Response:
    """An error of Lambda's API itself (not the function's), in Lambda's shape."""
    kind = "User" if status < 500 else "Service"
    headers = {ERROR_TYPE_HEADER: error_type, REQUEST_ID_HEADER: request_id or str(uuid.uuid4())}
    return web.json_response({"Type": kind, "message": message}, status=status, headers=headers)


@dataclass(frozen=True)
class InvokeCall:
    """One Invoke API call as either data path sees it: the function and qualifier its
    ``FunctionName`` names, and the caller's headers (as the security layer left them)."""

    function_key: str
    name: str  # the FunctionName as the caller wrote it (for error messages)
    qualifier: str  # the query's ``Qualifier``, else the name's, else ``$LATEST``
    headers: Mapping[str, str]


ReadPayload = Callable[[], Awaitable[bytes | web.Response]]


async def invoke(request: web.Request) -> web.StreamResponse:
    """The Invoke API on aiohttp's path (the fast data path serves it with ``serve_invoke``)."""
    route = resolve(request)
    parts = request.app[COMPONENTS]
    name = request.match_info["name"]
    if route.kind is RouteKind.INVALID_NAME or route.function_key is None:
        return api_error(404, "ResourceNotFoundException", f"Function not found: {name}")
    qualifier = request.query.get("Qualifier") or route.qualifier or LATEST
    call = InvokeCall(route.function_key, name, qualifier, request.headers)
    config = parts.config

    async def read() -> bytes | web.Response:
        return await _payload(request, config.max_body_bytes, config.body_read_timeout)

    return await serve_invoke(parts, request.app.get(EVENTS), call, read)


async def serve_invoke(
    parts: Components, submit: EventSubmitter | None, call: InvokeCall, read_payload: ReadPayload
) -> web.Response:
    """Answer an Invoke API call whose access was decided; ``read_payload`` reads its body (or
    answers why it could not), called once the call is known to need it."""
    headers = call.headers
    kind = headers.get(INVOCATION_TYPE_HEADER, "RequestResponse")
    if kind not in INVOCATION_TYPES:
        return api_error(
            400,
            "InvalidParameterValueException",
            f"{INVOCATION_TYPE_HEADER} must be one of {', '.join(INVOCATION_TYPES)}",
        )
    qualifier = call.qualifier
    up = parts.registry.select(call.function_key, qualifier)
    if up is None or isinstance(up, Unavailable):
        return api_error(404, "ResourceNotFoundException", f"Function not found: {call.name}:{qualifier}")
    if kind == "DryRun":
        return web.Response(status=204, headers={EXECUTED_VERSION_HEADER: up.info.version})
    payload = await read_payload()
    if isinstance(payload, web.Response):
        return payload
    if kind == "Event":
        return await _enqueue(submit, call, payload)
    request_id = str(uuid.uuid4())
    sent = {
        contract.REQUEST_ID_HEADER: request_id,
        "Content-Type": "application/json",
        RAW_RESULT_HEADER: "1",
    }
    tail = headers.get(LOG_TYPE_HEADER) == "Tail"
    if tail:
        sent[WISP_LOG_TAIL_HEADER] = "1"
    client_context = headers.get(CLIENT_CONTEXT_HEADER)
    if client_context:
        sent[WISP_CLIENT_CONTEXT_HEADER] = client_context
    for name in (TRACEPARENT, TRACESTATE):
        value = headers.get(name)
        if value:
            sent[name] = value
    result = await parts.gateway.invoke(call.function_key, payload, sent, qualifier)
    response = _answer(result, request_id)
    if tail and response.status == 200:
        found = (v for k, v in result.headers.items() if k.lower() == WISP_LOG_TAIL_HEADER.lower())
        response.headers[LOG_RESULT_HEADER] = next(found, "")
    return response


async def _payload(request: web.Request, limit: int, read_within: float) -> bytes | web.Response:
    if BODY in request:  # read by the security layer to check a signature
        return request[BODY]
    if (request.content_length or 0) > limit:
        return api_error(413, "RequestTooLargeException", f"Request must be smaller than {limit} bytes")
    try:
        async with asyncio.timeout(read_within):
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        return api_error(413, "RequestTooLargeException", f"Request must be smaller than {limit} bytes")
    except TimeoutError:
        return api_error(408, "RequestTimeoutException", f"no payload within {read_within:g} s")
    except (OSError, web.RequestPayloadError) as exc:
        return api_error(400, "InvalidRequestContentException", f"the payload broke off: {exc}")


class EventsUnavailable(Exception):
    """The event path cannot take an event now (its broker is unreachable or refusing writes)."""


class EventRefused(Exception):
    """The event's request is invalid (the message names the header)."""


class EventSubmitter(Protocol):
    """Stores an event for ``function_key`` (its version or alias ``qualifier``, resolved at
    delivery) as ``/async-function/`` does (the headers a call forwards from ``request_headers``,
    plus ``extra``); returns the invocation id."""

    async def __call__(
        self,
        function_key: str,
        payload: bytes,
        request_headers: Mapping[str, str],
        extra: Mapping[str, str],
        qualifier: str = "",
    ) -> str: ...


# Set by the event path when it is installed (wisp.queue.extension); the gateway imports no queue.
EVENTS: web.AppKey[EventSubmitter] = web.AppKey("wisp-events")


async def _enqueue(submit: EventSubmitter | None, call: InvokeCall, payload: bytes) -> web.Response:
    """``Event``: through the async path ``/async-function/`` uses (the queue extension); a
    version or alias qualifier is resolved when the event is delivered."""
    if submit is None:
        return api_error(
            503,
            "ServiceException",
            "events are not configured: Event invocations need the event broker "
            "(WISP_REDIS_URL, or WISP_QUEUE_BROKER=nats and WISP_NATS_URL)",
        )
    extra: dict[str, str] = {}
    client_context = call.headers.get(CLIENT_CONTEXT_HEADER)
    if client_context:
        extra[WISP_CLIENT_CONTEXT_HEADER] = client_context  # the delivery's client context
    try:
        qualifier = "" if call.qualifier == LATEST else call.qualifier
        invocation_id = await submit(call.function_key, payload, call.headers, extra, qualifier)
    except EventsUnavailable as exc:
        return api_error(503, "ServiceException", f"the event queue is unavailable: {exc}")
    except EventRefused as exc:
        return api_error(400, "InvalidParameterValueException", str(exc))
    return web.Response(
        status=202,
        headers={REQUEST_ID_HEADER: invocation_id, "X-Wisp-Invocation-Id": invocation_id},
    )


def _answer(result: InvocationResult, request_id: str) -> web.Response:
    status = result.status
    if status == 200:
        return web.Response(
            status=200,
            body=result.body,
            content_type="application/json",
            headers={EXECUTED_VERSION_HEADER: result.version, REQUEST_ID_HEADER: request_id},
        )
    error = _error_of(result.body)
    error_type = str(error.get("errorType") or "Unknown")
    message = str(error.get("errorMessage") or "")
    if status in _API_ERRORS and error_type != OUT_OF_MEMORY:
        return api_error(status, _API_ERRORS[status], message or error_type, request_id)
    if result.gateway_error is not None and error_type != OUT_OF_MEMORY:
        return api_error(status if status >= 500 else 500, "ServiceException", message, request_id)
    # The function failed: an exception, a timeout, an unusable value, a handler that did not
    # load, running out of memory. Lambda answers 200 and says so in X-Amz-Function-Error.
    body: dict[str, Any] = {"errorMessage": message, "errorType": error_type}
    body["stackTrace"] = error.get("stackTrace") or []
    return web.json_response(
        body,
        status=200,
        headers={
            FUNCTION_ERROR_HEADER: "Unhandled",
            EXECUTED_VERSION_HEADER: result.version,
            REQUEST_ID_HEADER: request_id,
        },
    )


def _error_of(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except ValueError:
        return {"errorType": "InvalidFunctionResponse", "errorMessage": body[:200].decode("utf-8", "replace")}
    return value if isinstance(value, dict) else {}
