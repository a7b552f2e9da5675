"""Feeds the console's per-minute series (``wisp.console.usage``) from the gateway's own stats.

The gateway records every call in its ``FunctionStats`` (totals plus a bounded ring of recent
``(wall time, seconds, error)`` records, ``wisp.gateway.stats``). ``StatsTap.fold`` reads what
arrived since the last fold: each new record lands in the minute it happened; if more calls
arrived than the ring holds, the totals' difference lands in the current minute, so counts and
GB-seconds stay exact. Replica counts are recorded when they change (the charts carry a level
forward). Folding runs on a short timer and before every read, so the hot path pays nothing for
the console.

A function with nothing new (no call, the same replicas) costs a fold a few comparisons and no
memory (``news``, asked before anything is made for it): no bucket is made for a minute with
nothing in it, so an idle Function has no series and no record at all, and a thousand idle
Functions do not grow the gateway by a bucket each a minute.
"""

from __future__ import annotations

from collections.abc import Container, Iterable
from dataclasses import dataclass

from wisp.api.names import function_key
from wisp.console.usage import FunctionSeries
from wisp.gateway.stats import FunctionStats


@dataclass(frozen=True)
class Observed:
    """What the tap reads of one function at a fold."""

    name: str
    namespace: str
    stats: FunctionStats
    memory_gib: float
    replicas_ready: int
    replicas_desired: int | None

    @property
    def key(self) -> str:
        return function_key(self.name, self.namespace)


@dataclass
class _Seen:
    stats: FunctionStats
    invocations: int = 0
    errors: int = 0
    cold_starts: int = 0
    gb_seconds: float = 0.0
    replicas_ready: int = 0  # as last recorded (none yet: at zero)
    replicas_desired: int | None = None

    def has_news(self, obs: Observed) -> bool:
        return self.differs(obs.stats, obs.replicas_ready, obs.replicas_desired)

    def differs(self, stats: FunctionStats, ready: int, desired: int | None) -> bool:
        return (
            stats.invocations != self.invocations
            or stats.cold_starts != self.cold_starts
            or stats.gb_seconds != self.gb_seconds
            or stats.errors != self.errors
            or ready != self.replicas_ready
            or (desired is not None and desired != self.replicas_desired)
        )


_NOTHING_SEEN = _Seen(FunctionStats())


class StatsTap:
    def __init__(self) -> None:
        self.series: dict[str, FunctionSeries] = {}
        self._seen: dict[str, _Seen] = {}

    def news(self, key: str, stats: FunctionStats, ready: int, desired: int | None) -> bool:
        """Whether a fold has anything to record for this function: what a caller asks before
        it makes an ``Observed`` of it."""
        seen = self._seen.get(key)
        if seen is None or seen.stats is not stats:
            seen = _NOTHING_SEEN
        return seen.differs(stats, ready, desired)

    def fold(self, observed: Iterable[Observed], now: float, present: Container[str] | None = None) -> None:
        """Record what is new in ``observed``. ``present``: the keys of every function there is,
        when ``observed`` holds only those with ``news`` (else its own keys are)."""
        seen_keys = set()
        for obs in observed:
            key = obs.key
            seen_keys.add(key)
            seen = self._seen.get(key)
            if seen is None or seen.stats is not obs.stats:  # a new function (or one re-created)
                seen = self._seen[key] = _Seen(obs.stats)
            if seen.has_news(obs):
                series = self.series.get(key)
                if series is None:
                    series = self.series[key] = FunctionSeries(obs.name, obs.namespace)
                self._fold_one(series, seen, obs, now)
        for key, series in list(self.series.items()):
            series.prune(now)
            if not series.buckets:
                del self.series[key]
        if present is None:
            present = seen_keys
        for key in [k for k in self._seen if k not in present]:  # gone from the gateway
            del self._seen[key]

    def _fold_one(self, series: FunctionSeries, seen: _Seen, obs: Observed, now: float) -> None:
        stats = obs.stats
        new_calls = stats.invocations - seen.invocations
        records = list(stats.recent)[-new_calls:] if new_calls > 0 else []
        counted_errors = 0
        counted_gb = 0.0
        for wall, seconds, error in records:
            series.bucket(wall).add_call(seconds, error, obs.memory_gib)
            counted_errors += error
            counted_gb += seconds * obs.memory_gib
        current = series.bucket(now)
        # Calls the ring no longer held, and the exact GB-seconds total, go to the current minute.
        current.invocations += new_calls - len(records)
        current.errors += max(0, stats.errors - seen.errors - counted_errors)
        current.gb_seconds += max(0.0, stats.gb_seconds - seen.gb_seconds - counted_gb)
        current.cold_starts += stats.cold_starts - seen.cold_starts
        current.replicas_ready = seen.replicas_ready = obs.replicas_ready
        if obs.replicas_desired is not None:
            current.replicas_desired = seen.replicas_desired = obs.replicas_desired
        seen.invocations = stats.invocations
        seen.errors = stats.errors
        seen.cold_starts = stats.cold_starts
        seen.gb_seconds = stats.gb_seconds
