"""Invocation credentials: bearer tokens and signed webhooks, checked in constant time.

Bearer tokens: ``Authorization: Bearer <token>``. A token Secret's value holds one token, or
several (one per line) so that a new token can be added before the old one is removed. Tokens
are compared as SHA-256 digests with ``hmac.compare_digest``: every configured token is
compared, so the time taken does not say which one (if any) matched.

Signed webhooks (the Stripe/GitHub style): ``X-Wisp-Signature: t=<unix seconds>,v1=<hex>``
where ``<hex>`` is HMAC-SHA256 with the Secret's key over ``"<t>." + body``. The timestamp must
lie within the Function's tolerance of the gateway's clock (replays of an old delivery fail);
several ``v1=`` entries may be sent (key rotation on the sender's side).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

SIGNATURE_HEADER = "X-Wisp-Signature"
_HEX = frozenset("0123456789abcdefABCDEF")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer`` header; None for none or another scheme."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


@lru_cache(maxsize=1024)
def token_digests(value: bytes) -> tuple[bytes, ...]:
    """The SHA-256 digests of the tokens in a Secret value (one per non-empty line)."""
    tokens = (line.strip() for line in value.splitlines())
    return tuple(hashlib.sha256(t).digest() for t in tokens if t)


def token_matches(presented: str, digests: Iterable[bytes]) -> bool:
    wanted = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
    matched = False
    for digest in digests:
        matched |= hmac.compare_digest(wanted, digest)
    return matched


class SignatureCheck(enum.Enum):
    VALID = "valid"
    MALFORMED = "malformed"
    EXPIRED = "expired"  # the timestamp is outside the tolerance window
    MISMATCH = "mismatch"


@dataclass(frozen=True)
class Signature:
    timestamp: int
    signatures: tuple[str, ...]


def parse_signature(header: str) -> Signature | None:
    timestamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif key == "v1" and len(value) == 64 and all(c in _HEX for c in value):
            signatures.append(value.lower())
    if timestamp is None or not signatures:
        return None
    return Signature(timestamp, tuple(signatures[:8]))


def sign(key: bytes, body: bytes, timestamp: int) -> str:
    """The ``X-Wisp-Signature`` value a sender puts on ``body`` at ``timestamp``."""
    mac = hmac.new(key, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def precheck_signature(header: str, now: float, tolerance: float) -> SignatureCheck | None:
    """What the header alone says: MALFORMED, EXPIRED, or None when only the body can tell.
    Checked before the body is read, so a stale or garbled signature costs no upload."""
    parsed = parse_signature(header)
    if parsed is None:
        return SignatureCheck.MALFORMED
    if abs(now - parsed.timestamp) > tolerance:
        return SignatureCheck.EXPIRED
    return None


def verify_signature(header: str, key: bytes, body: bytes, now: float, tolerance: float) -> SignatureCheck:
    parsed = parse_signature(header)
    if parsed is None:
        return SignatureCheck.MALFORMED
    expected = hmac.new(key, f"{parsed.timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    matched = False
    for candidate in parsed.signatures:
        matched |= hmac.compare_digest(expected.encode(), candidate.encode())
    if not matched:
        return SignatureCheck.MISMATCH
    if abs(now - parsed.timestamp) > tolerance:
        return SignatureCheck.EXPIRED
    return SignatureCheck.VALID
