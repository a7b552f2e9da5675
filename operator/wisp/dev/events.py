"""Queue triggers, schedules and async invocations for ``wisp dev``, on the gateway's own path.

The queue package brings the consumers, the scheduler and the ``/async-function/`` routes; this
module plugs them into the gateway app as an extension: deliveries go through
``Gateway.invoke`` (so they scale from zero and balance like any call), the backlog feeds the
autoscaler, and the consumers follow the Functions and Triggers ``wisp dev`` serves. Without a
Redis URL the same routes answer 503 with what to do.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass

from aiohttp import web

from wisp.api.function import Function
from wisp.dev.backend import LocalBackend
from wisp.gateway.state import Components
from wisp.queue import (
    DeliverySettings,
    InvocationResult,
    QueueManager,
    RedisBroker,
    RedisSettings,
    RouteSettings,
    add_routes,
)

_HELD_ERRORS = (b"TooManyHeldRequests", b"ColdStartTimeout")


@dataclass(frozen=True)
class EventSettings:
    redis_url: str
    default_namespace: str = "default"
    max_body_bytes: int = 1024 * 1024


class GatewayInvoker:
    """The queue's ``Invoker`` on top of ``Gateway.invoke``."""

    def __init__(self, parts: Components) -> None:
        self._parts = parts

    async def __call__(self, function_key: str, body: bytes, headers: Mapping[str, str]) -> InvocationResult:
        started = time.perf_counter()
        result = await self._parts.gateway.invoke(function_key, body, headers)
        pending = result.status in (503, 504) and any(e in result.body for e in _HELD_ERRORS)
        return InvocationResult(
            status=result.status,
            headers=dict(result.headers),
            body=result.body,
            duration=time.perf_counter() - started,
            throttled=result.status == 429,
            cold_start=result.cold_start_ms is not None,
            cold_start_pending=pending,
        )


def queue_extension(
    backend: LocalBackend, settings: EventSettings
) -> Callable[[web.Application, Components], None]:
    """Mounts the async routes and runs the consumers and schedules for the app's lifetime."""

    def extend(app: web.Application, parts: Components) -> None:
        broker = RedisBroker(RedisSettings(url=settings.redis_url), read_block=1.0)
        manager = QueueManager(broker, GatewayInvoker(parts), DeliverySettings(read_block=1.0))

        def follow() -> None:
            manager.update_functions(s.source.function for s in backend.functions.values())
            manager.update_triggers(backend.triggers.values())

        def lookup(name: str, namespace: str) -> Function | None:
            served = backend.functions.get(f"{name}.{namespace}")
            return served.source.function if served is not None else None

        async def lifetime(_: web.Application) -> AsyncIterator[None]:
            backend.on_change = follow
            follow()
            manager.start_schedules()
            if parts.autoscaler is not None:
                parts.autoscaler.queue_demand = lambda: {
                    key: manager.pending_demand(key) for key in backend.functions
                }
            yield
            backend.on_change = None
            await manager.close(grace=2.0)
            await broker.close()

        add_routes(
            app,
            manager.invocations,
            lookup,
            RouteSettings(settings.default_namespace, settings.max_body_bytes),
        )
        app.cleanup_ctx.append(lifetime)

    return extend


def disabled_extension(reason: str) -> Callable[[web.Application, Components], None]:
    """Async routes that say why events are off instead of a confusing 404."""

    async def off(_: web.Request) -> web.Response:
        return web.json_response({"errorType": "QueueDisabled", "errorMessage": reason}, status=503)

    def extend(app: web.Application, parts: Components) -> None:
        app.router.add_post("/async-function/{name}", off)
        app.router.add_get("/invocations/{id}", off)

    return extend
