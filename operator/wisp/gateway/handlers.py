"""The invocation port's handlers: ``/function/{name}[.{namespace}]/...`` and HTTP Triggers.

One catch-all handler dispatches by prefix instead of a route per function, so adding or
removing functions and triggers never touches aiohttp's router: only the ``Registry``'s dicts.
"""

from __future__ import annotations

from aiohttp import web

from wisp.api.trigger import RESERVED_PATHS, RESERVED_PREFIXES
from wisp.gateway.router import FUNCTION_PREFIX, parse_function_path
from wisp.gateway.service import EventKind, Gateway, error_response


class Dispatcher:
    def __init__(self, gateway: Gateway, default_namespace: str) -> None:
        self.gateway = gateway
        self.default_namespace = default_namespace

    async def handle(self, request: web.Request) -> web.StreamResponse:
        url = request.rel_url
        path = url.raw_path
        registry = self.gateway.registry
        if path.startswith(FUNCTION_PREFIX):
            target = parse_function_path(path, self.default_namespace)
            if target is None:
                return error_response(404, "FunctionNotFound", "function names are DNS labels")
            up = registry.upstreams.get(target.key)
            if up is None:
                return error_response(404, "FunctionNotFound", f"function {target.key} not found")
            query = url.raw_query_string
            path_qs = f"{target.subpath}?{query}" if query else target.subpath
            return await self.gateway.serve(request, up, path_qs, EventKind.JSON)
        if path.startswith(RESERVED_PREFIXES) or path in RESERVED_PATHS:
            return error_response(404, "NotFound", f"{path} is not served here")
        match = registry.routes.match(request.host, path, request.method)
        trigger = match.trigger
        if trigger is None:
            if match.allowed:
                response = error_response(405, "MethodNotAllowed", f"{request.method} is not routed")
                response.headers["Allow"] = ", ".join(match.allowed)
                return response
            return error_response(404, "NotFound", f"no function or trigger routes {path}")
        up = registry.upstreams.get(trigger.function_key)
        if up is None:
            return error_response(404, "FunctionNotFound", f"trigger {trigger.key} names a missing function")
        query = url.raw_query_string
        return await self.gateway.serve(request, up, f"{path}?{query}" if query else path, EventKind.HTTP)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
