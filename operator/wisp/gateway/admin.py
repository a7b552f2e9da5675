"""The admin port: ``/metrics``, ``/healthz`` (live), ``/readyz`` (watches synced) and the JSON
``/system/stats`` and ``/system/functions`` APIs read by the web console and operators."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from wisp.gateway.handlers import request_lines
from wisp.gateway.proxy import answer_expect
from wisp.gateway.state import COMPONENTS, Components


def make_admin_app(components: Components) -> web.Application:
    app = web.Application(middlewares=[request_lines])  # HTTP/1.x, no CONNECT: as on the invocation port
    app[COMPONENTS] = components
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/system/stats", stats)
    app.router.add_get("/system/functions", functions)
    answer_expect(app)
    return app


async def metrics(request: web.Request) -> web.Response:
    registry = request.app[COMPONENTS].metrics.registry
    body = generate_latest(registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if request.app[COMPONENTS].registry.synced_event.is_set():
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "syncing"}, status=503)


async def stats(request: web.Request) -> web.Response:
    parts = request.app[COMPONENTS]
    now = time.time()
    out: list[dict[str, Any]] = []
    for key, up in sorted(parts.registry.upstreams.items()):
        fn = up.info.function
        row: dict[str, Any] = {
            "function": fn.name,
            "namespace": fn.namespace,
            "inFlight": up.meter.in_flight,
            "held": up.cold.held,
            "replicas": {
                "desired": parts.replicas.get((key, "desired")),
                "ready": up.pool.ready_count,
            },
            "memoryMiB": fn.spec.memory_mib,
        }
        row.update(up.stats.summary(now))
        out.append(row)
    leader = parts.autoscaler.election.is_leader if parts.autoscaler is not None else False
    return web.json_response(
        {"time": now, "replica": parts.config.pod_name, "leader": leader, "functions": out}
    )


async def functions(request: web.Request) -> web.Response:
    parts = request.app[COMPONENTS]
    rows = [
        {
            "function": up.info.function.name,
            "namespace": up.info.function.namespace,
            "ready": up.info.ready,
            "reason": up.info.reason,
            "endpoints": [slot.endpoint.address for slot in up.pool.slots.values() if slot.healthy],
        }
        for up in parts.registry.upstreams.values()
    ]
    triggers = [
        {
            "trigger": t.name,
            "namespace": t.namespace,
            "function": t.function,
            "path": t.http.path,
            "host": t.http.host,
            "methods": list(t.http.methods),
        }
        for t in parts.registry.triggers.values()
        if t.http is not None
    ]
    return web.json_response({"functions": rows, "triggers": triggers})
