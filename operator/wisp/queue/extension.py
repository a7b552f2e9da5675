"""Plugging the event path into the gateway: queue triggers, schedules and async invocations.

``queue_extension(settings)`` is a ``make_app`` extension used by ``wisp gateway`` (Redis from
``WISP_REDIS_URL``) and by ``wisp dev`` (its own or an embedded Redis). It mounts the queue's
``/async-function/`` and ``/invocations/`` routes and, for the app's lifetime, runs a
``QueueManager`` whose deliveries go through ``Gateway.invoke`` (``GatewayInvoker``: they scale
from zero, balance and count like any call). The consumers follow the Functions and Triggers the
gateway's ``Registry`` learns from the backend's watch, and the queue's backlog becomes the
autoscaler's ``queue_demand``. ``disabled_extension(reason)`` answers those routes with a JSON
503 when no Redis is configured.

The security layer sees these routes like any other: ``/async-function/`` follows the function's
access rules, ``/invocations/`` needs the admin token.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Callable, Container, Mapping
from dataclasses import dataclass, field

from aiohttp import web

from wisp.api.function import Function
from wisp.api.names import function_key
from wisp.api.version import LATEST, split_demand, version_key
from wisp.gateway.lambda_api import EVENTS, EventRefused, EventSubmitter, EventsUnavailable
from wisp.gateway.registry import Registry, Unavailable
from wisp.gateway.state import Components
from wisp.queue import (
    DeliverySettings,
    InvocationResult,
    QueueManager,
    RouteSettings,
    add_routes,
    names,
)
from wisp.queue.admin import add_admin_routes
from wisp.queue.broker import BrokerUnavailable
from wisp.queue.brokers import BrokerSettings, broker_settings_from_env, make_broker
from wisp.queue.routes import InvalidIdempotencyKey, chain_hops, forwarded_headers, idempotency_key

# A held call that gave up (too many held, or no replica in time) is not the function failing:
# the queue re-delivers it later without counting an attempt.
_HELD_ERRORS = frozenset({"TooManyHeldRequests", "ColdStartTimeout"})
CLOSE_GRACE = 5.0

Extension = Callable[[web.Application, Components], None]


@dataclass(frozen=True)
class EventSettings:
    broker: BrokerSettings  # Redis or NATS JetStream
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    default_namespace: str = "default"
    max_body_bytes: int = 1024 * 1024
    schedules: bool = True  # run the schedule loop (tests fire schedules by hand)


class GatewayInvoker:
    """The queue's ``Invoker`` on top of ``Gateway.invoke``."""

    def __init__(self, parts: Components) -> None:
        self._parts = parts

    async def __call__(self, target: str, body: bytes, headers: Mapping[str, str]) -> InvocationResult:
        started = time.perf_counter()
        function_key, qualifier = names.split_target(target)
        result = await self._parts.gateway.invoke(function_key, body, headers, qualifier)
        # The gateway's own answer says so in a typed field; a function's body never counts.
        pending = result.gateway_error in _HELD_ERRORS
        return InvocationResult(
            status=result.status,
            headers=dict(result.headers),
            body=result.body,
            duration=time.perf_counter() - started,
            throttled=result.status == 429,
            cold_start=result.cold_start_ms is not None,
            cold_start_pending=pending,
            version=result.version,
        )


# The longest the queue manager's Functions and Triggers lag behind the registry's, in seconds.
CATALOG_DELAY = 1.0


class CatalogFeed:
    """Hands the registry's Functions and Triggers to the ``QueueManager`` when they change.

    A watch delivers objects one by one (a re-list delivers all of them), and a bulk apply of
    thousands delivers them over minutes: changes are coalesced into one update a
    ``CATALOG_DELAY`` at most, as each update looks at every Function. A new Function's async
    events wait for nothing meanwhile: its consumer is made asleep, and the look for sleeping
    streams holding events that its making starts finds them.
    """

    def __init__(self, registry: Registry, manager: QueueManager) -> None:
        self.registry = registry
        self.manager = manager
        self._scheduled: asyncio.Handle | None = None

    def changed(self) -> None:
        if self._scheduled is None:
            self._scheduled = asyncio.get_running_loop().call_later(CATALOG_DELAY, self.apply)

    def apply(self) -> None:
        self._scheduled = None
        # A version's upstream is reached through its Function's qualifier, never by its own key.
        self.manager.update(
            (up.info.function for up in self.registry.upstreams.values() if up.info.version == LATEST),
            self.registry.triggers.values(),
        )

    def cancel(self) -> None:
        if self._scheduled is not None:
            self._scheduled.cancel()
            self._scheduled = None


def upstream_demand(
    demands: Mapping[str, int], function_of: Callable[[str], Function | None], known: Container[str]
) -> dict[str, int]:
    """Backlogs by target (a function key, or ``key:qualifier``) as demand by upstream key: a
    queue Trigger naming a version or alias asks for that version's pods (an alias's by weight);
    upstreams the gateway does not know (``known``) are left out."""
    out: dict[str, int] = {}
    for target, n in demands.items():
        key, qualifier = names.split_target(target)
        fn = function_of(key)
        if fn is None:
            continue
        for version, share in split_demand(fn.spec.aliases, qualifier, n).items():
            upstream = key if version == LATEST else version_key(fn.name, version, fn.namespace)
            if upstream in known:
                out[upstream] = out.get(upstream, 0) + share
    return out


