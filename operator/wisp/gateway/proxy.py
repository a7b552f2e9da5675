"""The hop to a pod: headers in and out, bodies streamed, one keep-alive client session.

Small bodies (up to ``BUFFER_BYTES`` with a Content-Length) are read whole, which on loopback
is cheaper than chunk-by-chunk streaming; anything larger, or without a length, streams in both
directions without being re-serialised. Hop-by-hop headers are dropped both ways.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

from aiohttp import ClientSession, ClientTimeout, StreamReader, web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from wisp.api import contract

BUFFER_BYTES = 256 * 1024
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "trailers", "transfer-encoding", "upgrade", "host", "content-length",
    }
)
_RESPONSE_DROP = HOP_BY_HOP | {"date", "server"}


class BodyTooLarge(Exception):
    pass


@dataclass(frozen=True)
class InvocationResult:
    """An answer read whole (the queue's async path and other internal callers)."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    cold_start_ms: float | None = None

    @property
    def request_id(self) -> str:
        return self.headers.get(contract.REQUEST_ID_HEADER, "")


def _connection_tokens(headers: Mapping[str, str]) -> frozenset[str]:
    value = headers.get("Connection")
    if not value:
        return frozenset()
    return frozenset(t.strip().lower() for t in value.split(","))


def upstream_headers(request: web.BaseRequest, event: str) -> CIMultiDict[str]:
    """The request's end-to-end headers plus wisp's and the X-Forwarded-* ones."""
    incoming = request.headers
    extra = _connection_tokens(incoming)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in incoming.items():
        lower = name.lower()
        if lower in HOP_BY_HOP or lower in extra:
            continue
        out.add(name, value)
    out[contract.EVENT_HEADER] = event
    if contract.REQUEST_ID_HEADER not in out:
        out[contract.REQUEST_ID_HEADER] = uuid.uuid4().hex
    peer = request.remote or ""
    previous = incoming.get("X-Forwarded-For")
    out["X-Forwarded-For"] = f"{previous}, {peer}" if previous else peer
    out["X-Forwarded-Proto"] = incoming.get("X-Forwarded-Proto") or request.scheme
    out["X-Forwarded-Host"] = incoming.get("X-Forwarded-Host") or request.host
    return out


def downstream_headers(headers: CIMultiDictProxy[str]) -> CIMultiDict[str]:
    extra = _connection_tokens(headers)
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        if lower in _RESPONSE_DROP or lower in extra:
            continue
        out.add(name, value)
    return out


async def _limited(stream: StreamReader, limit: int) -> AsyncIterator[bytes]:
    seen = 0
    async for chunk in stream.iter_any():
        seen += len(chunk)
        if seen > limit:
            raise BodyTooLarge
        yield chunk


class Forwarder:
    def __init__(self, max_body_bytes: int, session: ClientSession | None = None) -> None:
        self.max_body_bytes = max_body_bytes
        self._session = session

    @property
    def session(self) -> ClientSession:
        if self._session is None:
            raise RuntimeError("the gateway's client session is not open")
        return self._session

    @session.setter
    def session(self, session: ClientSession) -> None:
        self._session = session

    async def request_body(self, request: web.Request) -> bytes | AsyncIterator[bytes] | None:
        """The body to send: bytes when small and sized, a limited stream otherwise."""
        length = request.content_length
        if length is not None and length <= BUFFER_BYTES:
            return await request.read() if length else b""
        if length is None and not request.body_exists:
            return None
        return _limited(request.content, self.max_body_bytes)

    async def forward(
        self,
        request: web.Request,
        address: tuple[str, int],
        path_qs: str,
        headers: CIMultiDict[str],
        body: bytes | AsyncIterator[bytes] | None,
        client_timeout: ClientTimeout,
        extra: Mapping[str, str],
    ) -> web.StreamResponse:
        url = URL.build(scheme="http", host=address[0], port=address[1], path=path_qs, encoded=True)
        async with self.session.request(
            request.method, url, headers=headers, data=body, timeout=client_timeout,
            allow_redirects=False, skip_auto_headers=("User-Agent", "Content-Type"),
        ) as resp:
            out_headers = downstream_headers(resp.headers)
            out_headers.update(extra)
            length = resp.content_length
            if request.method == "HEAD" or (length is not None and length <= BUFFER_BYTES):
                data = await resp.read()
                return web.Response(status=resp.status, headers=out_headers, body=data)
            out = web.StreamResponse(status=resp.status, headers=out_headers)
            if length is not None:
                out.content_length = length
            await out.prepare(request)
            async for chunk in resp.content.iter_any():
                await out.write(chunk)
            await out.write_eof()
            return out

    async def call(
        self,
        address: tuple[str, int],
        headers: Mapping[str, str],
        body: bytes,
        client_timeout: ClientTimeout,
    ) -> tuple[int, dict[str, str], bytes]:
        url = URL.build(scheme="http", host=address[0], port=address[1], path="/", encoded=True)
        async with self.session.post(url, headers=headers, data=body, timeout=client_timeout) as resp:
            data = await resp.read()
            return resp.status, dict(resp.headers), data
