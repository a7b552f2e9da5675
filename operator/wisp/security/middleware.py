"""The aiohttp side of the security layer: middlewares that feed the pure decisions.

Both decide on the route the router resolved (``wisp.gateway.resolve``: once per request, on
the decoded path, the same ``Route`` the handler then serves), never on the caller's raw path.

``AccessGuard.middleware`` runs on the invocation port, in this order: input limits (414/431),
the global in-flight cap (503), the admin credential for management paths, then for a request
routed to a Function (``/function/``, ``/async-function/``, an HTTP Trigger): name checks
before any lookup (404), the access decision (401/403), the per-principal rate limit (429).
The request the gateway's handlers see has had hop-by-hop, inbound ``X-Wisp-*`` and untrusted
``X-Forwarded-*`` headers removed, and ``Authorization`` too when it was wisp's credential.

``admin_middleware`` is the admin credential, for the admin port's ``/system/``; a request the
admin port's sign-in (``wisp.security.kubeauth.caller_auth``, outermost) has already let in with
a caller's own Kubernetes token (the dead-letter API) passes, and its routes decide per namespace.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict
from prometheus_client import CollectorRegistry, Counter

from wisp.api.function import AccessSpec, SecretKey
from wisp.gateway.admission import Admitted, FastHead
from wisp.gateway.lambda_api import tag_refusal
from wisp.gateway.proxy import BODY, CLIENT_ADDRESS, send_continue
from wisp.gateway.resolve import INVOKE_ROUTE, Route, RouteKind, resolve
from wisp.gateway.state import Components
from wisp.security import errors, sigv4
from wisp.security.authorizer import Authorizer, Decision, Presented, Verdict, is_public, referenced_secrets
from wisp.security.credentials import SIGNATURE_HEADER, bearer_token
from wisp.security.inbound import (
    clean_headers,
    client_address,
    is_trusted,
    limit_violation,
    undecodable_header,
)
from wisp.security.ratelimit import ByteBudget, InflightCap, RateLimiter, retry_after_seconds
from wisp.security.secrets import SecretSource
from wisp.security.settings import SecuritySettings
from wisp.security.viewers import VIEWER

log = logging.getLogger("wisp.security")

HEALTH_PATHS = frozenset({"/healthz"})


def _presented(head: FastHead) -> Presented:
    """What a caller on the fast path presented, read as ``AccessGuard._guarded`` reads it."""
    headers = head.headers
    authorization = headers.get("Authorization")
    bearer = bearer_token(authorization)
    signed = None
    if authorization is not None and bearer is None and sigv4.is_sigv4(authorization):
        raw_path, _, raw_query = head.target.partition("?")
        signed = sigv4.parse(authorization, head.method, raw_path, raw_query, headers.items())
    return Presented(
        bearer,
        headers.get(SIGNATURE_HEADER),
        other_authorization=authorization is not None and bearer is None and signed is None,
        sigv4=signed,
    )


class RefusalMetrics:
    """``wisp_requests_refused_total{reason}``: no function or principal labels (unbounded,
    caller-chosen values never become label values)."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.counter = Counter(
            "wisp_requests_refused_total",
            "Requests the gateway refused before routing, by reason.",
            ("reason",),
            registry=registry,
        )

    def refused(self, reason: str) -> None:
        self.counter.labels(reason).inc()


def admin_allowed(token: str | None, authorization: str | None) -> Verdict:
    presented = bearer_token(authorization)
    if token is None or presented is None:
        return Verdict.FORBIDDEN if token is None or authorization else Verdict.UNAUTHENTICATED
    wanted = hashlib.sha256(token.encode()).digest()
    given = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
    return Verdict.ALLOW if hmac.compare_digest(wanted, given) else Verdict.FORBIDDEN


def _admin_refusal(verdict: Verdict, token: str | None) -> web.Response:
    if verdict is Verdict.UNAUTHENTICATED:
        return errors.json_error(
            401,
            "Unauthorized",
            "this endpoint needs the admin token",
            {"WWW-Authenticate": 'Bearer realm="wisp-admin"'},
        )
    if token is None:
        return errors.json_error(403, "Forbidden", "management endpoints are disabled (no WISP_ADMIN_TOKEN)")
    return errors.json_error(403, "Forbidden", "the admin token does not match")


