"""What the Redis broker and its subscriptions share: Redis failures as ``BrokerUnavailable``
(down, or up but refusing writes for now) and reading Redis's bytes as text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from wisp.queue.broker import BrokerUnavailable

UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


# Redis up but refusing writes for a while: out of memory (``maxmemory`` with ``noeviction``),
# a replica after a failover (``READONLY``), a failing snapshot (``MISCONF``). Each refuses the
# whole command (or script, before it changed anything), so the caller may simply try again.
_WRITES_REFUSED = {
    OutOfMemoryError: "Redis is out of memory (maxmemory reached, noeviction): writes are refused",
    ReadOnlyError: "Redis is a read-only replica: writes are refused",
}


def _refusal(exc: ResponseError) -> str | None:
    """Why Redis refused a write for now, or None for an error that retrying will not fix."""
    for kind, reason in _WRITES_REFUSED.items():
        if isinstance(exc, kind):
            return reason
    if str(exc).startswith("MISCONF") or getattr(exc, "status_code", None) == "MISCONF":
        return "Redis cannot persist (MISCONF): writes are refused"
    return None


@asynccontextmanager
async def unavailable_as_broker_error() -> AsyncIterator[None]:
    try:
        yield
    except UNAVAILABLE as exc:
        raise BrokerUnavailable(f"redis: {exc.__class__.__name__}: {exc}") from exc
    except ResponseError as exc:
        reason = _refusal(exc)
        if reason is None:
            raise
        raise BrokerUnavailable(reason) from exc


def text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
