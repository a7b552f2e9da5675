"""The gateway's Prometheus metrics (names as in DESIGN.md), on its own registry.

Every call is counted (``FunctionMetrics.call``) as a few additions to plain numbers of its
function's (``Calls``), which a collector turns into the counters and the histogram when
scraped: a labelled child of prometheus_client takes a lock and a method call per addition, six
of them a call, about a tenth of the gateway's CPU on a proxied call. The series are the same
(``_created`` included). In-flight calls and replica counts are not updated per call at all: a
custom collector reads them at scrape time. The gateway counts on its event loop's thread, where
it is scraped too.
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
COLD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
TICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class Calls:
    """Calls answered, as plain numbers: by status code, their durations in
    ``DURATION_BUCKETS`` (the last counts those past every bound) and in total, and GB-seconds.
    A version's own count keeps only the codes and GB-seconds."""

    __slots__ = ("buckets", "codes", "created", "gb_seconds", "seconds")

    def __init__(self) -> None:
        self.codes: dict[int, int] = {}
        self.buckets = [0] * (len(DURATION_BUCKETS) + 1)
        self.seconds = 0.0
        self.gb_seconds = 0.0
        self.created = time.time()


@dataclass
class FunctionMetrics:
    """One function's metrics: its ``Calls`` (the Function's, and its version's), and the
    labelled children of the rarer events."""

    name: str
    namespace: str
    family: GatewayMetrics
    version: str = "$LATEST"  # a published version's number: its calls count for the Function too
    calls: Calls | None = None
    version_calls: Calls | None = None
    oom_counted: int = 0

    def call(self, code: int, seconds: float, memory_gib: float) -> None:
        calls = self.calls
        version = self.version_calls
        if calls is None or version is None:
            # Made at the first call, not with the function: an idle function has no series, which
            # keeps its memory and /metrics small with thousands of Functions (docs/scale.md).
            calls = self.calls = self.family.calls_of(self.name, self.namespace)
            version = self.version_calls = self.family.calls_of(self.name, self.namespace, self.version)
        gb_seconds = seconds * memory_gib
        codes = calls.codes
        codes[code] = codes.get(code, 0) + 1
        calls.buckets[bisect_left(DURATION_BUCKETS, seconds)] += 1
        calls.seconds += seconds
        calls.gb_seconds += gb_seconds
        codes = version.codes
        codes[code] = codes.get(code, 0) + 1
        version.gb_seconds += gb_seconds

    def cold_start(self, seconds: float, path: str = "deployment") -> None:
        """A cold call got its endpoint after ``seconds``: a pod of the function's own
        (``deployment``) or a warm pool pod specialised for it (``pool``)."""
        self.family.cold_starts.labels(self.name, self.namespace).inc()
        self.family.cold_start_seconds.labels(self.name, self.namespace, path).observe(seconds)

    def throttled(self, reason: str) -> None:
        self.family.throttled.labels(self.name, self.namespace, reason).inc()

    def oom_kills(self, total: int) -> None:
        """The Function's status counts ``total`` OOM kills: the counter follows it (every gateway
        replica shows the same figure: aggregate with ``max``, not ``sum``)."""
        if total > self.oom_counted:
            self.family.oom_kills.labels(self.name, self.namespace).inc(total - self.oom_counted)
            self.oom_counted = total


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        labels = ("function", "namespace")
        # Keyed by (function, namespace) and by (function, namespace, version).
        self.calls: dict[tuple[str, ...], Calls] = {}
        self.registry.register(CallsCollector(self.calls))
        self.cold_starts = Counter(
            "wisp_cold_starts_total",
            "Calls that waited for a function to scale from zero.",
            labels,
            registry=self.registry,
        )
        self.cold_start_seconds = Histogram(
            "wisp_cold_start_seconds",
            "How long cold calls waited for a ready endpoint, by path (deployment or pool).",
            (*labels, "path"),
            buckets=COLD_BUCKETS,
            registry=self.registry,
        )
        self.throttled = Counter(
            "wisp_throttled_total",
            "Calls refused for capacity (429 or 503 with Retry-After).",
            (*labels, "reason"),
            registry=self.registry,
        )
        self.oom_kills = Counter(
            "wisp_function_oom_kills_total",
            "Containers of the function killed for running out of memory (the operator's count).",
            labels,
            registry=self.registry,
        )

        self.autoscaler_tick = Histogram(
            "wisp_autoscaler_tick_seconds",
            "How long the leader's decision loop took per tick (its writes run after it).",
            buckets=TICK_BUCKETS,
            registry=self.registry,
        )
        self.autoscaler_write = Histogram(
            "wisp_autoscaler_write_seconds",
            "From a decision of the leader to its writes (replicas, status) being answered.",
            buckets=TICK_BUCKETS,
            registry=self.registry,
        )
        self.autoscaler_active = Gauge(
            "wisp_autoscaler_active_functions",
            "Functions the autoscaler samples and decides (traffic, replicas or queued events).",
            registry=self.registry,
        )

    def autoscaler_ticked(self, seconds: float, active: int) -> None:
        self.autoscaler_tick.observe(seconds)
        self.autoscaler_active.set(active)

    def for_function(self, name: str, namespace: str, version: str = "$LATEST") -> FunctionMetrics:
        return FunctionMetrics(name, namespace, self, version)

    def calls_of(self, *labels: str) -> Calls:
        """The calls counted under ``labels`` (function, namespace[, version]); kept for good,
        as a labelled child is, so a Function made again counts on."""
        calls = self.calls.get(labels)
        if calls is None:
            calls = self.calls[labels] = Calls()
        return calls

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)


