"""Where a forwarded call's answer goes (``Forwarder.forward``): the caller's side of the hop
to a pod, as aiohttp's data path (``ResponseAnswer``: its response objects) and the fast path
(``wisp.gateway.fastcall``: bytes on its connection) each give it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from aiohttp import web
from multidict import CIMultiDict

from wisp.gateway.streaming import Caller, Sink


@dataclass(slots=True)
class Forwarded:
    """A call the pod answered: its status and headers as sent on, and whether the caller's
    connection can be kept (a stream cut short cannot)."""

    status: int
    headers: CIMultiDict[str]
    clean: bool


class Answer(Protocol):
    """The caller's side of a forwarded call: where the pod's answer goes."""

    @property
    def method(self) -> str: ...

    @property
    def caller(self) -> Caller: ...  # for ``relay_stream`` and a sink's ``prepare``

    def whole(self, status: int, headers: CIMultiDict[str], data: bytes) -> None: ...

    def stream(self, status: int, headers: CIMultiDict[str], size: int | None) -> Sink: ...

    def abort(self) -> None: ...


class ResponseAnswer:
    """``Answer`` with aiohttp's response objects, for aiohttp's data path: ``response`` is
    what the handler returns."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def caller(self) -> web.Request:
        return self.request

    def whole(self, status: int, headers: CIMultiDict[str], data: bytes) -> None:
        self.response = web.Response(status=status, headers=headers, body=data)

    def stream(self, status: int, headers: CIMultiDict[str], size: int | None) -> web.StreamResponse:
        self.response = out = web.StreamResponse(status=status, headers=headers)
        if size is not None:
            out.content_length = size
        return out

    def abort(self) -> None:
        transport = self.request.transport
        if transport is not None:
            transport.abort()