def queue_demand(registry: Registry, manager: QueueManager) -> Callable[[], dict[str, int]]:
    """The autoscaler's view of the backlog: upstream key -> events waiting or in flight."""

    def function_of(key: str) -> Function | None:
        up = registry.upstreams.get(key)
        return up.info.function if up is not None and up.info.version == LATEST else None

    def demand() -> dict[str, int]:
        return upstream_demand(manager.demands(), function_of, registry.upstreams)

    return demand


def qualifier_check(registry: Registry) -> Callable[[str, str], str | None]:
    """Whether an async call's ``:qualifier`` names a version or alias the gateway knows."""

    def check(key: str, qualifier: str) -> str | None:
        found = registry.select(key, qualifier)
        if isinstance(found, Unavailable):
            return found.message
        return f"function {key} does not exist" if found is None else None

    return check


def queue_extension(settings: EventSettings) -> Extension:
    """Mounts the async routes and runs consumers and schedules for the app's lifetime."""

    def extend(app: web.Application, parts: Components) -> None:
        broker = make_broker(settings.broker, settings.delivery)
        manager = QueueManager(broker, GatewayInvoker(parts), settings.delivery)
        registry = parts.registry
        feed = CatalogFeed(registry, manager)

        def lookup(name: str, namespace: str) -> Function | None:
            up = registry.upstreams.get(function_key(name, namespace))
            return up.info.function if up is not None and up.info.version == LATEST else None

        async def lifetime(_: web.Application) -> AsyncIterator[None]:
            registry.on_catalog_changed = feed.changed
            feed.apply()
            if settings.schedules:
                manager.start_schedules()
            if parts.autoscaler is not None:
                parts.autoscaler.queue_demand = queue_demand(registry, manager)
            try:
                yield
            finally:
                registry.on_catalog_changed = None
                feed.cancel()
                if parts.autoscaler is not None:
                    parts.autoscaler.queue_demand = None
                await manager.close(grace=CLOSE_GRACE)
                await broker.close()

        add_routes(
            app,
            manager.invocations,
            lookup,
            RouteSettings(settings.default_namespace, settings.max_body_bytes),
            parts.gateway.tracing,
            qualifier_check(registry),
        )
        add_admin_routes(app, manager.dead_letters, settings.default_namespace)  # /system/: admin token
        app[QUEUE] = manager
        app[EVENTS] = _submitter(manager)
        app.cleanup_ctx.append(lifetime)

    return extend


def _submitter(manager: QueueManager) -> EventSubmitter:
    """Event invocations from the gateway's Lambda Invoke API, stored as ``/async-function/``'s:
    the same ``Idempotency-Key`` (one execution per key within the window) and the same hop count
    for the recursion guard (``X-Wisp-Hops`` from a function passing it on)."""

    async def submit(
        function_key: str,
        payload: bytes,
        request_headers: Mapping[str, str],
        extra: Mapping[str, str],
        qualifier: str = "",
    ) -> str:
        headers = {**forwarded_headers(request_headers), **extra}
        try:
            key = idempotency_key(request_headers)
        except InvalidIdempotencyKey as exc:
            raise EventRefused(str(exc)) from exc
        try:
            return await manager.invocations.submit(
                function_key,
                payload,
                headers,
                None,
                hops=chain_hops(request_headers),
                idempotency_key=key,
                qualifier=qualifier,
            )
        except BrokerUnavailable as exc:
            raise EventsUnavailable(str(exc)) from exc

    return submit


def disabled_extension(reason: str) -> Extension:
    """The async routes, answering why events are off instead of a confusing 404."""

    async def off(_: web.Request) -> web.Response:
        return web.json_response({"errorType": "EventsNotConfigured", "errorMessage": reason}, status=503)

    def extend(app: web.Application, parts: Components) -> None:
        app.router.add_post("/async-function/{name}", off)
        app.router.add_get("/invocations/{id}", off)

    return extend


def events_from_env(default_namespace: str, env: Mapping[str, str] | None = None) -> Extension:
    """``wisp gateway``'s event path: the broker ``WISP_QUEUE_BROKER`` names (Redis from
    ``WISP_REDIS_URL`` by default, NATS JetStream from ``WISP_NATS_URL``), or the 503 answers
    when its address is unset."""
    env = os.environ if env is None else env
    broker = broker_settings_from_env(env)
    if broker is None:
        return disabled_extension(NOT_CONFIGURED)
    delivery = DeliverySettings.from_env(env)
    return queue_extension(EventSettings(broker, delivery, default_namespace, delivery.max_event_bytes))


QUEUE = web.AppKey("queue", QueueManager)

NOT_CONFIGURED = (
    "events are not configured: async invocations, queue and schedule triggers need a broker "
    "(set WISP_REDIS_URL, or WISP_QUEUE_BROKER=nats and WISP_NATS_URL; the Helm chart sets them "
    "with redis.enabled, redis.external.url or queue.broker: nats)"
)
