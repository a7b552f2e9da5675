"""Signed webhooks: what the header settles is settled before the body is read, and the bodies
read to check signatures are bounded (bytes held at once, time to arrive)."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.security.conftest import GatewayMaker
from tests.security.support import SecuredGateway, function
from tests.support.datapath import BOTH_PATHS
from tests.support.rawhttp import read_answer
from tests.support.wait import eventually
from wisp.api.function import AccessSpec, SecretKey
from wisp.security.authorizer import Authorizer, Presented, Verdict
from wisp.security.credentials import sign
from wisp.security.settings import SecuritySettings

pytestmark = pytest.mark.asyncio(loop_scope="module")

HMAC_ACCESS = {"hmacSecret": {"name": "hook", "key": "key", "tolerance": "5m"}}
KEY = b"hook-key"
BIG = 6 * 1024 * 1024 - 1


def _head(length: int, signature: str) -> bytes:
    return (
        "POST /function/hook HTTP/1.1\r\nHost: gw\r\nContent-Type: application/octet-stream\r\n"
        f"X-Wisp-Signature: {signature}\r\nContent-Length: {length}\r\n\r\n"
    ).encode()


async def _hook_gateway(
    make_gateway: GatewayMaker, settings: SecuritySettings | None = None
) -> SecuredGateway:
    gw = await make_gateway(settings)
    gw.secrets.put("default", "hook", {"key": KEY.decode()})
    gw.add(function("hook", HMAC_ACCESS))
    return gw


async def _open(gw: SecuredGateway) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    assert gw.server.port is not None
    return await asyncio.open_connection(gw.server.host, gw.server.port)


@pytest.mark.parametrize(
    "signature",
    [
        sign(KEY, b"", int(time.time()) - 3600),  # outside the 5-minute window
        sign(KEY, b"", int(time.time()) + 3600),
        "t=now,v1=zz",  # malformed
        "v1=" + "0" * 64,  # no timestamp
    ],
)
@BOTH_PATHS
async def test_a_signature_the_header_refutes_is_refused_before_the_body(
    make_gateway: GatewayMaker, signature: str
) -> None:
    gw = await _hook_gateway(make_gateway)
    reader, writer = await _open(gw)
    writer.write(_head(BIG, signature))  # announce 6 MiB, send none of it
    await writer.drain()
    answer = await read_answer(reader)
    writer.close()
    assert (answer.status, answer.json()["errorType"]) == (403, "Forbidden")


@BOTH_PATHS
async def test_a_missing_signing_key_is_refused_before_the_body(make_gateway: GatewayMaker) -> None:
    gw = await _hook_gateway(make_gateway)
    gw.secrets.remove("default", "hook")
    reader, writer = await _open(gw)
    writer.write(_head(BIG, sign(KEY, b"", int(time.time()))))
    await writer.drain()
    answer = await read_answer(reader)
    writer.close()
    assert answer.status == 403


@BOTH_PATHS
async def test_unverified_bodies_held_at_once_are_bounded(make_gateway: GatewayMaker) -> None:
    gw = await _hook_gateway(make_gateway, SecuritySettings(max_unverified_body_bytes=1000))
    budget = gw.security.guard.unverified
    fresh = sign(KEY, b"", int(time.time()))  # passes the header checks; the body decides
    _, first = await _open(gw)
    first.write(_head(800, fresh) + b"x" * 100)
    await first.drain()
    await eventually(lambda: budget.reserved == 800, "the first upload's reservation")
    reader, second = await _open(gw)
    second.write(_head(800, fresh))
    await second.drain()
    answer = await read_answer(reader)
    second.close()
    assert (answer.status, answer.json()["errorType"]) == (503, "TooManyUnverifiedBodies")
    assert answer.headers["retry-after"] == "1"
    first.close()
    await eventually(lambda: budget.reserved == 0, "the broken upload's reservation given back")
    body = b'{"pad": "' + b"y" * 780 + b'"}'
    status, echoed, _ = await gw.call(
        "/function/hook", data=body, headers={"X-Wisp-Signature": sign(KEY, body, int(time.time()))}
    )
    assert status == 200, echoed


@BOTH_PATHS
async def test_a_signed_body_that_does_not_arrive_in_time_is_408(make_gateway: GatewayMaker) -> None:
    short = await make_gateway(None, body_read_timeout=0.3)
    short.secrets.put("default", "hook", {"key": KEY.decode()})
    short.add(function("hook", HMAC_ACCESS))
    reader, writer = await _open(short)
    writer.write(_head(800, sign(KEY, b"", int(time.time()))) + b"x" * 10)
    await writer.drain()
    answer = await read_answer(reader)
    writer.close()
    assert (answer.status, answer.json()["errorType"]) == (408, "RequestTimeout")
    assert short.security.guard.unverified.reserved == 0


async def test_the_authorizer_asks_for_the_body_only_for_a_plausible_signature() -> None:
    access = AccessSpec(hmac_secret=SecretKey("hook", "key"), hmac_tolerance=300)
    auth = Authorizer()

    def decide(signature: str, key: bytes | None = KEY, body: bytes | None = None) -> Verdict:
        def lookup(ref: SecretKey) -> bytes | None:
            return key

        return auth.decide(
            access, Presented(signature=signature), lookup, client="c", now=1000.0, body=body
        ).verdict

    assert decide(sign(KEY, b"b", 1000)) is Verdict.NEEDS_BODY
    assert decide(sign(KEY, b"b", 1000), body=b"b") is Verdict.ALLOW
    assert decide(sign(KEY, b"b", 1000), body=b"other") is Verdict.FORBIDDEN
    assert decide(sign(KEY, b"b", 1000 - 301)) is Verdict.FORBIDDEN
    assert decide("garbage") is Verdict.FORBIDDEN
    assert decide(sign(KEY, b"b", 1000), key=None) is Verdict.FORBIDDEN


async def test_a_caller_expecting_100_continue_is_invited_only_when_its_body_is_wanted(
    make_gateway: GatewayMaker,
) -> None:
    gw = await _hook_gateway(make_gateway)
    stale = sign(KEY, b"", int(time.time()) - 3600)
    reader, writer = await _open(gw)
    head = _head(BIG, stale).replace(b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n")
    writer.write(head)
    await writer.drain()
    answer = await read_answer(reader)
    writer.close()
    assert (answer.interim, answer.status) == ((), 403)  # refused from the head: no upload invited

    body = b'{"n": 1}'
    reader, writer = await _open(gw)
    head = _head(len(body), sign(KEY, body, int(time.time()))).replace(
        b"\r\n\r\n", b"\r\nExpect: 100-continue\r\n\r\n"
    )
    writer.write(head)
    await writer.drain()
    assert await reader.readuntil(b"\r\n\r\n") == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(body)
    await writer.drain()
    answer = await read_answer(reader)
    writer.close()
    assert (answer.status, answer.json()) == (200, {"echo": {"n": 1}})


EXPECT_ROUTES = [
    ("GET", "/healthz", b""),
    ("POST", "/2015-03-31/functions/hook/invocations", b"{}"),  # Lambda's Invoke API
    ("POST", "/function/hook", b"{}"),  # the catch-all
]


@pytest.mark.parametrize(("method", "path", "body"), EXPECT_ROUTES, ids=[r[1] for r in EXPECT_ROUTES])
@pytest.mark.parametrize("expect", [b"0", b"\x80", b"something-else"], ids=["0", "non-UTF-8", "unknown"])
async def test_an_expectation_other_than_100_continue_is_a_json_417_on_every_route(
    make_gateway: GatewayMaker, method: str, path: str, body: bytes, expect: bytes
) -> None:
    gw = await _hook_gateway(make_gateway)
    reader, writer = await _open(gw)
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: gw\r\nContent-Length: {len(body)}\r\n".encode()
        + b"Expect: "
        + expect
        + b"\r\nConnection: close\r\n\r\n"
        + body
    )
    await writer.drain()
    answer = await read_answer(reader)
    writer.close()
    assert (answer.status, answer.json()["errorType"]) == (417, "ExpectationFailed")


async def test_a_caller_expecting_100_continue_on_another_route_is_invited_at_once(
    make_gateway: GatewayMaker,
) -> None:
    gw = await _hook_gateway(make_gateway)
    reader, writer = await _open(gw)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: gw\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n")
    await writer.drain()
    answer = await read_answer(reader)
    writer.close()
    assert (answer.interim, answer.status) == ((100,), 200)
