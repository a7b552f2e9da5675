"""Getting a call a slot on a ready endpoint: at once, after a brief queue, or from zero.

``Activator.acquire`` is the only place a call waits. With free capacity it returns without
awaiting. With endpoints that are all at their ``concurrency`` it queues for
``queue_timeout`` (then 429 + Retry-After). With no endpoint it is a cold start: the call is
held (bounded by ``max_held_requests``, beyond which 503 + Retry-After), the first held call
of a burst asks the backend for a replica (``ColdStart`` bookkeeping: one scale-up per burst)
and, where the backend has a warm pool, for a pool pod specialised for the function first,
and the endpoint watch wakes every held call the moment an endpoint turns ready; after
``cold_start_timeout`` it gives up with 504.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from wisp.gateway.backend import Backend, WarmStarts
from wisp.gateway.pool import Slot
from wisp.gateway.registry import Unavailable, Upstream, Waiter, wake

log = logging.getLogger("wisp.gateway.activator")

SCALE_RETRY = 1.0
# How long a function's own replica waits for its pool pod to take the function (the pool's
# claim and specialisation take tens of milliseconds; a slow one does not hold the replica up).
WARM_HEAD_START = 0.5


class Rejected(Unavailable):
    """A call refused before reaching a pod; ``retry_after`` seconds when worth retrying."""

    def __init__(self, status: int, error_type: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(status, error_type, message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class ActivatorSettings:
    cold_start_timeout: float = 60.0
    queue_timeout: float = 10.0


@dataclass(slots=True)
class Acquired:
    slot: Slot
    cold_wait: float | None  # seconds held for a cold start, None when warm


class Activator:
    def __init__(
        self,
        backend: Backend,
        settings: ActivatorSettings,
        on_scaled: Callable[[str, int], None] | None = None,
    ) -> None:
        self.backend = backend
        self.settings = settings
        self.on_scaled = on_scaled
        self._tasks: set[asyncio.Task[None]] = set()

    async def acquire(self, up: Upstream, queue_limit: float | None = None) -> Acquired:
        """A slot for a call; ``queue_limit`` (seconds) shortens the wait for a busy endpoint
        (a call retried after a refusal has spent part of its ``queue_timeout`` already)."""
        slot = up.pool.try_acquire()
        if slot is not None:
            return Acquired(slot, None)
        if up.pool.has_endpoints:
            limit = self.settings.queue_timeout if queue_limit is None else queue_limit
            slot = await self._wait(up, limit, cold=False)
            return Acquired(slot, None)
        if not up.info.ready:
            reason = up.info.reason or "NotReady"
            raise Rejected(503, reason, up.info.message or f"function is not ready: {reason}")
        if not up.cold.admit():
            up.metrics.throttled("held")
            raise Rejected(
                503,
                "TooManyHeldRequests",
                "too many calls are waiting for this function to start",
                retry_after=1,
            )
        started = time.monotonic()
        try:
            if up.cold.should_scale_up(started):
                if isinstance(self.backend, WarmStarts):
                    self._spawn(self._warm_start_then_scale_up(self.backend, up))
                else:
                    self._spawn(self._scale_up(up))
            slot = await self._wait(up, self.settings.cold_start_timeout, cold=True)
        finally:
            up.cold.leave()
        waited = time.monotonic() - started
        up.metrics.cold_start(waited, "pool" if slot.endpoint.pool else "deployment")
        up.stats.cold_starts += 1
        up.stats.pool_starts += slot.endpoint.pool
        return Acquired(slot, waited)

    async def _wait(self, up: Upstream, limit: float, *, cold: bool) -> Slot:
        waiter: Waiter = asyncio.get_running_loop().create_future()
        up.pool.enqueue(waiter)
        try:
            async with asyncio.timeout(limit):
                return await waiter
        except TimeoutError:
            up.pool.discard(waiter)
            if cold:
                raise Rejected(
                    504, "ColdStartTimeout", f"no ready endpoint within {limit:g}s of scaling from zero"
                ) from None
            up.metrics.throttled("concurrency")
            raise Rejected(
                429, "TooManyRequests", "every endpoint is at its concurrency limit", retry_after=1
            ) from None
        except asyncio.CancelledError:
            up.pool.discard(waiter)
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                _release_unused(up, waiter.result())
            raise

    async def _warm_start_then_scale_up(self, pool: WarmStarts, up: Upstream) -> None:
        """The pool pod first, the function's own replica once the pod took the function (or
        after ``WARM_HEAD_START``): a replica starting beside a specialisation shares the node's
        CPU with it, and its CPU request (the start-up boost) far outweighs a pool pod's, so the
        specialisation that the held call waits for would get a small share of the CPU. Nothing
        is lost by the wait: the replica takes a second or more to start, the pool pod serves
        the call meanwhile, and the replica takes over from it as before."""
        warm = asyncio.ensure_future(pool.warm_start(up.info.function))
        await asyncio.wait({warm}, timeout=WARM_HEAD_START)
        await self._scale_up(up)
        await warm

    async def _scale_up(self, up: Upstream) -> None:
        """Ask for a replica; while calls are held and it fails (a Deployment not created yet,
        an API hiccup), ask again every ``SCALE_RETRY`` seconds."""
        key = up.key
        replicas = max(1, up.info.function.spec.scale.min)
        while True:
            try:
                if await self.backend.get_replicas(key) == 0:
                    log.info("scaling %s from zero to %d for a held call", key, replicas)
                    await self.backend.scale(key, replicas)
                    if self.on_scaled is not None:
                        self.on_scaled(key, replicas)
                return
            except Exception as exc:
                log.warning("scaling %s from zero failed: %s", key, exc)
            if up.cold.held == 0 or up.pool.has_endpoints:
                up.cold.scale_failed()
                return
            await asyncio.sleep(SCALE_RETRY)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def _release_unused(up: Upstream, slot: Slot) -> None:
    wake(up.pool, up.pool.release(slot))
