"""What the gateway accepts from outside, as pure functions of the request's parts.

* ``limit_violation`` — URL length, header count and header bytes (JSON 414 / 431).
* ``clean_headers`` — drops hop-by-hop headers, every inbound ``X-Wisp-*`` (those are wisp's
  own, set by the gateway) but ``X-Wisp-Hops`` (a function passing its chain's hop count on to
  the recursion guard: a caller can only lower it by leaving it out, which it always could), and
  ``X-Forwarded-*`` / ``Forwarded`` / ``X-Real-IP`` unless the
  peer is a trusted proxy; the gateway then appends the peer itself, so the function sees a
  chain it can believe.
* ``client_address`` / ``forwarded_scheme`` — the real client and scheme behind trusted proxies
  (the rightmost ``X-Forwarded-For`` entry that is not itself a trusted proxy).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from multidict import CIMultiDict, CIMultiDictProxy

from wisp.security.settings import InputLimits, Network

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authorization",
        "proxy-authenticate",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    }
)
FORWARDING = frozenset({"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "forwarded", "x-real-ip"})

_FRAMING = frozenset({"content-length", "transfer-encoding", "host", "content-type"})
_HANDSHAKE = frozenset({"upgrade", "connection"})


@dataclass(frozen=True)
class Violation:
    status: int
    error_type: str
    message: str


def limit_violation(
    raw_path: str, headers: Iterable[tuple[bytes, bytes]] | Iterable[tuple[str, str]], limits: InputLimits
) -> Violation | None:
    if len(raw_path) > limits.max_url_bytes:
        return Violation(414, "URITooLong", f"the request target exceeds {limits.max_url_bytes} bytes")
    count = 0
    size = 0
    for name, value in headers:
        count += 1
        size += len(name) + len(value)
    if count > limits.max_headers:
        return Violation(431, "RequestHeaderFieldsTooLarge", f"more than {limits.max_headers} header fields")
    if size > limits.max_header_bytes:
        return Violation(
            431, "RequestHeaderFieldsTooLarge", f"header fields exceed {limits.max_header_bytes} bytes"
        )
    return None


def undecodable_header(headers: Iterable[tuple[str, str]]) -> Violation | None:
    """A header that is not valid UTF-8 (kept by aiohttp as surrogate escapes) cannot be
    forwarded faithfully: refuse the request rather than mangle or crash on it."""
    for name, value in headers:
        try:
            name.encode()
            value.encode()
        except UnicodeEncodeError:
            return Violation(400, "InvalidHeader", "header fields must be valid UTF-8")
    return None


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]").split("%", 1)[0])
    except ValueError:
        return None


def is_trusted(address: str | None, trusted: tuple[Network, ...]) -> bool:
    if not address or not trusted:
        return False
    ip = _ip(address)
    return ip is not None and any(ip in net for net in trusted)


def client_address(peer: str, forwarded_for: str | None, trusted: tuple[Network, ...]) -> str:
    """The caller's address: the peer, or behind trusted proxies the first untrusted hop."""
    if not forwarded_for or not is_trusted(peer, trusted):
        return peer
    hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    for hop in reversed(hops):
        if _ip(hop) is None:
            return peer  # garbage in the chain: believe nothing past our proxy
        if not is_trusted(hop, trusted):
            return hop
    return hops[0] if hops else peer


def forwarded_scheme(scheme: str, forwarded_proto: str | None, peer_trusted: bool) -> str:
    if peer_trusted and forwarded_proto:
        first = forwarded_proto.split(",", 1)[0].strip().lower()
        if first in ("http", "https"):
            return first
    return scheme


# The one wisp header a caller may send: the recursion guard's hop count (wisp.queue.events).
INBOUND_WISP = frozenset({"x-wisp-hops"})


def clean_headers(
    headers: CIMultiDictProxy[str] | CIMultiDict[str],
    *,
    peer_trusted: bool,
    drop_authorization: bool = False,
) -> CIMultiDict[str]:
    listed = {t.strip().lower() for v in headers.getall("Connection", []) for t in v.split(",")}
    listed -= _FRAMING  # "Connection: content-length" must not unframe the request
    # A WebSocket handshake is the gateway's own to answer (it holds the socket, nothing is
    # forwarded with these): its Upgrade and Connection stay for it to see.
    kept = _HANDSHAKE if headers.get("Upgrade", "").lower() == "websocket" else frozenset()
    out: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        lower = name.lower()
        hop_by_hop = (lower in HOP_BY_HOP or lower in listed) and lower not in kept
        if hop_by_hop or (lower.startswith("x-wisp-") and lower not in INBOUND_WISP):
            continue
        if lower in FORWARDING and not peer_trusted:
            continue
        if drop_authorization and lower == "authorization":
            continue
        out.add(name, value)
    return out
