"""Per-(function, principal) token buckets and the gateway's global in-flight cap.

Pure bookkeeping with the clock passed in: ``RateLimiter.take(key, limit, now)`` answers 0
(allowed) or the seconds until the caller may try again (the ``Retry-After``). Buckets that
have refilled completely are indistinguishable from new ones, so they are dropped when the
table grows past ``max_keys``; memory stays bounded however many principals call.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from dataclasses import dataclass

from wisp.api.function import RateLimit


@dataclass
class TokenBucket:
    rate: float  # tokens per second
    capacity: float
    tokens: float
    updated: float

    @classmethod
    def full(cls, limit: RateLimit, now: float) -> TokenBucket:
        return cls(float(limit.rps), float(limit.burst), float(limit.burst), now)

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def take(self, now: float) -> float:
        """0 when a token was taken; otherwise the seconds until one is available."""
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def is_full(self, now: float) -> bool:
        self._refill(now)
        return self.tokens >= self.capacity


class RateLimiter:
    def __init__(self, max_keys: int = 100_000) -> None:
        self.max_keys = max_keys
        self._buckets: OrderedDict[Hashable, tuple[RateLimit, TokenBucket]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def take(self, key: Hashable, limit: RateLimit, now: float) -> float:
        entry = self._buckets.get(key)
        if entry is None or entry[0] != limit:  # new caller, or the Function's limit changed
            entry = (limit, TokenBucket.full(limit, now))
            self._buckets[key] = entry
            if len(self._buckets) > self.max_keys:
                self._evict(now)
        else:
            self._buckets.move_to_end(key)
        return entry[1].take(now)

    def _evict(self, now: float) -> None:
        for key in [k for k, (_, bucket) in self._buckets.items() if bucket.is_full(now)]:
            del self._buckets[key]
        while len(self._buckets) > self.max_keys:  # all busy: forget the least recently seen
            self._buckets.popitem(last=False)


def retry_after_seconds(wait: float) -> int:
    """A ``Retry-After`` value: whole seconds, at least 1."""
    return max(1, math.ceil(wait))


class InflightCap:
    """At most ``limit`` requests at once (0: no limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.current = 0

    def try_enter(self) -> bool:
        if self.limit and self.current >= self.limit:
            return False
        self.current += 1
        return True

    def leave(self) -> None:
        self.current -= 1


class ByteBudget:
    """At most ``limit`` bytes reserved at once; a single reservation is capped at ``limit`` so
    that one large body can still pass when nothing else holds the budget."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.reserved = 0

    def try_take(self, size: int) -> int | None:
        """Reserve ``size`` bytes; the amount to ``give`` back later, or None when full."""
        size = min(size, self.limit)
        if self.reserved + size > self.limit:
            return None
        self.reserved += size
        return size

    def give(self, size: int) -> None:
        self.reserved -= size
