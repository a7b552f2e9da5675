"""Rate limits per (function, principal) with an injected clock, the global in-flight cap, and
the input limits (URL, header count and size) — each a JSON answer the caller can act on."""

from __future__ import annotations

import asyncio

import pytest

from tests.security.conftest import GatewayMaker
from tests.security.support import SecuredGateway, function
from tests.support.datapath import BOTH_PATHS
from wisp.security.settings import InputLimits, SecuritySettings

pytestmark = [pytest.mark.asyncio(loop_scope="module"), BOTH_PATHS]


async def test_rate_limit_is_per_principal_with_retry_after(gateway: SecuredGateway) -> None:
    gateway.secrets.put("default", "callers", {"token": "token-alice\ntoken-bob"})
    gateway.secrets.put("default", "more", {"token": "token-carol"})
    access = {"tokenSecrets": [{"name": "callers"}, {"name": "more"}], "rateLimit": {"rps": 1, "burst": 2}}
    gateway.add(function("limited", access))

    async def call(token: str) -> tuple[int, dict[str, str]]:
        status, _, headers = await gateway.call(
            "/function/limited", json={}, headers={"Authorization": f"Bearer {token}"}
        )
        return status, headers

    assert [(await call("token-alice"))[0] for _ in range(2)] == [200, 200]
    status, headers = await call("token-alice")
    assert status == 429
    assert headers["Retry-After"] == "1"
    # Tokens from one Secret are one principal; another Secret's tokens have their own budget.
    assert (await call("token-bob"))[0] == 429
    assert (await call("token-carol"))[0] == 200
    gateway.clock[0] += 1.0
    assert (await call("token-alice"))[0] == 200
    assert (await call("token-alice"))[0] == 429
    metrics = gateway.parts.metrics.registry
    assert (
        metrics.get_sample_value(
            "wisp_throttled_total", {"function": "limited", "namespace": "default", "reason": "rate-limit"}
        )
        == 3
    )


async def test_public_functions_are_limited_per_client_address(gateway: SecuredGateway) -> None:
    gateway.add(function("open", {"public": True, "rateLimit": {"rps": 1, "burst": 1}}))
    assert (await gateway.call("/function/open", json={}))[0] == 200
    status, body, _ = await gateway.call("/function/open", json={})
    assert status == 429
    assert body["errorType"] == "TooManyRequests"


async def test_in_flight_cap_answers_503_and_spares_health(make_gateway: GatewayMaker) -> None:
    gw = await make_gateway(SecuritySettings(public_by_default=True, max_inflight=1))
    gw.add(function("slow"))
    slow = asyncio.create_task(gw.call("/function/slow", json={"sleep": 1.0}))
    while gw.security.guard.inflight.current == 0:
        await asyncio.sleep(0.01)
    status, body, headers = await gw.call("/function/slow", json={})
    assert status == 503
    assert body["errorType"] == "GatewayOverloaded"
    assert headers["Retry-After"] == "1"
    assert (await gw.call("/healthz", method="GET"))[0] == 200
    assert (await slow)[0] == 200
    assert (await gw.call("/function/slow", json={}))[0] == 200


async def test_url_and_header_limits_are_json_4xx(make_gateway: GatewayMaker) -> None:
    limits = InputLimits(max_url_bytes=200, max_headers=20, max_header_bytes=2000)
    gw = await make_gateway(SecuritySettings(public_by_default=True, limits=limits))
    gw.add(function("echo"))
    status, body, _ = await gw.call("/function/echo?q=" + "a" * 300, json={})
    assert (status, body["errorType"]) == (414, "URITooLong")
    many = {f"X-Custom-{i}": "v" for i in range(25)}
    status, body, _ = await gw.call("/function/echo", json={}, headers=many)
    assert (status, body["errorType"]) == (431, "RequestHeaderFieldsTooLarge")
    status, body, _ = await gw.call(
        "/function/echo", json={}, headers={"X-Big": "b" * 1900, "X-B2": "c" * 200}
    )
    assert (status, body["errorType"]) == (431, "RequestHeaderFieldsTooLarge")
    assert (await gw.call("/function/echo", json={}, headers={"X-Fine": "ok"}))[0] == 200
