"""What a request is for, decided once: the one answer the security layer and the handlers share.

aiohttp's router matches a request against the app's declared routes on the *decoded* path
(``URL.path_safe``: percent-escapes decoded, except ``%2F`` and ``%25``). The gateway's
catch-all route then finds ``/function/{name}[.{namespace}]/...`` or an HTTP Trigger, on the
same decoded path. ``resolve(request)`` does both once per request and keeps the answer on the
request (``ROUTE``, copied by ``request.clone()``); the access checks and the handler that
serves the call read that same ``Route``. So a caller's spelling of a path
(``/%61sync-function/``, ``/%69nvocations/``, ``/%75i/``) can never make the check and the
handler disagree: the check looks at the route the router chose, not at the caller's bytes.

``Route.path`` is what access is decided on: the matched route's declared pattern
(``/invocations/{id}``, ``/ui/api/functions/{namespace}/{name}``), or for the catch-all and for
requests no route matches, the decoded request path.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from aiohttp import web

from wisp.api.trigger import RESERVED_PATHS, RESERVED_PREFIXES, HttpTrigger
from wisp.gateway.router import FUNCTION_PREFIX, parse_function_path, parse_lambda_name
from wisp.gateway.state import COMPONENTS

DISPATCH_ROUTE = "wisp-dispatch"  # the name of the catch-all resource make_app adds
# Declared routes (added by extensions) that call the function named by ``{name}``
# (``name`` or ``name.namespace``), with the function's own access rules.
FUNCTION_ROUTES = frozenset({"/async-function/{name}"})
# Lambda's Invoke API (wisp.gateway.lambda_api): ``{name}`` is Lambda's FunctionName.
INVOKE_ROUTE = "/2015-03-31/functions/{name}/invocations"
ASYNC_PREFIX = "/async-function/"


class RouteKind(enum.Enum):
    FUNCTION = "function"  # /function/{name}/...: the function's access rules
    TRIGGER = "trigger"  # an HTTP Trigger: its function's access rules
    FUNCTION_ROUTE = "function-route"  # a declared route calling a function (/async-function/)
    INVALID_NAME = "invalid-name"  # a function form whose names are not DNS labels: 404
    RESERVED = "reserved"  # a reserved path the catch-all does not serve: 404
    METHOD_NOT_ALLOWED = "method-not-allowed"  # a Trigger matched path and host, not the method
    NO_MATCH = "no-match"  # no function or Trigger: 404
    OTHER = "other"  # a declared route that calls no function (/healthz, /ui/, /system/...)


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    path: str  # the declared pattern, or the decoded path (catch-all, no match)
    function_key: str | None = None  # "name.namespace" when the route calls a function
    namespace: str = ""
    path_qs: str = ""  # what the runtime is sent (catch-all routes to a function)
    trigger_key: str = ""
    allowed: tuple[str, ...] = ()  # METHOD_NOT_ALLOWED: the methods the Trigger takes
    http: HttpTrigger | None = None  # TRIGGER: the route it matched (payload format, path)
    qualifier: str = ""  # the version or alias the caller (or the Trigger) named; "" is $LATEST

    @property
    def calls_function(self) -> bool:
        return self.function_key is not None


ROUTE = web.RequestKey("wisp-route", Route)


def resolve(request: web.Request) -> Route:
    """The request's route, resolved on first use and kept on the request."""
    route = request.get(ROUTE)
    if route is None:
        route = _resolve(request)
        request[ROUTE] = route
    return route


def _resolve(request: web.Request) -> Route:
    resource = request.match_info.route.resource
    if resource is None:  # no route matched (aiohttp answers 404/405)
        return Route(RouteKind.OTHER, request.rel_url.path_safe)
    if resource.name == DISPATCH_ROUTE:
        return dispatch(request)
    pattern = resource.canonical
    if pattern == INVOKE_ROUTE:
        parts = request.app.get(COMPONENTS)
        account = "" if parts is None else parts.config.account_id
        named = parse_lambda_name(request.match_info["name"], _default_ns(request), account)
        if named is None:
            return Route(RouteKind.INVALID_NAME, pattern)
        fn, qualifier = named
        return Route(RouteKind.FUNCTION_ROUTE, pattern, fn.key, fn.namespace, qualifier=qualifier)
    if pattern in FUNCTION_ROUTES:
        parsed = parse_function_path(FUNCTION_PREFIX + request.match_info["name"], _default_ns(request))
        if parsed is None:
            return Route(RouteKind.INVALID_NAME, pattern)
        return Route(
            RouteKind.FUNCTION_ROUTE, pattern, parsed.key, parsed.namespace, qualifier=parsed.qualifier
        )
    return Route(RouteKind.OTHER, pattern)


def _default_ns(request: web.Request) -> str:
    parts = request.app.get(COMPONENTS)
    return "default" if parts is None else parts.config.default_namespace


def dispatch(request: web.Request) -> Route:
    """The catch-all's routing: the function form, a reserved path, or an HTTP Trigger, matched
    on the decoded path; the runtime is sent the caller's own (still encoded) path."""
    url = request.rel_url
    path = url.path_safe
    query = url.raw_query_string
    parts = request.app[COMPONENTS]
    if path.startswith(FUNCTION_PREFIX):
        parsed = parse_function_path(path, parts.config.default_namespace)
        if parsed is None:
            return Route(RouteKind.INVALID_NAME, path)
        # The decoded path keeps raw "/" as its only separator, so segments line up one to one.
        raw = url.raw_path.split("/", 3)
        subpath = "/" + raw[3] if len(raw) > 3 else "/"
        path_qs = f"{subpath}?{query}" if query else subpath
        return Route(
            RouteKind.FUNCTION, path, parsed.key, parsed.namespace, path_qs, qualifier=parsed.qualifier
        )
    if path.startswith(ASYNC_PREFIX):
        # The async form without its route (no event path, or a method it does not take): 404,
        # after the function's access rules, so the answer does not tell which functions exist.
        parsed = parse_function_path(
            FUNCTION_PREFIX + path[len(ASYNC_PREFIX) :], parts.config.default_namespace
        )
        if parsed is None:
            return Route(RouteKind.INVALID_NAME, path)
        return Route(RouteKind.RESERVED, path, parsed.key, parsed.namespace)
    if path.startswith(RESERVED_PREFIXES) or path in RESERVED_PATHS:
        return Route(RouteKind.RESERVED, path)
    match = parts.registry.routes.match(request.host, path, request.method)
    trigger = match.trigger
    if trigger is None:
        if match.allowed:
            return Route(RouteKind.METHOD_NOT_ALLOWED, path, allowed=match.allowed)
        return Route(RouteKind.NO_MATCH, path)
    raw_path = url.raw_path
    return Route(
        RouteKind.TRIGGER,
        path,
        trigger.function_key,
        trigger.namespace,
        f"{raw_path}?{query}" if query else raw_path,
        trigger.key,
        http=trigger.http,
        qualifier=trigger.qualifier,
    )
