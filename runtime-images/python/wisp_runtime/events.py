"""Requests to events and handler results to responses: pure functions, no I/O.

``json`` events are the request body; ``http`` events are API Gateway proxy events in payload
format 1.0 or 2.0, built from the request and the gateway's ``X-Wisp-*`` headers (which the
handler never sees). A result of the shape ``{"statusCode": 200 | "200", ...}`` shapes the HTTP
response (``cookies`` and ``multiValueHeaders`` included); anything else becomes JSON.
"""

from __future__ import annotations

import base64
import binascii
import json
import time
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
    peer: str = ""  # the address of the connection's other end (the gateway, in a pod)
    protocol: str = "HTTP/1.1"


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


PAYLOAD_FORMATS = ("1.0", "2.0")
STAGE = "$default"
API_ID = "wisp"
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


class _Request:
    """What both payload formats are built from: the caller's side of the request. (A plain
    class: a NamedTuple costs a few hundred microseconds of every cold start.)"""

    __slots__ = (
        "body",
        "headers",
        "host",
        "is_base64",
        "path_parameters",
        "resource",
        "route",
        "source_ip",
        "time",
        "time_epoch",
    )

    def __init__(
        self,
        headers: list[tuple[str, str]],  # the caller's, names lower-cased, no X-Wisp-*
        host: str,
        source_ip: str,
        route: str,  # "$default" or "METHOD /pattern"
        resource: str,  # the route's path pattern, else the path
        path_parameters: dict[str, str] | None,
        body: str | None,
        is_base64: bool,
        time: str,
        time_epoch: int,
    ) -> None:
        self.headers = headers
        self.host = host
        self.source_ip = source_ip
        self.route = route
        self.resource = resource
        self.path_parameters = path_parameters
        self.body = body
        self.is_base64 = is_base64
        self.time = time
        self.time_epoch = time_epoch


def http_event(parts: HttpRequestParts, account_id: str, now: float) -> dict[str, Any]:
    """An API Gateway proxy event, payload format 1.0 (REST API) or 2.0 (HTTP API, function
    URL) as ``X-Wisp-Payload-Format`` says; ``now`` is the epoch time of the request."""
    wisp: dict[str, str] = {}
    headers: list[tuple[str, str]] = []
    for name, value in parts.headers:
        key = name.lower()
        if key.startswith("x-wisp-"):
            wisp[key] = value
        else:
            headers.append((key, value))
    version = wisp.get("x-wisp-payload-format", "1.0").strip() or "1.0"
    if version not in PAYLOAD_FORMATS:
        raise EventError("InvalidPayloadFormat", "X-Wisp-Payload-Format must be 1.0 or 2.0")
    request = _caller_request(parts, wisp, headers, now)
    if version == "2.0":
        return _event_v2(parts, request, account_id)
    return _event_v1(parts, request, account_id)


def _caller_request(
    parts: HttpRequestParts, wisp: dict[str, str], headers: list[tuple[str, str]], now: float
) -> _Request:
    first: dict[str, str] = {}
    for key, value in headers:
        first.setdefault(key, value)
    host = wisp.get("x-wisp-host") or first.get("x-forwarded-host", "").split(",")[0].strip()
    if host:
        headers = [(k, host if k == "host" else v) for k, v in headers]
        if "host" not in first:
            headers.insert(0, ("host", host))
    else:
        host = first.get("host", "")
    forwarded = first.get("x-forwarded-for", "")
    source_ip = wisp.get("x-wisp-source-ip") or forwarded.rsplit(",", 1)[-1].strip() or parts.peer
    route = wisp.get("x-wisp-route", "").strip() or STAGE
    if route != STAGE and " " not in route:
        route = f"ANY {route}"
    resource = route.partition(" ")[2] if route != STAGE else parts.path
    raw_params = wisp.get("x-wisp-path-params")
    params = dict(_form_pairs(raw_params)) if raw_params else None
    body, is_base64 = _event_body(parts.body, first.get("content-type", ""))
    when = _request_time(int(now))
    return _Request(headers, host, source_ip, route, resource, params, body, is_base64, when, int(now * 1000))


_LAZY: dict[str, Any] = {}  # imported on first use, then looked up here
_TIME_CACHE: list[Any] = [-1, ""]  # [epoch second, requestTime text]


def _form_pairs(text: str) -> list[tuple[str, str]]:
    """``parse_qsl``, imported on first use (``urllib.parse`` is a few ms of a cold start; an
    import statement in the function would cost microseconds on every call)."""
    if not text:
        return []
    parse = _LAZY.get("parse_qsl")
    if parse is None:
        from urllib.parse import parse_qsl

        parse = _LAZY["parse_qsl"] = parse_qsl
    pairs: list[tuple[str, str]] = parse(text, keep_blank_values=True)
    return pairs


def _request_time(second: int) -> str:
    """API Gateway's ``requestTime`` (``04/Dec/2026:13:52:01 +0000``), once per second."""
    cache = _TIME_CACHE
    if cache[0] != second:
        stamp = time.gmtime(second)
        clock = time.strftime("%Y:%H:%M:%S", stamp)
        cache[1] = f"{stamp.tm_mday:02d}/{_MONTHS[stamp.tm_mon - 1]}/{clock} +0000"
        cache[0] = second
    text: str = cache[1]
    return text


