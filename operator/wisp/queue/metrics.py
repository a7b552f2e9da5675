"""Prometheus metrics of the event path (default registry, served by the gateway's /metrics).

``trigger`` is a queue Trigger's ``name.namespace``, or ``async:<function>.<namespace>`` for a
function's async invocations (which include its schedules).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PENDING = Gauge(
    "wisp_queue_pending",
    "Events not yet acknowledged: waiting, in flight, or waiting for a retry",
    ["trigger"],
)
DELIVERIES = Counter(
    "wisp_queue_deliveries_total",
    "Deliveries by outcome (acked, retried, deferred, dead_lettered)",
    ["trigger", "outcome"],
)
RETRIES = Counter("wisp_queue_retries_total", "Failed deliveries scheduled for a retry", ["trigger"])
DEAD_LETTERED = Counter(
    "wisp_queue_dead_lettered_total", "Events moved to a dead-letter stream", ["trigger", "reason"]
)
EVENT_AGE = Histogram(
    "wisp_queue_event_age_seconds",
    "Time from an event's first enqueue to the start of its delivery",
    ["trigger"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600),
)
SCHEDULE_TICKS = Counter(
    "wisp_schedule_ticks_total",
    "Schedule ticks enqueued by this replica (a tick another replica enqueued counts there)",
    ["trigger"],
)
DESTINATIONS = Counter(
    "wisp_queue_destination_records_total",
    "Outcome records sent to an onSuccess/onFailure destination, by condition",
    ["trigger", "condition"],
)
RECURSION_STOPPED = Counter(
    "wisp_queue_recursion_stopped_total",
    "Events not run because their chain of calls went past the hop limit (a recursive loop)",
    ["trigger"],
)
