"""The gateway's Prometheus metrics (names as in DESIGN.md), on its own registry.

Hot-path costs are kept to a few lock-protected additions: the labelled children of each
function are looked up once, at its first call (``FunctionMetrics``), and reused. In-flight calls and replica
counts are not updated per call at all: a custom collector reads them at scrape time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900)
COLD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60)
TICK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


@dataclass
class FunctionMetrics:
    """One function's labelled metric children."""

    name: str
    namespace: str
    family: GatewayMetrics
    version: str = "$LATEST"  # a published version's number: its calls count for the Function too
    duration: Any = None
    billed: Any = None
    version_billed: Any = None
    codes: dict[int, tuple[Any, Any]] = field(default_factory=dict)
    oom_counted: int = 0

    def call(self, code: int, seconds: float, memory_gib: float) -> None:
        if self.duration is None:
            # Made at the first call, not with the function: an idle function has no series, which
            # keeps its memory and /metrics small with thousands of Functions (docs/scale.md).
            self.duration = self.family.duration.labels(self.name, self.namespace)
            self.billed = self.family.billed.labels(self.name, self.namespace)
            self.version_billed = self.family.version_billed.labels(self.name, self.namespace, self.version)
        children = self.codes.get(code)
        if children is None:
            children = self.codes[code] = (
                self.family.invocations.labels(self.name, self.namespace, str(code)),
                self.family.version_invocations.labels(self.name, self.namespace, self.version, str(code)),
            )
        for child in children:
            child.inc()
        self.duration.observe(seconds)
        self.billed.inc(seconds * memory_gib)
        self.version_billed.inc(seconds * memory_gib)

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
        self.invocations = Counter(
            "wisp_invocations_total",
            "Calls answered, by status code.",
            (*labels, "code"),
            registry=self.registry,
        )
        self.duration = Histogram(
            "wisp_invocation_duration_seconds",
            "Time from a call's arrival to its answer.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
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
        self.billed = Counter(
            "wisp_billed_gb_seconds_total",
            "Call duration times the function's memory in GiB.",
            labels,
            registry=self.registry,
        )

        # By version ($LATEST is the Function itself): which release served, and what it cost.
        self.version_invocations = Counter(
            "wisp_version_invocations_total",
            "Calls answered, by the version that served them and status code.",
            (*labels, "version", "code"),
            registry=self.registry,
        )
        self.version_billed = Counter(
            "wisp_version_billed_gb_seconds_total",
            "Call duration times memory in GiB, by the version that served the calls.",
            (*labels, "version"),
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

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)


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
