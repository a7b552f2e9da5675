"""The pure decisions, no I/O: token buckets with an injected clock, client address behind
proxies, credentials and signatures, the authorizer's verdicts, log redaction."""

from __future__ import annotations

import ipaddress
import logging

import pytest

from wisp.api.function import AccessSpec, RateLimit, SecretKey
from wisp.security.authorizer import Authorizer, Presented, Verdict
from wisp.security.credentials import SignatureCheck, bearer_token, sign, verify_signature
from wisp.security.inbound import client_address, forwarded_scheme
from wisp.security.ratelimit import RateLimiter, TokenBucket, retry_after_seconds
from wisp.security.redact import MASK, Redactor, install_redaction
from wisp.security.settings import parse_networks


def test_bucket_allows_a_burst_then_refills_at_the_rate() -> None:
    bucket = TokenBucket.full(RateLimit(rps=2, burst=3), now=0.0)
    assert [bucket.take(0.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)  # one token every 0.5 s
    assert bucket.take(0.25) == pytest.approx(0.25)
    assert bucket.take(0.5) == 0.0
    assert bucket.take(100.0) == 0.0  # refill is capped at the burst
    assert [bucket.take(100.0) for _ in range(3)][-1] > 0


def test_limiter_keeps_callers_apart_follows_limit_changes_and_stays_bounded() -> None:
    limiter = RateLimiter(max_keys=3)
    one = RateLimit(rps=1, burst=1)
    assert limiter.take("a", one, 0.0) == 0.0
    assert limiter.take("a", one, 0.0) > 0
    assert limiter.take("b", one, 0.0) == 0.0  # another principal has its own bucket
    assert limiter.take("a", RateLimit(rps=5, burst=5), 0.0) == 0.0  # a new limit starts afresh
    for i in range(10):
        limiter.take(f"caller-{i}", one, 10.0 + i)
    assert len(limiter) <= 3
    assert retry_after_seconds(0.01) == 1
    assert retry_after_seconds(2.2) == 3


def test_client_address_believes_only_trusted_hops() -> None:
    trusted = parse_networks("10.0.0.0/8")
    assert client_address("198.51.100.1", "1.2.3.4", trusted) == "198.51.100.1"  # peer is not a proxy
    assert client_address("10.0.0.5", "1.2.3.4, 10.1.1.1", trusted) == "1.2.3.4"
    # A client prepending its own fake hop does not move the answer.
    assert client_address("10.0.0.5", "6.6.6.6, 1.2.3.4", trusted) == "1.2.3.4"
    assert client_address("10.0.0.5", "not-an-ip", trusted) == "10.0.0.5"
    assert forwarded_scheme("http", "https", peer_trusted=True) == "https"
    assert forwarded_scheme("http", "https", peer_trusted=False) == "http"
    assert forwarded_scheme("http", "gopher", peer_trusted=True) == "http"
    assert ipaddress.ip_address("10.1.1.1") in trusted[0]


def test_bearer_parsing() -> None:
    assert bearer_token("Bearer abc") == "abc"
    assert bearer_token("bearer   abc ") == "abc"
    assert bearer_token("Basic abc") is None
    assert bearer_token("Bearer ") is None
    assert bearer_token(None) is None


@pytest.mark.parametrize(
    ("header", "now", "expected"),
    [
        (sign(b"key", b"body", 1000), 1000, SignatureCheck.VALID),
        (sign(b"key", b"body", 1000), 1300, SignatureCheck.VALID),
        (sign(b"key", b"body", 1000), 1301, SignatureCheck.EXPIRED),
        (sign(b"key", b"body", 1000), 699, SignatureCheck.EXPIRED),
        (sign(b"other", b"body", 1000), 1000, SignatureCheck.MISMATCH),
        (sign(b"key", b"body", 1000).replace("t=1000", "t=1001"), 1000, SignatureCheck.MISMATCH),
        ("t=1000", 1000, SignatureCheck.MALFORMED),
        ("v1=" + "0" * 64, 1000, SignatureCheck.MALFORMED),
        ("t=abc,v1=" + "0" * 64, 1000, SignatureCheck.MALFORMED),
        ("t=1000,v1=\udcff" + "0" * 63, 1000, SignatureCheck.MALFORMED),
        (f"t=1000,v1={'0' * 64},{sign(b'key', b'body', 1000).split(',')[1]}", 1000, SignatureCheck.VALID),
    ],
)
def test_signature_verification(header: str, now: float, expected: SignatureCheck) -> None:
    assert verify_signature(header, b"key", b"body", now, tolerance=300) is expected


def _lookup(values: dict[str, bytes]):  # type: ignore[no-untyped-def]
    return lambda ref: values.get(ref.name)


@pytest.mark.parametrize(
    ("access", "presented", "verdict", "principal"),
    [
        (AccessSpec(public=True), Presented(), Verdict.ALLOW, "client:1.2.3.4"),
        (AccessSpec(), Presented(), Verdict.UNAUTHENTICATED, ""),
        (None, Presented(), Verdict.UNAUTHENTICATED, ""),
        (None, Presented(bearer="tok-1"), Verdict.FORBIDDEN, ""),
        (
            AccessSpec(token_secrets=(SecretKey("s", "token"),)),
            Presented(bearer="tok-1"),
            Verdict.ALLOW,
            "token:s",
        ),
        (
            AccessSpec(token_secrets=(SecretKey("s", "token"),)),
            Presented(bearer="tok-9"),
            Verdict.FORBIDDEN,
            "",
        ),
        (
            AccessSpec(token_secrets=(SecretKey("gone", "token"),)),
            Presented(bearer="tok-1"),
            Verdict.FORBIDDEN,
            "",
        ),
        (
            AccessSpec(token_secrets=(SecretKey("s", "token"),)),
            Presented(other_authorization=True),
            Verdict.FORBIDDEN,
            "",
        ),
        (AccessSpec(public=False), Presented(bearer="tok-1"), Verdict.FORBIDDEN, ""),
    ],
)
def test_authorizer_verdicts(
    access: AccessSpec | None, presented: Presented, verdict: Verdict, principal: str
) -> None:
    decision = Authorizer(public_by_default=False).decide(
        access, presented, _lookup({"s": b"tok-0\ntok-1\n"}), client="1.2.3.4", now=0.0
    )
    assert (decision.verdict, decision.principal) == (verdict, principal)


def test_public_by_default_applies_only_without_credentials_configured() -> None:
    auth = Authorizer(public_by_default=True)
    lookup = _lookup({})
    assert auth.decide(AccessSpec(), Presented(), lookup, client="c", now=0).allowed
    tokens = AccessSpec(token_secrets=(SecretKey("s", "token"),))
    assert auth.decide(tokens, Presented(), lookup, client="c", now=0).verdict is Verdict.UNAUTHENTICATED
    closed = AccessSpec(public=False)
    assert auth.decide(closed, Presented(), lookup, client="c", now=0).verdict is Verdict.UNAUTHENTICATED


def test_redactor_masks_credentials_and_known_secret_values() -> None:
    redactor = Redactor()
    redactor.add(b"first-secret-token\nsecond-secret-token\n")
    redactor.add(b"abc")  # too short to mask without mangling ordinary text
    lines = [
        "call with {'Authorization': 'Bearer first-secret-token'}",
        "headers: authorization=Basic dXNlcjpwYXNz",
        "X-Wisp-Signature: t=1,v1=" + "ab" * 32,
        "url https://hooks.example/?token=zzz-123&x=1",
        "value second-secret-token leaked in an error",
        'json {"password": "hunter22"}',
    ]
    for line in lines:
        out = redactor.redact(line)
        assert MASK in out, line
        for secret in (
            "first-secret-token",
            "second-secret-token",
            "dXNlcjpwYXNz",
            "ab" * 32,
            "zzz-123",
            "hunter22",
        ):
            assert secret not in out, (line, out)
    assert redactor.redact("nothing to hide here: abc") == "nothing to hide here: abc"


def test_redaction_covers_every_logger_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    redactor = Redactor()
    redactor.add("super-secret-value")
    uninstall = install_redaction(redactor)
    try:
        with caplog.at_level(logging.DEBUG):
            logging.getLogger("some.library").warning("got %s", "super-secret-value")
            try:
                raise ValueError("bad token super-secret-value")
            except ValueError:
                logging.getLogger("other").exception("failed")
    finally:
        uninstall()
    assert "super-secret-value" not in caplog.text
    assert caplog.text.count(MASK) >= 2


def test_settings_from_environment() -> None:
    from wisp.security.settings import settings_from_env

    empty = settings_from_env({})
    assert empty.public_by_default is False
    assert empty.admin_token is None
    assert settings_from_env({}, public_by_default=True).public_by_default is True
    assert (
        settings_from_env({"WISP_PUBLIC_BY_DEFAULT": "false"}, public_by_default=True).public_by_default
        is False
    )
    full = settings_from_env(
        {
            "WISP_PUBLIC_BY_DEFAULT": "true",
            "WISP_ADMIN_TOKEN": "adm-token",
            "WISP_MAX_INFLIGHT": "5",
            "WISP_TRUSTED_PROXIES": "10.0.0.0/8, 192.168.1.7",
            "WISP_MAX_URL_BYTES": "100",
            "WISP_CALLBACK_ALLOW": "127.0.0.1/32,hooks.svc",
        }
    )
    assert (full.public_by_default, full.admin_token, full.max_inflight) == (True, "adm-token", 5)
    assert [str(n) for n in full.trusted_proxies] == ["10.0.0.0/8", "192.168.1.7/32"]
    assert full.limits.max_url_bytes == 100
    assert full.callbacks.allows_host("hooks.svc")
    assert "adm-token" not in repr(full)
