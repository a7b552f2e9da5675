"""Versions over the in-memory port: publishing, marking what is referenced, scaling an
unreferenced version to zero once, and deleting it after the retention. The clock is passed in.

The same against a real control plane and operator is in test_releases.py.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tests.controller.memory_kube import MemoryKube, Obj
from wisp.api.names import PUBLISH_ANNOTATION
from wisp.api.version import snapshot, version_manifest
from wisp.controller.releases import Releases, plan_versions
from wisp.controller.settings import OperatorSettings
from wisp.controller.sync import FunctionSync

NS = "ns"
T0 = datetime.datetime(2026, 12, 4, 12, 0, tzinfo=datetime.UTC)
SPEC = {
    "runtime": "python3.12",
    "handler": "main.handler",
    "code": {"inline": "def handler(e, c):\n  return 1\n"},
    "scale": {"min": 1, "max": 3, "idleTimeout": "30s"},
}
RETENTION = 3600.0


def function(**spec: Any) -> Obj:
    return {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": "hello", "namespace": NS, "uid": "fn-uid", "generation": 1},
        "spec": {**SPEC, **spec},
    }


def version(number: int, **status: Any) -> Obj:
    obj = version_manifest(function(), number, snapshot({**SPEC, "code": {"inline": f"v{number}"}}))
    obj["metadata"]["uid"] = f"v{number}-uid"
    obj["status"] = status
    return obj


def at(seconds: float) -> datetime.datetime:
    return T0 + datetime.timedelta(seconds=seconds)


def stamp(seconds: float) -> str:
    return at(seconds).strftime("%Y-%m-%dT%H:%M:%SZ")


UNREF = {"referenced": False, "unreferencedSince": stamp(0)}
PARKED = {**UNREF, "parked": True}


@pytest.mark.parametrize(
    ("case", "status", "referenced", "now", "mark", "idle", "delete"),
    [
        ("new and referenced", {}, True, 0, {"referenced": True}, False, False),
        ("new, nothing points at it", {}, False, 0, UNREF, False, False),
        ("referenced again", UNREF, True, 10, {"referenced": True}, False, False),
        ("unreferenced, within idle", UNREF, False, 29, None, False, False),
        ("unreferenced, past idle", UNREF, False, 30, None, True, False),
        ("parked already", PARKED, False, 60, None, False, False),
        ("past retention", PARKED, False, RETENTION, None, False, True),
    ],
)  # fmt: skip
def test_plan(
    case: str, status: dict[str, Any], referenced: bool, now: float, mark: Any, idle: bool, delete: bool
) -> None:
    versions = [version(1, **status), version(2, referenced=True)]
    plan = plan_versions(versions, frozenset({1, 2} if referenced else {2}), at(now), RETENTION)
    got = plan.marks.get("hello-v1")
    if mark is None:
        assert got is None, case
    else:
        assert got is not None and {k: got[k] for k in mark} == mark, case
    assert ("hello-v1" in plan.idle) is idle, case
    assert ("hello-v1" in plan.delete) is delete, case
    assert plan.latest == 2


def test_the_newest_version_is_never_deleted() -> None:
    old = {"referenced": False, "unreferencedSince": stamp(0), "parked": True}
    plan = plan_versions([version(1, **old), version(2, **old)], frozenset(), at(RETENTION * 2), RETENTION)
    assert plan.delete == ("hello-v1",)


def releases(kube: MemoryKube) -> Releases:
    return Releases(kube, FunctionSync(kube, OperatorSettings()), RETENTION)


def test_publish_numbers_versions_and_skips_an_unchanged_snapshot() -> None:
    kube = MemoryKube().add(function(publish=True))
    r = releases(kube)
    r.reconcile(function(publish=True), (), T0)
    assert kube.get("FunctionVersion", NS, "hello-v1") is not None
    assert kube.get("Function", NS, "hello")["status"]["latestVersion"] == 1  # type: ignore[index]
    # rendered as a function of its own: its Deployment, owned by the version
    deployment = kube.get("Deployment", NS, "hello-v1")
    assert deployment is not None
    assert deployment["metadata"]["ownerReferences"][0]["kind"] == "FunctionVersion"
    r.reconcile(function(publish=True), (), T0)
    assert kube.get("FunctionVersion", NS, "hello-v2") is None
    changed = function(publish=True, code={"inline": "def handler(e, c):\n  return 2\n"})
    r.reconcile(changed, (), T0)
    v2 = kube.get("FunctionVersion", NS, "hello-v2")
    assert v2 is not None and "return 2" in v2["spec"]["template"]["code"]["inline"]
    assert "publish" not in v2["spec"]["template"]


def test_a_publish_request_is_answered_once() -> None:
    asked = function()
    asked["metadata"]["annotations"] = {PUBLISH_ANNOTATION: "r1"}
    kube = MemoryKube().add(asked)
    releases(kube).reconcile(asked, (), T0)
    status = kube.get("Function", NS, "hello")["status"]  # type: ignore[index]
    assert status == {"publishRequest": "r1", "latestVersion": 1}
    asked["status"] = status
    releases(kube).reconcile(asked, (), T0)
    assert kube.get("FunctionVersion", NS, "hello-v2") is None


def test_a_configmap_referenced_code_is_copied_into_the_version() -> None:
    fn = function(publish=True, code={"configMapRef": {"name": "src"}})
    kube = (
        MemoryKube()
        .add(fn)
        .add({"kind": "ConfigMap", "metadata": {"name": "src", "namespace": NS}, "data": {"main.py": "A"}})
    )
    releases(kube).reconcile(fn, (), T0)
    v1 = kube.get("FunctionVersion", NS, "hello-v1")
    assert v1 is not None and v1["spec"]["template"]["code"] == {"files": {"main.py": "A"}}


def test_an_unreferenced_version_renders_with_min_zero_and_is_scaled_to_zero_once() -> None:
    aliased = function(aliases={"prod": {"version": 2}})
    kube = MemoryKube().add(aliased).add(version(1)).add(version(2))
    r = releases(kube)
    r.reconcile(aliased, ("1",), T0)  # a Trigger calls version 1
    assert kube.get("Deployment", NS, "hello-v1")["spec"]["replicas"] == 1  # type: ignore[index]
    r.reconcile(aliased, (), at(1))  # the Trigger is gone
    v1 = kube.get("FunctionVersion", NS, "hello-v1")
    assert v1 is not None and v1["status"]["referenced"] is False
    r.reconcile(aliased, (), at(40))
    assert kube.get("Deployment", NS, "hello-v1")["spec"]["replicas"] == 0  # type: ignore[index]
    assert kube.get("Deployment", NS, "hello-v2")["spec"]["replicas"] == 1  # type: ignore[index]
    scales = kube.count("scale")
    r.reconcile(aliased, (), at(80))
    assert kube.count("scale") == scales  # parked: not scaled again
    r.reconcile(aliased, (), at(RETENTION + 2))
    assert kube.get("FunctionVersion", NS, "hello-v1") is None
    assert kube.get("FunctionVersion", NS, "hello-v2") is not None
