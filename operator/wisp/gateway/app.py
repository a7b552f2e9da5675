"""``make_app(config, backend)``: the invocation app, with every resource's lifetime in
``cleanup_ctx``; ``make_admin_app`` (wisp.gateway.admin) serves the admin port from the same
``Components``.

``extensions`` let other packages add routes or resources to the invocation app before the
catch-all route (the queue's ``/async-function/``, the console's ``/ui/``); they receive the
app and its ``Components``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Sequence

from aiohttp import web

from wisp.autoscaler.decider import Settings
from wisp.autoscaler.exchange import LeaderElection, SampleExchange
from wisp.autoscaler.loop import Autoscaler, LoopSettings
from wisp.gateway.activator import Activator, ActivatorSettings
from wisp.gateway.backend import Backend, MetricSource
from wisp.gateway.config import GatewayConfig
from wisp.gateway.fastpath import serve_fast
from wisp.gateway.handlers import Dispatcher, healthz, request_lines
from wisp.gateway.lambda_api import add_invoke_route
from wisp.gateway.metrics import GatewayMetrics, GaugeRow, LiveCollector, ReplicaRow
from wisp.gateway.proxy import Forwarder, answer_expect, expect_handler
from wisp.gateway.registry import Registry
from wisp.gateway.resolve import DISPATCH_ROUTE
from wisp.gateway.service import Gateway
from wisp.gateway.state import COMPONENTS, Components
from wisp.gateway.tracing import tracing_from

Extension = Callable[[web.Application, Components], None]


def make_app(
    config: GatewayConfig,
    backend: Backend,
    *,
    exchange: SampleExchange | None = None,
    election: LeaderElection | None = None,
    autoscale: bool = True,
    extensions: Sequence[Extension] = (),
    fast_path: bool = True,
) -> web.Application:
    metrics = GatewayMetrics()
    registry = Registry(
        metrics,
        max_held=config.max_held_requests,
        timeout_margin=config.timeout_margin,
        namespace_allowed=config.namespace_allowed,
    )
    activator = Activator(backend, ActivatorSettings(config.cold_start_timeout, config.queue_timeout))
    forwarder = Forwarder(config.max_body_bytes, max_response_bytes=config.max_response_bytes)
    tracing = tracing_from(config.otlp_endpoint, config.trace_sample_ratio)
    gateway = Gateway(
        registry, activator, forwarder, config.max_body_bytes, config.body_read_timeout, tracing
    )
    registry.on_endpoints_removed = forwarder.connections.forget
    parts = Components(config, backend, metrics, registry, activator, gateway)
    if autoscale:
        parts.autoscaler = Autoscaler(
            backend,
            registry.scaled,
            activity=registry.activity,
            exchange=exchange,
            election=election,
            settings=LoopSettings(
                tick=config.autoscale_tick,
                decider=Settings(
                    stable_window=config.autoscale_stable_window,
                    panic_window=config.autoscale_panic_window,
                ),
            ),
            record=parts.record_replicas,
        )
        activator.on_scaled = parts.autoscaler.note_scaled
        parts.autoscaler.on_tick = metrics.autoscaler_ticked
        parts.autoscaler.on_written = metrics.autoscaler_write.observe
    metrics.add_collector(LiveCollector(lambda: _inflight(registry), lambda: _replicas(parts)))
    if isinstance(backend, MetricSource):
        for collector in backend.metric_collectors():
            metrics.add_collector(collector)

    app = web.Application(client_max_size=config.max_body_bytes + 1, handler_args={"access_log": None})
    app[COMPONENTS] = parts
    app.cleanup_ctx.append(_connections_ctx)
    app.cleanup_ctx.append(_tracing_ctx)
    app.cleanup_ctx.append(_backend_ctx)
    app.cleanup_ctx.append(_autoscaler_ctx)
    app.router.add_get("/healthz", healthz)
    add_invoke_route(app)  # Lambda's Invoke API
    for extension in extensions:
        extension(app, parts)
    app.middlewares.insert(0, request_lines)  # outermost: before any other check
    app.router.add_route(
        "*",
        "/{tail:.*}",
        Dispatcher(gateway).handle,
        name=DISPATCH_ROUTE,
        expect_handler=expect_handler,  # 100 only when the body is wanted; JSON 417 otherwise
    )
    answer_expect(app)  # and a JSON 417 on every other route too
    if fast_path:
        serve_fast(app)  # plain /function/ calls skip aiohttp's request objects (fastpath.py)
    return app


def _inflight(registry: Registry) -> Iterable[GaugeRow]:
    for up in registry.upstreams.values():
        fn = up.info.function
        yield fn.name, fn.namespace, float(up.meter.in_flight)


def _replicas(parts: Components) -> Iterable[ReplicaRow]:
    for up in parts.registry.upstreams.values():
        fn = up.info.function
        yield fn.name, fn.namespace, "ready", float(up.pool.ready_count)
        desired = parts.replicas.get((up.key, "desired"))
        if desired is not None:
            yield fn.name, fn.namespace, "desired", float(desired)


async def _connections_ctx(app: web.Application) -> AsyncIterator[None]:
    parts = app[COMPONENTS]
    yield
    await parts.activator.close()
    await parts.gateway.forwarder.connections.close()


async def _tracing_ctx(app: web.Application) -> AsyncIterator[None]:
    tracing = app[COMPONENTS].gateway.tracing
    if tracing is None:
        yield
        return
    await tracing.start()
    yield
    await tracing.stop()  # exports what is buffered


async def _backend_ctx(app: web.Application) -> AsyncIterator[None]:
    parts = app[COMPONENTS]
    await parts.backend.start(parts.registry)
    yield
    await parts.backend.stop()


async def _autoscaler_ctx(app: web.Application) -> AsyncIterator[None]:
    scaler = app[COMPONENTS].autoscaler
    if scaler is None:
        yield
        return
    await scaler.election.start()
    task = asyncio.create_task(scaler.run(), name="wisp-autoscaler")
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    await scaler.election.stop()
