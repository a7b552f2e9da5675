"""Scale from zero through a running gateway, with real runtime processes started on scale()."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import aiohttp
import pytest

from tests.gateway.conftest import GatewayFactory, Runtimes, info, make_function
from tests.support.wait import eventually
from wisp.api.function import Function
from wisp.console.live import GatewayView
from wisp.gateway import activator
from wisp.gateway.backend import Endpoint
from wisp.gateway.static import StaticBackend


def _scaling_backend(runtimes: Runtimes, fn_key: str, fn: object) -> StaticBackend:
    backend: StaticBackend

    async def on_scale(key: str, replicas: int) -> None:
        assert key == fn_key
        started = [await runtimes.start(fn) for _ in range(replicas)]  # type: ignore[arg-type]
        backend.set_endpoints(key, tuple(r.endpoint for r in started))

    backend = StaticBackend(on_scale=on_scale)
    return backend


async def test_burst_of_500_cold_calls_scales_once_and_all_succeed(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    fn = make_function("cold", concurrency=100)
    backend = _scaling_backend(runtimes, fn.key, fn)
    backend.set_function(info(fn))
    backend.replicas[fn.key] = 0
    gw = await gateway_factory(backend)

    async def call(i: int) -> tuple[int, str | None]:
        async with gw.session.post(gw.url("/function/cold"), json={"i": i}) as resp:
            body = await resp.json()
            assert body.get("echo", {}).get("i") == i or resp.status != 200
            return resp.status, resp.headers.get("X-Wisp-Cold-Start")

    results = await asyncio.gather(*(call(i) for i in range(500)))
    assert [status for status, _ in results] == [200] * 500
    assert backend.scale_calls == [(fn.key, 1)]
    assert sum(1 for _, cold in results if cold == "true") >= 1
    # A warm call afterwards is not a cold start.
    async with gw.session.post(gw.url("/function/cold"), json={}) as resp:
        assert resp.status == 200
        assert "X-Wisp-Cold-Start" not in resp.headers
    async with gw.session.get(gw.admin_url("/metrics")) as resp:
        text = await resp.text()
    assert 'wisp_invocations_total{code="200",function="cold",namespace="default"} 501.0' in text
    assert 'wisp_cold_starts_total{function="cold",namespace="default"}' in text


async def test_cold_call_reports_its_wait(gateway_factory: GatewayFactory, runtimes: Runtimes) -> None:
    fn = make_function("once")
    backend = _scaling_backend(runtimes, fn.key, fn)
    backend.set_function(info(fn))
    backend.replicas[fn.key] = 0
    gw = await gateway_factory(backend)
    async with gw.session.post(gw.url("/function/once"), json={"x": 1}) as resp:
        assert resp.status == 200
        assert resp.headers["X-Wisp-Cold-Start"] == "true"
        assert float(resp.headers["X-Wisp-Cold-Start-Ms"]) > 0


async def test_held_calls_are_bounded_and_time_out(gateway_factory: GatewayFactory) -> None:
    fn = make_function("never")
    scaled = asyncio.Event()

    async def on_scale(key: str, replicas: int) -> None:
        scaled.set()  # ...but no endpoint ever turns ready

    backend = StaticBackend(on_scale=on_scale)
    backend.set_function(info(fn))
    backend.replicas[fn.key] = 0
    gw = await gateway_factory(backend, max_held_requests=2, cold_start_timeout=0.5)

    async def call() -> aiohttp.ClientResponse:
        async with gw.session.post(gw.url("/function/never"), json={}) as resp:
            await resp.read()
            return resp

    responses = await asyncio.gather(*(call() for _ in range(3)))
    statuses = sorted(r.status for r in responses)
    assert statuses == [503, 504, 504]
    refused = next(r for r in responses if r.status == 503)
    assert refused.headers["Retry-After"] == "1"
    assert scaled.is_set()
    assert backend.scale_calls == [(fn.key, 1)]


async def test_held_call_fails_fast_when_function_turns_unready(
    gateway_factory: GatewayFactory,
) -> None:
    fn = make_function("fails")
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.replicas[fn.key] = 0
    gw = await gateway_factory(backend, cold_start_timeout=30)

    async def call() -> int:
        async with gw.session.post(gw.url("/function/fails"), json={}) as resp:
            assert (await resp.json())["errorType"] == "ImagePullBackOff"
            return resp.status

    task = asyncio.create_task(call())
    while gw.parts.registry.upstreams[fn.key].cold.held == 0:
        await asyncio.sleep(0.01)
    backend.set_function(info(fn, ready=False, reason="ImagePullBackOff"))
    assert await task == 503


async def test_endpoint_that_refuses_connections_leaves_rotation(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    fn = make_function("two")
    good = await runtimes.start(fn)
    dead = Endpoint("127.0.0.1", 1, "dead")  # nothing listens on port 1
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (dead, good.endpoint))
    gw = await gateway_factory(backend)
    for i in range(20):
        async with gw.session.post(gw.url("/function/two"), json={"i": i}) as resp:
            assert resp.status == 200
    pool = gw.parts.registry.upstreams[fn.key].pool
    assert not pool.slots[dead.address].healthy
    async with gw.session.get(gw.admin_url("/system/functions")) as resp:
        listed = (await resp.json())["functions"][0]["endpoints"]
    assert listed == [good.endpoint.address]


class _WarmBackend(StaticBackend):
    """A backend with a warm pool whose pod (already running, as a pool pod is) takes the
    function after ``take`` seconds, recording the order of what the activator asked for."""

    def __init__(self, pod: Endpoint, take: float) -> None:
        super().__init__(on_scale=self._on_scale)
        self.pod, self.take = pod, take
        self.asked: list[str] = []

    async def warm_start(self, function: Function) -> None:
        self.asked.append("pool")
        await asyncio.sleep(self.take)
        self.asked.append("pool pod ready")
        self.set_endpoints(function.key, (dataclasses.replace(self.pod, pool=True),))

    async def _on_scale(self, key: str, replicas: int) -> None:
        self.asked.append("replica")

    def pool_report(self) -> dict[str, dict[str, int]]:
        return {"python": {"free": 1, "hit": len([a for a in self.asked if a == "pool pod ready"])}}


async def test_a_functions_own_replica_is_asked_for_once_its_pool_pod_took_the_call(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    # A replica starting beside the specialisation would take the node's CPU from it.
    fn = make_function("pooled")
    backend = _WarmBackend((await runtimes.start(fn)).endpoint, take=0.05)
    backend.set_function(info(fn))
    backend.replicas[fn.key] = 0
    gw = await gateway_factory(backend)
    async with gw.session.post(gw.url("/function/pooled"), json={}) as resp:
        assert resp.status == 200
    await eventually(lambda: "replica" in backend.asked, "the replica asked for")
    assert backend.asked == ["pool", "pool pod ready", "replica"]
    # Counted as a cold start from the pool, where the console and `wisp describe` read it.
    async with gw.session.get(gw.admin_url("/system/stats")) as resp:
        (stats,) = (await resp.json())["functions"]
    assert (stats["function"], stats["coldStarts"], stats["poolStarts"]) == ("pooled", 1, 1)
    view = GatewayView(gw.parts, price=0.0)
    row = next(r for r in view.functions(time.time()) if r["name"] == "pooled")
    assert (row["coldStarts"], row["poolStarts"]) == (1, 1)
    assert view.pool() == {"python": {"free": 1, "hit": 1}}


async def test_a_pool_that_does_not_answer_does_not_hold_the_replica_up(
    gateway_factory: GatewayFactory, runtimes: Runtimes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(activator, "WARM_HEAD_START", 0.1)
    fn = make_function("slowpool")
    backend = _WarmBackend((await runtimes.start(fn)).endpoint, take=30)
    backend.set_function(info(fn))
    backend.replicas[fn.key] = 0
    gw = await gateway_factory(backend, cold_start_timeout=0.5)
    async with gw.session.post(gw.url("/function/slowpool"), json={}) as resp:
        assert resp.status == 504  # nothing ever came: the replica's scale() starts nothing here
    assert backend.asked == ["pool", "replica"]  # asked for 0.1 s after the pool, not 30 s
