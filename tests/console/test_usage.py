"""Usage math: per-minute buckets, percentiles, hour/day rows, price, CSV, and the tap that folds
the gateway's per-call stats into them. Pure: every function takes ``now``."""

from __future__ import annotations

import csv
import io

import pytest

from wisp.console.tap import Observed, StatsTap
from wisp.console.usage import (
    DEFAULT_PRICE_PER_GB_SECOND,
    RING_MINUTES,
    FunctionSeries,
    NamespaceUsage,
    Period,
    namespace_usage,
    percentile_ms,
    price_per_gb_second,
    series_points,
    usage_csv,
    usage_rows,
)
from wisp.gateway.stats import RECENT, FunctionStats

T0 = 1_700_000_000 - 1_700_000_000 % 86400  # a UTC midnight


def series_with(calls: list[tuple[float, float, bool]], memory_gib: float = 0.5) -> FunctionSeries:
    s = FunctionSeries("fn", "default")
    for wall, seconds, error in calls:
        s.bucket(wall).add_call(seconds, error, memory_gib)
    return s


def test_calls_land_in_their_minute_and_empty_minutes_are_zero() -> None:
    s = series_with([(T0 + 5, 0.1, False), (T0 + 59, 0.3, True), (T0 + 125, 0.2, False)])
    points = series_points(s, now=T0 + 130, minutes=3)
    assert [(p.start - T0, p.invocations, p.errors) for p in points] == [(0, 2, 1), (60, 0, 0), (120, 1, 0)]
    assert points[0].gb_seconds == pytest.approx(0.4 * 0.5)
    assert (points[0].p50_ms, points[0].p95_ms, points[1].p95_ms) == (100.0, 300.0, None)


def test_late_records_go_to_their_own_minute() -> None:
    s = series_with([(T0 + 130, 0.1, False), (T0 + 10, 0.1, False)])
    assert [b.start - T0 for b in s.buckets] == [0, 120]


def test_percentiles_are_nearest_rank() -> None:
    values = [i / 1000 for i in range(1, 101)]  # 1..100 ms
    assert percentile_ms(values, 0.50) == 50.0
    assert percentile_ms(values, 0.95) == 95.0
    assert percentile_ms(values, 0.99) == 99.0
    assert percentile_ms([], 0.5) is None


def test_replica_levels_carry_forward_into_quiet_minutes() -> None:
    s = FunctionSeries("fn", "default")
    b = s.bucket(T0)
    b.replicas_ready, b.replicas_desired = 2, 3
    points = series_points(s, now=T0 + 180, minutes=3)  # the window opens after the sample
    assert [(p.replicas_ready, p.replicas_desired) for p in points] == [(2, 3)] * 3


def test_ring_keeps_24_hours() -> None:
    s = series_with([(T0, 1, False), (T0 + 3600, 1, False)])
    s.prune(T0 + RING_MINUTES * 60 + 30)
    assert [b.start - T0 for b in s.buckets] == [3600]


def test_usage_rows_per_hour_and_day_with_price() -> None:
    calls = [(T0 + 60, 2.0, False), (T0 + 3599, 1.0, False), (T0 + 3600, 4.0, True)]
    s = series_with(calls, memory_gib=0.25)
    hourly = usage_rows([s], now=T0 + 4000, period=Period.HOUR, price=0.5)
    assert [(r.period_start - T0, r.invocations, r.gb_seconds, r.cost) for r in hourly] == [
        (0, 2, 0.75, 0.375),
        (3600, 1, 1.0, 0.5),
    ]
    daily = usage_rows([s], now=T0 + 4000, period=Period.DAY, price=0.5)
    assert [(r.period_start, r.invocations, r.gb_seconds) for r in daily] == [(T0, 3, 1.75)]
    assert usage_rows([s], now=T0 + 4000, period=Period.DAY, price=0.5, function="other") == []


