"""Hostile-input run: Hypothesis writes raw HTTP requests (paths seeded from
docs/openapi/gateway.yaml, hostile headers, credentials and bodies) to a running gateway with
the security layer and a real runtime. The gateway must never answer 5xx of its own making,
never stop serving, and leave no task or in-flight request behind.

``WISP_FUZZ_EXAMPLES`` raises the number of requests (``make fuzz``); ``make test`` runs 300.
"""

from __future__ import annotations

import json
import os
import re
import socket
import string
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.background import BackgroundGateway
from tests.security.support import function, trigger
from wisp.gateway.backend import Endpoint, FunctionInfo
from wisp.security.credentials import sign
from wisp.security.settings import InputLimits, SecuritySettings

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("WISP_FUZZ_EXAMPLES", "300"))
TOKEN = "fuzz-token-5b1e"
KEY = b"fuzz-hmac-key"
ADMIN = "fuzz-admin-token"
# 5xx the gateway may answer because of the function (its pod failed, is not ready, timed out)
# or because it is protecting itself; each says so in a JSON body.
EXPLAINED_5XX = {
    502: {"BadGateway", "InvalidFunctionResponse", "ResponseTooLarge"},
    503: {
        "GatewayOverloaded",
        "NotReady",
        "ImagePullBackOff",
        "ColdStartTimeout",
        "Unavailable",
        "TooManyUnverifiedBodies",
    },
    504: {"GatewayTimeout", "ColdStartTimeout"},
    505: {"HTTPVersionNotSupported"},
}
NAMES = [
    "echo",
    "private",
    "hook",
    "limited",
    "dead",
    "broken",
    "missing",
    "echo.default",
    "Bad_Name",
    "a..b",
    "",
    ".",
    "..",
    "x" * 70,
    "%2e%2e",
    "echo%00",
    "é",
    "echo.",
    ".default",
]
TOKEN_CHARS = string.ascii_letters + string.digits + "!#$%&'*+-.^_`|~"
URL_CHARS = string.ascii_letters + string.digits + "-._~:/?#[]@!$&'()*+,;=%"


def path_templates() -> list[str]:
    spec = yaml.safe_load((ROOT / "docs/openapi/gateway.yaml").read_text())
    return [p.replace("{triggerPath}", "hooks") for p in spec["paths"]] + ["/web", "/", "/ui/"]


def fill(template: str, draw: Any) -> str:
    return re.sub(
        r"\{[^}]+\}", lambda _: draw(st.sampled_from(NAMES) | st.text(URL_CHARS, max_size=20)), template
    )


@st.composite
def credentials(draw: Any) -> list[tuple[str, str]]:
    now = int(time.time())
    choice = draw(
        st.sampled_from(["none", "token", "bad-token", "admin", "sig", "old-sig", "junk-sig", "basic"])
    )
    if choice == "token":
        return [("Authorization", f"Bearer {TOKEN}")]
    if choice == "bad-token":
        return [("Authorization", "Bearer " + draw(st.text(TOKEN_CHARS, max_size=40)))]
    if choice == "admin":
        return [("Authorization", f"Bearer {ADMIN}")]
    if choice == "basic":
        return [("Authorization", "Basic " + draw(st.text(TOKEN_CHARS, max_size=40)))]
    if choice in ("sig", "old-sig"):
        return [("X-Wisp-Signature", sign(KEY, b"", now - (3600 if choice == "old-sig" else 0)))]
    if choice == "junk-sig":
        return [("X-Wisp-Signature", draw(st.text(string.printable.strip("\r\n\x0b\x0c"), max_size=120)))]
    return []


header_names = st.sampled_from(
    [
        "X-Wisp-Event",
        "X-Wisp-Request-Id",
        "X-Wisp-Deadline-Ms",
        "X-Forwarded-For",
        "X-Forwarded-Proto",
        "Forwarded",
        "Host",
        "Content-Type",
        "Proxy-Authorization",
        "Keep-Alive",
        "TE",
        "Upgrade",
        "Cookie",
        "Accept",
        "X-Callback-Url",
        "Authorization",
        "Expect",
    ]
) | st.text(TOKEN_CHARS, min_size=1, max_size=40)
header_values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=300
)


