"""Who may call a Function, through a running gateway and a real runtime: the auth matrix
(public / token / HMAC, each with none / wrong / right / expired / rotated), existence hiding, what
reaches the function, and the admin credential."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from tests.security.conftest import GatewayMaker
from tests.security.support import SecuredGateway, function, trigger
from tests.support.datapath import BOTH_PATHS
from wisp.gateway.admin import make_admin_app
from wisp.gateway.state import COMPONENTS
from wisp.security.credentials import sign
from wisp.security.extension import secure_admin_app
from wisp.security.settings import SecuritySettings

pytestmark = [pytest.mark.asyncio(loop_scope="module"), BOTH_PATHS]

TOKEN_ACCESS = {"tokenSecrets": [{"name": "callers", "key": "token"}]}
HMAC_ACCESS = {"hmacSecret": {"name": "hook", "key": "key", "tolerance": "5m"}}
BODY = b'{"n": 1}'


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signed(key: bytes, body: bytes = BODY, at: float | None = None) -> dict[str, str]:
    return {
        "X-Wisp-Signature": sign(key, body, int(time.time() if at is None else at)),
        "Content-Type": "application/json",
    }


async def status_of(gw: SecuredGateway, path: str, headers: dict[str, str], body: bytes = BODY) -> int:
    status, _, _ = await gw.call(path, data=body, headers=headers)
    return status


async def test_public_function_admits_everyone(gateway: SecuredGateway) -> None:
    gateway.add(function("open", {"public": True}))
    matrix = {
        "none": {},
        "wrong": bearer("nope"),
        "right": bearer("anything"),
        "expired": signed(b"k", at=time.time() - 3600),
        "rotated": signed(b"other"),
    }
    for case, headers in matrix.items():
        status, body, _ = await gateway.call("/function/open", data=BODY, headers=headers)
        assert (case, status) == (case, 200)
        assert body == {"echo": {"n": 1}}


async def test_token_matrix_with_rotation(gateway: SecuredGateway) -> None:
    gateway.secrets.put("default", "callers", {"token": "first-token-value\n"})
    gateway.add(function("private", TOKEN_ACCESS))
    path = "/function/private"
    assert await status_of(gateway, path, {}) == 401
    assert await status_of(gateway, path, bearer("wrong-token-value")) == 403
    assert await status_of(gateway, path, {"Authorization": "Basic Zm9vOmJhcg=="}) == 403
    status, body, _ = await gateway.call(path, data=BODY, headers=bearer("first-token-value"))
    assert (status, body) == (200, {"echo": {"n": 1}})

    # Rotation with overlap: both tokens work while the Secret lists both, then only the new.
    gateway.secrets.put("default", "callers", {"token": "first-token-value\nsecond-token-value"})
    assert await status_of(gateway, path, bearer("first-token-value")) == 200
    assert await status_of(gateway, path, bearer("second-token-value")) == 200
    gateway.secrets.put("default", "callers", {"token": "second-token-value"})
    assert await status_of(gateway, path, bearer("first-token-value")) == 403  # rotated out
    assert await status_of(gateway, path, bearer("second-token-value")) == 200
    gateway.secrets.remove("default", "callers")
    assert await status_of(gateway, path, bearer("second-token-value")) == 403  # Secret deleted


async def test_hmac_matrix_with_rotation(gateway: SecuredGateway) -> None:
    gateway.secrets.put("default", "hook", {"key": "webhook-key-one"})
    gateway.add(function("hook", HMAC_ACCESS))
    path = "/function/hook"
    assert await status_of(gateway, path, {}) == 401
    assert await status_of(gateway, path, signed(b"not-the-key")) == 403
    assert await status_of(gateway, path, {"X-Wisp-Signature": "t=1,v1=zz"}) == 403
    # The signature covers the body: the right key over another body fails.
    assert await status_of(gateway, path, signed(b"webhook-key-one", b"{}"), BODY) == 403
    status, body, _ = await gateway.call(path, data=BODY, headers=signed(b"webhook-key-one"))
    assert (status, body) == (200, {"echo": {"n": 1}})
    # A replay of a delivery older than the 5-minute tolerance fails, as does one from the future.
    assert await status_of(gateway, path, signed(b"webhook-key-one", at=time.time() - 301)) == 403
    assert await status_of(gateway, path, signed(b"webhook-key-one", at=time.time() + 301)) == 403
    assert await status_of(gateway, path, signed(b"webhook-key-one", at=time.time() - 290)) == 200

    gateway.secrets.put("default", "hook", {"key": "webhook-key-two"})
    assert await status_of(gateway, path, signed(b"webhook-key-one")) == 403
    assert await status_of(gateway, path, signed(b"webhook-key-two")) == 200


async def test_signed_bodies_larger_than_the_proxy_buffer_arrive_whole(gateway: SecuredGateway) -> None:
    gateway.secrets.put("default", "hook", {"key": "webhook-key"})
    gateway.add(function("hook", HMAC_ACCESS), trigger("hooks", "hook", "/hooks"))
    body = b"a" * (600 * 1024)
    headers = {**signed(b"webhook-key", body), "Content-Type": "text/plain"}
    status, echoed, _ = await gateway.call("/hooks/github", data=body, headers=headers)
    assert status == 200
    assert echoed["bodyLength"] == len(body)


async def test_unauthenticated_callers_cannot_tell_private_from_missing(gateway: SecuredGateway) -> None:
    gateway.secrets.put("default", "callers", {"token": "t0ken-value"})
    gateway.add(function("private", TOKEN_ACCESS))
    answers: list[tuple[int, Any, str]] = []
    for path in (
        "/function/private",
        "/function/missing",
        "/function/missing.other-ns",
        "/async-function/private",
        "/async-function/missing",
    ):
        status, body, headers = await gateway.call(path, data=BODY)
        answers.append((status, body, headers["WWW-Authenticate"]))
    assert len(set(map(repr, answers))) == 1
    assert answers[0][0] == 401
    # With a wrong credential, private and missing both answer the same 403.
    private = await gateway.call("/function/private", data=BODY, headers=bearer("guess"))
    missing = await gateway.call("/function/missing", data=BODY, headers=bearer("guess"))
    assert private[:2] == missing[:2]
    assert private[0] == 403


async def test_public_by_default_only_for_functions_without_access(make_gateway: GatewayMaker) -> None:
    closed = await make_gateway(SecuritySettings(public_by_default=False))
    opened = await make_gateway(SecuritySettings(public_by_default=True))
    for gw in (closed, opened):
        gw.secrets.put("default", "callers", {"token": "t0ken-value"})
        gw.add(function("plain"))
        gw.add(function("closed", {"public": False}))
        gw.add(function("tokens", TOKEN_ACCESS))
    assert await status_of(closed, "/function/plain", {}) == 401
    assert await status_of(opened, "/function/plain", {}) == 200
    assert await status_of(opened, "/function/closed", {}) == 401
    assert await status_of(opened, "/function/closed", bearer("t0ken-value")) == 403  # no credential fits
    assert await status_of(opened, "/function/tokens", {}) == 401
    assert await status_of(opened, "/function/tokens", bearer("t0ken-value")) == 200


async def test_wisps_credential_does_not_reach_the_function_but_a_public_ones_does(
    gateway: SecuredGateway,
) -> None:
    gateway.secrets.put("default", "callers", {"token": "t0ken-value"})
    gateway.add(function("private", TOKEN_ACCESS), trigger("p", "private", "/private"))
    gateway.add(function("open", {"public": True}), trigger("o", "open", "/open"))
    _, seen, _ = await gateway.call("/private/x", method="GET", headers=bearer("t0ken-value"))
    assert "authorization" not in seen["headers"]
    _, seen, _ = await gateway.call("/open/x", method="GET", headers=bearer("for-the-function"))
    assert seen["headers"]["authorization"] == "Bearer for-the-function"


async def test_management_paths_need_the_admin_token(make_gateway: GatewayMaker) -> None:
    gw = await make_gateway(SecuritySettings(admin_token="admin-secret-token"))
    for path in ("/invocations/abc", "/system/stats", "/ui/", "/metrics"):
        assert (await gw.call(path, method="GET"))[0] == 401, path
        assert (await gw.call(path, method="GET", headers=bearer("nope")))[0] == 403, path
        # With the token the request reaches the gateway's own routing (nothing served there here).
        status, body, _ = await gw.call(path, method="GET", headers=bearer("admin-secret-token"))
        assert status == 404, path
        assert body["errorType"] in ("NotFound", "FunctionNotFound")
    no_token = await make_gateway(SecuritySettings(admin_token=None))
    status, body, _ = await no_token.call("/system/stats", method="GET", headers=bearer("anything"))
    assert status == 403
    assert "WISP_ADMIN_TOKEN" in body["errorMessage"]


async def test_admin_port_guards_system_but_not_probes_or_metrics(gateway: SecuredGateway) -> None:
    settings = SecuritySettings(admin_token="admin-secret-token")
    admin = TestServer(secure_admin_app(make_admin_app(gateway.app[COMPONENTS]), settings), host="127.0.0.1")
    await admin.start_server()
    try:
        session = gateway.session
        async with session.get(admin.make_url("/system/stats")) as resp:
            assert resp.status == 401
        async with session.get(admin.make_url("/system/stats"), headers=bearer("admin-secret-token")) as resp:
            assert resp.status == 200
            assert "functions" in await resp.json()
        for path in ("/metrics", "/healthz", "/readyz"):
            async with session.get(admin.make_url(path)) as resp:
                assert resp.status == 200, path
    finally:
        await admin.close()
