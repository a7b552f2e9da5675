"""Coalesces the hot-path Redis commands of concurrent callers into pipelined round trips.

Every async accept and every acknowledgement is one Lua script call (``redis_scripts``). Issued
one by one through redis-py, each would pay a pool checkout, a packing pass, a write and a read.
``CommandBatcher`` queues the calls made while the previous round trip is in flight and sends
them as one pipelined write on one connection, then reads the replies in order: one round trip
for many callers under load, the same single round trip as before at low load. Each call is still
its own command (a script runs atomically on its own), and each caller gets its own reply or
error: batching changes when bytes move, not what any caller is told.

Scripts go as ``EVALSHA``; a ``NOSCRIPT`` reply (Redis restarted, or ``SCRIPT FLUSH``) loads
the script and re-sends just those calls, which Redis did not run. A connection error before any
reply was read retries the batch once on a fresh connection (this heals pooled connections that
died with a Redis restart); errors surface to the callers as redis-py's ``ConnectionError`` /
``TimeoutError``, which the broker turns into ``BrokerUnavailable``.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

Arg = bytes | str | int | float


@dataclass(frozen=True)
class LuaScript:
    """A script known by its SHA1, loaded into Redis on first ``NOSCRIPT``."""

    source: str
    sha: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sha", hashlib.sha1(self.source.encode()).hexdigest())  # noqa: S324


@dataclass
class _Call:
    packed: bytes
    future: asyncio.Future[Any]
    script: LuaScript | None = None


class CommandBatcher:
    """One per broker. ``max_batch`` bounds the commands of one write (and its reply burst),
    ``max_bytes`` its size (event bodies can be up to a MiB each)."""

    def __init__(self, client: aioredis.Redis, *, max_batch: int = 256, max_bytes: int = 1024 * 1024) -> None:
        # redis-py's pool methods are untyped: the connection API used here is small and stable.
        self._pool: Any = client.connection_pool
        self._max_batch = max_batch
        self._max_bytes = max_bytes
        self._queued: list[_Call] = []
        self._flusher: asyncio.Task[None] | None = None
        self._closed = False
        self.round_trips = 0  # batches written (a figure for tests and benchmarks)

    async def execute(self, *command: Arg) -> Any:
        """Run one command; returns its reply or raises its error."""
        return await self._submit(_Call(pack(command), asyncio.get_running_loop().create_future()))

    async def script(self, script: LuaScript, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """Run ``script`` (``EVALSHA``, loading it on ``NOSCRIPT``)."""
        command = ("EVALSHA", script.sha, len(keys), *keys, *args)
        future = asyncio.get_running_loop().create_future()
        return await self._submit(_Call(pack(command), future, script))

    async def _submit(self, call: _Call) -> Any:
        if self._closed:
            raise RedisConnectionError("the broker is closed")
        self._queued.append(call)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._drain(), name="redis batch")
        return await call.future

    async def _drain(self) -> None:
        try:
            while self._queued:
                batch = self._next_batch()
                try:
                    await self._round_trip(batch)
                except BaseException as exc:
                    _fail(
                        batch,
                        exc if isinstance(exc, Exception) else RedisConnectionError("the broker is closing"),
                    )
                    if not isinstance(exc, Exception):
                        raise
        finally:
            self._flusher = None
            if self._closed:
                _fail(self._queued, RedisConnectionError("the broker is closed"))
                self._queued.clear()

    def _next_batch(self) -> list[_Call]:
        """The oldest queued calls, up to ``max_batch`` of them and ``max_bytes`` (at least one)."""
        size = taken = 0
        for call in self._queued[: self._max_batch]:
            if taken and size + len(call.packed) > self._max_bytes:
                break
            size += len(call.packed)
            taken += 1
        batch = self._queued[:taken]
        del self._queued[:taken]
        return batch

    async def _round_trip(self, batch: list[_Call]) -> None:
        connection = await self._pool.get_connection()
        try:
            replies = await self._exchange(connection, batch)
            missing = [
                call
                for call, reply in zip(batch, replies, strict=True)
                if isinstance(reply, NoScriptError) and call.script is not None
            ]
            if missing:
                for script in {
                    call.script.sha: call.script for call in missing if call.script is not None
                }.values():
                    await connection.send_command("SCRIPT", "LOAD", script.source)
                    await connection.read_response()
                retried = await self._exchange(connection, missing)
                redo = dict(zip((id(call) for call in missing), retried, strict=True))
                replies = [redo.get(id(call), reply) for call, reply in zip(batch, replies, strict=True)]
        finally:
            await self._pool.release(connection)
        for call, reply in zip(batch, replies, strict=True):
            if call.future.done():  # the caller gave up (cancelled)
                continue
            if isinstance(reply, ResponseError):
                call.future.set_exception(reply)
            else:
                call.future.set_result(reply)

    async def _exchange(self, connection: Any, batch: list[_Call]) -> list[Any]:
        """Write ``batch`` and read one reply (or ``ResponseError``) per command."""
        for attempt in (1, 2):
            replies: list[Any] = []
            self.round_trips += 1
            try:
                await connection.send_packed_command(
                    b"".join(call.packed for call in batch), check_health=False
                )
                for _ in batch:
                    try:
                        replies.append(await connection.read_response())
                    except ResponseError as exc:
                        replies.append(exc)
                return replies
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                await connection.disconnect()
                # Refused or reset with nothing read back: the write went to a dead pooled
                # connection; one retry on a fresh one. A timeout, or an error past the first
                # reply, leaves the state unknown: the callers get the error.
                if attempt == 2 or replies or isinstance(exc, RedisTimeoutError):
                    raise
        raise AssertionError("unreachable")

    async def close(self) -> None:
        self._closed = True
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)


def pack(command: Sequence[Arg]) -> bytes:
    """One command in RESP (an array of bulk strings). redis-py's general packer spends most of
    the hot path's CPU on per-argument checks; these arguments are only bytes, str and numbers."""
    parts = [b"*%d\r\n" % len(command)]
    for arg in command:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int) and not isinstance(arg, bool):
            data = b"%d" % arg
        elif isinstance(arg, float):
            data = repr(arg).encode()
        else:
            raise TypeError(f"cannot send {type(arg).__name__} to Redis")
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


def _fail(calls: list[_Call], exc: Exception) -> None:
    for call in calls:
        if not call.future.done():
            call.future.set_exception(exc)
