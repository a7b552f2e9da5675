"""Tenants of the console and the dead letters, the pure part (``wisp.security.viewers``): which
Kubernetes permissions each action needs and which one a caller lacks, a ServiceAccount's home
namespace, and the cache that keeps a page refreshing every 2 seconds from asking the API server
each time. The API server's own answers are tested in tests/console/test_tenants.py and
tests/console/test_tenant_dead_letters.py."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from wisp.security.viewers import (
    ADMIN,
    REVIEW_TTL,
    Action,
    Permission,
    Reviews,
    Tenant,
    TtlCache,
    User,
    visible,
)

FUNCTIONS = "functions"


@dataclass
class Rbac:
    """A reviewer answering from a table of (user, verb, resource, subresource, namespace)."""

    grants: set[tuple[str, str, str, str, str]]
    tokens: dict[str, User] = field(default_factory=dict)
    asked: list[object] = field(default_factory=list)

    async def authenticate(self, token: str) -> User | None:
        self.asked.append(("token", token))
        return self.tokens.get(token)

    async def allowed(self, user: User, permission: Permission, namespace: str) -> bool:
        self.asked.append((user.name, permission.verb, permission.resource, namespace))
        key = (user.name, permission.verb, permission.resource, permission.subresource, namespace)
        return key in self.grants


ALICE = User("alice", groups=("team-a",))
EDIT = {("alice", verb, FUNCTIONS, "", "a") for verb in ("list", "get", "patch", "create")}
LOGS = {("alice", "get", "pods", "log", "a")}
READ = {("alice", verb, FUNCTIONS, "", "a") for verb in ("list", "get")}


@pytest.mark.parametrize(
    ("grants", "action", "allowed"),
    [
        (EDIT, Action.LIST, True),
        (EDIT, Action.READ, True),
        (EDIT, Action.CHANGE, True),
        (EDIT, Action.LOGS, False),  # reading a function is not reading its pods' output
        (EDIT | LOGS, Action.LOGS, True),
        (EDIT, Action.DELETE, False),
        ({("alice", "patch", FUNCTIONS, "", "a")}, Action.CHANGE, False),  # apply may create
        ({("alice", "list", FUNCTIONS, "", "b")}, Action.LIST, False),  # another namespace
        (EDIT, Action.REDRIVE, True),  # dead letters: who may change a function may run its calls again
        (EDIT - {("alice", "patch", FUNCTIONS, "", "a")}, Action.REDRIVE, False),
        (READ, Action.READ, True),  # reading dead letters is reading the function
        (READ, Action.REDRIVE, False),
    ],
)
async def test_an_action_needs_every_permission_it_names(
    grants: set[tuple[str, str, str, str, str]], action: Action, allowed: bool
) -> None:
    tenant = Tenant(ALICE, Reviews(Rbac(grants), clock=lambda: 0.0))
    assert await tenant.may(action, "a") is allowed
    assert (await tenant.missing(action, "a") is None) is allowed


@pytest.mark.parametrize(
    ("grants", "action", "missing"),
    [
        (READ, Action.REDRIVE, "patch functions.wisp.dev"),
        (READ, Action.LOGS, "get pods/log"),
        (READ, Action.DELETE, "delete functions.wisp.dev"),
        (set(), Action.READ, "get functions.wisp.dev"),
        (READ, Action.READ, None),
    ],
)
async def test_the_permission_a_caller_lacks_is_named_as_kubectl_names_it(
    grants: set[tuple[str, str, str, str, str]], action: Action, missing: str | None
) -> None:
    tenant = Tenant(ALICE, Reviews(Rbac(grants), clock=lambda: 0.0))
    lacked = await tenant.missing(action, "a")
    assert (None if lacked is None else str(lacked)) == missing
    assert await ADMIN.missing(action, "a") is None


@pytest.mark.parametrize(
    ("name", "home"),
    [
        ("system:serviceaccount:team-a:ci", "team-a"),
        ("system:serviceaccount::ci", None),
        ("alice@example.com", None),
        ("system:admin", None),
    ],
)
def test_a_service_accounts_home_namespace(name: str, home: str | None) -> None:
    assert User(name).home_namespace == home


async def test_answers_are_cached_for_the_ttl_and_tokens_kept_as_digests() -> None:
    now = [100.0]
    rbac = Rbac(set(EDIT), tokens={"secret-token": ALICE})
    reviews = Reviews(rbac, clock=lambda: now[0])
    assert await reviews.authenticate("secret-token") == ALICE
    assert await reviews.authenticate("secret-token") == ALICE
    assert await reviews.authenticate("other") is None
    assert await reviews.authenticate("other") is None  # a refusal is cached too
    list_a = Permission("list", "wisp.dev", FUNCTIONS)
    assert await reviews.allowed(ALICE, list_a, "a")
    assert await reviews.allowed(ALICE, list_a, "a")
    assert len(rbac.asked) == 3
    assert not any("secret-token" in repr(key) for key in reviews.cache.entries)

    now[0] += REVIEW_TTL  # a revoked grant is noticed within the TTL
    rbac.grants.clear()
    assert not await reviews.allowed(ALICE, list_a, "a")
    assert len(rbac.asked) == 4


def test_the_cache_stays_within_its_limit() -> None:
    cache = TtlCache(ttl=10, limit=3)
    for i in range(3):
        cache.put(i, i, now=0.0)
    cache.put("late", 1, now=20.0)  # the old ones have expired: dropped, not the new one
    assert list(cache.entries) == ["late"]
    for i in range(5):
        cache.put(i, i, now=20.0)
    assert len(cache.entries) <= 3
    assert cache.get(4, now=20.0) == (True, 4)


async def test_visible_namespaces() -> None:
    tenant = Tenant(ALICE, Reviews(Rbac(EDIT), clock=lambda: 0.0))
    assert await visible(tenant, ["a", "b", "a"]) == {"a"}
    assert await visible(ADMIN, ["a", "b"]) == {"a", "b"}
