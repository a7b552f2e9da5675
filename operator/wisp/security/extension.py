"""Plugging the security layer into the gateway: one ``make_app`` extension and the admin
app's middleware.

``security_extension(settings, secrets)`` is passed to ``make_app(..., extensions=[...])``: it
adds the ``AccessGuard`` middleware to the invocation app, announces the admin token and every
Secret value to the log redactor, and ties the Secret source, the redaction and a small
housekeeping task (stop watching Secrets no Function names; pre-load the ones they do) to the
app's lifetime. ``secure_admin_app`` guards an admin app's ``/system/``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aiohttp import web

from wisp.gateway.admission import FastGuard
from wisp.gateway.state import Components
from wisp.security.authorizer import is_public, referenced_secrets
from wisp.security.middleware import AccessGuard, RefusalMetrics, admin_middleware
from wisp.security.redact import Redactor, install_redaction
from wisp.security.secrets import SecretName, SecretSource, StaticSecretSource
from wisp.security.settings import SecuritySettings, settings_from_env

log = logging.getLogger("wisp.security")

HOUSEKEEPING_SECONDS = 30.0


@dataclass
class Security:
    settings: SecuritySettings
    secrets: SecretSource
    redactor: Redactor
    guard: AccessGuard


SECURITY = web.AppKey("security", Security)


def wanted_secrets(parts: Components) -> set[SecretName]:
    """(namespace, name) of every Secret a private Function's access names."""
    wanted: set[SecretName] = set()
    for up in parts.registry.upstreams.values():
        fn = up.info.function
        for name in referenced_secrets(fn.spec.access):
            wanted.add((fn.namespace, name))
    return wanted


def security_extension(
    settings: SecuritySettings | None = None,
    secrets: SecretSource | None = None,
    *,
    redact_logs: bool = True,
) -> Callable[[web.Application, Components], None]:
    def extend(app: web.Application, parts: Components) -> None:
        chosen = settings or settings_from_env()
        source = secrets if secrets is not None else StaticSecretSource()
        redactor = Redactor()
        if chosen.admin_token:
            redactor.add(chosen.admin_token)
        source.add_observer(redactor.add)
        guard = AccessGuard(chosen, parts, source, RefusalMetrics(parts.metrics.registry))
        middleware = guard.as_middleware()
        app.middlewares.append(middleware)
        parts.fast_guard = FastGuard(middleware, guard.admit_fast)
        app[SECURITY] = Security(chosen, source, redactor, guard)
        app.cleanup_ctx.append(_lifetime(parts, redact_logs))

    return extend


def _lifetime(
    parts: Components, redact_logs: bool
) -> Callable[[web.Application], contextlib.AbstractAsyncContextManager[None]]:
    @contextlib.asynccontextmanager
    async def lifetime(app: web.Application) -> AsyncIterator[None]:
        security = app[SECURITY]
        uninstall = install_redaction(security.redactor) if redact_logs else None
        await security.secrets.start()
        task = asyncio.create_task(_housekeeping(parts, security), name="wisp-security-housekeeping")
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            await security.secrets.stop()
            if uninstall is not None:
                uninstall()

    return lifetime


async def _housekeeping(parts: Components, security: Security) -> None:
    await parts.registry.synced_event.wait()
    while True:
        wanted = wanted_secrets(parts)
        security.secrets.retain(wanted)
        by_namespace: dict[str, list[str]] = {}
        for namespace, name in wanted:
            by_namespace.setdefault(namespace, []).append(name)
        for namespace, names in by_namespace.items():
            await security.secrets.ensure(namespace, names)
        await asyncio.sleep(HOUSEKEEPING_SECONDS)


def secure_admin_app(app: web.Application, settings: SecuritySettings) -> web.Application:
    """Guard the admin port's ``/system/`` (open without ``WISP_ADMIN_TOKEN``: the admin port is
    cluster-internal; ``/metrics`` and the probes stay open for Prometheus and the kubelet)."""
    app.middlewares.append(admin_middleware(settings.admin_token, prefixes=("/system/",)))
    return app


__all__ = ["SECURITY", "Security", "is_public", "secure_admin_app", "security_extension", "wanted_secrets"]
