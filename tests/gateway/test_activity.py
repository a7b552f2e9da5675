"""The registry wakes the autoscaler's activity index: a new or changed Function, ready endpoints
and a call to a resting function; a status-only update of an idle one does not. Pure: no loop
runs, so each wake is the registry's own doing."""

from __future__ import annotations

import time
from dataclasses import replace
from types import SimpleNamespace
from typing import cast

from prometheus_client.samples import Sample

from tests.gateway.conftest import make_function
from wisp.console.live import GatewayView
from wisp.gateway.backend import Endpoint, FunctionInfo
from wisp.gateway.metrics import GatewayMetrics
from wisp.gateway.registry import Registry
from wisp.gateway.state import Components
from wisp.gateway.stats import FunctionStats


def _rest(registry: Registry, key: str) -> None:
    """What the loop does to a function it found idle at zero."""
    registry.activity.settle(key)
    registry.upstreams[key].meter.rest()


async def test_what_wakes_a_function_and_what_does_not() -> None:
    registry = Registry(GatewayMetrics(), max_held=10, timeout_margin=1.0)
    fn = make_function("hello")
    info = FunctionInfo(fn)
    registry.function_upserted(info)
    assert list(registry.activity) == [fn.key]  # new: the loop looks at it once

    _rest(registry, fn.key)
    registry.function_upserted(replace(info, desired_replicas=0))  # a status write, spec unchanged
    registry.endpoints_changed(fn.key, ())  # its slice, still empty
    assert len(registry.activity) == 0

    registry.upstreams[fn.key].meter.started(1.0)  # a call
    assert list(registry.activity) == [fn.key]
    registry.upstreams[fn.key].meter.finished(1.5)

    _rest(registry, fn.key)
    registry.endpoints_changed(fn.key, (Endpoint("10.0.0.1", 8080),))
    assert list(registry.activity) == [fn.key]

    _rest(registry, fn.key)
    registry.function_upserted(FunctionInfo(make_function("hello", memory="512Mi")))  # a new spec
    assert list(registry.activity) == [fn.key]


async def test_an_idle_function_has_no_metric_series_until_its_first_call() -> None:
    metrics = GatewayMetrics()
    registry = Registry(metrics, max_held=10, timeout_margin=1.0)
    for i in range(50):
        registry.function_upserted(FunctionInfo(make_function(f"idle-{i}")))
    assert _series(metrics) == []
    up = next(iter(registry.upstreams.values()))
    up.metrics.call(200, 0.01, 0.125)
    assert {s.labels.get("function") for s in _series(metrics)} == {"idle-0"}


async def test_the_consoles_fold_asks_only_the_functions_in_use() -> None:
    """A thousand Functions at rest cost the console's fold (every 2 s) nothing; a call wakes
    its function into the fold, which asks it until it is at rest again."""
    registry = Registry(GatewayMetrics(), max_held=10, timeout_margin=1.0)
    for i in range(1000):
        registry.function_upserted(FunctionInfo(make_function(f"idle-{i}")))
    for key in list(registry.upstreams):
        _rest(registry, key)
    view = GatewayView(cast(Components, SimpleNamespace(registry=registry, replicas={})), price=0.0)
    asked: list[str] = []
    news = view.tap.news

    def counted(key: str, stats: FunctionStats, ready: int, desired: int | None) -> bool:
        asked.append(key)
        return news(key, stats, ready, desired)

    view.tap.news = counted  # type: ignore[method-assign]
    now = time.time()
    view.fold(now)
    assert asked == []

    up = registry.upstreams["idle-7.default"]
    up.meter.started(1.0)
    up.stats.record(now, 0.01, 200, 0.125)
    up.meter.finished(1.01)
    view.fold(now + 2)
    assert asked == ["idle-7.default"]
    assert view.tap.series["idle-7.default"].buckets, "the call is in the console's series"
    _rest(registry, "idle-7.default")
    view.fold(now + 4)  # asked once more: what changed at the last fold may change again
    view.fold(now + 6)
    assert asked == ["idle-7.default"] * 2


def _series(metrics: GatewayMetrics) -> list[Sample]:
    """The samples of the per-call metrics."""
    families = ("wisp_invocations", "wisp_invocation_duration_seconds", "wisp_billed_gb_seconds")
    return [s for f in metrics.registry.collect() if f.name in families for s in f.samples]