@st.composite
def raw_requests(draw: Any) -> bytes:
    method = draw(
        st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"])
        | st.text(string.ascii_uppercase, min_size=1, max_size=8)
    )
    path = fill(draw(st.sampled_from(path_templates())), draw)
    path += draw(
        st.sampled_from(["", "/", "/sub/path", "?a=1&b=%ff", "//..//x", "/%2e%2e/%2e%2e/etc"])
        | st.text(URL_CHARS, max_size=60)
    )
    if draw(st.booleans()) and draw(st.booleans()):
        path += "?" + "q=" * draw(st.integers(0, 3000))  # long URLs around the limit
    if not path.startswith("/"):
        path = "/" + path
    headers = [*draw(credentials()), *draw(st.lists(st.tuples(header_names, header_values), max_size=12))]
    headers = [
        (n, v) for n, v in headers if n.lower() not in ("content-length", "transfer-encoding", "connection")
    ]
    body = draw(st.binary(max_size=2048) | st.sampled_from([b"", b"{}", b'{"sleep": 0}', b"[1,2", b"null"]))
    chunked = draw(st.booleans()) and method not in ("GET", "HEAD")
    head = [f"{method} {path} HTTP/1.1", "Host: gateway.test"]
    head += [f"{n}: {v}" for n, v in headers]
    head.append("Connection: close")
    if chunked:
        head.append("Transfer-Encoding: chunked")
        payload = (f"{len(body):x}\r\n".encode() + body + b"\r\n0\r\n\r\n") if body else b"0\r\n\r\n"
    else:
        head.append(f"Content-Length: {len(body)}")
        payload = body
    return "\r\n".join(head).encode("latin-1") + b"\r\n\r\n" + payload


def exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(raw)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    match = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    assert match, f"no HTTP status line in {data[:200]!r}"
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(match.group(1)), headers, body


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BackgroundGateway]:
    settings_ = SecuritySettings(
        admin_token=ADMIN,
        max_inflight=64,
        limits=InputLimits(max_url_bytes=4096, max_headers=40, max_header_bytes=8192),
    )
    gw = BackgroundGateway(settings_, tmp_path_factory.mktemp("fuzz")).start()
    assert gw.endpoint is not None
    gw.secrets.put("default", "callers", {"token": TOKEN})
    gw.secrets.put("default", "hook", {"key": KEY})
    live = (gw.endpoint,)
    gw.add(FunctionInfo(function("echo", {"public": True})), live)
    gw.add(FunctionInfo(function("private", {"tokenSecrets": [{"name": "callers"}]})), live)
    gw.add(FunctionInfo(function("hook", {"hmacSecret": {"name": "hook"}})), live)
    gw.add(FunctionInfo(function("limited", {"public": True, "rateLimit": {"rps": 5, "burst": 5}})), live)
    gw.add(FunctionInfo(function("dead", {"public": True})), (Endpoint("127.0.0.1", 9, "nobody"),))
    gw.add(FunctionInfo(function("broken", {"public": True}), ready=False, reason="ImagePullBackOff"), ())

    async def triggers() -> None:
        gw.backend.set_trigger(trigger("hooks", "hook", "/hooks"))
        gw.backend.set_trigger(trigger("web", "echo", "/web"))

    gw.run(triggers())
    yield gw
    leaked = gw.stop()
    assert leaked == [], f"tasks left running after shutdown: {leaked}"


def check_answer(raw: bytes, status: int, headers: dict[str, str], body: bytes) -> None:
    method = raw.split(b" ", 1)[0]
    if status >= 500:
        if status == 500 and headers.get("x-wisp-error"):
            return  # the function's own error, reported as such by the runtime
        assert status in EXPLAINED_5XX, (status, body[:300], raw[:300])
        error = json.loads(body)["errorType"]
        assert error in EXPLAINED_5XX[status], (status, error, raw[:300])
    elif status >= 400 and status != 400 and method != b"HEAD":
        # Every refusal is JSON (a bare 400 can come from the HTTP parser for malformed framing).
        document = json.loads(body)
        assert "errorType" in document or "error" in document, (status, body[:300])


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
)
@given(raw=raw_requests())
def test_fuzz_hostile_requests_never_break_the_gateway(gateway: BackgroundGateway, raw: bytes) -> None:
    status, headers, body = exchange(gateway.port, raw)
    check_answer(raw, status, headers, body)


def test_fuzz_run_left_the_gateway_healthy(gateway: BackgroundGateway) -> None:
    status, _, _ = exchange(gateway.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status == 200
    request = b"POST /function/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}"
    status, _, body = exchange(gateway.port, request)
    assert (status, json.loads(body)) == (200, {"echo": {}})

    async def counters() -> tuple[int, int]:
        in_flight = sum(up.meter.in_flight for up in gateway.parts.registry.upstreams.values())
        return gateway.security.guard.inflight.current, in_flight

    assert gateway.run(counters()) == (0, 0)
