"""Traffic samples one gateway replica takes of one function.

``ConcurrencyMeter`` sits on the hot path: ``started``/``finished`` per call (including calls
held by the activator, which are demand too) keep a time-weighted in-flight integral, so a 5 ms
call counts for what it weighs. Once a second ``take`` closes a ``Bucket``; ``SampleWindow``
keeps the last stable window of buckets and summarises them as an ``Observation`` for the
decider. Pure: times are arguments (monotonic for the integral, epoch for ``last_active``).

A meter the loop has put to rest (``dormant``: its function is idle and out of the
``ActivityIndex``) calls its ``on_wake`` at its next call, once, so the loop samples it again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from wisp.autoscaler.decider import Observation


@dataclass(frozen=True)
class Bucket:
    time: float  # epoch seconds at the end of the bucket
    duration: float
    concurrency: float  # time-weighted average in flight
    requests: int
    in_flight: int  # in flight at the end


class ConcurrencyMeter:
    __slots__ = ("_area", "_bucket_start", "_last_change", "dormant", "in_flight", "on_wake", "requests")

    def __init__(self, now: float, on_wake: Callable[[], None] | None = None) -> None:
        self.in_flight = 0
        self.requests = 0
        self._area = 0.0
        self._last_change = now
        self._bucket_start = now
        self.dormant = False
        self.on_wake = on_wake

    def rest(self) -> None:
        """Nothing in flight and nobody samples this meter until its next call wakes it."""
        self.dormant = True

    def started(self, now: float) -> None:
        if self.dormant:
            # Unsampled since it went to rest: its next bucket starts now, not at the last take.
            self.dormant = False
            self._area = 0.0
            self._bucket_start = self._last_change = now
            if self.on_wake is not None:
                self.on_wake()
        self._area += self.in_flight * (now - self._last_change)
        self._last_change = now
        self.in_flight += 1
        self.requests += 1

    def finished(self, now: float) -> None:
        self._area += self.in_flight * (now - self._last_change)
        self._last_change = now
        self.in_flight -= 1

    def take(self, now: float, wall: float) -> Bucket:
        """Close the current bucket (``now`` monotonic, ``wall`` epoch) and start the next."""
        self._area += self.in_flight * (now - self._last_change)
        duration = max(now - self._bucket_start, 1e-6)
        bucket = Bucket(wall, duration, self._area / duration, self.requests, self.in_flight)
        self._area = 0.0
        self.requests = 0
        self._last_change = now
        self._bucket_start = now
        return bucket


class SampleWindow:
    """The last ``stable_window`` seconds of one function's buckets on one replica."""

    def __init__(self, stable_window: float = 60.0, panic_window: float = 6.0) -> None:
        self.stable_window = stable_window
        self.panic_window = panic_window
        self.buckets: deque[Bucket] = deque()
        self.last_active: float | None = None

    def add(self, bucket: Bucket) -> None:
        self.buckets.append(bucket)
        if bucket.requests or bucket.in_flight or bucket.concurrency > 0:
            self.last_active = bucket.time
        while self.buckets and self.buckets[0].time <= bucket.time - self.stable_window:
            self.buckets.popleft()

    @property
    def idle(self) -> bool:
        """Nothing in the window: the replica need not report this function."""
        return all(b.requests == 0 and b.in_flight == 0 and b.concurrency == 0 for b in self.buckets)

    def observe(self, now: float) -> Observation:
        stable = [b for b in self.buckets if b.time > now - self.stable_window]
        panic = [b for b in stable if b.time > now - self.panic_window]
        in_flight = self.buckets[-1].in_flight if self.buckets else 0
        return Observation(
            stable_concurrency=_avg_concurrency(stable),
            panic_concurrency=_avg_concurrency(panic),
            stable_rps=_rps(stable),
            panic_rps=_rps(panic),
            in_flight=in_flight,
            last_active=self.last_active,
        )


def _avg_concurrency(buckets: list[Bucket]) -> float:
    total = sum(b.duration for b in buckets)
    return sum(b.concurrency * b.duration for b in buckets) / total if total else 0.0


def _rps(buckets: list[Bucket]) -> float:
    total = sum(b.duration for b in buckets)
    return sum(b.requests for b in buckets) / total if total else 0.0


def merge(observations: list[Observation]) -> Observation:
    """Sum the replicas' observations of one function (averages over equal windows add up)."""
    actives = [o.last_active for o in observations if o.last_active is not None]
    return Observation(
        stable_concurrency=sum(o.stable_concurrency for o in observations),
        panic_concurrency=sum(o.panic_concurrency for o in observations),
        stable_rps=sum(o.stable_rps for o in observations),
        panic_rps=sum(o.panic_rps for o in observations),
        in_flight=sum(o.in_flight for o in observations),
        last_active=max(actives) if actives else None,
        queue_demand=sum(o.queue_demand for o in observations),
    )
