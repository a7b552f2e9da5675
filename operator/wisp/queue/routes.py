"""HTTP face of async invocations, mounted by the gateway (and ``wisp dev``) with ``add_routes``.

* ``POST /async-function/{name}`` (or ``{name}.{namespace}``, either with ``:{qualifier}``, a
  version number or alias, as ``/function/`` takes them): 202 with the invocation id in
  ``X-Wisp-Invocation-Id`` and the body, answered only after the broker stored the event.
  ``X-Callback-Url`` (http or https) receives the final record. ``Idempotency-Key``: a repeated
  submit with the same key (within the idempotency window) answers the first submit's id and
  runs nothing again; the function sees the header. ``X-Wisp-Hops`` (a function passing on its
  own) places the call one hop further in its chain, for the recursion guard. Unknown function,
  or a qualifier naming no version or alias: 404; broker down: 503 at once; body over the event
  limit: 413.
* ``GET /invocations/{id}``: the invocation's record while it is retained.

The gateway applies its access checks (tokens, rate limits) to these paths as to ``/function``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from aiohttp import web

from wisp.api.function import Function
from wisp.api.tracecontext import TRACEPARENT, TRACESTATE
from wisp.gateway.router import FUNCTION_PREFIX, parse_function_path
from wisp.gateway.tracing import SpanKind, Tracing
from wisp.queue.broker import BrokerUnavailable
from wisp.queue.callbacks import callback_policy_from_env
from wisp.queue.events import HOPS_HEADER, IDEMPOTENCY_HEADER, INVOCATION_HEADER, parse_hops
from wisp.queue.invocations import AsyncInvocations
from wisp.security.ssrf import CallbackRefused, check_callback_url

CALLBACK_HEADER = "X-Callback-Url"
MAX_IDEMPOTENCY_KEY = 256
FunctionLookup = Callable[[str, str], Function | Awaitable[Function | None] | None]
# Why ``qualifier`` names nothing callable of the function ``key`` (a message), or None when it
# names a version or alias that exists.
QualifierCheck = Callable[[str, str], str | None]

# Never stored in the broker (credentials) or meaningless to replay (hop-by-hop, framing).
_DROPPED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "content-length",
        "connection",
        "keep-alive",
        "transfer-encoding",
        "te",
        "trailer",
        "upgrade",
        "expect",
        CALLBACK_HEADER.lower(),
    }
)


@dataclass(frozen=True)
class RouteSettings:
    default_namespace: str = "default"
    max_body_bytes: int = 1024 * 1024


def forwarded_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The caller's headers that reach the function: content type, trace context, custom ones;
    not credentials, hop-by-hop headers or wisp's own ``X-Wisp-*``."""
    kept: dict[str, str] = {}
    for name, value in headers.items():
        lowered = name.lower()
        if lowered in _DROPPED_HEADERS or lowered.startswith("x-wisp-"):
            continue
        kept[name] = value
    return kept


class InvalidIdempotencyKey(ValueError):
    pass


def idempotency_key(headers: Mapping[str, str]) -> str | None:
    """The producer's ``Idempotency-Key``, or None; ``InvalidIdempotencyKey`` if it is empty or
    longer than ``MAX_IDEMPOTENCY_KEY``."""
    key = headers.get(IDEMPOTENCY_HEADER)
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise InvalidIdempotencyKey(f"{IDEMPOTENCY_HEADER} must be 1 to {MAX_IDEMPOTENCY_KEY} characters")
    return key


def chain_hops(headers: Mapping[str, str]) -> int:
    """The new event's place in its chain: one past the caller's ``X-Wisp-Hops`` (a function
    passing on its own), 1 for a call from outside."""
    caller_hops = headers.get(HOPS_HEADER)
    return parse_hops(caller_hops) + 1 if caller_hops is not None else 1


def _error(status: int, error: str, message: str, **extra: str) -> web.Response:
    return web.json_response({"error": error, "message": message}, status=status, headers=extra)