def admin_middleware(
    token: str | None,
    *,
    prefixes: tuple[str, ...] = ("/system/",),
    paths: tuple[str, ...] = (),
    required: bool = False,
) -> Middleware:
    """Guards ``paths`` and ``prefixes`` with the admin bearer token. Without a token they are
    open when ``required`` is False (the admin port of ``wisp dev``), refused otherwise. A
    request whose caller is signed in already (``VIEWER``) is the sign-in's to answer."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = resolve(request).path  # the route the router chose, not the caller's spelling
        if (path in paths or path.startswith(prefixes)) and VIEWER not in request:
            if token is None and not required:
                return await handler(request)
            verdict = admin_allowed(token, request.headers.get("Authorization"))
            if verdict is not Verdict.ALLOW:
                return _admin_refusal(verdict, token)
        return await handler(request)

    return middleware


@dataclass
class AccessGuard:
    settings: SecuritySettings
    parts: Components
    secrets: SecretSource
    metrics: RefusalMetrics
    limiter: RateLimiter = field(default_factory=RateLimiter)
    clock: Callable[[], float] = time.monotonic  # rate limits
    wall_clock: Callable[[], float] = time.time  # webhook timestamps
    inflight: InflightCap = field(init=False)
    unverified: ByteBudget = field(init=False)
    authorizer: Authorizer = field(init=False)

    def __post_init__(self) -> None:
        self.inflight = InflightCap(self.settings.max_inflight)
        self.unverified = ByteBudget(self.settings.max_unverified_body_bytes)
        self.authorizer = Authorizer(self.settings.public_by_default)

    def as_middleware(self) -> Middleware:
        @web.middleware
        async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
            return await self.guard(request, handler)

        return middleware

    async def guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = resolve(request)
        if route.path in HEALTH_PATHS:
            return await handler(request)
        violation = limit_violation(request.raw_path, request.raw_headers, self.settings.limits)
        violation = violation or undecodable_header(request.headers.items())
        if violation is not None:
            self.metrics.refused(violation.error_type)
            return errors.json_error(violation.status, violation.error_type, violation.message)
        if not self.inflight.try_enter():
            self.metrics.refused("overloaded")
            return errors.overloaded()
        try:
            response = await self._guarded(request, route, handler)
        finally:
            self.inflight.leave()
        if route.path == INVOKE_ROUTE:  # an AWS SDK's caller: Lambda's error types
            tag_refusal(response)
        return response

    def admit_fast(self, head: FastHead, key: str, path: str) -> Admitted | web.Response | None:
        """``guard``'s decision for a call on the fast data path (``wisp.gateway.fastpath``),
        in the same order and with the same answers. A signature that covers the body (a
        webhook's, an AWS SDK's SigV4) is checked on its header here and on the body once it is
        in (``Admitted.verify``). None (aiohttp and ``guard`` serve it) while a Secret the
        function names is still loading: ``guard`` waits for it."""
        up = self.parts.registry.upstreams.get(key)
        if up is None or self._is_admin_path(path):
            return None
        access = up.info.function.spec.access
        headers = head.headers
        private = not is_public(access, self.settings.public_by_default)
        namespace = up.info.function.namespace
        if private and not self._secrets_loaded(access, namespace):
            return None
        raw = ((name.encode(), value.encode()) for name, value in headers.items())
        violation = limit_violation(head.target, raw, self.settings.limits)
        if violation is not None:
            self.metrics.refused(violation.error_type)
            return errors.json_error(violation.status, violation.error_type, violation.message)
        if not self.inflight.try_enter():
            self.metrics.refused("overloaded")
            return errors.overloaded()
        trusted_proxies = self.settings.trusted_proxies
        client = client_address(head.peer, headers.get("X-Forwarded-For"), trusted_proxies)
        trusted = is_trusted(head.peer, trusted_proxies)
        cleaned = clean_headers(headers, peer_trusted=trusted, drop_authorization=private)
        principal = f"client:{client}"
        if private:
            presented = _presented(head)

            def decide(body: bytes | None = None) -> Decision:
                return self._decide(access, namespace, presented, client, body)

            decision = decide()
            if decision.verdict is Verdict.NEEDS_BODY:
                return self._admit_unverified(head, key, client, cleaned, decide)
            if not decision.allowed:
                self.inflight.leave()
                return self._refusal(key, client, decision)
            principal = decision.principal
        refusal = self._rate_limit(key, principal)
        if refusal is not None:
            self.inflight.leave()
            return refusal
        return Admitted(cleaned, client, self.inflight.leave)

    def _admit_unverified(
        self,
        head: FastHead,
        key: str,
        client: str,
        headers: CIMultiDict[str],
        decide: Callable[[bytes], Decision],
    ) -> Admitted | web.Response:
        """A call whose signature checked out on its header: its body, once in, decides. The
        body is held within the unverified-bytes budget until then, as on ``guard``'s path."""
        length = int(head.headers.get("Content-Length") or 0)
        reserved = self.unverified.try_take(length)
        if reserved is None:
            self.inflight.leave()
            return self._too_many_unverified()
        held = [reserved]

        def give_back() -> None:
            if held:
                self.unverified.give(held.pop())

        def leave() -> None:
            give_back()
            self.inflight.leave()

        def verify(body: bytes) -> web.Response | None:
            give_back()
            decision = decide(body)
            if not decision.allowed:
                return self._refusal(key, client, decision)
            return self._rate_limit(key, decision.principal)

        return Admitted(headers, client, leave, verify)

    def _secrets_loaded(self, access: AccessSpec, namespace: str) -> bool:
        refs = [*access.token_secrets, *([access.hmac_secret] if access.hmac_secret is not None else [])]
        return all(self.secrets.value(namespace, ref) is not None for ref in refs)

    def _decide(
        self, access: AccessSpec, namespace: str, presented: Presented, client: str, body: bytes | None
    ) -> Decision:
        def lookup(ref: SecretKey) -> bytes | None:
            return self.secrets.value(namespace, ref)

        return self.authorizer.decide(
            access, presented, lookup, client=client, now=self.wall_clock(), body=body
        )

    def _refusal(self, key: str, client: str, decision: Decision) -> web.Response:
        """The answer to a call the authorizer did not allow (401 or 403)."""
        if decision.verdict is Verdict.UNAUTHENTICATED:
            self.metrics.refused("unauthenticated")
            return errors.unauthenticated()
        self.metrics.refused("forbidden")
        log.debug("refused %s for %s: %s", key, client, decision.reason)
        return errors.forbidden()

    def _rate_limit(self, key: str, principal: str) -> web.Response | None:
        """The 429 for a principal past its function's rate limit, else None."""
        up = self.parts.registry.upstreams.get(key)
        if up is None:
            return None
        limit = up.info.function.spec.access.rate_limit
        if limit is None:
            return None
        wait = self.limiter.take((key, principal), limit, self.clock())
        if wait <= 0:
            return None
        self.metrics.refused("rate-limit")
        up.metrics.throttled("rate-limit")
        return errors.rate_limited(retry_after_seconds(wait))

    def _too_many_unverified(self) -> web.Response:
        self.metrics.refused("unverified-bodies")
        return errors.json_error(
            503,
            "TooManyUnverifiedBodies",
            "too many signed uploads are being checked at once, retry shortly",
            {"Retry-After": "1"},
        )

    def _is_admin_path(self, path: str) -> bool:
        return path in self.settings.admin_paths or path.startswith(self.settings.admin_prefixes)

    async def _guarded(self, request: web.Request, route: Route, handler: Handler) -> web.StreamResponse:
        peer = request.remote or ""
        trusted = is_trusted(peer, self.settings.trusted_proxies)
        if self._is_admin_path(route.path):
            verdict = admin_allowed(self.settings.admin_token, request.headers.get("Authorization"))
            if verdict is not Verdict.ALLOW:
                self.metrics.refused("admin")
                return _admin_refusal(verdict, self.settings.admin_token)
            headers = clean_headers(request.headers, peer_trusted=trusted, drop_authorization=True)
            return await handler(request.clone(headers=headers))
        if route.kind is RouteKind.INVALID_NAME:
            self.metrics.refused("invalid-name")
            return errors.json_error(404, "FunctionNotFound", "function names are DNS labels")
        key = route.function_key
        if key is None:
            # Not routed to a function: the gateway answers 404/405 itself, or a declared
            # route that is neither a management path nor a function's serves it.
            return await handler(request.clone(headers=clean_headers(request.headers, peer_trusted=trusted)))
        up = self.parts.registry.upstreams.get(key)
        access: AccessSpec | None = None if up is None else up.info.function.spec.access
        private = access is None or not is_public(access, self.settings.public_by_default)
        authorization = request.headers.get("Authorization")
        bearer = bearer_token(authorization)
        signed = None
        if authorization is not None and bearer is None and sigv4.is_sigv4(authorization):
            url = request.rel_url
            signed = sigv4.parse(
                authorization, request.method, url.raw_path, url.raw_query_string, request.headers.items()
            )
        presented = Presented(
            bearer,
            request.headers.get(SIGNATURE_HEADER),
            other_authorization=authorization is not None and bearer is None and signed is None,
            sigv4=signed,
        )
        cloned = request.clone(
            headers=clean_headers(request.headers, peer_trusted=trusted, drop_authorization=private)
        )
        if access is not None and private:
            await self.secrets.ensure(route.namespace, referenced_secrets(access))
        client = client_address(peer, request.headers.get("X-Forwarded-For"), self.settings.trusted_proxies)
        cloned[CLIENT_ADDRESS] = client  # the runtime is told it (X-Wisp-Source-Ip)
        namespace = route.namespace

        def lookup(ref: SecretKey) -> bytes | None:
            return self.secrets.value(namespace, ref)

        decision = self.authorizer.decide(access, presented, lookup, client=client, now=self.wall_clock())
        if decision.verdict is Verdict.NEEDS_BODY:
            # Only a signature whose header checks out gets this far; its body is read within
            # the unverified-bytes budget and the body-read timeout, then decided on.
            read = await self._read_unverified(cloned)
            if isinstance(read, web.Response):
                return read
            cloned[BODY] = read  # the forwarder sends it, the queue's route reads it again
            decision = self.authorizer.decide(
                access, presented, lookup, client=client, now=self.wall_clock(), body=read
            )
        if decision.verdict in (Verdict.UNAUTHENTICATED, Verdict.FORBIDDEN):
            return self._refusal(key, client, decision)
        refusal = self._rate_limit(key, decision.principal)
        if refusal is not None:
            return refusal
        return await handler(cloned)

    async def _read_unverified(self, request: web.Request) -> bytes | web.Response:
        """The body of a call that is not authenticated yet, or the answer refusing it."""
        config = self.parts.config
        length = request.content_length
        if length is not None and length > config.max_body_bytes:
            return errors.json_error(413, "RequestTooLarge", f"body exceeds {config.max_body_bytes} bytes")
        reserved = self.unverified.try_take(config.max_body_bytes if length is None else length)
        if reserved is None:
            return self._too_many_unverified()
        try:
            async with asyncio.timeout(config.body_read_timeout):
                await send_continue(request)
                return await request.read()
        except web.HTTPRequestEntityTooLarge:
            return errors.json_error(413, "RequestTooLarge", f"body exceeds {config.max_body_bytes} bytes")
        except TimeoutError:
            return errors.json_error(
                408,
                "RequestTimeout",
                f"the request body did not arrive within {config.body_read_timeout:g} s",
            )
        except (OSError, web.RequestPayloadError) as exc:
            return errors.json_error(400, "ClientDisconnected", f"the request body broke off: {exc}")
        finally:
            self.unverified.give(reserved)
