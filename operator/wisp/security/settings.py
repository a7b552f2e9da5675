"""The security layer's settings: one frozen dataclass, read from the environment.

| variable | meaning | default |
|---|---|---|
| ``WISP_PUBLIC_BY_DEFAULT`` | a Function without ``spec.access`` may be called without credentials | false |
| ``WISP_ADMIN_TOKEN`` | bearer token for ``/system``, ``/invocations``, ``/ui``, ``/metrics`` | unset |
| ``WISP_MAX_INFLIGHT`` | requests the gateway serves at once before answering 503 | 10000 |
| ``WISP_TRUSTED_PROXIES`` | comma list of CIDRs whose ``X-Forwarded-*`` headers are believed | none |
| ``WISP_MAX_URL_BYTES`` | longest request target (path + query) | 8192 |
| ``WISP_MAX_HEADERS`` | most request header fields | 100 |
| ``WISP_MAX_HEADER_BYTES`` | largest total of header names and values | 32768 |
| ``WISP_MAX_UNVERIFIED_BODY_BYTES`` | bodies read at once to check webhook signatures | 64 MiB |
| ``WISP_CALLBACK_ALLOW`` | CIDRs and host names callbacks may reach despite the SSRF guard | none |

Without ``WISP_ADMIN_TOKEN`` the management paths are refused on the invocation port.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from wisp.security.ssrf import CallbackPolicy

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ADMIN_PREFIXES = ("/system/", "/invocations/", "/ui/")
ADMIN_PATHS = ("/metrics", "/system", "/ui")


@dataclass(frozen=True)
class InputLimits:
    """Explicit checks (JSON 414/431) sit below aiohttp's parser limits (its bare 400 is only a
    backstop for requests far past them)."""

    max_url_bytes: int = 8192
    max_headers: int = 100
    max_header_bytes: int = 32 * 1024

    def server_settings(self) -> dict[str, Any]:
        """Keyword arguments for ``web.AppRunner`` / ``TestServer``: the parser's hard limits."""
        return {
            "max_line_size": self.max_url_bytes + 1024,
            "max_field_size": self.max_header_bytes,
            "max_headers": self.max_headers * 2,
        }


@dataclass(frozen=True)
class SecuritySettings:
    public_by_default: bool = False
    admin_token: str | None = field(default=None, repr=False)
    max_inflight: int = 10000
    # Bytes of not yet verified bodies (read to check a webhook signature) held at once; past
    # it, more signed uploads are refused with 503 until some are decided.
    max_unverified_body_bytes: int = 64 * 1024 * 1024
    trusted_proxies: tuple[Network, ...] = ()
    limits: InputLimits = field(default_factory=InputLimits)
    callbacks: CallbackPolicy = field(default_factory=CallbackPolicy)
    admin_prefixes: tuple[str, ...] = ADMIN_PREFIXES
    admin_paths: tuple[str, ...] = ADMIN_PATHS


def _flag(raw: str | None, default: bool) -> bool:
    if raw is None or raw.strip() == "":
        return default
    return raw.strip().lower() in ("1", "true", "yes", "on")


def _int(raw: str | None, default: int) -> int:
    return default if raw is None or raw.strip() == "" else int(raw)


def parse_networks(raw: str | None) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.168.1.7"`` → networks (a bare address is a /32 or /128)."""
    if not raw:
        return ()
    return tuple(ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part.strip())


def settings_from_env(
    env: Mapping[str, str] | None = None, *, public_by_default: bool = False
) -> SecuritySettings:
    """The settings from ``env`` (os.environ by default); ``public_by_default`` is the default
    when ``WISP_PUBLIC_BY_DEFAULT`` is unset (``wisp dev`` passes True)."""
    env = os.environ if env is None else env
    defaults = InputLimits()
    return SecuritySettings(
        public_by_default=_flag(env.get("WISP_PUBLIC_BY_DEFAULT"), public_by_default),
        admin_token=env.get("WISP_ADMIN_TOKEN") or None,
        max_inflight=_int(env.get("WISP_MAX_INFLIGHT"), 10000),
        max_unverified_body_bytes=_int(env.get("WISP_MAX_UNVERIFIED_BODY_BYTES"), 64 * 1024 * 1024),
        trusted_proxies=parse_networks(env.get("WISP_TRUSTED_PROXIES")),
        limits=InputLimits(
            max_url_bytes=_int(env.get("WISP_MAX_URL_BYTES"), defaults.max_url_bytes),
            max_headers=_int(env.get("WISP_MAX_HEADERS"), defaults.max_headers),
            max_header_bytes=_int(env.get("WISP_MAX_HEADER_BYTES"), defaults.max_header_bytes),
        ),
        callbacks=CallbackPolicy.parse(env.get("WISP_CALLBACK_ALLOW")),
    )