class CallsCollector(Collector):
    """The call counters and the duration histogram, from the ``Calls`` kept by labels."""

    def __init__(self, calls: dict[tuple[str, ...], Calls]) -> None:
        self._calls = calls

    def collect(self) -> Iterator[Metric]:
        labels = ("function", "namespace")
        invocations = CounterMetricFamily(
            "wisp_invocations_total", "Calls answered, by status code.", labels=(*labels, "code")
        )
        duration = HistogramMetricFamily(
            "wisp_invocation_duration_seconds", "Time from a call's arrival to its answer.", labels=labels
        )
        billed = CounterMetricFamily(
            "wisp_billed_gb_seconds_total", "Call duration times the function's memory in GiB.", labels=labels
        )
        # By version ($LATEST is the Function itself): which release served, and what it cost.
        version_invocations = CounterMetricFamily(
            "wisp_version_invocations_total",
            "Calls answered, by the version that served them and status code.",
            labels=(*labels, "version", "code"),
        )
        version_billed = CounterMetricFamily(
            "wisp_version_billed_gb_seconds_total",
            "Call duration times memory in GiB, by the version that served the calls.",
            labels=(*labels, "version"),
        )
        bounds = [*map(floatToGoString, DURATION_BUCKETS), "+Inf"]
        for key, calls in list(self._calls.items()):
            if len(key) == 3:
                for code, count in sorted(calls.codes.items()):
                    version_invocations.add_metric((*key, str(code)), count, created=calls.created)
                version_billed.add_metric(key, calls.gb_seconds, created=calls.created)
                continue
            for code, count in sorted(calls.codes.items()):
                invocations.add_metric((*key, str(code)), count, created=calls.created)
            total = 0
            cumulative = []
            for bound, count in zip(bounds, calls.buckets, strict=True):
                total += count
                cumulative.append((bound, float(total)))
            duration.add_metric(key, cumulative, calls.seconds)
            duration.samples.append(
                Sample(duration.name + "_created", dict(zip(labels, key, strict=True)), calls.created)
            )
            billed.add_metric(key, calls.gb_seconds, created=calls.created)
        yield from (invocations, duration, billed, version_invocations, version_billed)

    def describe(self) -> Iterator[Metric]:
        return iter(())


GaugeRow = tuple[str, str, float]  # name, namespace, value
ReplicaRow = tuple[str, str, str, float]  # name, namespace, state, value


class LiveCollector(Collector):
    """``wisp_inflight_requests`` and ``wisp_function_replicas`` read when scraped."""

    def __init__(
        self, inflight: Callable[[], Iterable[GaugeRow]], replicas: Callable[[], Iterable[ReplicaRow]]
    ) -> None:
        self._inflight = inflight
        self._replicas = replicas

    def collect(self) -> Iterator[GaugeMetricFamily]:
        inflight = GaugeMetricFamily(
            "wisp_inflight_requests",
            "Calls in flight through this gateway (held ones included).",
            labels=("function", "namespace"),
        )
        for name, namespace, value in self._inflight():
            inflight.add_metric((name, namespace), value)
        yield inflight
        replicas = GaugeMetricFamily(
            "wisp_function_replicas",
            "Replicas the autoscaler wants (desired) and has ready.",
            labels=("function", "namespace", "state"),
        )
        for name, namespace, state, value in self._replicas():
            replicas.add_metric((name, namespace, state), value)
        yield replicas

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