def test_usage_is_reported_per_namespace_and_filtered_by_one() -> None:
    tenants = []
    for name, namespace, calls in (("fn", "team-a", 2), ("other", "team-a", 1), ("fn", "team-b", 3)):
        s = FunctionSeries(name, namespace)
        for i in range(calls):
            s.bucket(T0 + i).add_call(1.0, False, 0.5)
        tenants.append(s)
    rows = usage_rows(tenants, now=T0 + 60, period=Period.DAY, price=2.0)
    assert namespace_usage(rows) == [
        NamespaceUsage("team-a", invocations=3, gb_seconds=1.5, cost=3.0),
        NamespaceUsage("team-b", invocations=3, gb_seconds=1.5, cost=3.0),
    ]
    only_b = usage_rows(tenants, now=T0 + 60, period=Period.DAY, price=2.0, namespace="team-b")
    assert [(r.function, r.namespace, r.invocations) for r in only_b] == [("fn", "team-b", 3)]
    one = usage_rows(tenants, now=T0 + 60, period=Period.DAY, price=2.0, function="fn", namespace="team-a")
    assert [(r.function, r.namespace, r.invocations) for r in one] == [("fn", "team-a", 2)]
    assert namespace_usage([]) == []


def test_usage_window_leaves_out_older_minutes() -> None:
    s = series_with([(T0, 1.0, False), (T0 + 7200, 1.0, False)], memory_gib=1)
    rows = usage_rows([s], now=T0 + 7300, period=Period.HOUR, price=1, window=3600)
    assert [r.period_start - T0 for r in rows] == [7200]


def test_csv_has_a_header_and_one_line_per_row() -> None:
    s = series_with([(T0 + 60, 2.0, False)], memory_gib=0.125)
    text = usage_csv(
        usage_rows([s], now=T0 + 120, period=Period.HOUR, price=DEFAULT_PRICE_PER_GB_SECOND),
        DEFAULT_PRICE_PER_GB_SECOND,
    )
    assert text.splitlines()[0] == (
        "function,namespace,period,period_start,invocations,gb_seconds,price_per_gb_second,cost_usd"
    )
    (row,) = list(csv.DictReader(io.StringIO(text)))
    assert row == {
        "function": "fn",
        "namespace": "default",
        "period": "hour",
        "period_start": "2023-11-14T00:00:00Z",
        "invocations": "1",
        "gb_seconds": "0.250000",
        "price_per_gb_second": "1.66667e-05",
        "cost_usd": "0.00000417",
    }


def test_price_comes_from_the_environment() -> None:
    assert price_per_gb_second({}) == DEFAULT_PRICE_PER_GB_SECOND == 0.0000166667
    assert price_per_gb_second({"WISP_PRICE_PER_GB_SECOND": "0.00001"}) == 0.00001
    with pytest.raises(ValueError, match="WISP_PRICE_PER_GB_SECOND"):
        price_per_gb_second({"WISP_PRICE_PER_GB_SECOND": "-1"})


def observed(stats: FunctionStats, ready: int = 1, desired: int | None = 1) -> Observed:
    return Observed("fn", "default", stats, 0.5, ready, desired)


def test_tap_folds_new_calls_into_their_minutes_once() -> None:
    stats = FunctionStats()
    tap = StatsTap()
    stats.record(T0 + 10, 0.2, 200, 0.5)
    stats.record(T0 + 70, 0.4, 503, 0.5)
    tap.fold([observed(stats)], now=T0 + 80)
    tap.fold([observed(stats)], now=T0 + 90)  # nothing new: nothing counted twice
    points = series_points(tap.series["fn.default"], now=T0 + 90, minutes=2)
    assert [(p.invocations, p.errors) for p in points] == [(1, 0), (1, 1)]
    assert sum(p.gb_seconds for p in points) == pytest.approx(stats.gb_seconds)
    assert points[-1].replicas_ready == 1


def test_tap_counts_calls_the_ring_no_longer_holds_in_the_current_minute() -> None:
    stats = FunctionStats()
    tap = StatsTap()
    extra = 10
    for i in range(RECENT + extra):
        stats.record(T0 + i * 0.001, 0.01, 500 if i < extra else 200, 0.5)
    tap.fold([observed(stats)], now=T0 + 30)
    (point,) = series_points(tap.series["fn.default"], now=T0 + 30, minutes=1)
    assert point.invocations == RECENT + extra
    assert point.errors == extra
    assert point.gb_seconds == pytest.approx(stats.gb_seconds)


