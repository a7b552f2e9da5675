"""Feeds the console's per-minute series (``wisp.console.usage``) from the gateway's own stats.

The gateway records every call in its ``FunctionStats`` (totals plus a bounded ring of recent
``(wall time, seconds, error)`` records, ``wisp.gateway.stats``). ``StatsTap.fold`` reads what
arrived since the last fold: each new record lands in the minute it happened; if more calls
arrived than the ring holds, the totals' difference lands in the current minute, so counts and
GB-seconds stay exact. Replica counts are sampled at each fold. Folding runs on a short timer and
before every read, so the hot path pays nothing for the console.
"""

from __future__ import annotations

from collections.abc import Iterable
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


class StatsTap:
    def __init__(self) -> None:
        self.series: dict[str, FunctionSeries] = {}
        self._seen: dict[str, _Seen] = {}

    def fold(self, observed: Iterable[Observed], now: float) -> None:
        for obs in observed:
            series = self.series.get(obs.key)
            if series is None:
                series = self.series[obs.key] = FunctionSeries(obs.name, obs.namespace)
            self._fold_one(series, obs, now)
        for series in self.series.values():
            series.prune(now)
        for key in [k for k, s in self.series.items() if not s.buckets]:
            del self.series[key]
            self._seen.pop(key, None)

    def _fold_one(self, series: FunctionSeries, obs: Observed, now: float) -> None:
        stats = obs.stats
        seen = self._seen.get(obs.key)
        if seen is None or seen.stats is not stats:  # a new function (or one re-created)
            seen = self._seen[obs.key] = _Seen(stats)
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
        current.replicas_ready = obs.replicas_ready
        if obs.replicas_desired is not None:
            current.replicas_desired = obs.replicas_desired
        seen.invocations = stats.invocations
        seen.errors = stats.errors
        seen.cold_starts = stats.cold_starts
        seen.gb_seconds = stats.gb_seconds
