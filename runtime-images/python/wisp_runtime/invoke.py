"""Runs one call of the handler under its timeout.

``async def`` handlers run as tasks on the event loop (cancelled on timeout); plain functions run
on the ``WorkerPool``. Either way the caller gets an ``Outcome`` no later than the timeout: a
handler that blocks its thread is abandoned, not waited for (see ``pool`` for what follows).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import inspect
import time
from typing import Any, NamedTuple

from wisp_runtime.loader import LoadedHandler
from wisp_runtime.pool import WorkerPool


class OutcomeKind(enum.Enum):
    RETURNED = "returned"
    RAISED = "raised"
    TIMED_OUT = "timed_out"


class Outcome(NamedTuple):
    kind: OutcomeKind
    value: Any  # the return value, or the exception raised
    seconds: float


class Invoker:
    def __init__(self, handler: LoadedHandler, pool: WorkerPool) -> None:
        self._handler = handler
        self._pool = pool

    async def invoke(self, event: Any, context: Any, time_limit: float) -> Outcome:
        """Calls the handler; must run in the context that carries the call's log scope."""
        started = time.perf_counter()
        if self._handler.is_async:
            kind, value = await self._run_async(event, context, time_limit)
        else:
            kind, value = await self._run_sync(event, context, time_limit)
            if kind is OutcomeKind.RETURNED and inspect.isawaitable(value):
                left = time_limit - (time.perf_counter() - started)
                kind, value = await _await_with_timeout(value, left)
        return Outcome(kind, value, time.perf_counter() - started)

    async def _run_sync(self, event: Any, context: Any, time_limit: float) -> tuple[OutcomeKind, Any]:
        loop = asyncio.get_running_loop()
        result: asyncio.Future[tuple[OutcomeKind, Any]] = loop.create_future()

        def settle(kind: OutcomeKind, value: Any) -> None:
            if not result.done():
                result.set_result((kind, value))

        def done(ok: bool, value: Any) -> None:  # on the pool thread
            kind = OutcomeKind.RETURNED if ok else OutcomeKind.RAISED
            with contextlib.suppress(RuntimeError):  # a closed loop: the runtime is stopping
                loop.call_soon_threadsafe(settle, kind, value)

        job = self._pool.submit(self._handler.func, event, context, done=done)
        timer = loop.call_later(time_limit, settle, OutcomeKind.TIMED_OUT, None)
        try:
            outcome = await result
        finally:
            timer.cancel()
        if outcome[0] is OutcomeKind.TIMED_OUT:
            self._pool.abandon(job)
        return outcome

    async def _run_async(self, event: Any, context: Any, time_limit: float) -> tuple[OutcomeKind, Any]:
        try:
            awaitable = self._handler.func(event, context)
        except Exception as exc:
            return OutcomeKind.RAISED, exc
        return await _await_with_timeout(awaitable, time_limit)


class HandlerExit(Exception):
    """``sys.exit()`` (or KeyboardInterrupt) inside a handler: an error of that call only."""


async def _guarded(awaitable: Any) -> Any:
    try:
        return await awaitable
    except (SystemExit, KeyboardInterrupt) as exc:
        # asyncio would let these stop the whole server; they end only this call.
        raise HandlerExit(f"{type(exc).__name__}: {exc}") from exc


async def _await_with_timeout(awaitable: Any, time_limit: float) -> tuple[OutcomeKind, Any]:
    task = asyncio.ensure_future(_guarded(awaitable))
    if time_limit > 0:
        await asyncio.wait((task,), timeout=time_limit)
    if not task.done():
        # Answer now; a handler that swallows the cancellation keeps running on its own.
        task.cancel()
        task.add_done_callback(_consume)
        return OutcomeKind.TIMED_OUT, None
    if task.cancelled():
        return OutcomeKind.RAISED, asyncio.CancelledError("the handler's task was cancelled")
    exc = task.exception()
    if exc is not None:
        return OutcomeKind.RAISED, exc
    return OutcomeKind.RETURNED, task.result()


def _consume(task: asyncio.Future[Any]) -> None:
    if not task.cancelled():
        task.exception()
