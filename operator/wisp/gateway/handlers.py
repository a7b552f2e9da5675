"""The invocation port's handlers: ``/function/{name}[.{namespace}]/...`` and HTTP Triggers.

One catch-all handler serves every function instead of a route per function, so adding or
removing functions and triggers never touches aiohttp's router: only the ``Registry``'s dicts.
Where a request goes was decided once by ``wisp.gateway.resolve`` (the security layer decided
access on that same ``Route``); the handler only acts on it.
"""

from __future__ import annotations

import json

from aiohttp import web
from aiohttp.http import HttpVersion10, HttpVersion11
from aiohttp.typedefs import Handler

from wisp.gateway.httpevent import trigger_headers
from wisp.gateway.proxy import CLIENT_ADDRESS
from wisp.gateway.registry import Unavailable
from wisp.gateway.resolve import RouteKind, resolve
from wisp.gateway.service import EventKind, Gateway, error_response
from wisp.gateway.websocket import is_upgrade, serve_websocket

_EVENTS = {RouteKind.FUNCTION: EventKind.JSON, RouteKind.TRIGGER: EventKind.HTTP}


class Dispatcher:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway

    async def handle(self, request: web.Request) -> web.StreamResponse:
        route = resolve(request)
        kind = route.kind
        if kind is RouteKind.INVALID_NAME:
            return error_response(404, "FunctionNotFound", "function names are DNS labels")
        if kind is RouteKind.METHOD_NOT_ALLOWED:
            response = error_response(405, "MethodNotAllowed", f"{request.method} is not routed")
            response.headers["Allow"] = ", ".join(route.allowed)
            return response
        if kind is RouteKind.RESERVED:  # not served by the catch-all, whatever its function
            return error_response(404, "NotFound", f"{route.path} is not served here")
        event = _EVENTS.get(kind)
        if event is None or route.function_key is None:
            return error_response(404, "NotFound", f"no function or trigger routes {route.path}")
        up = self.gateway.registry.select(route.function_key, route.qualifier)
        if isinstance(up, Unavailable):
            return error_response(up.status, up.error_type, up.message)
        if up is None:
            if kind is RouteKind.TRIGGER:
                message = f"trigger {route.trigger_key} names a missing function"
            else:
                message = f"function {route.function_key} not found"
            return error_response(404, "FunctionNotFound", message)
        websocket = up.info.function.spec.websocket
        if websocket is not None and is_upgrade(request):
            return await serve_websocket(self.gateway, request, up, route.function_key, websocket)
        wisp: list[tuple[str, str]] = []
        if route.http is not None:
            client = request.get(CLIENT_ADDRESS) or request.remote or ""
            host = request.headers.get("X-Forwarded-Host") or request.host
            wisp = trigger_headers(route.http, route.path, client, host.split(",", 1)[0].strip())
        return await self.gateway.serve(request, up, route.path_qs, event, wisp)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


_VERSION_BODY = json.dumps(
    {"errorType": "HTTPVersionNotSupported", "errorMessage": "the gateway speaks HTTP/1.1 and HTTP/1.0"}
).encode()
_VERSION_ANSWER = (
    b"HTTP/1.1 505 HTTP Version Not Supported\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%b" % (len(_VERSION_BODY), _VERSION_BODY)
)


@web.middleware
async def request_lines(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The request line: HTTP/1.0 and HTTP/1.1 only, and no CONNECT. aiohttp's parser also takes
    ``HTTP/2.0`` and ``HTTP/0.9`` request lines and would answer in that version; the gateway
    answers ``HTTP/1.1 505`` itself (an aiohttp response always echoes the request's version) and
    closes. No CONNECT either: the gateway is no proxy, and aiohttp reads a CONNECT's target as an
    authority that no route matches, whose 404 it would answer in plain text."""
    if request.method == "CONNECT":
        return error_response(405, "MethodNotAllowed", "CONNECT is not served: the gateway is no proxy")
    if request.version in (HttpVersion11, HttpVersion10):
        return await handler(request)
    await request.writer.write(_VERSION_ANSWER)
    await request.writer.drain()
    transport = request.transport
    if transport is not None:
        transport.close()  # aiohttp's writing of this response then finds it closed
    return web.Response(status=505)
