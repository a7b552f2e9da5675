"""Access is decided on the route the router resolved, never on the caller's spelling of a path.

Every protected endpoint is called with its path spelled the ways a router may read differently
from a prefix check: one letter percent-encoded (lower and upper hex), a whole segment encoded,
double-encoded, mixed case, ``//``, ``/./``, and trailing dots. Each spelling must either be
refused (401/403) or not found (404), and the endpoint's handler must never run; with the right
credential, an encoded spelling reaches the same handler (the check and the handler agree).
"""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.security.conftest import GatewayMaker
from tests.security.support import SecuredGateway, function
from tests.support.rawhttp import exchange, request_bytes
from wisp.gateway.admin import make_admin_app
from wisp.gateway.resolve import FUNCTION_ROUTES
from wisp.gateway.state import COMPONENTS, Components
from wisp.queue.routes import add_routes
from wisp.security.extension import secure_admin_app
from wisp.security.middleware import admin_middleware
from wisp.security.settings import ADMIN_PREFIXES, SecuritySettings

pytestmark = pytest.mark.asyncio(loop_scope="module")

ADMIN = "admin-secret-token"
TOKEN_ACCESS = {"tokenSecrets": [{"name": "callers", "key": "token"}]}
HMAC_ACCESS = {"hmacSecret": {"name": "hook", "key": "key"}}
REFUSED_OR_ABSENT = {401, 403, 404}


def spellings(path: str) -> list[str]:
    """``path`` written the ways that decode, normalise or fold to it (or nearly)."""
    _, first, rest = path.split("/", 2)
    head, tail = first[0], first[1:]
    return [
        f"/%{ord(head):02x}{tail}/{rest}",
        f"/%{ord(head):02X}{tail}/{rest}",
        "/" + "".join(f"%{ord(c):02X}" for c in first) + f"/{rest}",
        f"/{first[:-1]}%{ord(first[-1]):02x}/{rest}",
        f"/%25{ord(head):02x}{tail}/{rest}",
        f"/{head.upper()}{tail}/{rest}",
        f"/{first.upper()}/{rest}",
        f"/{path}",
        f"/.{path}",
        f"/{first}/./{rest}",
        f"/{first}//{rest}",
        f"/{first}./{rest}",
        f"{path}.",
        f"/{first}/%{ord(rest[0]):02x}{rest[1:]}",
    ]


def stand_in_queue(hits: list[str]) -> object:
    """The event path's two routes, at the patterns the real queue declares, counting calls."""

    async def submit(request: web.Request) -> web.Response:
        hits.append(f"async {request.match_info['name']}")
        return web.json_response({"invocationId": "i-1", "status": "queued"}, status=202)

    async def status(request: web.Request) -> web.Response:
        hits.append(f"invocation {request.match_info['id']}")
        return web.json_response({"status": "succeeded", "result": "private data"})

    def extend(app: web.Application, parts: Components) -> None:
        app.router.add_post("/async-function/{name}", submit)
        app.router.add_get("/invocations/{id}", status)

    return extend


async def secured_with_queue(make_gateway: GatewayMaker, hits: list[str]) -> SecuredGateway:
    gw = await make_gateway(SecuritySettings(admin_token=ADMIN), [stand_in_queue(hits)])
    gw.secrets.put("default", "callers", {"token": "caller-token"})
    gw.secrets.put("default", "hook", {"key": "hook-key"})
    gw.add(function("private", TOKEN_ACCESS))
    gw.add(function("hook", HMAC_ACCESS))
    return gw


async def test_the_real_event_routes_are_the_ones_the_access_rules_know() -> None:
    app = web.Application()
    add_routes(app, None, lambda name, namespace: None)  # type: ignore[arg-type]
    patterns = {r.canonical for r in app.router.resources()}
    assert "/async-function/{name}" in patterns and "/async-function/{name}" in FUNCTION_ROUTES
    assert "/invocations/{id}" in patterns and "/invocations/{id}".startswith(ADMIN_PREFIXES)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/async-function/private"),
        ("POST", "/async-function/hook"),
        ("POST", "/function/private"),
        ("POST", "/function/hook"),
        ("GET", "/invocations/i-1"),
        ("GET", "/system/stats"),
        ("GET", "/ui/api/functions"),
    ],
)
async def test_no_spelling_of_a_protected_path_passes_without_credentials(
    make_gateway: GatewayMaker, method: str, path: str
) -> None:
    hits: list[str] = []
    gw = await secured_with_queue(make_gateway, hits)
    host, port = gw.server.host, gw.server.port
    assert port is not None
    for spelled in [path, *spellings(path)]:
        answer = await exchange(
            host, port, request_bytes(method, spelled, body=b"{}" if method == "POST" else b"")
        )
        assert (spelled, answer.status) in {(spelled, s) for s in REFUSED_OR_ABSENT}, answer.body
        assert answer.json()["errorType"]
    assert hits == []


async def test_an_encoded_spelling_reaches_the_same_route_with_credentials(
    make_gateway: GatewayMaker,
) -> None:
    hits: list[str] = []
    gw = await secured_with_queue(make_gateway, hits)
    port = gw.server.port
    assert port is not None
    token = {"Authorization": "Bearer caller-token"}
    answer = await exchange(
        gw.server.host, port, request_bytes("POST", "/%61sync-function/private", token, b"{}")
    )
    assert answer.status == 202
    answer = await exchange(gw.server.host, port, request_bytes("POST", "/%66unction/private", token, b"{}"))
    assert (answer.status, answer.json()) == (200, {"echo": {}})
    admin = {"Authorization": f"Bearer {ADMIN}"}
    answer = await exchange(gw.server.host, port, request_bytes("GET", "/%69nvocations/i-1", admin))
    assert answer.status == 200
    assert hits == ["async private", "invocation i-1"]


async def test_admin_listener_checks_the_resolved_route(gateway: SecuredGateway) -> None:
    hits: list[str] = []

    async def apply(request: web.Request) -> web.Response:
        hits.append(f"apply {request.match_info['name']}")
        return web.json_response({"applied": True})

    settings = SecuritySettings(admin_token=ADMIN)
    app = secure_admin_app(make_admin_app(gateway.app[COMPONENTS]), settings)
    app.middlewares.append(admin_middleware(ADMIN, prefixes=("/ui/api/",), required=True))
    app.router.add_put("/ui/api/functions/{namespace}/{name}", apply)
    admin = TestServer(app, host="127.0.0.1")
    await admin.start_server()
    try:
        port = admin.port
        assert port is not None
        for method, path in (("GET", "/system/stats"), ("PUT", "/ui/api/functions/default/victim")):
            for spelled in [path, *spellings(path)]:
                body = b"{}" if method == "PUT" else b""
                answer = await exchange(admin.host, port, request_bytes(method, spelled, body=body))
                assert (spelled, answer.status) in {(spelled, s) for s in REFUSED_OR_ABSENT}
        assert hits == []
        auth = {"Authorization": f"Bearer {ADMIN}"}
        answer = await exchange(admin.host, port, request_bytes("GET", "/%73ystem/stats", auth))
        assert answer.status == 200
        # Probes and metrics stay open, in any spelling that reaches them.
        assert (await exchange(admin.host, port, request_bytes("GET", "/%6detrics"))).status == 200
    finally:
        await admin.close()
