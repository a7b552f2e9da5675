"""Who is calling the console's API or the dead-letter API in a cluster, and what they may see
and do there (docs/tenancy.md).

Two bearer credentials open ``/ui/api/`` and ``/system/dead-letters`` on the admin port: the
admin token (``WISP_ADMIN_TOKEN``, every namespace) and the caller's own Kubernetes credential,
any bearer token the API server accepts (a ServiceAccount token from ``kubectl create token``,
an OIDC id token). For the latter the gateway asks the API server who it is (TokenReview), then,
per namespace and action, whether that user may (SubjectAccessReview): the console and the
dead-letter API show and do what ``kubectl`` would let the same credential do, and wisp keeps no
users of its own. A namespace the caller may not read is one the gateway does not know of: its
functions and dead letters are left out of lists and usage, and asking for one is a 404, as for
one that does not exist. ``wisp.security.kubeauth`` asks the API server and signs callers in.

Answers are cached for ``REVIEW_TTL`` seconds (as the API server's own webhook authorizer
does), so a page refreshing every 2 seconds costs the API server nothing after the first look.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from aiohttp import web

from wisp.api.names import FUNCTIONS, GROUP

REVIEW_TTL = 10.0
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True)
class Permission:
    """A Kubernetes permission: ``verb`` on ``resource`` (``subresource``) of API ``group``."""

    verb: str
    group: str
    resource: str
    subresource: str = ""

    def __str__(self) -> str:
        """As ``kubectl auth can-i`` spells it: ``patch functions.wisp.dev``, ``get pods/log``."""
        resource = f"{self.resource}/{self.subresource}" if self.subresource else self.resource
        return f"{self.verb} {resource}.{self.group}" if self.group else f"{self.verb} {resource}"


class Action(enum.Enum):
    """What a console or dead-letter route does; ``PERMISSIONS`` says what it needs in the namespace."""

    LIST = "list"  # see the namespace's functions: lists, usage, dead-letter counts
    READ = "read"  # a function's manifest, numbers, saved events and dead letters
    LOGS = "read the logs of"  # its pods' output
    CHANGE = "change"  # deploy, test calls, saved events
    DELETE = "delete"
    REDRIVE = "redrive or purge the dead letters of"  # run failed calls again, or drop them


PERMISSIONS: dict[Action, tuple[Permission, ...]] = {
    Action.LIST: (Permission("list", GROUP, FUNCTIONS),),
    Action.READ: (Permission("get", GROUP, FUNCTIONS),),
    Action.LOGS: (Permission("get", GROUP, FUNCTIONS), Permission("get", "", "pods", "log")),
    # The console applies server-side, which creates a Function or patches it.
    Action.CHANGE: (Permission("patch", GROUP, FUNCTIONS), Permission("create", GROUP, FUNCTIONS)),
    Action.DELETE: (Permission("delete", GROUP, FUNCTIONS),),
    # Dead letters are a Function's (or its queue Trigger's) failed calls: running them again or
    # dropping them changes what the Function has done, as a patch changes what it does.
    Action.REDRIVE: (Permission("get", GROUP, FUNCTIONS), Permission("patch", GROUP, FUNCTIONS)),
}


@dataclass(frozen=True)
class User:
    """Who the API server says a token belongs to (a TokenReview's ``status.user``)."""

    name: str
    uid: str = ""
    groups: tuple[str, ...] = ()
    extra: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def home_namespace(self) -> str | None:
        """A ServiceAccount's own namespace (``system:serviceaccount:<ns>:<name>``)."""
        if not self.name.startswith(SERVICE_ACCOUNT_PREFIX):
            return None
        namespace, _, _ = self.name.removeprefix(SERVICE_ACCOUNT_PREFIX).partition(":")
        return namespace or None


class ReviewFailed(Exception):
    """The API server could not be asked (unreachable, or the gateway may not review)."""


class Reviewer(Protocol):
    """The API server's answers (``wisp.console.cluster.KubernetesReviewer``)."""

    async def authenticate(self, token: str) -> User | None: ...

    async def allowed(self, user: User, permission: Permission, namespace: str) -> bool: ...


class Viewer(Protocol):
    @property
    def name(self) -> str: ...

    def home_namespaces(self) -> tuple[str, ...]: ...

    async def missing(self, action: Action, namespace: str) -> Permission | None:
        """The first permission ``action`` needs in ``namespace`` that the viewer lacks."""
        ...

    async def may(self, action: Action, namespace: str) -> bool: ...


class Admin:
    """The admin token, or no credential check at all (``wisp dev``): everything."""

    name = "admin"

    def home_namespaces(self) -> tuple[str, ...]:
        return ()

    async def missing(self, action: Action, namespace: str) -> Permission | None:
        return None

    async def may(self, action: Action, namespace: str) -> bool:
        return True


ADMIN = Admin()
# Who is asking, set by the admin port's sign-in (``wisp.security.kubeauth``) for the routes.
VIEWER = web.RequestKey("wisp-viewer", object)


def viewer_of(request: web.Request) -> Viewer:
    """Who is asking; everything where no sign-in ran (``wisp dev``, an admin port left open)."""
    viewer: Viewer = request.get(VIEWER, ADMIN)
    return viewer


@dataclass
class TtlCache:
    """Answers kept for ``ttl`` seconds of the clock passed in."""

    ttl: float
    limit: int = 10000
    entries: dict[Hashable, tuple[float, object]] = field(default_factory=dict)

    def get(self, key: Hashable, now: float) -> tuple[bool, object]:
        found = self.entries.get(key)
        if found is None or found[0] <= now:
            return False, None
        return True, found[1]

    def put(self, key: Hashable, value: object, now: float) -> None:
        if len(self.entries) >= self.limit:
            self.entries = {k: v for k, v in self.entries.items() if v[0] > now}
            if len(self.entries) >= self.limit:
                self.entries.clear()
        self.entries[key] = (now + self.ttl, value)


@dataclass
class Reviews:
    """A ``Reviewer`` with its answers cached (tokens by digest only)."""

    reviewer: Reviewer
    clock: Callable[[], float]
    cache: TtlCache = field(default_factory=lambda: TtlCache(REVIEW_TTL))

    async def _cached(self, key: Hashable, ask: Callable[[], Awaitable[object]]) -> object:
        now = self.clock()
        hit, value = self.cache.get(key, now)
        if not hit:
            value = await ask()
            self.cache.put(key, value, now)
        return value

    async def authenticate(self, token: str) -> User | None:
        digest = hashlib.sha256(token.encode("utf-8", "surrogateescape")).digest()
        user = await self._cached(("token", digest), lambda: self.reviewer.authenticate(token))
        return user if isinstance(user, User) else None

    async def allowed(self, user: User, permission: Permission, namespace: str) -> bool:
        key = ("allowed", user, permission, namespace)
        return bool(await self._cached(key, lambda: self.reviewer.allowed(user, permission, namespace)))


@dataclass
class Tenant:
    """A caller with a Kubernetes credential: what RBAC lets that user do, namespace by namespace."""

    user: User
    reviews: Reviews

    @property
    def name(self) -> str:
        return self.user.name

    def home_namespaces(self) -> tuple[str, ...]:
        home = self.user.home_namespace
        return (home,) if home else ()

    async def missing(self, action: Action, namespace: str) -> Permission | None:
        for permission in PERMISSIONS[action]:
            if not await self.reviews.allowed(self.user, permission, namespace):
                return permission
        return None

    async def may(self, action: Action, namespace: str) -> bool:
        return await self.missing(action, namespace) is None


async def visible(viewer: Viewer, namespaces: Iterable[str]) -> set[str]:
    """Those of ``namespaces`` whose functions ``viewer`` may list (asked all at once)."""
    unique = sorted(set(namespaces))
    answers = await asyncio.gather(*(viewer.may(Action.LIST, ns) for ns in unique))
    return {ns for ns, allowed in zip(unique, answers, strict=True) if allowed}
