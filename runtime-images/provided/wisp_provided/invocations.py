"""The invocations waiting for the bootstrap, and the one it is working on: no I/O, no clock.

Lambda's model is one invocation at a time per runtime process: the bootstrap asks for the next
one (``/next``), answers it (``/response`` or ``/error``) and asks again. The contract side
(``server.py``) submits every admitted call here and awaits its ``Outcome``; the Runtime API
side (``runtimeapi.py``) hands calls out in arrival order and settles them. Calls beyond the
one in flight wait in a FIFO queue (the contract side bounds it by ``WISP_CONCURRENCY``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections import deque
from typing import NamedTuple

from wisp_runtime.logs import RequestScope


class OutcomeKind(enum.Enum):
    RESPONSE = "response"  # /response: the body is the function's answer
    ERROR = "error"  # /error: the function failed (error_type, body: Lambda's error JSON)
    FAILED = "failed"  # the bootstrap exited (or was stopped) while working on the call
    NOT_STARTED = "not-started"  # the runtime could not start the function: the call never ran


class Outcome(NamedTuple):
    kind: OutcomeKind
    body: bytes = b""
    error_type: str = ""
    message: str = ""


class Invocation:
    """One call: what ``/next`` tells the bootstrap, and the future its answer settles."""

    __slots__ = (
        "client_context",
        "deadline_ms",
        "future",
        "identity",
        "payload",
        "request_id",
        "scope",
        "trace_id",
    )

    def __init__(
        self,
        request_id: str,
        payload: bytes,
        deadline_ms: int,
        trace_id: str,
        client_context: str | None = None,
        identity: str | None = None,
    ) -> None:
        self.request_id = request_id
        self.payload = payload
        self.deadline_ms = deadline_ms
        self.trace_id = trace_id
        self.client_context = client_context  # JSON text, as Lambda-Runtime-Client-Context
        self.identity = identity  # JSON text, as Lambda-Runtime-Cognito-Identity
        self.future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        # Its log lines' scope; keeps them when the caller asked for the log's tail.
        self.scope: RequestScope | None = None

    def settle(self, outcome: Outcome) -> bool:
        if self.future.done():
            return False
        self.future.set_result(outcome)
        return True


class Broker:
    """Hands submitted invocations to the bootstrap one at a time."""

    def __init__(self) -> None:
        self._queue: deque[Invocation] = deque()
        self.current: Invocation | None = None  # handed out, not yet answered
        # The bootstrap's output belongs to the call handed out last, until it has the next one
        # (what it prints after answering, too, as Lambda's log stream has it).
        self.last: Invocation | None = None
        self._waiter: asyncio.Future[None] | None = None
        self._epoch = 0  # bumped when the bootstrap is gone: its pending /next must not get a call

    @property
    def queued(self) -> int:
        return len(self._queue)

    def submit(self, invocation: Invocation) -> None:
        self._queue.append(invocation)
        self._wake()

    def withdraw(self, invocation: Invocation) -> bool:
        """Forgets a call its caller gave up on; True if the bootstrap was working on it."""
        if self.current is invocation:
            self.current = None
            return True
        with contextlib.suppress(ValueError):
            self._queue.remove(invocation)
        return False

    async def next(self) -> Invocation | None:
        """The next call, once there is one; None if the bootstrap was replaced meanwhile."""
        epoch = self._epoch
        if self.current is not None:
            self.current.settle(
                Outcome(
                    OutcomeKind.FAILED,
                    error_type="Runtime.NoResponse",
                    message="the runtime asked for the next invocation without answering this one",
                )
            )
            self.current = None
        while True:
            while self._queue:
                invocation = self._queue.popleft()
                if not invocation.future.done():  # not already answered (its caller gave up)
                    self.current = self.last = invocation
                    return invocation
            if self._waiter is not None and not self._waiter.done():
                raise ConcurrentNext("another request for the next invocation is already waiting")
            self._waiter = asyncio.get_running_loop().create_future()
            await self._waiter  # (cancelling the awaiting task cancels it: no waiter is left)
            if self._epoch != epoch:
                return None

    def answer(self, request_id: str, outcome: Outcome) -> bool:
        """Settles the call in flight if ``request_id`` is its id; False otherwise."""
        current = self.current
        if current is None or current.request_id != request_id:
            return False
        self.current = None
        current.settle(outcome)
        return True

    def bootstrap_gone(self, outcome: Outcome) -> None:
        """The bootstrap exited or was killed: fail its call, release its pending ``/next``."""
        self._epoch += 1
        if self.current is not None:
            self.current.settle(outcome)
            self.current = None
        self._wake()

    def fail_queued(self, outcome: Outcome) -> None:
        """Answers every waiting call with ``outcome`` (the runtime cannot serve them)."""
        while self._queue:
            self._queue.popleft().settle(outcome)

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


class ConcurrentNext(RuntimeError):
    """Two ``/next`` requests at once: Lambda's runtime serves one invocation at a time."""
