"""What the gateway tells a runtime about an HTTP Trigger call (docs/runtime-contract.md).

The runtime builds API Gateway's proxy event from the caller's request; only the gateway knows
the Trigger's payload format, the route it matched, the path parameters of that route, the
caller's address behind trusted proxies and the host the caller used. ``trigger_headers`` puts
those into ``X-Wisp-*`` headers. Pure: the request's parts in, header pairs out.

A plain Trigger path is a prefix: ``/orders`` takes ``/orders`` itself (route ``/orders``, no
path parameters) and everything under it, reported as API Gateway's greedy route
``/orders/{proxy+}`` with ``proxy`` set to the rest of the path, as a REST API's
``{proxy+}`` resource would send it. A templated path (``/orders/{id}``, ``/files/{path+}``) is
its own route, its variables the path parameters.
"""

from __future__ import annotations

from urllib.parse import quote, urlencode

from wisp.api.trigger import HttpTrigger, path_template

PAYLOAD_FORMAT_HEADER = "X-Wisp-Payload-Format"
ROUTE_HEADER = "X-Wisp-Route"
PATH_PARAMS_HEADER = "X-Wisp-Path-Params"
SOURCE_IP_HEADER = "X-Wisp-Source-Ip"
HOST_HEADER = "X-Wisp-Host"


def route_of(http: HttpTrigger, path: str) -> tuple[str, dict[str, str]]:
    """The route key (``ANY /orders/{proxy+}``, ``GET /orders``) and path parameters that
    ``path`` (the decoded request path) matched in ``http``."""
    method = http.methods[0] if len(http.methods) == 1 else "ANY"
    template = path_template(http.path)
    if template is not None:
        match = template.fullmatch(path)
        return f"{method} {http.path}", {} if match is None else match.groupdict()
    base = http.path.rstrip("/")
    if path in (http.path, base):
        return f"{method} {http.path}", {}
    rest = path[len(base) + 1 :]
    return f"{method} {base}/{{proxy+}}", {"proxy": rest}


def trigger_headers(http: HttpTrigger, path: str, client: str, host: str) -> list[tuple[str, str]]:
    route, params = route_of(http, path)
    headers = [(PAYLOAD_FORMAT_HEADER, http.payload_format), (ROUTE_HEADER, route)]
    if params:
        headers.append((PATH_PARAMS_HEADER, urlencode(params, quote_via=quote)))
    if client:
        headers.append((SOURCE_IP_HEADER, client))
    if host:
        headers.append((HOST_HEADER, host))
    return headers
