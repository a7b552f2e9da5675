"""Per-pod concurrency, body limits, streaming and timeouts through a running gateway."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.gateway.conftest import GatewayFactory, Runtimes, info, make_function, serve_app
from wisp.gateway.backend import Endpoint
from wisp.gateway.static import StaticBackend


async def _backend_with(runtimes: Runtimes, **spec: object) -> tuple[StaticBackend, str]:
    fn = make_function("limited", **spec)
    runtime = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (runtime.endpoint,))
    return backend, fn.key


async def test_calls_past_a_pods_concurrency_wait_then_get_429(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    backend, _ = await _backend_with(runtimes, concurrency=1)
    gw = await gateway_factory(backend, queue_timeout=0.3)

    async def call(sleep: float) -> tuple[int, dict[str, str]]:
        async with gw.session.post(gw.url("/function/limited"), json={"sleep": sleep}) as resp:
            await resp.read()
            return resp.status, dict(resp.headers)

    slow = asyncio.create_task(call(2.0))
    while gw.parts.registry.upstreams["limited.default"].pool.in_flight == 0:
        await asyncio.sleep(0.01)
    status, headers = await call(0)
    assert status == 429
    assert headers["Retry-After"] == "1"
    assert headers["X-Wisp-Throttled"] == "gateway"
    assert (await slow)[0] == 200


async def test_queued_call_runs_when_the_slot_frees(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    backend, _ = await _backend_with(runtimes, concurrency=1)
    gw = await gateway_factory(backend, queue_timeout=30)

    async def call() -> int:
        async with gw.session.post(gw.url("/function/limited"), json={"sleep": 0.2}) as resp:
            await resp.read()
            return resp.status

    assert await asyncio.gather(*(call() for _ in range(4))) == [200] * 4


async def test_body_limit_is_413_with_length_and_when_chunked(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    backend, _ = await _backend_with(runtimes)
    gw = await gateway_factory(backend, max_body_bytes=1000)
    async with gw.session.post(gw.url("/function/limited"), data=b"x" * 1001) as resp:
        assert resp.status == 413

    async def chunks():  # type: ignore[no-untyped-def]
        for _ in range(10):
            yield b"y" * 500

    async with gw.session.post(gw.url("/function/limited"), data=chunks()) as resp:
        assert resp.status == 413
    async with gw.session.post(gw.url("/function/limited"), json={"ok": 1}) as resp:
        assert resp.status == 200


async def test_large_bodies_stream_both_ways(gateway_factory: GatewayFactory, runtimes: Runtimes) -> None:
    backend, _ = await _backend_with(runtimes)
    gw = await gateway_factory(backend)
    text = "z" * (2 * 1024 * 1024)

    async def chunks():  # type: ignore[no-untyped-def]
        payload = ('{"big": "' + text + '"}').encode()
        for i in range(0, len(payload), 65536):
            yield payload[i : i + 65536]

    async with gw.session.post(gw.url("/function/limited"), data=chunks()) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert body["echo"]["big"] == text


async def test_function_timeout_answers_504(gateway_factory: GatewayFactory, runtimes: Runtimes) -> None:
    backend, _ = await _backend_with(runtimes, timeout="1s")
    gw = await gateway_factory(backend)
    async with gw.session.post(gw.url("/function/limited"), json={"sleep": 3}) as resp:
        assert resp.status == 504


async def test_gateway_gives_up_on_an_endpoint_that_never_answers(
    gateway_factory: GatewayFactory,
) -> None:
    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(30)
        return web.Response()

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", hang)
    upstream = await serve_app(app)
    fn = make_function("hangs", timeout="1s")
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (Endpoint("127.0.0.1", upstream.port or 0),))
    gw = await gateway_factory(backend, timeout_margin=0.2)
    async with gw.session.post(gw.url("/function/hangs"), json={}) as resp:
        assert resp.status == 504
        assert (await resp.json())["errorType"] == "GatewayTimeout"
    await upstream.close()


FULL_HANDLER = """
import time

def handler(event, context):
    time.sleep(event.get("sleep", 0))
    if event.get("status"):
        return {"statusCode": event["status"], "body": "the handler's own answer"}
    return {"n": event.get("n")}
"""


async def test_a_pod_filled_by_another_gateway_is_waited_for_not_passed_on_as_429(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    # Two gateway replicas each count the pod's calls on their own: together they send it more
    # than its concurrency, and its runtime refuses the excess (429, X-Wisp-Throttled: runtime).
    fn = make_function("limited", concurrency=2, code={"inline": FULL_HANDLER})
    runtime = await runtimes.start(fn)
    gateways = []
    for _ in range(2):
        backend = StaticBackend()
        backend.set_function(info(fn))
        backend.set_endpoints(fn.key, (runtime.endpoint,))
        gateways.append(await gateway_factory(backend, queue_timeout=60))

    async def call(n: int) -> tuple[int, bytes]:
        gw = gateways[n % 2]
        async with gw.session.post(gw.url("/function/limited"), json={"n": n, "sleep": 0.2}) as resp:
            return resp.status, await resp.read()

    answers = await asyncio.gather(*(call(n) for n in range(8)))
    assert [status for status, _ in answers] == [200] * 8, answers

    # A handler's own 429 (no X-Wisp-Throttled: runtime) is its answer, passed on as it is.
    gw = gateways[0]
    async with gw.session.post(gw.url("/function/limited"), json={"status": 429}) as resp:
        assert resp.status == 429
        assert await resp.text() == "the handler's own answer"
        assert "X-Wisp-Throttled" not in resp.headers
