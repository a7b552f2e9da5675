"""The admin port's sign-in for the console and the dead letters: the admin token, or the caller's
own Kubernetes credential checked by the API server (``wisp.security.viewers`` says what each
may see and do).

``caller_auth`` guards the paths it is given (the console's ``/ui/api/``, ``/system/dead-letters``)
on the admin listener and leaves the request's ``Viewer`` under ``VIEWER`` for the routes.
``KubernetesReviewer`` asks the API server: TokenReview for who a token belongs to,
SubjectAccessReview for what that user may do in a namespace (the chart binds the gateway to
``system:auth-delegator`` for both, ``gateway.rbac.consoleTenants``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware
from kubernetes import client
from kubernetes.client.rest import ApiException

from wisp.gateway.resolve import resolve
from wisp.security import errors
from wisp.security.authorizer import Verdict
from wisp.security.credentials import bearer_token
from wisp.security.middleware import admin_allowed
from wisp.security.viewers import ADMIN, VIEWER, Permission, ReviewFailed, Reviews, Tenant, User

log = logging.getLogger("wisp.security")


class KubernetesReviewer:
    """TokenReview and SubjectAccessReview through the API server (blocking client, in threads)."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.authn = client.AuthenticationV1Api(api_client)
        self.authz = client.AuthorizationV1Api(api_client)

    async def authenticate(self, token: str) -> User | None:
        body = client.V1TokenReview(spec=client.V1TokenReviewSpec(token=token))
        review = await self._ask(self.authn.create_token_review, body)
        status = review.status
        if status is None or not status.authenticated or status.user is None:
            return None
        user = status.user
        extra = tuple(sorted((k, tuple(v)) for k, v in (user.extra or {}).items()))
        return User(user.username or "", user.uid or "", tuple(user.groups or ()), extra)

    async def allowed(self, user: User, permission: Permission, namespace: str) -> bool:
        attributes = client.V1ResourceAttributes(
            namespace=namespace,
            verb=permission.verb,
            group=permission.group,
            resource=permission.resource,
            subresource=permission.subresource or None,
        )
        spec = client.V1SubjectAccessReviewSpec(
            user=user.name,
            uid=user.uid or None,
            groups=list(user.groups) or None,
            extra={k: list(v) for k, v in user.extra} or None,
            resource_attributes=attributes,
        )
        review = await self._ask(
            self.authz.create_subject_access_review, client.V1SubjectAccessReview(spec=spec)
        )
        return bool(review.status is not None and review.status.allowed)

    @staticmethod
    async def _ask(call: Any, body: Any) -> Any:
        try:
            return await asyncio.to_thread(call, body)
        except ApiException as exc:
            if exc.status == 403:
                raise ReviewFailed(
                    "the gateway may not review Kubernetes credentials (gateway.rbac.consoleTenants)"
                ) from None
            raise ReviewFailed(f"the API server did not answer a review: {exc.status} {exc.reason}") from None
        except OSError as exc:
            raise ReviewFailed(f"the API server is unreachable: {exc}") from None


def caller_auth(admin_token: str | None, reviews: Reviews | None, prefixes: tuple[str, ...]) -> Middleware:
    """For paths under ``prefixes``: the admin token sees everything; another bearer token is a
    Kubernetes credential, and sees what its user may (refused when ``reviews`` is None or the API
    server rejects it). The admin app's own guard (``admin_middleware``) lets a request this
    signed in through, so it must run first (outermost)."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not resolve(request).path.startswith(prefixes):  # the route the router chose
            return await handler(request)
        authorization = request.headers.get("Authorization")
        token = bearer_token(authorization)
        if token is None:
            return errors.json_error(
                401,
                "Unauthorized",
                "this API needs the admin token or your Kubernetes bearer token",
                {"WWW-Authenticate": 'Bearer realm="wisp-console"'},
            )
        if admin_allowed(admin_token, authorization) is Verdict.ALLOW:
            request[VIEWER] = ADMIN
            return await handler(request)
        try:
            user = None if reviews is None else await reviews.authenticate(token)
        except ReviewFailed as exc:
            log.warning("sign-in with a Kubernetes token: %s", exc)
            return errors.json_error(503, "ReviewUnavailable", str(exc))
        if user is None or reviews is None:
            return errors.json_error(
                403,
                "Forbidden",
                "the token is neither the admin token nor a Kubernetes credential the API server accepts",
            )
        request[VIEWER] = Tenant(user, reviews)
        return await handler(request)

    return middleware


def make_reviews(api_client: client.ApiClient) -> Reviews:
    return Reviews(KubernetesReviewer(api_client), time.monotonic)
