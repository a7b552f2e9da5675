"""The gateway's in-memory picture, fed by the Backend's events: one ``Upstream`` per function
(its spec, endpoint pool, activator bookkeeping, meters) and the Trigger routing table.

Nothing here does I/O; the hot path reads it without any lookup beyond a dict get.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from wisp.api.names import split_key
from wisp.api.trigger import Trigger
from wisp.api.version import LATEST, function_of, pick_version, version_key
from wisp.autoscaler.activity import ActivityIndex
from wisp.autoscaler.loop import Scaled
from wisp.autoscaler.meter import ConcurrencyMeter
from wisp.gateway.backend import Endpoint, FunctionInfo
from wisp.gateway.coldstart import ColdStart
from wisp.gateway.metrics import FunctionMetrics, GatewayMetrics
from wisp.gateway.pool import FAILED_HOLD, FIRST_CALL_HOLD, FULL_HOLD, EndpointPool, Slot
from wisp.gateway.router import TriggerTable
from wisp.gateway.stats import FunctionStats

Waiter = asyncio.Future[Slot]
log = logging.getLogger("wisp.gateway")


class Unavailable(Exception):
    """A held call cannot be served: the function went away or cannot become ready."""

    def __init__(self, status: int, error_type: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.error_type = error_type
        self.message = message


@dataclass(eq=False)
class Upstream:
    info: FunctionInfo
    pool: EndpointPool[Waiter]
    cold: ColdStart
    meter: ConcurrencyMeter
    metrics: FunctionMetrics
    stats: FunctionStats
    timeout: float  # seconds the gateway waits for a call: the Function's timeout + margin
    memory_gib: float

    @property
    def key(self) -> str:
        return self.info.key


class Registry:
    """Implements ``BackendEvents``; the gateway's routing and upstream state."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        *,
        max_held: int,
        timeout_margin: float,
        namespace_allowed: Callable[[str], bool] = lambda _: True,
    ) -> None:
        self.metrics = metrics
        self.max_held = max_held
        self.timeout_margin = timeout_margin
        self.namespace_allowed = namespace_allowed
        self.upstreams: dict[str, Upstream] = {}
        # The functions the autoscaler must look at: woken here (a new or changed Function, a
        # ready endpoint) and by each meter's first call after a rest (wisp.autoscaler.activity).
        self.activity = ActivityIndex()
        self.triggers: dict[str, Trigger] = {}
        self.routes = TriggerTable(())
        self.synced_event = asyncio.Event()
        self._orphan_endpoints: dict[str, tuple[Endpoint, ...]] = {}
        # Told which (host, port)s left a function's ready set, to drop idle connections to them.
        self.on_endpoints_removed: Callable[[list[tuple[str, int]]], None] | None = None
        # Told that the set of Functions or Triggers (or a spec) changed: the queue follows it.
        self.on_catalog_changed: Callable[[], None] | None = None
        # Uniform in [0, 1): where a weighted alias sends each call (tests pass their own).
        self.draw: Callable[[], float] = random.random

    def select(self, key: str, qualifier: str = "") -> Upstream | Unavailable | None:
        """The upstream a call to function ``key`` (``name.namespace``) with ``qualifier`` goes
        to: the Function itself ($LATEST), a version by number, or an alias's version, drawn by
        weight. None when the Function does not exist (a version's own upstream is never
        reached by its key alone); ``Unavailable`` (404) when the qualifier names nothing."""
        up = self.upstreams.get(key)
        if up is None or up.info.version != LATEST:
            return None
        if not qualifier or qualifier == LATEST:
            return up
        fn = up.info.function
        version = pick_version(fn.spec.aliases, qualifier, self.draw())
        if version is None:
            return Unavailable(404, "FunctionNotFound", f"function {key} has no alias or version {qualifier}")
        if version == LATEST:
            return up
        target = self.upstreams.get(version_key(fn.name, version, fn.namespace))
        if target is None:
            name, namespace = split_key(key)
            return Unavailable(404, "FunctionNotFound", f"version {version} of {name}.{namespace} not found")
        return target

    def scaled(self, key: str) -> Scaled | None:
        """What the autoscaler needs of function ``key``; None when it is gone."""
        up = self.upstreams.get(key)
        if up is None:
            return None
        return Scaled(up.info.function, up.pool.ready_count, up.meter, up.info.desired_replicas)

    # -- BackendEvents ---------------------------------------------------------------------------

    def function_upserted(self, info: FunctionInfo) -> None:
        fn = info.function
        if not self.namespace_allowed(fn.namespace):
            return
        timeout = fn.spec.timeout + self.timeout_margin
        up = self.upstreams.get(info.key)
        changed = up is None or up.info.function != fn
        if up is None:
            up = Upstream(
                info=info,
                pool=EndpointPool(fn.spec.concurrency),
                cold=ColdStart(self.max_held),
                meter=ConcurrencyMeter(time.monotonic(), functools.partial(self.activity.wake, info.key)),
                metrics=self.metrics.for_function(
                    function_of(fn.name, info.version), fn.namespace, info.version
                ),
                stats=FunctionStats(),
                timeout=timeout,
                memory_gib=fn.spec.memory_mib / 1024,
            )
            self.upstreams[info.key] = up
            orphans = self._orphan_endpoints.pop(info.key, None)
            if orphans is not None:
                self._apply_endpoints(up, orphans)
        else:
            up.info = info
            up.timeout = timeout
            up.memory_gib = fn.spec.memory_mib / 1024
            wake(up.pool, up.pool.set_capacity(fn.spec.concurrency))
        up.metrics.oom_kills(info.oom_kills)
        if not info.ready and not up.pool.has_endpoints:
            reason = info.reason or "NotReady"
            _fail(up.pool, Unavailable(503, reason, info.message or f"function is not ready: {reason}"))
        if changed:
            self.activity.wake(info.key)
            self._catalog_changed()

    def function_deleted(self, key: str) -> None:
        up = self.upstreams.pop(key, None)
        self._orphan_endpoints.pop(key, None)
        if up is not None:
            _fail(up.pool, Unavailable(404, "FunctionNotFound", f"function {key} was deleted"))
            self._catalog_changed()

    def trigger_upserted(self, trigger: Trigger) -> None:
        if not self.namespace_allowed(trigger.namespace):
            return
        if self.triggers.get(trigger.key) != trigger:
            self.triggers[trigger.key] = trigger
            self.routes = TriggerTable(self.triggers.values())
            self._catalog_changed()

    def trigger_deleted(self, key: str) -> None:
        if self.triggers.pop(key, None) is not None:
            self.routes = TriggerTable(self.triggers.values())
            self._catalog_changed()

    def endpoints_changed(self, function_key: str, endpoints: tuple[Endpoint, ...]) -> None:
        up = self.upstreams.get(function_key)
        if up is None:
            self._orphan_endpoints[function_key] = endpoints
            return
        self._apply_endpoints(up, endpoints)

    def synced(self) -> None:
        self.synced_event.set()

    # -- helpers ---------------------------------------------------------------------------------

    def _catalog_changed(self) -> None:
        if self.on_catalog_changed is not None:
            self.on_catalog_changed()

    def _apply_endpoints(self, up: Upstream, endpoints: tuple[Endpoint, ...]) -> None:
        before = up.pool.slots
        if endpoints or before:  # not for each new Function's empty slice: thousands at start-up
            log.info("%s: %d ready endpoint(s)", up.key, len(endpoints))
        grants = up.pool.set_endpoints(endpoints, time.monotonic())
        if up.pool.starting:  # a fresh pool pod takes one call at first, its capacity after
            asyncio.get_running_loop().call_later(FIRST_CALL_HOLD, self._restore, up)
        removed = [(s.endpoint.host, s.endpoint.port) for a, s in before.items() if a not in up.pool.slots]
        if removed and self.on_endpoints_removed is not None:
            self.on_endpoints_removed(removed)
        if up.pool.has_endpoints:
            up.cold.endpoints_ready()
            self.activity.wake(up.key)
        wake(up.pool, grants)

    def mark_failed(self, up: Upstream, slot: Slot) -> None:
        """A connection to ``slot`` failed: out of rotation, back after ``FAILED_HOLD``."""
        if not slot.healthy:
            return
        log.warning("%s: endpoint %s refused the connection; out of rotation", up.key, slot.endpoint.address)
        up.pool.mark_failed(slot, time.monotonic())
        asyncio.get_running_loop().call_later(FAILED_HOLD, self._revive, up)

    def mark_full(self, up: Upstream, slot: Slot) -> None:
        """The pod behind ``slot`` refused a call at its concurrency: fewer calls to it for
        ``FULL_HOLD`` seconds, then its full capacity again."""
        up.pool.mark_full(slot, time.monotonic())
        asyncio.get_running_loop().call_later(FULL_HOLD, self._restore, up)

    def _restore(self, up: Upstream) -> None:
        if self.upstreams.get(up.key) is up:
            wake(up.pool, up.pool.restore(time.monotonic()))

    def _revive(self, up: Upstream) -> None:
        if self.upstreams.get(up.key) is up:
            wake(up.pool, up.pool.revive(time.monotonic()))

    def release(self, up: Upstream, slot: Slot) -> None:
        wake(up.pool, up.pool.release(slot))


def wake(pool: EndpointPool[Waiter], grants: list[tuple[Waiter, Slot]]) -> None:
    """Resolve granted waiters; a grant to a waiter that gave up goes to the next one."""
    while grants:
        waiter, slot = grants.pop()
        if waiter.done():
            grants += pool.release(slot)
        else:
            waiter.set_result(slot)


def _fail(pool: EndpointPool[Waiter], error: Exception) -> None:
    for waiter in pool.drain_waiters():
        if not waiter.done():
            waiter.set_exception(error)
