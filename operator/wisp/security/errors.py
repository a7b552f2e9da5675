"""JSON error answers of the security layer, in the gateway's error shape.

Every refusal is ``{"errorType": ..., "errorMessage": ...}`` with a 4xx (or 503) status, so a
client never has to parse text to learn why it was turned away.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

THROTTLED_HEADER = "X-Wisp-Throttled"


def json_error(
    status: int, error_type: str, message: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.json_response(
        {"errorType": error_type, "errorMessage": message}, status=status, headers=dict(headers or {})
    )


def unauthenticated() -> web.Response:
    """The one 401 body: the same for a private function and for one that does not exist."""
    return json_error(
        401,
        "Unauthorized",
        "this call needs credentials (or the function does not exist)",
        {"WWW-Authenticate": 'Bearer realm="wisp"'},
    )


def forbidden() -> web.Response:
    return json_error(403, "Forbidden", "the credentials do not allow this call")


def rate_limited(retry_after: int) -> web.Response:
    return json_error(
        429,
        "TooManyRequests",
        "rate limit exceeded for this caller",
        {"Retry-After": str(retry_after), THROTTLED_HEADER: "rate-limit"},
    )


def overloaded() -> web.Response:
    return json_error(
        503,
        "GatewayOverloaded",
        "the gateway is at its in-flight limit, retry shortly",
        {"Retry-After": "1"},
    )
