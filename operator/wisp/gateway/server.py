"""The gateway's HTTP/1.1 server: aiohttp's, with a deadline for each request head.

aiohttp bounds how long a connection may sit idle (``keepalive_timeout``), but a client that
sends part of a request head and then trickles or stops holds its connection for that whole
time. ``HeadTimeoutProtocol`` starts a timer with the first byte of a request head and cancels
it once aiohttp's parser has the complete head; past ``head_timeout`` the caller gets a JSON
``408 RequestHeaderTimeout`` and the connection is closed. Bodies have their own deadline,
enforced where they are read (``Gateway.serve``, the security layer).

A request aiohttp's parser refuses is answered in wisp's JSON error shape (``handle_error``),
not aiohttp's plain text.

``GatewayRunner`` is an ``AppRunner`` whose server makes these protocols; ``wisp gateway``
serves both of its ports with it.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import StreamReader, web
from aiohttp.web_protocol import RequestHandler

from wisp.gateway.fastpath import FastServer

# Idle keep-alive connections are closed after this long (aiohttp's former default; longer
# than the usual load balancer's upstream keep-alive, so the balancer closes first).
KEEPALIVE_SECONDS = 75.0

_BODY = json.dumps(
    {"errorType": "RequestHeaderTimeout", "errorMessage": "the request head did not arrive in time"}
).encode()
_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: application/json\r\n"
    b"Content-Length: %d\r\nConnection: close\r\n\r\n%b" % (len(_BODY), _BODY)
)


_PARSER_ERRORS = {
    400: ("BadRequest", "the request is not valid HTTP/1.1"),
    413: ("RequestTooLarge", "the request is too large"),
    414: ("URITooLong", "the request target is too long"),
    431: ("RequestHeaderFieldsTooLarge", "the request's header fields are too large"),
}


class HeadTimeoutProtocol(RequestHandler):
    """aiohttp's request handler, with a deadline from a request head's first byte to its end."""

    def __init__(self, manager: web.Server, *, head_timeout: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.head_timeout = head_timeout
        self._awaiting_head = True
        self._head_timer: asyncio.TimerHandle | None = None
        # The body of an answered request that was not read (a refusal): the bytes still
        # arriving for it are not a head, until it ends.
        self._unread_body: StreamReader | None = None

    def data_received(self, data: bytes) -> None:
        heads = self._request_count
        super().data_received(data)
        unread = self._unread_body
        if unread is not None and unread.is_eof():
            self._unread_body = None
            self._awaiting_head = True
        if self._request_count != heads:  # the parser completed a head
            self._awaiting_head = False
            self._unread_body = None
            self._cancel_head_timer()
        elif data and self._awaiting_head and self._head_timer is None:
            self._head_timer = asyncio.get_running_loop().call_later(self.head_timeout, self._head_too_slow)

    async def finish_response(
        self, request: web.BaseRequest, resp: web.StreamResponse, start_time: float | None
    ) -> tuple[web.StreamResponse, bool]:
        result = await super().finish_response(request, resp, start_time)
        if request.content.is_eof():
            self._awaiting_head = True  # the next bytes start the next head
        else:
            self._unread_body = request.content
        return result

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        """aiohttp's answer to a request its parser refused (or a handler crash), in wisp's one
        error shape instead of plain text; the connection is closed as aiohttp does."""
        super().handle_error(request, status, exc, message)  # logs; raises if a response began
        if status >= 500:
            error_type, text = "InternalError", "the gateway failed on this request"
        else:
            error_type, text = _PARSER_ERRORS.get(status, ("BadRequest", "the request is not valid HTTP/1.1"))
        response = web.json_response({"errorType": error_type, "errorMessage": text}, status=status)
        response.force_close()
        return response

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if not self._awaiting_head:
            return
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(_ANSWER)
        self.force_close()


class _Server(FastServer):
    """Makes a ``HeadTimeoutProtocol`` per connection (``kwargs``: the protocol's settings),
    after the fast path when the app has one."""

    def __init__(self, made: web.Server, *, head_timeout: float, **kwargs: Any) -> None:
        fast = made.fast if isinstance(made, FastServer) else None
        super().__init__(made.request_handler, request_factory=made.request_factory, fast=fast, **kwargs)
        self._head_timeout = head_timeout
        self._protocol_kwargs = kwargs

    def fallback_protocol(self) -> RequestHandler:
        return HeadTimeoutProtocol(
            self, loop=asyncio.get_running_loop(), head_timeout=self._head_timeout, **self._protocol_kwargs
        )


class GatewayRunner(web.AppRunner):
    """An ``AppRunner`` serving with ``HeadTimeoutProtocol``."""

    def __init__(self, app: web.Application, *, head_timeout: float, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", KEEPALIVE_SECONDS)
        super().__init__(app, **kwargs)
        self._head_timeout = head_timeout
        self._protocol_kwargs = kwargs

    async def _make_server(self) -> web.Server:
        made = await super()._make_server()  # starts the app up and freezes it
        return _Server(made, head_timeout=self._head_timeout, **self._protocol_kwargs)
