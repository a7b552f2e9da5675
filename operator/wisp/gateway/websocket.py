"""WebSockets to functions, the way API Gateway's WebSocket APIs deliver them to Lambda.

A Function with ``spec.websocket`` accepts WebSocket upgrades on its HTTP Triggers and its
``/function/`` route. The gateway holds the socket; the function stays an ordinary handler,
invoked (with the usual activation, balancing, limits and metrics: ``Gateway.invoke``) once per
event of the connection, with API Gateway's event shape, so Lambda WebSocket handlers run
unchanged:

* ``$connect`` (``eventType: CONNECT``, with the upgrade request's headers and query): a 2xx
  answer accepts the socket; anything else refuses the upgrade with that answer;
* ``$default`` (``MESSAGE``) for every message, in order, one at a time per socket: ``body`` is
  the text (binary messages base64, ``isBase64Encoded``). The body of the handler's answer
  (``{"statusCode": 200, "body": ...}``) is sent back as a message, as a two-way route does; an
  empty or ``null`` answer sends nothing; a failed call sends its JSON error;
* ``$disconnect`` (``DISCONNECT``) once the socket closed, whoever closed it.

Limits come from the Function: ``idleTimeout`` (no message for that long) and ``maxDuration``
(the socket's whole life). Past either the gateway closes the socket with 1001 and a reason
naming the field. An open socket is in-flight work for the autoscaler (its meter counts it from
the upgrade to the close), so a function is never scaled to zero under a live connection.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from typing import Any

from aiohttp import WSMsgType, web

from wisp.api import contract
from wisp.api.function import WebSocketSpec
from wisp.api.version import LATEST
from wisp.gateway.proxy import CLIENT_ADDRESS, InvocationResult
from wisp.gateway.registry import Upstream
from wisp.gateway.service import Gateway

GOING_AWAY = 1001
STAGE = "$default"


def is_upgrade(request: web.Request) -> bool:
    return request.method == "GET" and request.headers.get("Upgrade", "").lower() == "websocket"


class Connection:
    """One socket's identity and the parts of API Gateway's ``requestContext`` it repeats."""

    def __init__(self, request: web.Request, up: Upstream, function_key: str) -> None:
        self.id = base64.urlsafe_b64encode(uuid.uuid4().bytes[:12]).decode()
        self.up = up
        # Every event of the socket goes to the version its upgrade was routed to (an alias's
        # weights are drawn once, for the connection).
        self.function_key = function_key
        self.qualifier = "" if up.info.version == LATEST else up.info.version
        self.connected_at = int(time.time() * 1000)
        self.domain = request.host
        self.source_ip = request.get(CLIENT_ADDRESS) or request.remote or ""

    def event(self, route: str, kind: str, **more: Any) -> tuple[bytes, str]:
        """The event's JSON and its request id."""
        request_id = uuid.uuid4().hex
        now = time.time()
        context: dict[str, Any] = {
            "routeKey": route,
            "eventType": kind,
            "messageDirection": "IN",
            "connectionId": self.id,
            "connectedAt": self.connected_at,
            "requestId": request_id,
            "extendedRequestId": request_id,
            "requestTimeEpoch": int(now * 1000),
            "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "domainName": self.domain,
            "stage": STAGE,
            "apiId": self.up.info.function.name,
            "identity": {"sourceIp": self.source_ip},
        }
        context.update(more.pop("context", {}))
        event = {"requestContext": context, "isBase64Encoded": False, **more}
        return json.dumps(event).encode(), request_id


async def serve_websocket(
    gateway: Gateway, request: web.Request, up: Upstream, function_key: str, spec: WebSocketSpec
) -> web.StreamResponse:
    """Hold one WebSocket for ``up`` (the Function ``function_key`` or one of its versions)
    until either side closes it or a limit passes."""
    connection = Connection(request, up, function_key)
    up.meter.started(time.monotonic())  # the socket is in flight until it closes
    try:
        headers = dict(request.headers)
        query: dict[str, str] = dict(request.query)
        connect = await _invoke(
            gateway,
            connection,
            "$connect",
            "CONNECT",
            headers=headers,
            multiValueHeaders={k: request.headers.getall(k) for k in headers},
            queryStringParameters=query or None,
        )
        if connect.gateway_error is not None or not 200 <= connect.status < 300:
            return _refused(connect)
        socket = web.WebSocketResponse(autoping=True, max_msg_size=gateway.max_body_bytes)
        await socket.prepare(request)
        close_code: int | None = None
        reason = ""
        try:
            close_code, reason = await _converse(gateway, connection, socket, spec)
        finally:
            if close_code is not None and not socket.closed:
                await socket.close(code=close_code, message=reason.encode())
            status = socket.close_code or GOING_AWAY
            await asyncio.shield(
                _invoke(
                    gateway,
                    connection,
                    "$disconnect",
                    "DISCONNECT",
                    context={"disconnectStatusCode": status, "disconnectReason": reason},
                )
            )
        return socket
    finally:
        up.meter.finished(time.monotonic())


async def _converse(
    gateway: Gateway, connection: Connection, socket: web.WebSocketResponse, spec: WebSocketSpec
) -> tuple[int | None, str]:
    """Messages to the handler and its answers back, until the socket closes (None: by the
    client) or a limit passes (the close code and reason to send)."""
    loop = asyncio.get_running_loop()
    ends = loop.time() + spec.max_duration
    while True:
        left = ends - loop.time()
        if left <= 0:
            return GOING_AWAY, "the connection reached spec.websocket.maxDuration"
        try:
            message = await socket.receive(timeout=min(spec.idle_timeout, left))
        except TimeoutError:
            if loop.time() >= ends:
                return GOING_AWAY, "the connection reached spec.websocket.maxDuration"
            return GOING_AWAY, "the connection was idle for spec.websocket.idleTimeout"
        if message.type == WSMsgType.TEXT:
            body, encoded = message.data, False
        elif message.type == WSMsgType.BINARY:
            body, encoded = base64.b64encode(message.data).decode(), True
        else:  # CLOSE, CLOSING, CLOSED, ERROR: the client is gone
            return None, ""
        result = await _invoke(gateway, connection, "$default", "MESSAGE", body=body, isBase64Encoded=encoded)
        reply = _reply(result)
        if reply is None or socket.closed:
            continue
        try:
            if isinstance(reply, str):
                await socket.send_str(reply)
            else:
                await socket.send_bytes(reply)
        except ConnectionError:  # the client went away while its message was handled
            return None, ""


async def _invoke(
    gateway: Gateway, connection: Connection, route: str, kind: str, **more: Any
) -> InvocationResult:
    body, request_id = connection.event(route, kind, **more)
    return await gateway.invoke(
        connection.function_key, body, {contract.REQUEST_ID_HEADER: request_id}, connection.qualifier
    )


def _reply(result: InvocationResult) -> str | bytes | None:
    """What goes back to the client for a message's call: its answer's body, if any."""
    data = result.body
    if result.gateway_error is None and 200 <= result.status < 300 and data in (b"", b"null"):
        return None
    try:
        return data.decode()
    except UnicodeDecodeError:
        return data


def _refused(result: InvocationResult) -> web.Response:
    status = result.status if result.status >= 400 else 403
    content_type = result.headers.get("Content-Type", "application/json")
    return web.Response(status=status, body=result.body, headers={"Content-Type": content_type})
