"""The admin port (metrics, health, stats) and the internal invoke() path."""

from __future__ import annotations

import json

from tests.gateway.conftest import GatewayFactory, Runtimes, info, make_function
from wisp.gateway.static import StaticBackend


async def test_metrics_health_and_stats(gateway_factory: GatewayFactory, runtimes: Runtimes) -> None:
    fn = make_function("stats", memory="512Mi")
    runtime = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (runtime.endpoint,))
    gw = await gateway_factory(backend)
    for _ in range(3):
        async with gw.session.post(gw.url("/function/stats"), json={}) as resp:
            assert resp.status == 200
    async with gw.session.get(gw.url("/healthz")) as resp:
        assert resp.status == 200
    async with gw.session.get(gw.admin_url("/readyz")) as resp:
        assert resp.status == 200
    async with gw.session.get(gw.admin_url("/metrics")) as resp:
        text = await resp.text()
    for name in (
        "wisp_invocations_total",
        "wisp_invocation_duration_seconds_bucket",
        "wisp_inflight_requests",
        "wisp_billed_gb_seconds_total",
        "wisp_function_replicas",
    ):
        assert name in text, name
    assert 'wisp_function_replicas{function="stats",namespace="default",state="ready"} 1.0' in text
    async with gw.session.get(gw.admin_url("/system/stats")) as resp:
        stats = await resp.json()
    row = stats["functions"][0]
    assert (row["function"], row["invocations"], row["errors"]) == ("stats", 3, 0)
    assert row["replicas"]["ready"] == 1
    assert row["windows"]["60s"]["invocations"] == 3
    assert row["windows"]["60s"]["p50Ms"] > 0
    assert row["gbSeconds"] > 0
    assert row["lastCall"] is not None


async def test_readyz_waits_for_the_backend_picture(gateway_factory: GatewayFactory) -> None:
    class Unsynced(StaticBackend):
        async def start(self, events):  # type: ignore[no-untyped-def]
            self._events = events  # never calls synced()

    gw = await gateway_factory(Unsynced())
    async with gw.session.get(gw.admin_url("/readyz")) as resp:
        assert resp.status == 503


async def test_invoke_uses_the_same_path(gateway_factory: GatewayFactory, runtimes: Runtimes) -> None:
    fn = make_function("inv")
    backend = StaticBackend()

    async def on_scale(key: str, replicas: int) -> None:
        runtime = await runtimes.start(fn)
        backend.set_endpoints(key, (runtime.endpoint,))

    backend._on_scale = on_scale
    backend.set_function(info(fn))
    backend.replicas[fn.key] = 0
    gw = await gateway_factory(backend)
    result = await gw.parts.gateway.invoke(fn.key, b'{"k": "v"}', {"X-Wisp-Request-Id": "abc"})
    assert result.status == 200
    assert json.loads(result.body)["echo"] == {"k": "v"}
    assert result.cold_start_ms is not None
    assert result.request_id == "abc"
    missing = await gw.parts.gateway.invoke("nope.default", b"{}")
    assert missing.status == 404