def test_tap_starts_over_for_a_recreated_function() -> None:
    tap = StatsTap()
    old = FunctionStats()
    old.record(T0, 0.1, 200, 0.5)
    tap.fold([observed(old)], now=T0 + 1)
    new = FunctionStats()
    new.record(T0 + 2, 0.1, 200, 0.5)
    tap.fold([observed(new)], now=T0 + 3)
    (point,) = series_points(tap.series["fn.default"], now=T0 + 3, minutes=1)
    assert point.invocations == 2


def test_an_idle_function_at_zero_gets_no_series_and_no_bucket_a_minute() -> None:
    tap = StatsTap()
    idle = [Observed(f"fn{i}", "default", FunctionStats(), 0.5, 0, None) for i in range(100)]
    for minute in range(10):
        tap.fold(idle, now=T0 + 60 * minute)
    assert tap.series == {}


def test_a_series_gets_a_bucket_only_for_minutes_with_a_call_or_a_change_of_replicas() -> None:
    stats = FunctionStats()
    tap = StatsTap()
    stats.record(T0 + 5, 0.2, 200, 0.5)
    tap.fold([observed(stats, ready=1, desired=1)], now=T0 + 10)
    for minute in range(1, 5):  # still one replica, no calls: nothing to record
        tap.fold([observed(stats, ready=1, desired=1)], now=T0 + 60 * minute + 10)
    tap.fold([observed(stats, ready=0, desired=0)], now=T0 + 300 + 10)
    series = tap.series["fn.default"]
    assert [b.start - T0 for b in series.buckets] == [0, 300]
    points = series_points(series, now=T0 + 310, minutes=6)
    assert [p.replicas_ready for p in points] == [1, 1, 1, 1, 1, 0]  # the level carried forward
    assert [p.invocations for p in points] == [1, 0, 0, 0, 0, 0]


def test_a_function_whose_series_aged_out_is_not_counted_again() -> None:
    stats = FunctionStats()
    tap = StatsTap()
    stats.record(T0, 0.1, 200, 0.5)
    tap.fold([observed(stats, ready=0, desired=0)], now=T0 + 1)
    day_later = T0 + 25 * 3600
    tap.fold([observed(stats, ready=0, desired=0)], now=day_later)
    assert "fn.default" not in tap.series  # pruned: its one call is older than the ring
    tap.fold([observed(stats, ready=0, desired=0)], now=day_later + 60)
    assert "fn.default" not in tap.series  # and that call is not counted as new


def test_the_tap_is_asked_before_a_function_is_read_and_keeps_what_it_counted() -> None:
    """The gateway folds only the functions with news (``StatsTap.news``), naming all it has:
    an idle one is never read nor remembered, one that rests keeps its counts (its next call is
    counted once), one the gateway no longer has is forgotten."""
    tap = StatsTap()
    idle, busy = FunctionStats(), FunctionStats()
    present = {"idle.default", "fn.default"}
    assert not tap.news("idle.default", idle, 0, None)
    assert tap.news("idle.default", idle, 0, 0)  # a published replica count is news
    busy.record(T0 + 1, 0.1, 200, 0.5)
    assert tap.news("fn.default", busy, 0, None)
    tap.fold([observed(busy, ready=0)], now=T0 + 2, present=present)
    for minute in range(1, 4):  # resting: not folded, not forgotten
        assert not tap.news("fn.default", busy, 0, None)
        tap.fold([], now=T0 + 60 * minute, present=present)
    busy.record(T0 + 200, 0.1, 200, 0.5)
    assert tap.news("fn.default", busy, 0, None)
    tap.fold([observed(busy, ready=0)], now=T0 + 201, present=present)
    points = series_points(tap.series["fn.default"], now=T0 + 201, minutes=4)
    assert [p.invocations for p in points] == [1, 0, 0, 1]
    assert "idle.default" not in tap._seen
    tap.fold([], now=T0 + 202, present={"idle.default"})  # fn is gone from the gateway
    assert "fn.default" not in tap._seen
