"""Streamed answers: chunks from the pod to the caller as they come, within the stream's limits.

A runtime marks an answer whose body it produces while the handler runs with ``X-Wisp-Stream``
(a Python generator, a Node.js ``streamifyResponse`` handler, a custom image that says so). The
forwarder hands such an answer here once its head is in: every chunk is written to the caller
the moment it arrives (no buffering, no size known in advance), and the Function's
``spec.streaming`` replaces the call's timeout and the gateway's response size limit.

How a stream ends:

* the pod's body ends: the caller's ends too (the clean case; the pod connection is reused);
* the caller goes away: the pod connection is closed, which is how the runtime learns it and
  stops the handler (a Python generator is closed, a Node.js stream emits ``close``);
* ``spec.streaming.timeout`` passes or ``maxBytes`` would be exceeded: for an event stream
  (``text/event-stream``) an ``event: error`` with the JSON error goes out first; then the
  caller's connection is closed without the body's terminating chunk, so no client mistakes
  the stream for a complete one, and the pod connection is closed like a caller's departure;
* the pod's connection breaks (the handler raised mid-stream): the caller's is closed the same
  way.

While the pod is silent, the caller's connection is checked every ``CALLER_CHECK_SECONDS``:
aiohttp does not cancel a handler whose caller left, and a stream may wait minutes for its
next chunk.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any, Protocol

from multidict import CIMultiDict

from wisp.api.function import StreamingSpec
from wisp.gateway.connections import Body

CALLER_CHECK_SECONDS = 0.5
_log = logging.getLogger("wisp.gateway.streaming")


class StreamLimit(Exception):
    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.message = message


class _CallerGone(Exception):
    pass


class Caller(Protocol):
    """The caller's side of a stream: an aiohttp request, or the fast data path's."""

    @property
    def transport(self) -> asyncio.BaseTransport | None: ...

    @property
    def path(self) -> str: ...


class Sink(Protocol):
    """Where the stream goes: an aiohttp ``StreamResponse``, or the fast data path's."""

    @property
    def headers(self) -> CIMultiDict[str]: ...

    async def prepare(self, request: Any) -> Any: ...

    async def write(self, data: bytes) -> None: ...

    async def write_eof(self, data: bytes = b"") -> None: ...


async def relay_stream(
    request: Caller,
    out: Sink,
    payload: Body,
    limits: StreamingSpec,
    deadline: float,
) -> bool:
    """Pass the pod's body to the caller as it comes, until ``deadline`` (loop time) and
    ``limits.max_bytes``. True when the exchange ended cleanly (the pod connection is reusable)."""
    await out.prepare(request)
    seen = 0
    try:
        async with asyncio.timeout_at(deadline):
            while True:
                chunk = await _next_chunk(payload, request)
                if not chunk:
                    break
                seen += len(chunk)
                if seen > limits.max_bytes:
                    raise StreamLimit(
                        "StreamTooLarge",
                        f"the stream passed spec.streaming.maxBytes ({limits.max_bytes} bytes)",
                    )
                try:
                    await out.write(chunk)
                except OSError:
                    raise _CallerGone from None
        await out.write_eof()
    except TimeoutError:
        await _cut(
            request,
            out,
            "StreamTimeout",
            f"the stream ran past spec.streaming.timeout ({limits.timeout:g} s)",
        )
        return False
    except StreamLimit as exc:
        await _cut(request, out, exc.error_type, exc.message)
        return False
    except _CallerGone:
        return False
    except Exception as exc:  # the pod's connection broke: the stream cannot be completed
        await _cut(
            request, out, "StreamBroken", f"the function's stream broke off: {exc or type(exc).__name__}"
        )
        return False
    return True


async def _next_chunk(payload: Body, request: Caller) -> bytes:
    """The pod's next chunk (b"" at the end), or ``_CallerGone`` once the caller's connection
    has closed while waiting for it."""
    while True:
        try:
            return await asyncio.wait_for(payload.readany(), CALLER_CHECK_SECONDS)
        except TimeoutError:
            transport = request.transport
            if transport is None or transport.is_closing():
                raise _CallerGone from None


async def _cut(request: Caller, out: Sink, error_type: str, message: str) -> None:
    """End a stream that cannot complete: an ``event: error`` first for an event stream, then
    close the caller's connection without the terminating chunk."""
    _log.warning("stream cut: %s: %s (%s)", error_type, message, request.path)
    transport = request.transport
    if transport is None or transport.is_closing():
        return
    if out.headers.get("Content-Type", "").startswith("text/event-stream"):
        data = json.dumps({"errorType": error_type, "errorMessage": message})
        try:
            await out.write(f"event: error\ndata: {data}\n\n".encode())
        except OSError:
            return
    transport.close()  # flushes what was written, then ends the connection
