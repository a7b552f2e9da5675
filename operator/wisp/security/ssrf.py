"""Callbacks are not an SSRF hole: where an ``X-Callback-Url`` may point, checked twice.

* ``check_callback_url(url, policy)`` — static checks when a URL is accepted (and again per
  request): http(s) only; an IP literal must be a public address; cluster-internal and
  local names (single labels, ``*.svc``, ``*.cluster.local``, ``localhost``, ``*.internal``)
  are refused; non-canonical numeric hosts (``2130706433``, ``0x7f.1``) are refused.
* ``GuardedResolver`` — the DNS step of every callback connection: each resolved address is
  classified, refused ones are dropped, and aiohttp connects to exactly the addresses that
  passed, so a name cannot resolve to a public address for the check and a private one for the
  connection (DNS rebinding).
* ``guarded_session`` / ``safe_post`` — a client session that uses both and never follows a
  redirect.

``WISP_CALLBACK_ALLOW`` (``CallbackPolicy.parse``) lists CIDRs and host names (``*.suffix``
allowed) that pass anyway, for receivers deliberately inside the cluster.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_RFC1918 = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
_ULA = ipaddress.ip_network("fc00::/7")
_INTERNAL_SUFFIXES = (".svc", ".cluster.local", ".localhost", ".internal", ".local")
_NUMERIC_HOST = re.compile(r"^(0x[0-9a-f]+|[0-9]+)(\.(0x[0-9a-f]+|[0-9]+))*$")


class AddressClass(enum.Enum):
    """Why an address is refused."""

    LOOPBACK = "loopback"
    LINK_LOCAL = "link-local"
    PRIVATE = "private"
    SHARED = "shared (CGNAT)"
    MULTICAST = "multicast"
    UNSPECIFIED = "unspecified"
    RESERVED = "reserved"
    NOT_GLOBAL = "not globally routable"


class CallbackRefused(OSError):
    """A callback URL that wisp will not call (an ``OSError``, as any failed connection)."""


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def classify(ip: Address) -> AddressClass | None:
    """The refused class an address falls in, or None for a public unicast address."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            return classify(inner)
    if ip.is_unspecified or ip in _THIS_NETWORK:
        return AddressClass.UNSPECIFIED
    if ip.is_loopback:
        return AddressClass.LOOPBACK
    if ip.is_link_local:
        return AddressClass.LINK_LOCAL
    if ip.is_multicast:
        return AddressClass.MULTICAST
    if ip in _CGNAT:
        return AddressClass.SHARED
    site_local = isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local
    if any(ip in net for net in _RFC1918) or ip in _ULA or site_local:
        return AddressClass.PRIVATE
    if ip.is_reserved:
        return AddressClass.RESERVED
    if not ip.is_global:
        return AddressClass.NOT_GLOBAL
    return None


@dataclass(frozen=True)
class CallbackPolicy:
    """What the operator allowed despite the guard (nothing, by default)."""

    networks: tuple[Network, ...] = ()
    hosts: tuple[str, ...] = ()  # exact names, or "*.example.com"

    @classmethod
    def parse(cls, raw: str | None) -> CallbackPolicy:
        networks: list[Network] = []
        hosts: list[str] = []
        for part in (raw or "").split(","):
            item = part.strip().lower()
            if not item:
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.append(item.rstrip("."))
        return cls(tuple(networks), tuple(hosts))

    def allows_host(self, host: str) -> bool:
        for allowed in self.hosts:
            if allowed.startswith("*.") and host.endswith(allowed[1:]):
                return True
            if host == allowed:
                return True
        return False

    def refusal(self, ip: Address, host: str = "") -> AddressClass | None:
        """Why connecting to ``ip`` (resolved from ``host``) is refused; None if it is allowed."""
        if host and self.allows_host(host):
            return None
        if any(ip in net for net in self.networks):
            return None
        return classify(ip)


def _host_of(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise CallbackRefused(f"callback URLs must be http or https, not {parts.scheme or 'none'!r}")
    try:
        host = parts.hostname
    except ValueError:
        host = None
    if not host:
        raise CallbackRefused("callback URL has no host")
    return parts.scheme, host.lower().rstrip(".")


def check_callback_url(url: str, policy: CallbackPolicy) -> None:
    """Refuse (``CallbackRefused``) a URL whose host alone shows it points inward."""
    _, host = _host_of(url)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        refused = policy.refusal(ip)
        if refused is not None:
            raise CallbackRefused(f"callback address {host} is {refused.value}")
        return
    if policy.allows_host(host):
        return
    if _NUMERIC_HOST.match(host):
        raise CallbackRefused(f"callback host {host!r} is a non-canonical numeric address")
    if "." not in host or host == "localhost" or host.endswith(_INTERNAL_SUFFIXES):
        raise CallbackRefused(f"callback host {host!r} is a cluster-internal or local name")


class GuardedResolver(AbstractResolver):
    """Resolves with ``base`` and keeps only the addresses the policy allows."""

    def __init__(self, policy: CallbackPolicy, base: AbstractResolver | None = None) -> None:
        self.policy = policy
        self._base = base or ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._base.resolve(host, port, family)
        name = host.lower().rstrip(".")
        kept: list[ResolveResult] = []
        refused: list[str] = []
        for result in results:
            ip = ipaddress.ip_address(result["host"].split("%", 1)[0])
            why = self.policy.refusal(ip, name)
            if why is None:
                kept.append(result)
            else:
                refused.append(f"{ip} ({why.value})")
        if not kept:
            raise CallbackRefused(
                f"callback host {host!r} resolves only to refused addresses: " + ", ".join(refused)
            )
        return kept

    async def close(self) -> None:
        await self._base.close()


def _url_guard(policy: CallbackPolicy) -> aiohttp.ClientMiddlewareType:
    async def guard(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        check_callback_url(str(request.url), policy)
        return await handler(request)

    return guard


def guarded_session(
    policy: CallbackPolicy, *, timeout: float = 10.0, base_resolver: AbstractResolver | None = None
) -> aiohttp.ClientSession:
    """A session for callbacks: URL checks on every request, checked-and-pinned DNS, no proxies
    from the environment. Pass ``allow_redirects=False`` on each request (``safe_post`` does)."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver(policy, base_resolver), use_dns_cache=False)
    return aiohttp.ClientSession(
        connector=connector,
        timeout=aiohttp.ClientTimeout(total=timeout),
        middlewares=(_url_guard(policy),),
        trust_env=False,
    )


async def safe_post(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    policy: CallbackPolicy,
    *,
    session: aiohttp.ClientSession | None = None,
    timeout: float = 10.0,  # noqa: ASYNC109 - the session's total timeout, as in guarded_session
) -> int:
    """POST ``body`` to ``url`` through the guard; the status (a 3xx is returned, not followed).

    ``session`` should come from ``guarded_session``; without one a session is made and closed.
    Raises ``CallbackRefused`` for a refused destination, ``aiohttp.ClientError`` /
    ``TimeoutError`` for transport failures.
    """
    check_callback_url(url, policy)
    own = session is None
    active = session or guarded_session(policy, timeout=timeout)
    try:
        async with active.post(url, data=body, headers=dict(headers), allow_redirects=False) as response:
            await response.read()
            return response.status
    except aiohttp.ClientConnectorDNSError as exc:
        if isinstance(exc.os_error, CallbackRefused):
            raise exc.os_error from None
        raise
    finally:
        if own:
            await active.close()
