"""Settings of the event path: where Redis is, and how deliveries are paced and retried.

``RedisSettings.from_env`` reads the gateway's environment (the Helm chart sets
``WISP_REDIS_URL`` and takes ``WISP_REDIS_PASSWORD`` from a Secret); ``DeliverySettings`` holds the
delivery knobs shared by every consumer, with defaults documented in docs/events.md.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from wisp.queue.policy import RetryPolicy

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True)
class RedisSettings:
    """How to reach Redis. ``rediss://`` URLs use TLS."""

    url: str = DEFAULT_REDIS_URL
    password: str | None = None
    # Short timeouts for the request path: a Redis outage answers 503 fast instead of hanging.
    connect_timeout: float = 1.0
    command_timeout: float = 2.0
    max_connections: int = 64

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> RedisSettings:
        env = os.environ if environ is None else environ
        return cls(
            url=env.get("WISP_REDIS_URL") or DEFAULT_REDIS_URL,
            password=env.get("WISP_REDIS_PASSWORD") or None,
            connect_timeout=float(env.get("WISP_REDIS_CONNECT_TIMEOUT", "1")),
            command_timeout=float(env.get("WISP_REDIS_COMMAND_TIMEOUT", "2")),
        )


# Lambda's asynchronous invocations retry twice after the first failure.
ASYNC_RETRY = RetryPolicy(max_retries=2, initial=5.0, maximum=300.0, multiplier=2.0)


@dataclass(frozen=True)
class DeliverySettings:
    """Pacing of consumers. Times are seconds."""

    # A delivery whose consumer stopped renewing it for this long is reclaimed by another one.
    visibility_timeout: float = 30.0
    # How often a consumer renews its leases, reclaims abandoned deliveries and moves due retries.
    poll_interval: float = 0.5
    # Longest a blocking read waits before looking at its stop flag again.
    read_block: float = 2.0
    # Delay before re-delivering an event the function throttled (429) or could not yet take
    # (cold start); such re-deliveries do not count as attempts.
    defer_delay: float = 1.0
    # Largest event (queue message or async body) accepted; larger ones are dead-lettered / 413.
    max_event_bytes: int = 1024 * 1024
    # Default per-trigger bound on in-flight deliveries: function concurrency x this factor.
    in_flight_factor: int = 2
    in_flight_cap: int = 1000
    # How long async invocation records stay readable at GET /invocations/{id}.
    retention: float = 24 * 3600.0
    # How long a schedule's tick key is kept (must exceed the replicas' clock skew).
    tick_ttl: float = 24 * 3600.0
    # Ticks older than this when noticed (a replica was down) are skipped, not fired late.
    misfire_grace: float = 60.0
    async_retry: RetryPolicy = field(default_factory=lambda: ASYNC_RETRY)
    # Async events older than this are dropped to the failure destination (Lambda: 6 h); a
    # Function's spec.async.maxEventAge overrides it.
    max_event_age: float = 6 * 3600.0
    # The recursion guard: an event more than this many calls deep in a chain wisp made
    # (destinations, async calls passing X-Wisp-Hops, stream destinations) is stopped.
    max_hops: int = 16
    # An Idempotency-Key on /async-function/ returns the first submit's id for this long.
    idempotency_window: float = 3600.0
    # Stored result bodies are cut at this size (the callback gets the same record).
    max_result_bytes: int = 1024 * 1024
    # Callbacks have their own consumer: at most ``callback_concurrency`` POSTs in flight per
    # replica, each attempt cut at ``callback_timeout``, retried with backoff from
    # ``callback_backoff`` up to ``callback_attempts`` attempts, then dead-lettered.
    callback_timeout: float = 10.0
    callback_attempts: int = 3
    callback_concurrency: int = 100
    callback_backoff: float = 1.0
    # Reconnect backoff after Redis errors.
    reconnect_initial: float = 0.1
    reconnect_max: float = 5.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DeliverySettings:
        """The defaults, with the operator's choices from the environment: ``WISP_MAX_HOPS``
        (the recursion guard's limit) and ``WISP_IDEMPOTENCY_WINDOW`` (seconds)."""
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            max_hops=int(env.get("WISP_MAX_HOPS") or defaults.max_hops),
            idempotency_window=float(env.get("WISP_IDEMPOTENCY_WINDOW") or defaults.idempotency_window),
        )
