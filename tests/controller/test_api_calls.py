"""What a reconcile asks of the API, counted over the in-memory port: a bulk apply of thousands
of Functions is bounded by the operator's round trips, so a new Function's first reconcile only
creates (no reads of children that cannot exist yet, nothing to retire, no pods to list, no
versions to look for), and the namespace's default account is read once a resync period."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import pytest

from tests.controller.memory_kube import MemoryKube, Obj
from wisp.controller.reconcile import SeenRecently
from wisp.controller.releases import Releases
from wisp.controller.settings import OperatorSettings
from wisp.controller.sync import FunctionSync
from wisp.resources.identity import make_default_service_account

NS = "ns"
SPEC = {
    "runtime": "python3.12",
    "handler": "main.handler",
    "code": {"inline": "def handler(e, c):\n  return 1\n"},
}


def function(name: str, **status: Any) -> Obj:
    body: Obj = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": name, "namespace": NS, "uid": f"{name}-uid", "generation": 1},
        "spec": dict(SPEC),
    }
    if status:
        body["status"] = status
    return body


def calls(kube: MemoryKube) -> list[tuple[str, str]]:
    return [(c.verb, c.kind) for c in kube.calls]


def test_a_new_functions_first_reconcile_only_creates_and_writes_its_status() -> None:
    kube = MemoryKube().add(make_default_service_account(NS))
    sync = FunctionSync(kube, OperatorSettings())
    for name in ("a", "b"):
        kube.add(function(name))
        sync.sync_function(function(name))
    rest = [
        ("create", "Deployment"),
        ("create", "Service"),
        ("patch_status", "Function"),
        ("event", "Function"),  # one Event: Deployed, naming the three creates
    ]
    # the namespace's account is read for the first Function only
    first = [("create", "ConfigMap"), ("read", "ServiceAccount"), *rest]
    assert calls(kube) == [*first, ("create", "ConfigMap"), *rest]


def test_a_function_reconciled_before_is_read_and_only_what_differs_is_applied() -> None:
    kube = MemoryKube().add(make_default_service_account(NS))
    sync = FunctionSync(kube, OperatorSettings())
    kube.add(function("a"))
    sync.sync_function(function("a"))
    stored = kube.get("Function", NS, "a")
    assert stored is not None and stored["status"]["observedGeneration"] == 1

    def writes() -> list[tuple[str, str]]:
        kube.calls.clear()
        sync.sync_function(copy.deepcopy(stored))
        return [c for c in calls(kube) if c[0] in ("create", "apply")]

    # Settled: the children are read, none is written.
    assert writes() == []
    # what an earlier spec may have made is looked for, and the pods' troubles are listed
    assert {
        ("read", "Role"),
        ("read", "RoleBinding"),
        ("read", "NetworkPolicy"),
        ("list_pods", "Pod"),
    } <= set(calls(kube))
    # Someone edits a field the operator owns, or takes one out: that child is applied again.
    deployment = kube.get("Deployment", NS, "a")
    assert deployment is not None
    deployment["spec"]["template"]["spec"]["containers"][0]["image"] = "someone/else:1"
    service = kube.get("Service", NS, "a")
    assert service is not None
    del service["metadata"]["labels"]
    assert writes() == [("apply", "Deployment"), ("apply", "Service")]
    assert writes() == []
    # A field the operator does not own is left alone, and costs no write.
    deployment = kube.get("Deployment", NS, "a")
    assert deployment is not None
    deployment["metadata"]["labels"]["team"] = "payments"
    assert writes() == []
    # A new spec changes the manifests: their children are applied.
    stored["spec"]["code"] = {"inline": "def handler(e, c):\n  return 2\n"}
    stored["metadata"]["generation"] = 2
    assert writes() == [("apply", "ConfigMap"), ("apply", "Deployment")]


@pytest.mark.parametrize(
    ("status", "spec", "listed"),
    [
        ({}, {}, False),
        ({"latestVersion": 2}, {}, True),
        ({}, {"publish": True}, True),
        ({}, {"aliases": {"live": "1"}}, True),
    ],
)
def test_versions_are_listed_only_for_a_function_that_may_have_them(
    status: dict[str, Any], spec: dict[str, Any], listed: bool
) -> None:
    body = function("a", observedGeneration=1, **status)
    body["spec"].update(spec)
    kube = MemoryKube().add(body)
    Releases(kube, FunctionSync(kube, OperatorSettings()), 3600.0).reconcile(body, (), _NOW)
    assert (kube.count("list", "FunctionVersion") > 0) == listed


def test_versions_are_listed_for_a_function_a_trigger_calls_by_qualifier() -> None:
    body = function("a", observedGeneration=1)
    kube = MemoryKube().add(body)
    Releases(kube, FunctionSync(kube, OperatorSettings()), 3600.0).reconcile(body, ("live",), _NOW)
    assert kube.count("list", "FunctionVersion") == 1


@pytest.mark.parametrize(
    ("seen_at", "now", "known"),
    [(None, 0.0, False), (0.0, 59.9, True), (0.0, 60.0, False), (10.0, 5.0, True)],
)
def test_seen_recently(seen_at: float | None, now: float, known: bool) -> None:
    clock = [0.0]
    seen = SeenRecently(ttl=60.0, clock=lambda: clock[0])
    if seen_at is not None:
        clock[0] = seen_at
        seen.add(NS)
    clock[0] = now
    assert (NS in seen) == known


_NOW = datetime.datetime(2026, 12, 5, tzinfo=datetime.UTC)


def test_deployment_events_saying_nothing_new_cost_no_call_though_the_cache_lags() -> None:
    """The cached Function may not show the status written a moment ago: a Deployment event
    whose status would say the same again is dropped, without a read or a refused write."""
    kube = MemoryKube().add(make_default_service_account(NS))
    sync = FunctionSync(kube, OperatorSettings())
    body = function("a")
    body["metadata"]["resourceVersion"] = "1"
    kube.add(body)
    sync.sync_function(copy.deepcopy(body))
    deployment = kube.get("Deployment", NS, "a")
    assert deployment is not None
    uid = deployment["metadata"]["uid"]
    assert sync.state.applied_generation[uid] == 1
    kube.calls.clear()
    deployment["status"] = {"observedGeneration": 1}  # the Deployment controller caught up
    stale = copy.deepcopy(body)  # the cache, before the status write came back
    sync.on_deployment(stale, deployment, deleted=False)
    sync.on_deployment(stale, deployment, deleted=False)
    assert kube.calls == []
    deployment["spec"]["replicas"] = 1  # scaled up: the status says something new
    sync.on_deployment(stale, deployment, deleted=False)
    assert [c.verb for c in kube.calls] == ["conflict", "get", "patch_status"]


def test_the_resync_skips_a_function_reconciled_since_its_last_visit() -> None:
    kube = MemoryKube().add(make_default_service_account(NS))
    sync = FunctionSync(kube, OperatorSettings())
    kube.add(function("a"))
    sync.sync_function(function("a"))  # its create event
    assert sync.resync_function(function("a")) is False  # a bulk apply: nothing to heal yet
    assert sync.resync_function(function("a")) is True  # the next visit reconciles
    assert sync.resync_function(function("a")) is True  # ... and every one after, if nothing else did
    assert sync.state.reconciled == set()


@pytest.mark.parametrize("function_is", ["being deleted", "gone"])
def test_a_deployment_deleted_under_a_function_going_away_is_not_created_again(function_is: str) -> None:
    """The garbage collector deletes a deleted Function's children; creating them again would keep
    a foreground deletion waiting (and leave pods behind a background one)."""
    kube = MemoryKube().add(make_default_service_account(NS))
    sync = FunctionSync(kube, OperatorSettings())
    body = function("a")
    kube.add(body)
    sync.sync_function(copy.deepcopy(body))
    deployment = kube.get("Deployment", NS, "a")
    assert deployment is not None
    cached = copy.deepcopy(body)
    if function_is == "gone":
        kube.delete("Function", NS, "a")
    else:
        stored = kube.get("Function", NS, "a")
        assert stored is not None
        stored["metadata"]["deletionTimestamp"] = "2026-12-05T01:08:06Z"
        cached = copy.deepcopy(stored)
    kube.delete("Deployment", NS, "a")
    kube.calls.clear()
    sync.on_deployment(cached, deployment, deleted=True)
    assert [c for c in calls(kube) if c[0] == "create"] == []
    assert kube.get("Deployment", NS, "a") is None
