"""Who may use ``wisp dev``'s management paths: the security settings of the dev gateway.

``wisp dev`` installs the same security layer as the cluster gateway (access rules, input
limits, redaction), public by default. One difference: the console (``/ui/``) and async
invocation records (``/invocations/``) sit on the invocation port and are open to callers on
this machine (loopback), with or without ``WISP_ADMIN_TOKEN``; a caller from another machine
(``--host 0.0.0.0``) needs the admin token for them, and is refused when none is set.

"Open to this machine" must not mean "open to every web page this machine's browser shows":
a page can reach loopback through DNS rebinding (its own name resolving to 127.0.0.1) or
with a cross-site ``text/plain`` POST, and the console deploys code that runs as the
developer. So a loopback caller of the console must also name an allowed host (``Host``:
``localhost``, ``*.localhost``, a loopback address, the listening address, or one given with
``--allow-host``), and a browser's state-changing request must come from that same origin
(``Origin``, else ``Sec-Fetch-Site``). The console's API takes only JSON bodies
(``wisp.console.routes``), so a form or ``text/plain`` post cannot reach it either.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Collection, Mapping
from dataclasses import replace
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Handler

from wisp.gateway.resolve import resolve
from wisp.gateway.state import Components
from wisp.security.middleware import admin_middleware
from wisp.security.settings import SecuritySettings, settings_from_env

LOCAL_PREFIXES = ("/ui/", "/invocations/")
LOCAL_PATHS = ("/ui",)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_OWN_PAGE = "the console takes changes from its own page only"


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


def _host_name(authority: str) -> str:
    """``host`` of ``host[:port]`` / ``[v6]:port``, lowercased; empty if it does not parse."""
    try:
        return (urlsplit(f"//{authority.strip()}").hostname or "").rstrip(".")
    except ValueError:
        return ""


def host_allowed(authority: str, allowed: Collection[str] = ()) -> bool:
    """Whether a ``Host`` value names this machine: a loopback name or address, or ``allowed``."""
    name = _host_name(authority)
    if not name:
        return False
    if name == "localhost" or name.endswith(".localhost") or name in {a.lower() for a in allowed}:
        return True
    return is_loopback(name)


def browser_refusal(method: str, headers: Mapping[str, str], allowed: Collection[str] = ()) -> str | None:
    """Why a loopback caller's console request must be refused (None: it may pass).

    ``Host`` must name this machine (DNS rebinding makes it the attacker's name). A
    state-changing request that a browser marks as coming from a page must come from the
    console's own origin: ``Origin`` equal to ``http(s)://<Host>``, or, without ``Origin``,
    ``Sec-Fetch-Site`` of ``same-origin`` or ``none``. Clients that send neither (curl,
    scripts) pass: no web page can make a request without them.
    """
    host = headers.get("Host", "")
    if host and not host_allowed(host, allowed):
        return (
            f"Host {host!r} is not this machine: open the console at http://127.0.0.1 or "
            "http://localhost, or allow the name with wisp dev --allow-host"
        )
    if method.upper() in SAFE_METHODS:
        return None
    origin = headers.get("Origin")
    if origin is not None:
        if origin.lower() not in {f"http://{host}".lower(), f"https://{host}".lower()}:
            return f"cross-origin request from {origin} refused: {_OWN_PAGE}"
        return None
    fetch_site = headers.get("Sec-Fetch-Site", "none").lower()
    if fetch_site not in ("same-origin", "none"):
        return f"{fetch_site} request refused: {_OWN_PAGE}"
    return None


def loopback_management(
    settings: SecuritySettings, allowed_hosts: Collection[str] = ()
) -> Callable[[web.Application, Components], None]:
    """A ``make_app`` extension (list it before the security extension, so it runs first):
    ``/ui/`` and ``/invocations/`` pass for loopback peers that name an allowed host (and, to
    change anything, come from the console's own origin); others need the admin token."""
    guard = admin_middleware(settings.admin_token, prefixes=LOCAL_PREFIXES, paths=LOCAL_PATHS, required=True)
    allowed = tuple(allowed_hosts)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_loopback(request.remote):
            return await guard(request, handler)  # a bearer token is no ambient credential
        path = resolve(request).path
        if path in LOCAL_PATHS or path.startswith(LOCAL_PREFIXES):
            reason = browser_refusal(request.method, request.headers, allowed)
            if reason is not None:
                return web.json_response({"error": reason, "errorType": "Forbidden"}, status=403)
        return await handler(request)

    def extend(app: web.Application, parts: Components) -> None:
        app.middlewares.append(middleware)

    return extend
