"""Requests to events and handler results to responses: pure functions, no I/O.

``json`` events are the request body; ``http`` events are API-Gateway-proxy shaped. A result of
the shape ``{"statusCode": int, ...}`` shapes the HTTP response; anything else becomes JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterable, Mapping
from typing import Any, NamedTuple

JSON_TYPE = "application/json"
_TEXT_TYPES = (
    "application/json",
    "application/xml",
    "application/javascript",
    "application/x-www-form-urlencoded",
    "application/graphql",
    "application/yaml",
)


_FRAMING_HEADERS = frozenset(("content-length", "transfer-encoding"))


class EventError(ValueError):
    """The request cannot become an event; ``error_type`` names why."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type


class ResponseError(TypeError):
    """The handler returned something that cannot be sent."""


class HttpRequestParts(NamedTuple):
    method: str
    path: str
    query_string: str
    headers: Iterable[tuple[str, str]]
    body: bytes
    request_id: str


class ShapedResponse(NamedTuple):
    status: int
    body: bytes
    headers: list[tuple[str, str]]


def json_event(body: bytes) -> Any:
    if not body.strip():
        return {}
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise EventError("InvalidEventJSON", f"the request body is not JSON: {exc}") from None


def http_event(parts: HttpRequestParts) -> dict[str, Any]:
    from urllib.parse import parse_qsl  # here, not at start: it is a few ms of a cold start

    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for name, value in parts.headers:
        key = name.lower()
        multi_headers.setdefault(key, []).append(value)
        headers[key] = value
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in parse_qsl(parts.query_string, keep_blank_values=True):
        multi_query.setdefault(name, []).append(value)
        query[name] = value
    body, is_base64 = _event_body(parts.body, headers.get("content-type", ""))
    return {
        "resource": parts.path,
        "path": parts.path,
        "httpMethod": parts.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": None,
        "stageVariables": None,
        "body": body,
        "isBase64Encoded": is_base64,
        "requestContext": {
            "requestId": parts.request_id,
            "httpMethod": parts.method,
            "path": parts.path,
        },
    }


def _event_body(body: bytes, content_type: str) -> tuple[str | None, bool]:
    if not body:
        return None, False
    if is_textual(content_type):
        try:
            return body.decode("utf-8"), False
        except UnicodeDecodeError:
            pass
    return base64.b64encode(body).decode("ascii"), True


def is_textual(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    if not media:
        return False
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(("+json", "+xml"))


def shape_response(value: Any) -> ShapedResponse:
    """The HTTP response for a handler's return value."""
    if isinstance(value, Mapping) and isinstance(value.get("statusCode"), int):
        return _proxy_response(value)
    return ShapedResponse(200, dumps(value), [("Content-Type", JSON_TYPE)])


def _proxy_response(value: Mapping[str, Any]) -> ShapedResponse:
    status = value["statusCode"]
    if not 100 <= status <= 599:
        raise ResponseError(f"statusCode {status} is not an HTTP status")
    pairs = [(str(name), item) for name, item in (value.get("headers") or {}).items()]
    for name, values in (value.get("multiValueHeaders") or {}).items():
        pairs.extend((str(name), item) for item in values)
    headers: list[tuple[str, str]] = []
    for name, raw in pairs:
        text = _header_text(raw)
        if any(c in name or c in text for c in "\r\n") or not name:
            raise ResponseError(f"header {name!r} has an invalid name or value")
        if name.lower() not in _FRAMING_HEADERS:  # the server frames the body itself
            headers.append((name, text))
    body = value.get("body")
    if body is None:
        payload = b""
    elif isinstance(body, str):
        payload = _decode_base64(body) if value.get("isBase64Encoded") else body.encode()
    elif isinstance(body, bytes | bytearray):
        payload = bytes(body)
    else:
        payload = dumps(body)
    if not any(name.lower() == "content-type" for name, _ in headers) and payload:
        headers.append(("Content-Type", JSON_TYPE))
    return ShapedResponse(status, payload, headers)


def _header_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decode_base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ResponseError(f"body is flagged isBase64Encoded but is not base64: {exc}") from None


def dumps(value: Any) -> bytes:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise ResponseError(f"the handler's return value is not JSON serializable: {exc}") from None


def error_body(
    error_type: str,
    message: str,
    request_id: str | None = None,
    stack_trace: Iterable[str] | None = None,
) -> bytes:
    body: dict[str, Any] = {"errorType": error_type, "errorMessage": message}
    if request_id is not None:
        body["requestId"] = request_id
    if stack_trace is not None:
        body["stackTrace"] = list(stack_trace)
    return json.dumps(body, ensure_ascii=False, default=str).encode()