def add_routes(
    app: web.Application,
    invocations: AsyncInvocations,
    lookup: FunctionLookup,
    settings: RouteSettings | None = None,
    tracing: Tracing | None = None,
    qualifiers: QualifierCheck | None = None,
) -> None:
    """Register the async-invocation routes on ``app``; ``lookup(name, namespace)`` answers the
    Function (or None), synchronously or as an awaitable. With ``tracing``, an accepted
    invocation gets a span of its own, whose context is stored with it (docs/tracing.md).
    ``qualifiers`` checks a ``:qualifier`` the caller named; without it (no versions, as in
    ``wisp dev``) a qualifier other than ``$LATEST`` is a 404."""
    config = settings or RouteSettings()
    policy = callback_policy_from_env()

    async def find(name: str, namespace: str) -> Function | None:
        found = lookup(name, namespace)
        if isinstance(found, Awaitable):
            return await found
        return found

    async def submit(request: web.Request) -> web.Response:
        named = parse_function_path(FUNCTION_PREFIX + request.match_info["name"], config.default_namespace)
        if named is None:
            return _error(404, "FunctionNotFound", "function names are DNS labels: no such function")
        name, namespace, qualifier = named.name, named.namespace, named.qualifier
        if await find(name, namespace) is None:
            return _error(404, "FunctionNotFound", f"function {name}.{namespace} does not exist")
        if qualifier:
            missing = (
                f"function {name}.{namespace} has no versions here"
                if qualifiers is None
                else qualifiers(named.key, qualifier)
            )
            if missing is not None:
                return _error(404, "FunctionNotFound", missing)
        if (request.content_length or 0) > config.max_body_bytes:
            return _too_large(config.max_body_bytes)
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _too_large(config.max_body_bytes)
        if len(body) > config.max_body_bytes:
            return _too_large(config.max_body_bytes)
        callback = request.headers.get(CALLBACK_HEADER)
        if callback is not None and not _is_http_url(callback):
            return _error(400, "InvalidCallbackUrl", f"{CALLBACK_HEADER} must be an http(s) URL")
        if callback is not None:
            try:
                check_callback_url(callback, policy)
            except CallbackRefused as exc:
                return _error(400, "CallbackRefused", f"{CALLBACK_HEADER}: {exc}")
        try:
            key = idempotency_key(request.headers)
        except InvalidIdempotencyKey as exc:
            return _error(400, "InvalidIdempotencyKey", str(exc))
        hops = chain_hops(request.headers)
        stored = forwarded_headers(request.headers)
        trace = None if tracing is None else tracing.begin(request.headers)
        if trace is not None:
            stored = {k: v for k, v in stored.items() if k.lower() not in (TRACEPARENT, TRACESTATE)}
            stored.update(trace.gateway.headers())
        try:
            invocation_id = await invocations.submit(
                named.key,
                body,
                stored,
                callback,
                hops=hops,
                idempotency_key=key,
                qualifier=qualifier,
            )
        except BrokerUnavailable as exc:
            if trace is not None:
                trace.finish(
                    "async accept", SpanKind.PRODUCER, {"faas.name": name}, status=503, handler_ms=None
                )
            return _error(
                503,
                "QueueUnavailable",
                f"the event queue is unavailable, nothing was accepted: {exc}",
                **{"Retry-After": "1"},
            )
        if trace is not None:
            attributes: dict[str, str | int | float | bool] = {
                "faas.name": name,
                "faas.namespace": namespace,
                "faas.invocation_id": invocation_id,
            }
            trace.finish("async accept", SpanKind.PRODUCER, attributes, status=202, handler_ms=None)
        # The id is a UUID: the body needs no JSON encoder.
        return web.Response(
            body=b'{"invocationId": "%s", "status": "queued"}' % invocation_id.encode(),
            status=202,
            content_type="application/json",
            headers={INVOCATION_HEADER: invocation_id, "Location": f"/invocations/{invocation_id}"},
        )

    async def status(request: web.Request) -> web.Response:
        invocation_id = request.match_info["id"]
        try:
            document = await invocations.status(invocation_id)
        except BrokerUnavailable as exc:
            return _error(503, "QueueUnavailable", str(exc), **{"Retry-After": "1"})
        if document is None:
            return _error(
                404, "InvocationNotFound", f"no invocation {invocation_id} (unknown, or past its retention)"
            )
        return web.json_response(document)

    app.router.add_post("/async-function/{name}", submit)
    app.router.add_get("/invocations/{id}", status)


def _too_large(limit: int) -> web.Response:
    return _error(413, "RequestTooLarge", f"async invocation bodies are limited to {limit} bytes")


def _is_http_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
