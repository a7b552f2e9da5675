"""Per-minute time series of each function's calls and the usage (GB-seconds) billed for them.

Data comes from the gateway's per-call observations (folded in by ``wisp.console.tap``) and goes
to the console's charts, its usage table and CSV export, and ``wisp usage``. One ring of
per-minute buckets per function covers the last 24 hours; everything here is pure and takes
``now`` (epoch seconds) as an argument.

Billed usage is Lambda's: call duration times memory in GiB, priced per GB-second
(``WISP_PRICE_PER_GB_SECOND``, default Lambda's x86 price).
"""

from __future__ import annotations

import csv
import enum
import io
import math
import os
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from wisp.api.names import function_key

MINUTE = 60
HOUR = 3600
DAY = 86400
RING_MINUTES = 24 * 60
DURATION_SAMPLES = 2048  # per minute: the last this many durations feed its percentiles
DEFAULT_PRICE_PER_GB_SECOND = 0.0000166667
PRICE_ENV = "WISP_PRICE_PER_GB_SECOND"


class Period(enum.Enum):
    """How usage rows are grouped."""

    HOUR = "hour"
    DAY = "day"

    @property
    def seconds(self) -> int:
        return HOUR if self is Period.HOUR else DAY


def price_per_gb_second(env: Mapping[str, str] | None = None) -> float:
    """The configured price, or Lambda's default when unset; a bad value is an error."""
    raw = (os.environ if env is None else env).get(PRICE_ENV, "").strip()
    if not raw:
        return DEFAULT_PRICE_PER_GB_SECOND
    price = float(raw)
    if price < 0 or not math.isfinite(price):
        raise ValueError(f"{PRICE_ENV} must be a non-negative number, got {raw!r}")
    return price


@dataclass
class MinuteBucket:
    start: int  # epoch seconds, a multiple of 60
    invocations: int = 0
    errors: int = 0
    cold_starts: int = 0
    gb_seconds: float = 0.0
    durations: list[float] = field(default_factory=list)  # seconds, at most DURATION_SAMPLES
    replicas_ready: int | None = None
    replicas_desired: int | None = None
    _next_sample: int = 0

    def add_call(self, seconds: float, error: bool, memory_gib: float) -> None:
        self.invocations += 1
        self.errors += error
        self.gb_seconds += seconds * memory_gib
        if len(self.durations) < DURATION_SAMPLES:
            self.durations.append(seconds)
        else:  # keep the most recent samples: overwrite the oldest
            self.durations[self._next_sample] = seconds
            self._next_sample = (self._next_sample + 1) % DURATION_SAMPLES


