"""Callbacks are not an SSRF hole: every address class refused, internal names refused, DNS
answers checked and pinned, redirects not followed, and an explicit allow-list honoured."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from aiohttp import web
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.test_utils import TestServer

from wisp.security.ssrf import (
    AddressClass,
    CallbackPolicy,
    CallbackRefused,
    GuardedResolver,
    check_callback_url,
    classify,
    guarded_session,
    safe_post,
)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("127.0.0.1", AddressClass.LOOPBACK),
        ("127.42.0.7", AddressClass.LOOPBACK),
        ("::1", AddressClass.LOOPBACK),
        ("169.254.169.254", AddressClass.LINK_LOCAL),  # cloud metadata
        ("fe80::1", AddressClass.LINK_LOCAL),
        ("10.96.0.1", AddressClass.PRIVATE),  # a typical ClusterIP
        ("172.16.5.4", AddressClass.PRIVATE),
        ("192.168.1.1", AddressClass.PRIVATE),
        ("fd12:3456::1", AddressClass.PRIVATE),  # ULA
        ("100.64.0.1", AddressClass.SHARED),  # CGNAT
        ("224.0.0.251", AddressClass.MULTICAST),
        ("ff02::1", AddressClass.MULTICAST),
        ("0.0.0.0", AddressClass.UNSPECIFIED),
        ("0.1.2.3", AddressClass.UNSPECIFIED),
        ("::", AddressClass.UNSPECIFIED),
        ("::ffff:127.0.0.1", AddressClass.LOOPBACK),  # IPv4-mapped
        ("::ffff:169.254.169.254", AddressClass.LINK_LOCAL),
        ("64:ff9b::a00:1", AddressClass.PRIVATE),  # NAT64 of 10.0.0.1
        ("2002:a00:1::", AddressClass.PRIVATE),  # 6to4 of 10.0.0.1
        ("240.0.0.1", AddressClass.RESERVED),
        ("192.0.2.10", AddressClass.NOT_GLOBAL),  # documentation range
        ("93.184.216.34", None),
        ("2606:4700:4700::1111", None),
    ],
)
def test_each_address_class(address: str, expected: AddressClass | None) -> None:
    assert classify(ipaddress.ip_address(address)) is expected


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/x",
        "http://[::1]/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://10.0.0.1/",
        "http://[::ffff:10.0.0.1]/",
        "http://localhost:9090/metrics",
        "http://redis:6379/",
        "http://wisp-gateway.wisp-system.svc/system/stats",
        "http://kubernetes.default.svc.cluster.local/api",
        "http://metadata.google.internal/",
        "http://2130706433/",  # 127.0.0.1 as one number
        "http://0x7f.1/",
        "ftp://example.com/",
        "file:///etc/passwd",
        "http:///nohost",
    ],
)
def test_static_checks_refuse_inward_urls(url: str) -> None:
    with pytest.raises(CallbackRefused):
        check_callback_url(url, CallbackPolicy())


def test_static_checks_pass_public_urls_and_the_allow_list() -> None:
    check_callback_url("https://hooks.example.com/wisp", CallbackPolicy())
    check_callback_url("http://93.184.216.34/", CallbackPolicy())
    policy = CallbackPolicy.parse("10.0.0.0/8, receiver.team.svc, *.internal.example")
    check_callback_url("http://10.1.2.3/", policy)
    check_callback_url("http://receiver.team.svc/", policy)
    check_callback_url("http://a.internal.example/", policy)
    with pytest.raises(CallbackRefused):
        check_callback_url("http://other.team.svc/", policy)
    with pytest.raises(CallbackRefused):
        check_callback_url("http://192.168.0.1/", policy)


class FakeDNS(AbstractResolver):
    """Stands in for DNS answers that cannot be produced on a loopback-only machine."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [
            ResolveResult(
                hostname=host,
                host=ip,
                port=port,
                family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                proto=0,
                flags=0,
            )
            for ip in self.answers[host]
        ]

    async def close(self) -> None:
        return None


async def test_resolver_drops_refused_answers_and_pins_the_rest() -> None:
    dns = FakeDNS(
        {
            "rebind.example": ["127.0.0.1"],
            "mixed.example": ["93.184.216.34", "10.0.0.1"],
            "meta.example": ["169.254.169.254", "fd00::1"],
        }
    )
    resolver = GuardedResolver(CallbackPolicy(), dns)
    with pytest.raises(CallbackRefused, match="loopback"):
        await resolver.resolve("rebind.example", 80)
    with pytest.raises(CallbackRefused, match="link-local"):
        await resolver.resolve("meta.example", 80)
    kept = await resolver.resolve("mixed.example", 80)
    assert [r["host"] for r in kept] == ["93.184.216.34"]  # the only address a connection may use


async def test_real_resolution_of_localhost_is_refused() -> None:
    resolver = GuardedResolver(CallbackPolicy())
    try:
        with pytest.raises(CallbackRefused):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


@pytest_asyncio.fixture
async def receiver() -> AsyncIterator[tuple[TestServer, list[str]]]:
    hits: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response({"ok": True})

    async def redirect(request: web.Request) -> web.Response:
        hits.append(request.path)
        raise web.HTTPFound("/hook")

    app = web.Application()
    app.router.add_post("/hook", hook)
    app.router.add_post("/redirect", redirect)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield server, hits
    await server.close()


async def test_loopback_receiver_is_refused_unless_allowed(receiver: tuple[TestServer, list[str]]) -> None:
    server, hits = receiver
    url = f"http://127.0.0.1:{server.port}/hook"
    with pytest.raises(CallbackRefused):
        await safe_post(url, b"{}", {}, CallbackPolicy())
    assert hits == []
    allowed = CallbackPolicy.parse("127.0.0.1/32")
    assert await safe_post(url, b"{}", {"Content-Type": "application/json"}, allowed) == 200
    assert hits == ["/hook"]


async def test_redirects_are_not_followed(receiver: tuple[TestServer, list[str]]) -> None:
    server, hits = receiver
    policy = CallbackPolicy.parse("127.0.0.1/32")
    assert await safe_post(f"http://127.0.0.1:{server.port}/redirect", b"{}", {}, policy) == 302
    assert hits == ["/redirect"]


async def test_guarded_session_refuses_names_resolving_inward(receiver: tuple[TestServer, list[str]]) -> None:
    server, hits = receiver
    # A public-looking name that resolves to loopback (DNS rebinding) never gets a connection.
    session = guarded_session(CallbackPolicy(), base_resolver=FakeDNS({"hooks.example.com": ["127.0.0.1"]}))
    try:
        with pytest.raises(CallbackRefused, match="loopback"):
            await safe_post(
                f"http://hooks.example.com:{server.port}/hook", b"{}", {}, CallbackPolicy(), session=session
            )
    finally:
        await session.close()
    assert hits == []
