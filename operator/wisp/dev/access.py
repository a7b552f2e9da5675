"""Who may use ``wisp dev``'s management paths: the security settings of the dev gateway.

``wisp dev`` installs the same security layer as the cluster gateway (access rules, input
limits, redaction), public by default. One difference: the console (``/ui/``) and async
invocation records (``/invocations/``) sit on the invocation port and are open to callers on
this machine (loopback), with or without ``WISP_ADMIN_TOKEN``; a caller from another machine
(``--host 0.0.0.0``) needs the admin token for them, and is refused when none is set.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import replace

from aiohttp import web
from aiohttp.typedefs import Handler

from wisp.gateway.state import Components
from wisp.security.middleware import admin_middleware
from wisp.security.settings import SecuritySettings, settings_from_env

LOCAL_PREFIXES = ("/ui/", "/invocations/")
LOCAL_PATHS = ("/ui",)


def dev_security_settings(env: Mapping[str, str] | None = None) -> SecuritySettings:
    """The cluster's settings from the environment, public by default, with the console and
    invocation records left to ``loopback_management`` instead of the admin check."""
    settings = settings_from_env(env, public_by_default=True)
    return replace(
        settings,
        admin_prefixes=tuple(p for p in settings.admin_prefixes if p not in LOCAL_PREFIXES),
        admin_paths=tuple(p for p in settings.admin_paths if p not in LOCAL_PATHS),
    )


def is_loopback(address: str | None) -> bool:
    if not address:
        return False
    try:
        return ipaddress.ip_address(address.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


def loopback_management(settings: SecuritySettings) -> Callable[[web.Application, Components], None]:
    """A ``make_app`` extension (list it before the security extension, so it runs first):
    ``/ui/`` and ``/invocations/`` pass for loopback peers, others need the admin token."""
    guard = admin_middleware(settings.admin_token, prefixes=LOCAL_PREFIXES, paths=LOCAL_PATHS, required=True)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if is_loopback(request.remote):
            return await handler(request)
        return await guard(request, handler)

    def extend(app: web.Application, parts: Components) -> None:
        app.middlewares.append(middleware)

    return extend
