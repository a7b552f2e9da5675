"""AWS Signature Version 4, checked by the gateway: how an AWS SDK's signed call proves a token.

An SDK pointed at the gateway (``boto3.client("lambda", endpoint_url=...)``) signs every
request with SigV4 (``Authorization: AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/
<service>/aws4_request, SignedHeaders=..., Signature=...``) and never sends its secret. wisp's
mapping is plain: the **access key id names a token Secret** the Function lists in
``access.tokenSecrets``, and the **secret access key is one of that Secret's tokens**. The
gateway holds the tokens, so it computes the same signature over the request it received and
compares (constant time, against every token of the Secret). Region and service are taken as
the caller signed them: they name nothing in wisp.

The signature covers the body's SHA-256, so a check needs the body: ``precheck`` settles what
the header alone can (format, the signing time within ``TOLERANCE`` of the clock, as AWS
allows), before any upload is read. Pure: the request's parts, the tokens and the clock in.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
TOLERANCE = 15 * 60.0  # seconds between the signing time and the gateway's clock, as AWS's
_AUTH = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=([^,\s]+)\s*,\s*SignedHeaders=([^,\s]+)\s*,\s*Signature=([0-9a-fA-F]{64})\s*$"
)
_DATE = re.compile(r"^\d{8}T\d{6}Z$")


@dataclass(frozen=True)
class SignedRequest:
    """What a SigV4 signature covers, as the gateway received it (the body apart)."""

    key_id: str
    date: str  # YYYYMMDD of the credential scope
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str  # the X-Amz-Date header: YYYYMMDDTHHMMSSZ
    method: str
    raw_path: str
    raw_query: str
    header_values: tuple[tuple[str, str], ...]  # (lower-case name, canonical value), signed ones
    content_sha256: str | None  # X-Amz-Content-SHA256, when the caller sent it

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


def is_sigv4(authorization: str | None) -> bool:
    return authorization is not None and authorization.lstrip().startswith(ALGORITHM)


def parse(
    authorization: str,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Mapping[str, str] | Iterable[tuple[str, str]],
) -> SignedRequest | None:
    """The signed request, or None when the header or the headers it names are malformed."""
    match = _AUTH.match(authorization.strip())
    if match is None:
        return None
    credential, signed, signature = match.groups()
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request" or not parts[0]:
        return None
    key_id, date, region, service, _ = parts
    names = tuple(signed.lower().split(";"))
    if "host" not in names or list(names) != sorted(set(names)):
        return None
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    values: dict[str, list[str]] = {}
    for name, value in pairs:
        lower = name.lower()
        if lower in names or lower in ("x-amz-date", "x-amz-content-sha256"):
            values.setdefault(lower, []).append(" ".join(value.split()))
    if any(name not in values for name in names):
        return None
    amz_date = values.get("x-amz-date", [""])[0]
    if not _DATE.match(amz_date) or amz_date[:8] != date:
        return None
    content = values.get("x-amz-content-sha256")
    return SignedRequest(
        key_id=key_id,
        date=date,
        region=region,
        service=service,
        signed_headers=names,
        signature=signature.lower(),
        amz_date=amz_date,
        method=method.upper(),
        raw_path=raw_path,
        raw_query=raw_query,
        header_values=tuple((name, ",".join(values[name])) for name in names),
        content_sha256=content[0] if content else None,
    )


def precheck(signed: SignedRequest, now: float, tolerance: float = TOLERANCE) -> str | None:
    """Why the signature fails whatever the body ("expired"), or None when only the body can tell."""
    when = calendar.timegm(time.strptime(signed.amz_date, "%Y%m%dT%H%M%SZ"))
    if abs(now - when) > tolerance:
        return "expired"
    return None


def canonical_request(signed: SignedRequest, body: bytes) -> str:
    payload = hashlib.sha256(body).hexdigest()
    if signed.content_sha256 is not None and signed.content_sha256 != payload:
        payload = "mismatch"  # a declared hash that is not the body's can never verify
    pairs = sorted(pair.partition("=")[::2] for pair in signed.raw_query.split("&") if pair)
    return "\n".join(
        (
            signed.method,
            quote(_remove_dot_segments(signed.raw_path), safe="/~"),
            "&".join(f"{key}={value}" for key, value in pairs),
            "".join(f"{name}:{value}\n" for name, value in signed.header_values),
            ";".join(signed.signed_headers),
            payload,
        )
    )


def expected_signature(signed: SignedRequest, secret: str, body: bytes) -> str:
    digest = hashlib.sha256(canonical_request(signed, body).encode()).hexdigest()
    to_sign = f"{ALGORITHM}\n{signed.amz_date}\n{signed.scope}\n{digest}"
    key = f"AWS4{secret}".encode()
    for part in (signed.date, signed.region, signed.service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def verify(signed: SignedRequest, secrets: Sequence[str], body: bytes) -> bool:
    """Whether one of ``secrets`` made the signature (every one is tried: constant time)."""
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(expected_signature(signed, secret, body), signed.signature)
    return matched


def _remove_dot_segments(path: str) -> str:
    """As the SDKs normalise a path before signing it (consecutive slashes removed too)."""
    out: list[str] = []
    for segment in path.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if out:
                out.pop()
        else:
            out.append(segment)
    normalised = "/" + "/".join(out)
    if path.endswith("/") and normalised != "/":
        normalised += "/"
    return normalised
