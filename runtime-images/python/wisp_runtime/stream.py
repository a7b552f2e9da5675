"""Streamed answers: a handler that yields its body instead of returning it.

A handler streams by returning (or being) a generator or an async generator, or by returning
``{"statusCode": ..., "headers": {...}, "body": <generator>}`` to choose the status and headers
(``Content-Type: text/event-stream`` for server-sent events). Each item is one chunk, sent the
moment it is produced: ``bytes`` as they are, ``str`` as UTF-8, anything else as a line of JSON.

``HandlerStream`` turns either kind into one async iterator of bytes for the HTTP server. A
plain generator steps on the worker pool (its ``next()`` may block, as a handler may), an async
generator on the event loop; both in the call's context, so their log lines carry its request
id. ``aclose`` closes the handler's generator (its ``finally`` blocks run) however the stream
ended: completed, the caller went away, the gateway cut it at the Function's
``spec.streaming`` limits, or the handler raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import json
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any

from wisp_runtime.pool import WorkerPool

_END = object()
DEFAULT_TYPE = "application/octet-stream"


def stream_source(value: Any) -> Any | None:
    """The generator a handler's value streams, or None when it is a whole answer."""
    if isinstance(value, Mapping):
        value = value.get("body")
    if isinstance(value, Iterator | AsyncIterator) and not isinstance(value, str | bytes):
        return value
    return None


def encode(item: Any) -> bytes:
    if isinstance(item, bytes):
        return item
    if isinstance(item, bytearray | memoryview):
        return bytes(item)
    if isinstance(item, str):
        return item.encode()
    return json.dumps(item, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"


class HandlerStream:
    """The handler's generator as an async iterator of bytes. ``on_error`` hears what the
    generator raised; ``on_end`` is called once, with the bytes sent, when it is closed."""

    def __init__(
        self,
        source: Any,
        pool: WorkerPool,
        context: contextvars.Context,
        on_error: Callable[[BaseException], None],
        on_end: Callable[[int], None],
    ) -> None:
        self._source = source
        self._async = isinstance(source, AsyncIterator)
        self._pool = pool
        self._context = context  # the call's, with its log scope
        self._on_error = on_error
        self._on_end = on_end
        self._loop = asyncio.get_running_loop()
        self._idle = asyncio.Event()  # no step of a plain generator is running on the pool
        self._idle.set()
        self._closed = False
        self.sent = 0

    def __aiter__(self) -> HandlerStream:
        return self

    async def __anext__(self) -> bytes:
        try:
            item = await (self._step_async() if self._async else self._step_sync())
        except StopAsyncIteration:
            raise
        except Exception as exc:
            self._on_error(exc)
            raise
        chunk = encode(item)
        self.sent += len(chunk)
        return chunk

    async def _step_async(self) -> Any:
        step = self._source.__anext__()
        return await asyncio.create_task(step, context=self._context)

    async def _step_sync(self) -> Any:
        result: asyncio.Future[tuple[bool, Any]] = self._loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            self._idle.set()
            if not result.done():
                result.set_result((ok, value))

        def done(ok: bool, value: Any) -> None:  # on the pool thread
            with contextlib.suppress(RuntimeError):  # a closed loop: the runtime is stopping
                self._loop.call_soon_threadsafe(settle, ok, value)

        self._idle.clear()
        self._context.run(self._pool.submit, next, self._source, _END, done=done)
        ok, value = await result
        if not ok:
            raise value
        if value is _END:
            raise StopAsyncIteration
        return value

    async def aclose(self) -> None:
        """Close the handler's generator (once), after any step still running on the pool."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._async:
                closing = getattr(self._source, "aclose", None)
                if closing is not None and inspect.isasyncgen(self._source):
                    with contextlib.suppress(Exception):
                        await asyncio.create_task(closing(), context=self._context)
            else:
                await self._idle.wait()
                closing = getattr(self._source, "close", None)
                if closing is not None:
                    done: asyncio.Future[None] = self._loop.create_future()

                    def finished(_ok: bool, _value: Any) -> None:
                        with contextlib.suppress(RuntimeError):
                            self._loop.call_soon_threadsafe(_settle_none, done)

                    self._context.run(self._pool.submit, closing, done=finished)
                    await done
        finally:
            self._on_end(self.sent)


def _settle_none(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
