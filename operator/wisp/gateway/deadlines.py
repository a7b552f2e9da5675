"""Call deadlines without a loop timer for each call.

``asyncio.timeout`` arms a timer per call (on uvloop a libuv timer handle made, started, stopped
and closed) inside a context manager's bookkeeping: about a tenth of the gateway's CPU per
proxied call. A call's limit is its Function's timeout, seconds long, and nearly every call ends
well within it, so ``Deadlines`` keeps the calls in flight in a set and runs one sweep at the
earliest deadline among them: a call past its deadline is cancelled there, and leaving its
``with`` turns that cancellation into ``TimeoutError``, as ``asyncio.timeout`` does. A deadline up
to ``SLACK`` seconds earlier than the planned sweep waits for it rather than moving it, so a
call may overrun by that much; once no call is in flight, the last sweep finds nothing and
schedules no other (an idle gateway runs no timer for this). A call that runs without a task of
its own (``wisp.gateway.direct``) takes an ``Alarm`` instead, which the sweep calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

SLACK = 0.05


class _Due:
    """A call in flight until ``when`` (loop time), among the ``live`` ones until it ends."""

    __slots__ = ("live", "when")

    when: float
    live: set[_Due]

    def end(self) -> None:
        """The call is over, or no longer limited by this; idempotent."""
        self.live.discard(self)

    def fire(self) -> None:
        raise NotImplementedError


class Deadline(_Due):
    """One call's deadline: ``with`` it around the call, which then raises ``TimeoutError`` when
    cancelled for being overdue, as under ``asyncio.timeout``."""

    __slots__ = ("cancelling", "fired", "task")

    def __init__(self, when: float, task: asyncio.Task[object], live: set[_Due]) -> None:
        self.when = when  # set here rather than by _Due's __init__: one call less for every call
        self.live = live
        self.task = task
        self.cancelling = task.cancelling()
        self.fired = False

    def __enter__(self) -> Deadline:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        self.end()
        if kind is asyncio.CancelledError and self.expired():
            raise TimeoutError from None

    def fire(self) -> None:
        self.fired = True
        self.task.cancel()

    def expired(self) -> bool:
        """Whether the task's ``CancelledError`` is this deadline's; if so the cancellation is
        taken back (``asyncio.timeout``'s rule: not when someone else cancelled it too)."""
        return self.fired and self.task.uncancel() <= self.cancelling


class Alarm(_Due):
    """A deadline that calls ``callback`` when it passes (unless ended first)."""

    __slots__ = ("callback",)

    def __init__(self, when: float, callback: Callable[[], None], live: set[_Due]) -> None:
        self.when = when
        self.live = live
        self.callback = callback

    def fire(self) -> None:
        self.callback()


class Deadlines:
    def __init__(self) -> None:
        self._live: set[_Due] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweep: asyncio.TimerHandle | None = None
        self._sweep_at = 0.0

    def start(self, limit: float) -> Deadline:
        """The running task's deadline, ``limit`` seconds from now, for a ``with``."""
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._use(loop)
        task = asyncio.current_task(loop)
        if task is None:
            raise RuntimeError("a deadline needs a task")
        deadline = Deadline(loop.time() + limit, task, self._live)
        self._add(loop, deadline)
        return deadline

    def alarm(self, loop: asyncio.AbstractEventLoop, limit: float, callback: Callable[[], None]) -> Alarm:
        """``callback`` called ``limit`` seconds from now on ``loop`` (the running one), unless
        the alarm is ended first."""
        if loop is not self._loop:
            self._use(loop)
        alarm = Alarm(loop.time() + limit, callback, self._live)
        self._add(loop, alarm)
        return alarm

    def _use(self, loop: asyncio.AbstractEventLoop) -> None:
        # Another loop (a test's): what the last one kept is moot.
        self._loop = loop
        self._live = set()
        self._sweep = None

    def _add(self, loop: asyncio.AbstractEventLoop, due: _Due) -> None:
        self._live.add(due)
        if self._sweep is None or due.when < self._sweep_at - SLACK:
            self._plan(loop, due.when)

    def _plan(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._sweep is not None:
            self._sweep.cancel()
        self._sweep_at = when
        self._sweep = loop.call_at(when, self._run)

    def _run(self) -> None:
        self._sweep = None
        loop = self._loop
        if loop is None:
            return
        now = loop.time()
        earliest: float | None = None
        overdue: list[_Due] = []
        for deadline in self._live:
            if deadline.when <= now:
                overdue.append(deadline)
            elif earliest is None or deadline.when < earliest:
                earliest = deadline.when
        for deadline in overdue:
            self._live.discard(deadline)
            deadline.fire()
        if earliest is not None:
            self._plan(loop, max(earliest, now + SLACK))
