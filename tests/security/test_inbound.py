"""What reaches a function from outside: hop-by-hop, inbound X-Wisp-* and untrusted
X-Forwarded-* headers are stripped; the forwarding chain is built from the real peer;
names are checked before any lookup."""

from __future__ import annotations

import pytest

from tests.security.conftest import GatewayMaker
from tests.security.support import SecuredGateway, function, trigger
from wisp.security.settings import SecuritySettings, parse_networks

pytestmark = pytest.mark.asyncio(loop_scope="module")

HOSTILE = {
    "X-Wisp-Event": "json",
    "X-Wisp-Request-Id": "forged",
    "X-Wisp-Deadline-Ms": "1",
    "X-Wisp-Signature": "t=1,v1=00",
    "Connection": "keep-alive, X-Secret-Hop",
    "X-Secret-Hop": "1",
    "Proxy-Authorization": "Basic cHJveHk6cHc=",
    "Keep-Alive": "timeout=5",
    "X-Forwarded-For": "6.6.6.6",
    "X-Forwarded-Proto": "https",
    "X-Forwarded-Host": "evil.example",
    "Forwarded": "for=6.6.6.6",
    "X-Real-IP": "6.6.6.6",
    "X-Kept": "yes",
}


async def _seen_headers(gw: SecuredGateway, headers: dict[str, str]) -> dict[str, str]:
    status, body, _ = await gw.call("/web/page", method="GET", headers=headers)
    assert status == 200, body
    return dict(body["headers"])


async def test_untrusted_peer_headers_are_stripped_and_forwarding_rebuilt(
    make_gateway: GatewayMaker,
) -> None:
    gw = await make_gateway(SecuritySettings(public_by_default=True))
    gw.add(function("web"), trigger("web", "web", "/web"))
    seen = await _seen_headers(gw, HOSTILE)
    for name in (
        "x-secret-hop",
        "proxy-authorization",
        "keep-alive",
        "forwarded",
        "x-real-ip",
        "x-wisp-signature",
        "x-wisp-deadline-ms",
    ):
        assert name not in seen, name
    assert "x-wisp-request-id" not in seen  # the runtime hands no X-Wisp-* header to a handler
    _, _, answer = await gw.call("/web/page", method="GET", headers=HOSTILE)
    assert answer["X-Wisp-Request-Id"] != "forged"
    assert seen["x-forwarded-for"] == "127.0.0.1"
    assert seen["x-forwarded-proto"] == "http"
    assert seen["x-forwarded-host"].startswith("127.0.0.1:")
    assert seen["x-kept"] == "yes"


async def test_trusted_proxy_chain_is_kept_and_extended(make_gateway: GatewayMaker) -> None:
    settings = SecuritySettings(public_by_default=True, trusted_proxies=parse_networks("127.0.0.0/8"))
    gw = await make_gateway(settings)
    gw.add(function("web"), trigger("web", "web", "/web"))
    seen = await _seen_headers(gw, {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"})
    assert seen["x-forwarded-for"] == "203.0.113.9, 127.0.0.1"
    assert seen["x-forwarded-proto"] == "https"


async def test_names_are_checked_before_any_lookup(gateway: SecuredGateway) -> None:
    for path in (
        "/function/Bad_Name",
        "/function/a..b",
        "/async-function/UPPER",
        "/function/" + "a" * 64,
        "/async-function/x.y.z",
    ):
        status, body, _ = await gateway.call(path, json={})
        assert status == 404, path
        assert body["errorType"] == "FunctionNotFound", path
