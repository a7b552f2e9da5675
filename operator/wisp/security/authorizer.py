"""Who may call a Function: a pure decision from its ``spec.access``, what the caller presented,
the current Secret values and the clock.

* A public Function (``public: true``, or no ``public`` and no credential Secrets where the
  gateway is public by default) admits everyone; the principal is the client address.
* Otherwise: no credentials → 401; credentials that do not match (wrong token, a token that was
  rotated out, a bad or expired signature, another auth scheme) → 403.
* A webhook signature is judged on its header first (format, timestamp window, a loaded key):
  only one that passes asks for the body (``NEEDS_BODY``), so a stale or garbled signature
  never costs the gateway an upload.
* An unknown Function is answered exactly like a private one (``access`` None), so an
  unauthenticated caller cannot tell the two apart — where the gateway is private by default.
  Where it is public by default (``wisp dev``, or a chart installed so) an unknown Function is
  let through to the router's 404: most functions there answer anyone anyway, and a newcomer's
  typo deserves "not found", not "unauthorized".

The principal names *which* credential matched (``token:<secret>``, ``hmac:<secret>``), never
the credential itself; rate limits are kept per (function, principal).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from wisp.api.function import AccessSpec, SecretKey
from wisp.security import sigv4
from wisp.security.credentials import (
    SignatureCheck,
    precheck_signature,
    token_digests,
    token_matches,
    verify_signature,
)

SecretLookup = Callable[[SecretKey], bytes | None]


class Verdict(enum.Enum):
    ALLOW = "allow"
    UNAUTHENTICATED = "unauthenticated"  # 401
    FORBIDDEN = "forbidden"  # 403
    NEEDS_BODY = "needs-body"  # a signature whose header checks out: decide again with the body


@dataclass(frozen=True)
class Presented:
    """What the caller sent: a bearer token, a signature header, or another Authorization."""

    bearer: str | None = None
    signature: str | None = None
    other_authorization: bool = False
    sigv4: sigv4.SignedRequest | None = None  # an AWS SDK's signed request (Lambda's Invoke API)

    @property
    def anything(self) -> bool:
        return (
            self.bearer is not None
            or self.signature is not None
            or self.other_authorization
            or self.sigv4 is not None
        )


@dataclass(frozen=True)
class Decision:
    verdict: Verdict
    principal: str = ""
    reason: str = ""  # for logs and metrics; never contains a credential

    @property
    def allowed(self) -> bool:
        return self.verdict is Verdict.ALLOW


def is_public(access: AccessSpec, public_by_default: bool) -> bool:
    if access.public is not None:
        return access.public
    if access.token_secrets or access.hmac_secret is not None:
        return False
    return public_by_default


def referenced_secrets(access: AccessSpec) -> tuple[str, ...]:
    names = [ref.name for ref in access.token_secrets]
    if access.hmac_secret is not None:
        names.append(access.hmac_secret.name)
    return tuple(dict.fromkeys(names))


@dataclass(frozen=True)
class Authorizer:
    public_by_default: bool = False

    def decide(
        self,
        access: AccessSpec | None,
        presented: Presented,
        secrets: SecretLookup,
        *,
        client: str,
        now: float,
        body: bytes | None = None,
    ) -> Decision:
        if access is not None and is_public(access, self.public_by_default):
            return Decision(Verdict.ALLOW, f"client:{client}", "public")
        if access is None and self.public_by_default:
            return Decision(Verdict.ALLOW, f"client:{client}", "unknown function: the router answers 404")
        if not presented.anything:
            return Decision(Verdict.UNAUTHENTICATED, reason="no credentials")
        if access is None:
            return Decision(Verdict.FORBIDDEN, reason="unknown function")
        if presented.bearer is not None:
            for ref in access.token_secrets:
                value = secrets(ref)
                if value is not None and token_matches(presented.bearer, token_digests(value)):
                    return Decision(Verdict.ALLOW, f"token:{ref.name}", "token")
        if presented.sigv4 is not None:
            return _decide_sigv4(access, presented.sigv4, secrets, now, body)
        if presented.signature is not None and access.hmac_secret is not None:
            key = secrets(access.hmac_secret)
            if key is None:
                return Decision(Verdict.FORBIDDEN, reason="no signing key")
            early = precheck_signature(presented.signature, now, access.hmac_tolerance)
            if early is not None:
                return Decision(Verdict.FORBIDDEN, reason=f"signature {early.value}")
            if body is None:
                return Decision(Verdict.NEEDS_BODY, reason="the signature covers the body")
            check = verify_signature(presented.signature, key.strip(), body, now, access.hmac_tolerance)
            if check is SignatureCheck.VALID:
                return Decision(Verdict.ALLOW, f"hmac:{access.hmac_secret.name}", "signature")
            return Decision(Verdict.FORBIDDEN, reason=f"signature {check.value}")
        return Decision(Verdict.FORBIDDEN, reason="credentials do not match")


def _decide_sigv4(
    access: AccessSpec, signed: sigv4.SignedRequest, secrets: SecretLookup, now: float, body: bytes | None
) -> Decision:
    """An AWS SDK's signature: its access key id names one of the Function's token Secrets, and
    one of that Secret's tokens must be the secret key it signed with (``wisp.security.sigv4``)."""
    ref = next((r for r in access.token_secrets if r.name == signed.key_id), None)
    if ref is None:
        return Decision(Verdict.FORBIDDEN, reason="the access key id names no token Secret of the function")
    value = secrets(ref)
    if value is None:
        return Decision(Verdict.FORBIDDEN, reason="token Secret not loaded")
    early = sigv4.precheck(signed, now)
    if early is not None:
        return Decision(Verdict.FORBIDDEN, reason=f"signature {early}")
    if body is None:
        return Decision(Verdict.NEEDS_BODY, reason="the signature covers the body")
    tokens = [line.strip() for line in value.decode("utf-8", "replace").splitlines() if line.strip()]
    if sigv4.verify(signed, tokens, body):
        return Decision(Verdict.ALLOW, f"token:{ref.name}", "sigv4")
    return Decision(Verdict.FORBIDDEN, reason="signature mismatch")
