"""Routing through a running gateway: the /function forms, Triggers, errors, headers."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from tests.gateway.conftest import GatewayFactory, Runtimes, info, make_function, serve_app
from tests.support.net import free_port
from wisp.api.trigger import parse_trigger
from wisp.gateway.backend import Endpoint
from wisp.gateway.static import StaticBackend


async def _echo_upstream() -> Any:
    """A contract-speaking server that reports what it received (a 'custom image')."""

    async def handle(request: web.Request) -> web.Response:
        body = await request.read()
        return web.json_response(
            {
                "path": request.path_qs,
                "method": request.method,
                "headers": {k: v for k, v in request.headers.items()},
                "body": body.decode(),
            },
            headers={"Connection": "keep-alive", "X-Custom": "yes"},
        )

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    return await serve_app(app)


def _trigger(name: str, function: str, path: str, namespace: str = "default", **http: Any) -> Any:
    return parse_trigger(
        {
            "metadata": {"name": name, "namespace": namespace},
            "spec": {"function": function, "http": {"path": path, **http}},
        }
    )


async def test_function_path_forwards_subpath_query_and_sets_headers(
    gateway_factory: GatewayFactory,
) -> None:
    upstream = await _echo_upstream()
    backend = StaticBackend()
    backend.set_function(info(make_function("echo")))
    backend.set_endpoints("echo.default", (Endpoint("127.0.0.1", upstream.port or 0),))
    gw = await gateway_factory(backend)
    async with gw.session.post(
        gw.url("/function/echo/orders/42?x=1&y=%20"),
        data=b'{"a": 1}',
        headers={
            "X-Wisp-Event": "http",
            "Connection": "keep-alive, X-Drop",
            "X-Drop": "1",
            "X-Forwarded-For": "10.0.0.1",
        },
    ) as resp:
        assert resp.status == 200
        seen = await resp.json()
        assert resp.headers["X-Custom"] == "yes"
    assert seen["path"] == "/orders/42?x=1&y=%20"
    assert seen["body"] == '{"a": 1}'
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["x-wisp-event"] == "json"  # a caller cannot pick the event kind
    assert headers["x-wisp-request-id"]
    assert "x-drop" not in headers
    assert headers["x-forwarded-for"] == "10.0.0.1, 127.0.0.1"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-host"].startswith("127.0.0.1:")
    await upstream.close()


async def test_namespaced_form_and_default_namespace(gateway_factory: GatewayFactory) -> None:
    upstream = await _echo_upstream()
    backend = StaticBackend()
    backend.set_function(info(make_function("echo", "team-a")))
    backend.set_endpoints("echo.team-a", (Endpoint("127.0.0.1", upstream.port or 0),))
    gw = await gateway_factory(backend, default_namespace="team-a")
    for path in ("/function/echo.team-a", "/function/echo"):
        async with gw.session.get(gw.url(path)) as resp:
            assert resp.status == 200, path
            assert (await resp.json())["path"] == "/"
    async with gw.session.get(gw.url("/function/echo.default")) as resp:
        assert resp.status == 404
    await upstream.close()


async def test_unknown_and_invalid_names_are_404_json(gateway_factory: GatewayFactory) -> None:
    gw = await gateway_factory()
    for path in (
        "/function/nope",
        "/function/Bad_Name",
        "/function/a..b",
        "/nothing",
        "/system/stats",
    ):
        async with gw.session.get(gw.url(path)) as resp:
            assert resp.status == 404, path
            assert (await resp.json())["errorType"] in ("FunctionNotFound", "NotFound")


async def test_function_that_cannot_become_ready_is_503_with_reason(
    gateway_factory: GatewayFactory,
) -> None:
    backend = StaticBackend()
    backend.set_function(info(make_function("broken"), ready=False, reason="ImagePullBackOff"))
    gw = await gateway_factory(backend)
    async with gw.session.post(gw.url("/function/broken"), json={}) as resp:
        assert resp.status == 503
        assert (await resp.json())["errorType"] == "ImagePullBackOff"
    assert backend.scale_calls == []


async def test_http_triggers_route_by_prefix_host_and_method_and_follow_changes(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    fn = make_function("api")
    other = make_function("other")
    runtime = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_function(info(other))
    backend.set_endpoints(fn.key, (runtime.endpoint,))
    backend.set_endpoints(other.key, (runtime.endpoint,))
    backend.set_trigger(_trigger("orders", "api", "/orders", methods=["GET", "POST"]))
    gw = await gateway_factory(backend)

    async with gw.session.get(gw.url("/orders/42?a=1")) as resp:
        assert resp.status == 200
        event = json.loads(await resp.text())
        assert event["path"] == "/orders/42"
        assert event["method"] == "GET"
        assert event["query"] == {"a": "1"}
    async with gw.session.delete(gw.url("/orders/42")) as resp:
        assert resp.status == 405
        assert resp.headers["Allow"] == "GET, POST"
    async with gw.session.get(gw.url("/ordersx")) as resp:
        assert resp.status == 404  # prefixes end on a segment boundary

    # A host-specific trigger on the same path wins for its host only.
    backend.set_trigger(_trigger("shop", "other", "/orders", host="*.shop.example"))
    async with gw.session.get(gw.url("/orders/1"), headers={"Host": "eu.shop.example"}) as resp:
        assert resp.status == 200
    assert gw.parts.registry.upstreams[other.key].stats.invocations == 1
    # The longest prefix wins.
    backend.set_trigger(_trigger("deep", "other", "/orders/special"))
    async with gw.session.post(gw.url("/orders/special/7"), data=b"x") as resp:
        assert resp.status == 200
    assert gw.parts.registry.upstreams[other.key].stats.invocations == 2

    backend.delete_trigger("orders.default")
    async with gw.session.get(gw.url("/orders/42")) as resp:
        assert resp.status == 404


async def test_trigger_to_missing_function_is_404(gateway_factory: GatewayFactory) -> None:
    backend = StaticBackend()
    backend.set_trigger(_trigger("t", "ghost", "/ghost"))
    gw = await gateway_factory(backend)
    async with gw.session.get(gw.url("/ghost")) as resp:
        assert resp.status == 404
        assert (await resp.json())["errorType"] == "FunctionNotFound"


async def _gateway_with_endpoints(
    gateway_factory: GatewayFactory, runtimes: Runtimes, dead: int, live: int
) -> tuple[Any, str]:
    fn = make_function("failover", concurrency=100)
    backend = StaticBackend()
    backend.set_function(info(fn))
    endpoints = [Endpoint("127.0.0.1", free_port(), f"dead-{n}") for n in range(dead)]
    for _ in range(live):
        endpoints.append((await runtimes.start(fn)).endpoint)
    backend.set_endpoints(fn.key, tuple(endpoints))
    return await gateway_factory(backend), fn.key


async def test_calls_skip_an_endpoint_that_refuses_connections(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    # A pod that died but is still listed: nothing was sent to it, so the call goes to another.
    gw, key = await _gateway_with_endpoints(gateway_factory, runtimes, dead=2, live=1)

    async def served(n: int) -> int:
        async with gw.session.post(gw.url("/function/failover"), json={"n": n}) as response:
            assert (await response.json())["echo"] == {"n": n}
            return response.status

    statuses = await asyncio.gather(*(served(n) for n in range(8)))
    invoked = await asyncio.gather(*(gw.parts.gateway.invoke(key, b'{"i": 1}') for _ in range(8)))
    assert statuses == [200] * 8
    assert [r.status for r in invoked] == [200] * 8


async def test_no_endpoint_accepting_is_a_json_502(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw, key = await _gateway_with_endpoints(gateway_factory, runtimes, dead=5, live=0)
    async with gw.session.post(gw.url("/function/failover"), json={}) as response:
        assert response.status == 502
        assert (await response.json())["errorType"] == "BadGateway"
    result = await gw.parts.gateway.invoke(key, b"{}")
    assert result.status == 502
    assert json.loads(result.body)["errorType"] == "BadGateway"
