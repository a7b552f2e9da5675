"""Who may use ``wisp dev``'s console: this machine's own pages and tools, never another web
page the developer's browser happens to show (DNS rebinding, cross-site posts)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from wisp.console.dev import dev_console_extension
from wisp.console.logs import LogBook
from wisp.dev.access import browser_refusal, dev_security_settings, host_allowed, loopback_management
from wisp.gateway.app import make_app
from wisp.gateway.config import GatewayConfig
from wisp.gateway.static import StaticBackend

FUNCTION = {
    "apiVersion": "wisp.dev/v1alpha1",
    "kind": "Function",
    "metadata": {"name": "planted"},
    "spec": {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": "x = 1\n"}},
}


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("127.0.0.1:8080", True),
        ("127.3.2.1", True),
        ("[::1]:8080", True),
        ("localhost:8080", True),
        ("LOCALHOST", True),
        ("app.localhost:8080", True),
        ("wisp.test:8080", True),  # configured
        ("evil.example:8080", False),
        ("127.0.0.1.evil.example", False),
        ("localhost.evil.example", False),
        ("10.0.0.7:8080", False),
        ("", False),
        ("[not-an-address", False),
    ],
)
def test_the_host_must_name_this_machine(host: str, allowed: bool) -> None:
    assert host_allowed(host, ["wisp.test"]) is allowed


@pytest.mark.parametrize(
    ("method", "headers", "refused"),
    [
        ("GET", {"Host": "evil.example:8080"}, "Host 'evil.example:8080'"),  # DNS rebinding
        ("GET", {"Host": "127.0.0.1:8080", "Origin": "http://evil.example"}, None),  # reads are CORS's job
        ("PUT", {"Host": "127.0.0.1:8080"}, None),  # curl, scripts
        ("PUT", {"Host": "127.0.0.1:8080", "Origin": "http://127.0.0.1:8080"}, None),  # the console
        ("PUT", {"Host": "localhost:8080", "Origin": "http://LOCALHOST:8080"}, None),
        ("PUT", {"Host": "127.0.0.1:8080", "Origin": "http://evil.example"}, "cross-origin"),
        ("POST", {"Host": "127.0.0.1:8080", "Origin": "http://localhost:3000"}, "cross-origin"),
        ("DELETE", {"Host": "127.0.0.1:8080", "Origin": "null"}, "cross-origin"),
        ("POST", {"Host": "127.0.0.1:8080", "Sec-Fetch-Site": "cross-site"}, "cross-site"),
        ("POST", {"Host": "127.0.0.1:8080", "Sec-Fetch-Site": "same-site"}, "same-site"),
        ("POST", {"Host": "127.0.0.1:8080", "Sec-Fetch-Site": "same-origin"}, None),
    ],
)
def test_browser_requests_must_come_from_the_console_itself(
    method: str, headers: dict[str, str], refused: str | None
) -> None:
    reason = browser_refusal(method, headers)
    if refused is None:
        assert reason is None
    else:
        assert reason is not None and refused in reason


@pytest.fixture
async def console(tmp_path: Path) -> AsyncIterator[tuple[TestServer, aiohttp.ClientSession]]:
    app = make_app(
        GatewayConfig(host="127.0.0.1", pod_name="test"),
        StaticBackend(),
        autoscale=False,
        extensions=[
            loopback_management(dev_security_settings({}), allowed_hosts=["wisp.test"]),
            dev_console_extension(tmp_path, LogBook()),
        ],
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    session = aiohttp.ClientSession()
    yield server, session
    await session.close()
    await server.close()


async def test_a_web_page_cannot_deploy_through_the_console(
    console: tuple[TestServer, aiohttp.ClientSession], tmp_path: Path
) -> None:
    server, session = console
    url = str(server.make_url("/ui/api/functions/default/planted"))
    port = server.port
    attacks = [
        {"Host": f"rebound.evil.example:{port}"},  # DNS rebinding: same origin, the page's name
        {"Host": f"127.0.0.1:{port}", "Origin": "http://evil.example"},  # a cross-site request
        {"Host": f"127.0.0.1:{port}", "Sec-Fetch-Site": "cross-site"},
    ]
    for headers in attacks:
        async with session.put(url, json=FUNCTION, headers=headers) as resp:
            assert resp.status == 403, (headers, await resp.text())
            assert (await resp.json())["errorType"] == "Forbidden"
        async with session.get(url, headers=headers) as resp:  # reads: only the Host matters
            assert resp.status == (403 if headers["Host"].startswith("rebound") else 404)
    assert not list(tmp_path.glob("*.yaml"))

    own = {"Host": f"127.0.0.1:{port}", "Origin": f"http://127.0.0.1:{port}"}
    async with session.put(url, json=FUNCTION, headers=own) as resp:
        assert resp.status == 200, await resp.text()
    configured = {"Host": f"wisp.test:{port}", "Origin": f"http://wisp.test:{port}"}
    async with session.get(url, headers=configured) as resp:
        assert resp.status == 200
    async with session.get(url, headers={"Host": f"rebound.evil.example:{port}"}) as resp:
        assert resp.status == 403  # reading code and logs is refused too
