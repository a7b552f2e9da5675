"""Per-function endpoint bookkeeping: least-in-flight choice, per-pod caps, a FIFO of waiters.

Pure data structure (no asyncio, no I/O): waiters are opaque objects and every method that frees
capacity returns the ``(waiter, slot)`` grants it made, for the caller to wake. A slot's
``in_flight`` already counts a granted call, so a pod never gets more than ``capacity`` calls.

A slot whose connection failed is taken out of rotation until the endpoint set says it is ready
again (it left the set and came back), or ``FAILED_HOLD`` seconds passed and it is still in
the ready set (``revive``, scheduled by the registry): then it gets calls again, and leaves
again at the next failure.

A pod can be fuller than this gateway knows (other gateway replicas send it calls too): when
its runtime refuses a call for being at its concurrency (``mark_full``), the slot's estimate of
what the pod takes is lowered to the calls this gateway still has on it, for ``FULL_HOLD``
seconds (``restore``, scheduled by the registry), so held calls go to it only as ours finish.

A warm pool pod that has just taken its function (``Endpoint.pool``) starts slowly: one call
until it has answered one or ``FIRST_CALL_HOLD`` seconds passed, then its capacity. The held
calls of a burst would otherwise all reach a runtime whose code has never run (a cold JIT) at
once, and the first answer would wait on their reading; a slow handler delays the rest by the
hold at most.
"""

from __future__ import annotations

import contextlib
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from wisp.gateway.backend import Endpoint

W = TypeVar("W")

FAILED_HOLD = 2.0
FULL_HOLD = 0.25
FIRST_CALL_HOLD = 0.1


@dataclass(eq=False)
class Slot:
    endpoint: Endpoint
    in_flight: int = 0
    healthy: bool = True
    failed_at: float = 0.0
    present: bool = True  # still in the ready set; calls to a removed endpoint just finish
    limit: int | None = None  # lowered below capacity after the pod refused a call as full
    full_until: float = 0.0
    starting: bool = False  # a fresh pool pod's one call at first (``FIRST_CALL_HOLD``)


class EndpointPool(Generic[W]):
    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.slots: dict[str, Slot] = {}
        self.waiters: deque[W] = deque()
        self._rotation: list[Slot] = []

    # -- endpoint set ---------------------------------------------------------------------------

    def set_endpoints(self, endpoints: Iterable[Endpoint], now: float) -> list[tuple[W, Slot]]:
        """Replace the ready set; returns grants for waiters that can now run."""
        fresh: dict[str, Slot] = {}
        for endpoint in endpoints:
            slot = self.slots.get(endpoint.address)
            if slot is None:
                slot = Slot(endpoint)
                if endpoint.pool:
                    slot.limit, slot.full_until, slot.starting = 1, now + FIRST_CALL_HOLD, True
            elif not slot.healthy and now - slot.failed_at >= FAILED_HOLD:
                slot.healthy = True
            slot.endpoint = endpoint
            slot.present = True
            fresh[endpoint.address] = slot
        for address, slot in self.slots.items():
            if address not in fresh:
                slot.present = False
        self.slots = fresh
        self._rebuild()
        return self._grant_all()

    def set_capacity(self, capacity: int) -> list[tuple[W, Slot]]:
        self.capacity = capacity
        return self._grant_all()

    def mark_failed(self, slot: Slot, now: float) -> None:
        """Take a slot out of rotation after a connection failure."""
        slot.healthy = False
        slot.failed_at = now
        self._rebuild()

    def revive(self, now: float) -> list[tuple[W, Slot]]:
        """Give failed slots still in the ready set another chance once ``FAILED_HOLD`` passed
        (the endpoint watch may never re-announce a pod that was ready all along)."""
        changed = False
        for slot in self.slots.values():
            if not slot.healthy and now - slot.failed_at >= FAILED_HOLD:
                slot.healthy = True
                changed = True
        if changed:
            self._rebuild()
        return self._grant_all()

    def mark_full(self, slot: Slot, now: float) -> None:
        """The pod refused a call on ``slot`` (still counted in its ``in_flight``) for being at
        its concurrency: until ``FULL_HOLD`` passes, it takes only the calls we still have on it."""
        slot.limit = max(0, slot.in_flight - 1)
        slot.full_until = now + FULL_HOLD

    def restore(self, now: float) -> list[tuple[W, Slot]]:
        """Full capacity again for slots whose ``FULL_HOLD`` (or ``FIRST_CALL_HOLD``) passed;
        returns the grants made."""
        for slot in self.slots.values():
            if slot.limit is not None and now >= slot.full_until:
                slot.limit, slot.starting = None, False
        return self._grant_all()

    @property
    def starting(self) -> bool:
        """Whether a slot is taking one call at first (the caller schedules ``restore``)."""
        return any(slot.starting for slot in self.slots.values())

    @property
    def has_endpoints(self) -> bool:
        """Whether any endpoint is in rotation (else a call is a cold start)."""
        return bool(self._rotation)

    @property
    def ready_count(self) -> int:
        return len(self._rotation)

    # -- calls -----------------------------------------------------------------------------------

    def try_acquire(self) -> Slot | None:
        """The in-rotation slot with the fewest calls in flight, if one is below capacity."""
        best: Slot | None = None
        for slot in self._rotation:
            if slot.in_flight < self._cap(slot) and (best is None or slot.in_flight < best.in_flight):
                best = slot
                if slot.in_flight == 0:
                    break
        if best is not None:
            best.in_flight += 1
        return best

    def release(self, slot: Slot) -> list[tuple[W, Slot]]:
        """A call on ``slot`` ended; hand its capacity to the first waiter if any can use it (a
        starting pool pod's first answer opens its whole capacity to the waiters)."""
        slot.in_flight -= 1
        if slot.starting:
            slot.limit, slot.starting = None, False
            return self._grant_all()
        if not self.waiters:
            return []
        if slot.healthy and slot.present and slot.in_flight < self._cap(slot):
            slot.in_flight += 1
            return [(self.waiters.popleft(), slot)]
        grant = self.try_acquire()
        if grant is None:
            return []
        return [(self.waiters.popleft(), grant)]

    def enqueue(self, waiter: W) -> None:
        self.waiters.append(waiter)

    def discard(self, waiter: W) -> None:
        with contextlib.suppress(ValueError):
            self.waiters.remove(waiter)

    def drain_waiters(self) -> list[W]:
        """Remove and return every waiter (the function went away or cannot run)."""
        waiters = list(self.waiters)
        self.waiters.clear()
        return waiters

    @property
    def in_flight(self) -> int:
        return sum(slot.in_flight for slot in self.slots.values())

    def _cap(self, slot: Slot) -> int:
        return self.capacity if slot.limit is None else min(self.capacity, slot.limit)

    def _rebuild(self) -> None:
        self._rotation = [s for s in self.slots.values() if s.healthy and s.present]

    def _grant_all(self) -> list[tuple[W, Slot]]:
        grants: list[tuple[W, Slot]] = []
        while self.waiters:
            slot = self.try_acquire()
            if slot is None:
                break
            grants.append((self.waiters.popleft(), slot))
        return grants
