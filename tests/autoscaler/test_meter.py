"""Samples of one replica's traffic: time-weighted concurrency, windows, merging, encoding."""

from __future__ import annotations

import pytest

from wisp.autoscaler.exchange import decode, encode
from wisp.autoscaler.meter import ConcurrencyMeter, SampleWindow, merge


def test_meter_weights_in_flight_by_time() -> None:
    meter = ConcurrencyMeter(0.0)
    meter.started(0.0)
    meter.started(0.5)
    meter.finished(1.0)
    bucket = meter.take(1.0, wall=100.0)
    # one call for the whole second, a second one for half of it
    assert bucket.concurrency == pytest.approx(1.5)
    assert bucket.requests == 2
    assert bucket.in_flight == 1
    nxt = meter.take(2.0, wall=101.0)
    assert nxt.concurrency == pytest.approx(1.0)
    assert nxt.requests == 0


def test_window_averages_stable_and_panic_and_forgets_old_buckets() -> None:
    meter = ConcurrencyMeter(0.0)
    window = SampleWindow(stable_window=60, panic_window=6)
    for second in range(1, 121):
        if second == 115:
            for _ in range(10):
                meter.started(float(second - 1))
        window.add(meter.take(float(second), wall=1000.0 + second))
    assert len(window.buckets) == 60
    seen = window.observe(1120.0)
    assert seen.panic_concurrency == pytest.approx(10.0)  # 6 buckets of 10
    assert seen.stable_concurrency == pytest.approx(1.0)  # 60 buckets, 6 of them at 10
    assert seen.in_flight == 10
    assert seen.last_active == 1120.0
    assert seen.panic_rps == pytest.approx(10 / 6)


def test_idle_window_reports_nothing() -> None:
    meter = ConcurrencyMeter(0.0)
    window = SampleWindow()
    window.add(meter.take(1.0, wall=1.0))
    assert window.idle
    meter.started(1.5)
    meter.finished(1.6)
    window.add(meter.take(2.0, wall=2.0))
    assert not window.idle


def test_merge_sums_replicas_and_keeps_latest_activity() -> None:
    a = SampleWindow()
    b = SampleWindow()
    for window, level in ((a, 2), (b, 3)):
        meter = ConcurrencyMeter(0.0)
        for _ in range(level):
            meter.started(0.0)
        window.add(meter.take(1.0, wall=50.0 + level))
    merged = merge([a.observe(53.0), b.observe(53.0)])
    assert merged.stable_concurrency == pytest.approx(5.0)
    assert merged.in_flight == 5
    assert merged.last_active == 53.0


def test_summaries_survive_the_wire_and_bad_rows_are_skipped() -> None:
    window = SampleWindow()
    meter = ConcurrencyMeter(0.0)
    meter.started(0.0)
    window.add(meter.take(1.0, wall=7.0))
    original = {"f.default": window.observe(7.0)}
    assert decode(encode(original)) == original
    assert decode({"bad": [1, 2], "f.ns": "x"}) == {}