def _event_v1(parts: HttpRequestParts, request: _Request, account_id: str) -> dict[str, Any]:
    headers: dict[str, str] = {}
    multi_headers: dict[str, list[str]] = {}
    for key, value in request.headers:
        multi_headers.setdefault(key, []).append(value)
        headers[key] = value
    query: dict[str, str] = {}
    multi_query: dict[str, list[str]] = {}
    for name, value in _form_pairs(parts.query_string):
        multi_query.setdefault(name, []).append(value)
        query[name] = value
    return {
        "version": "1.0",
        "resource": request.resource,
        "path": parts.path,
        "httpMethod": parts.method,
        "headers": headers,
        "multiValueHeaders": multi_headers,
        "queryStringParameters": query or None,
        "multiValueQueryStringParameters": multi_query or None,
        "pathParameters": request.path_parameters,
        "stageVariables": None,
        "requestContext": {
            "accountId": account_id,
            "apiId": API_ID,
            "domainName": request.host,
            "domainPrefix": request.host.split(".", 1)[0],
            "extendedRequestId": parts.request_id,
            "httpMethod": parts.method,
            "identity": _identity(request.source_ip, headers.get("user-agent")),
            "path": parts.path,
            "protocol": parts.protocol,
            "requestId": parts.request_id,
            "requestTime": request.time,
            "requestTimeEpoch": request.time_epoch,
            "resourceId": None,
            "resourcePath": request.resource,
            "stage": STAGE,
        },
        "body": request.body,
        "isBase64Encoded": request.is_base64,
    }


def _identity(source_ip: str, user_agent: str | None) -> dict[str, Any]:
    return {
        "accessKey": None,
        "accountId": None,
        "caller": None,
        "cognitoAuthenticationProvider": None,
        "cognitoAuthenticationType": None,
        "cognitoIdentityId": None,
        "cognitoIdentityPoolId": None,
        "principalOrgId": None,
        "sourceIp": source_ip,
        "user": None,
        "userAgent": user_agent,
        "userArn": None,
    }


def _event_v2(parts: HttpRequestParts, request: _Request, account_id: str) -> dict[str, Any]:
    # As HTTP APIs do: repeated headers and query parameters joined with commas, the Cookie
    # header moved into `cookies`, absent parts left out.
    headers: dict[str, str] = {}
    cookies: list[str] = []
    for key, value in request.headers:
        if key == "cookie":
            cookies.extend(c.strip() for c in value.split(";") if c.strip())
        elif key in headers:
            headers[key] = f"{headers[key]},{value}"
        else:
            headers[key] = value
    query: dict[str, str] = {}
    for name, value in _form_pairs(parts.query_string):
        query[name] = f"{query[name]},{value}" if name in query else value
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": request.route,
        "rawPath": parts.path,
        "rawQueryString": parts.query_string,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = headers
    if query:
        event["queryStringParameters"] = query
    event["requestContext"] = {
        "accountId": account_id,
        "apiId": API_ID,
        "domainName": request.host,
        "domainPrefix": request.host.split(".", 1)[0],
        "http": {
            "method": parts.method,
            "path": parts.path,
            "protocol": parts.protocol,
            "sourceIp": request.source_ip,
            "userAgent": headers.get("user-agent", ""),
        },
        "requestId": parts.request_id,
        "routeKey": request.route,
        "stage": STAGE,
        "time": request.time,
        "timeEpoch": request.time_epoch,
    }
    if request.body is not None:
        event["body"] = request.body
    if request.path_parameters is not None:
        event["pathParameters"] = request.path_parameters
    event["isBase64Encoded"] = request.is_base64
    return event


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
    if isinstance(value, Mapping):
        status = _status(value.get("statusCode"))
        if status is not None:
            return _proxy_response(value, status)
    return ShapedResponse(200, dumps(value), [("Content-Type", JSON_TYPE)])


def raw_response(value: Any) -> ShapedResponse:
    """The answer of a call that wants the return value itself (``X-Wisp-Raw-Result``, Lambda's
    Invoke API): 200 JSON, even for a value shaped like ``{"statusCode": ..., "body": ...}``."""
    return ShapedResponse(200, dumps(value), [("Content-Type", JSON_TYPE)])


def _status(code: Any) -> int | None:
    """An int status, or a numeric string one (``'200'``, as AWS's own blueprints return)."""
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    if isinstance(code, str) and code.strip().isdecimal():
        return int(code)
    return None


def _proxy_response(value: Mapping[str, Any], status: int) -> ShapedResponse:
    if not 100 <= status <= 599:
        raise ResponseError(f"statusCode {status} is not an HTTP status")
    pairs = [(str(name), item) for name, item in (value.get("headers") or {}).items()]
    for name, values in (value.get("multiValueHeaders") or {}).items():
        items = values if isinstance(values, list | tuple) else [values]
        pairs.extend((str(name), item) for item in items)
    cookies = value.get("cookies") or ()
    if isinstance(cookies, str):
        cookies = (cookies,)
    pairs.extend(("Set-Cookie", cookie) for cookie in cookies)
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