def minute_of(now: float) -> int:
    return int(now // MINUTE) * MINUTE


@dataclass
class FunctionSeries:
    """The last 24 hours of one function, a bucket per minute that saw anything (a call, a change
    of replicas)."""

    name: str
    namespace: str
    buckets: deque[MinuteBucket] = field(default_factory=lambda: deque(maxlen=RING_MINUTES))

    @property
    def key(self) -> str:
        return function_key(self.name, self.namespace)

    def bucket(self, when: float) -> MinuteBucket:
        """The bucket of ``when``, created if needed (calls arrive in time order, nearly)."""
        start = minute_of(when)
        buckets = self.buckets
        if buckets and buckets[-1].start == start:
            return buckets[-1]
        index = len(buckets)
        while index > 0 and buckets[index - 1].start > start:
            index -= 1
        if index > 0 and buckets[index - 1].start == start:
            return buckets[index - 1]
        created = MinuteBucket(start)
        if index == len(buckets):
            buckets.append(created)
        elif len(buckets) < RING_MINUTES:  # a late record for a minute with no bucket yet
            buckets.insert(index, created)
        else:
            return buckets[index]  # the ring is full: count it in the next minute
        return created

    def prune(self, now: float) -> None:
        horizon = minute_of(now) - RING_MINUTES * MINUTE
        while self.buckets and self.buckets[0].start <= horizon:
            self.buckets.popleft()


@dataclass(frozen=True)
class SeriesPoint:
    start: int
    invocations: int
    errors: int
    cold_starts: int
    gb_seconds: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    replicas_ready: int | None
    replicas_desired: int | None

    def as_json(self) -> dict[str, object]:
        return {
            "t": self.start,
            "invocations": self.invocations,
            "errors": self.errors,
            "coldStarts": self.cold_starts,
            "gbSeconds": round(self.gb_seconds, 6),
            "p50Ms": self.p50_ms,
            "p95Ms": self.p95_ms,
            "p99Ms": self.p99_ms,
            "replicasReady": self.replicas_ready,
            "replicasDesired": self.replicas_desired,
        }


def percentile_ms(values: list[float], q: float) -> float | None:
    """The nearest-rank percentile of durations in seconds, in milliseconds."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return round(ordered[rank - 1] * 1000, 3)


def series_points(series: FunctionSeries, now: float, minutes: int) -> list[SeriesPoint]:
    """One point per minute of the last ``minutes`` (empty minutes included, as zeros).

    Replica counts carry forward through minutes without a sample, so the chart shows a level.
    """
    end = minute_of(now)
    start = end - (minutes - 1) * MINUTE
    by_start = {b.start: b for b in series.buckets if b.start >= start}
    ready: int | None = None
    desired: int | None = None
    for before in series.buckets:  # the level before the window opens
        if before.start >= start:
            break
        ready = before.replicas_ready if before.replicas_ready is not None else ready
        desired = before.replicas_desired if before.replicas_desired is not None else desired
    points = []
    for t in range(start, end + MINUTE, MINUTE):
        b = by_start.get(t)
        if b is None:
            points.append(SeriesPoint(t, 0, 0, 0, 0.0, None, None, None, ready, desired))
            continue
        ready = b.replicas_ready if b.replicas_ready is not None else ready
        desired = b.replicas_desired if b.replicas_desired is not None else desired
        points.append(
            SeriesPoint(
                t,
                b.invocations,
                b.errors,
                b.cold_starts,
                b.gb_seconds,
                percentile_ms(b.durations, 0.50),
                percentile_ms(b.durations, 0.95),
                percentile_ms(b.durations, 0.99),
                ready,
                desired,
            )
        )
    return points


@dataclass(frozen=True)
class UsageRow:
    function: str
    namespace: str
    period_start: int  # epoch seconds
    period: Period
    invocations: int
    gb_seconds: float
    cost: float

    def as_json(self) -> dict[str, object]:
        return {
            "function": self.function,
            "namespace": self.namespace,
            "periodStart": iso(self.period_start),
            "period": self.period.value,
            "invocations": self.invocations,
            "gbSeconds": round(self.gb_seconds, 6),
            "cost": self.cost,
        }


def usage_rows(
    series: Iterable[FunctionSeries],
    now: float,
    period: Period,
    price: float,
    *,
    window: int = DAY,
    function: str | None = None,
    namespace: str | None = None,
) -> list[UsageRow]:
    """Billed GB-seconds per function per period (UTC hours or days) over the last ``window``,
    of one function and/or one namespace if given.

    Only periods with calls appear. Rows are sorted by namespace, function, then time.
    """
    horizon = now - window
    rows: list[UsageRow] = []
    for s in series:
        if (function is not None and s.name != function) or (
            namespace is not None and s.namespace != namespace
        ):
            continue
        groups: dict[int, list[MinuteBucket]] = {}
        for b in s.buckets:
            if b.start + MINUTE <= horizon or b.start > now:
                continue
            groups.setdefault(b.start - b.start % period.seconds, []).append(b)
        for start, buckets in sorted(groups.items()):
            calls = sum(b.invocations for b in buckets)
            gb = sum(b.gb_seconds for b in buckets)
            if calls == 0 and gb == 0:
                continue
            rows.append(UsageRow(s.name, s.namespace, start, period, calls, gb, gb * price))
    rows.sort(key=lambda r: (r.namespace, r.function, r.period_start))
    return rows


@dataclass(frozen=True)
class NamespaceUsage:
    """One namespace's (tenant's) usage: the sum of its rows."""

    namespace: str
    invocations: int
    gb_seconds: float
    cost: float

    def as_json(self) -> dict[str, object]:
        return {
            "namespace": self.namespace,
            "invocations": self.invocations,
            "gbSeconds": round(self.gb_seconds, 6),
            "cost": self.cost,
        }


def namespace_usage(rows: Iterable[UsageRow]) -> list[NamespaceUsage]:
    """Usage per namespace, sorted by namespace: what each tenant is billed."""
    sums: dict[str, tuple[int, float, float]] = {}
    for r in rows:
        calls, gb, cost = sums.get(r.namespace, (0, 0.0, 0.0))
        sums[r.namespace] = (calls + r.invocations, gb + r.gb_seconds, cost + r.cost)
    return [NamespaceUsage(ns, *sums[ns]) for ns in sorted(sums)]


CSV_COLUMNS = (
    "function",
    "namespace",
    "period",
    "period_start",
    "invocations",
    "gb_seconds",
    "price_per_gb_second",
    "cost_usd",
)


def usage_csv(rows: Iterable[UsageRow], price: float) -> str:
    """The rows as CSV with a header line (RFC 4180, ``\\r\\n`` line ends)."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in rows:
        writer.writerow(
            (
                r.function,
                r.namespace,
                r.period.value,
                iso(r.period_start),
                r.invocations,
                f"{r.gb_seconds:.6f}",
                f"{price:.10g}",
                f"{r.cost:.8f}",
            )
        )
    return out.getvalue()


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
