"""Reconcile and sync as tables over an in-memory Kubernetes port: each row says what exists,
what fails, and which reads, writes and status follow. No API server: seconds, not minutes.

The same behaviour against a real control plane is in test_operator.py.
"""

from __future__ import annotations

import copy
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from tests.controller.memory_kube import Call, MemoryKube, Obj
from wisp.api.function import parse_function
from wisp.controller.reconcile import contains
from wisp.controller.settings import OperatorSettings
from wisp.controller.sync import FunctionSync
from wisp.resources import make_code_configmap, make_deployment, make_service
from wisp.resources.identity import make_default_service_account

NS = "ns"
UID = "fn-uid"
INLINE = {
    "runtime": "python3.12",
    "handler": "main.handler",
    "code": {"inline": "def handler(e, c):\n  return 1\n"},
}


def function(generation: int = 1, *, first: bool = False, **spec: Any) -> Obj:
    """The Function as the API has it; reconciled before (its status says so) unless ``first``."""
    body = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": "hello", "namespace": NS, "uid": UID, "generation": generation},
        "spec": {**INLINE, **spec},
    }
    if not first:
        body["status"] = {"observedGeneration": generation}
    return body


def with_cluster_ip(obj: Obj, ip: str = "10.96.0.17") -> Obj:
    """A Service as an older wisp made it: with a cluster IP the API allocated."""
    obj["spec"].pop("clusterIP", None)
    obj["spec"]["clusterIP"] = ip
    return obj


def built(kind: str, replicas: int | None = None, owner: str = UID, **spec: Any) -> Obj:
    """A child as wisp builds it (from a Function with ``spec``), as if created earlier."""
    fn = parse_function(function(**spec))
    obj = {
        "ConfigMap": lambda: make_code_configmap(fn),
        "Deployment": lambda: make_deployment(fn, replicas=replicas),
        "Service": lambda: make_service(fn),
    }[kind]()
    assert obj is not None
    obj = copy.deepcopy(obj)
    obj["metadata"]["ownerReferences"][0]["uid"] = owner
    obj["metadata"]["uid"] = f"{kind.lower()}-uid"
    obj["metadata"]["generation"] = 1
    return obj


def with_bounds(obj: Obj, bounds: str) -> Obj:
    obj["metadata"]["annotations"]["wisp.dev/scale-bounds"] = bounds
    return obj


def user_configmap(**data: str) -> Obj:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "user-code", "namespace": NS},
        "data": data,
    }


ALL_IN_PLACE = (built("ConfigMap"), built("Deployment", replicas=2), built("Service"))
CREATE_ALL = [
    ("create", "ConfigMap", "hello-code"),
    ("create", "Deployment", "hello"),
    ("create", "Service", "hello"),
]
APPLY_ALL = [
    ("apply", "ConfigMap", "hello-code"),
    ("apply", "Deployment", "hello"),
    ("apply", "Service", "hello"),
]


@dataclass(frozen=True)
class Row:
    name: str
    spec: dict[str, Any] = field(default_factory=dict)
    objects: tuple[Obj, ...] = ()
    induce: tuple[tuple[str, str, int], ...] = ()  # (verb, kind, HTTP status)
    want_writes: list[tuple[str, str, str]] = field(default_factory=list)
    want_deployed: tuple[str, str] = ("True", "Deployed")
    want_ready: tuple[str, str] | None = None
    want_deployment_reads: int = 1
    want_replicas: int | None = None  # the live Deployment's spec.replicas afterwards
    first: bool = False  # the Function's first reconcile: its status has no observedGeneration


ROWS = [
    Row(
        "new Function: every child created without a read first, replicas only on the create",
        want_writes=CREATE_ALL,
        want_ready=("True", "ScaledToZero"),
        want_replicas=0,
        first=True,
        want_deployment_reads=0,
    ),
    Row(
        "new Function with scale.min: created at min",
        spec={"scale": {"min": 2}},
        want_writes=CREATE_ALL,
        want_replicas=2,
        first=True,
        want_deployment_reads=0,
    ),
    Row(
        "new Function pinned: created at spec.replicas",
        spec={"replicas": 3, "scale": {"min": 1}},
        want_writes=CREATE_ALL,
        want_replicas=3,
        first=True,
        want_deployment_reads=0,
    ),
    Row(
        "first reconcile, the children already there (one before did not finish): read, applied",
        objects=ALL_IN_PLACE,
        want_writes=[
            ("create", "ConfigMap", "hello-code"),
            ("apply", "ConfigMap", "hello-code"),
            ("create", "Deployment", "hello"),
            ("apply", "Deployment", "hello"),
            ("create", "Service", "hello"),
            ("apply", "Service", "hello"),
        ],
        want_replicas=2,
        first=True,
    ),
    Row(
        "first reconcile, a child someone else made: refused, not touched",
        objects=(built("ConfigMap"), built("Deployment", owner="someone-else")),
        want_writes=[
            ("create", "ConfigMap", "hello-code"),
            ("apply", "ConfigMap", "hello-code"),
            ("create", "Deployment", "hello"),
        ],
        want_deployed=("False", "NotOwned"),
        first=True,
        want_deployment_reads=2,
    ),
    Row(
        "everything in place: applied (no-op), replicas left to the autoscaler",
        objects=ALL_IN_PLACE,
        want_writes=APPLY_ALL,
        want_replicas=2,
    ),
    Row(
        "Deployment deleted by hand: created again, the rest applied",
        objects=(built("ConfigMap"), built("Service")),
        want_writes=[
            ("apply", "ConfigMap", "hello-code"),
            ("create", "Deployment", "hello"),
            ("apply", "Service", "hello"),
        ],
    ),
    Row(
        "Deployment owned by someone else: refused, reported, not touched",
        objects=(built("ConfigMap"), built("Deployment", replicas=1, owner="other")),
        want_writes=[("apply", "ConfigMap", "hello-code")],
        want_deployed=("False", "NotOwned"),
    ),
    Row(
        "Service owned by someone else: refused after the Deployment",
        objects=(built("Service", owner="other"),),
        want_writes=[("create", "ConfigMap", "hello-code"), ("create", "Deployment", "hello")],
        want_deployed=("False", "NotOwned"),
    ),
    Row(
        "a Service with a cluster IP (made by an older wisp): replaced by a headless one, once",
        objects=(built("ConfigMap"), built("Deployment", replicas=1), with_cluster_ip(built("Service"))),
        want_writes=[
            ("apply", "ConfigMap", "hello-code"),
            ("apply", "Deployment", "hello"),
            ("delete", "Service", "hello"),
            ("create", "Service", "hello"),
        ],
    ),
    Row(
        "a Service with a cluster IP someone else owns: refused, not deleted",
        objects=(
            built("ConfigMap"),
            built("Deployment", replicas=1),
            with_cluster_ip(built("Service", owner="x")),
        ),
        want_writes=[("apply", "ConfigMap", "hello-code"), ("apply", "Deployment", "hello")],
        want_deployed=("False", "NotOwned"),
    ),
    Row(
        "code moved to an image: our ConfigMap deleted",
        spec={"code": {"image": "example/hello:1"}},
        objects=(built("ConfigMap"),),
        want_writes=[
            ("delete", "ConfigMap", "hello-code"),
            ("create", "Deployment", "hello"),
            ("create", "Service", "hello"),
        ],
    ),
    Row(
        "code moved to an image: a ConfigMap we do not own is left alone",
        spec={"code": {"image": "example/hello:1"}},
        objects=(built("ConfigMap", owner="other"),),
        want_writes=[("create", "Deployment", "hello"), ("create", "Service", "hello")],
    ),
    Row(
        "configMapRef that does not exist: reported, nothing written",
        spec={"code": {"configMapRef": {"name": "user-code"}}},
        want_deployed=("False", "ConfigMapNotFound"),
    ),
    Row(
        "configMapRef that exists: its files feed the Deployment",
        spec={"code": {"configMapRef": {"name": "user-code"}}},
        objects=(user_configmap(**{"main.py": "x", "requirements.txt": "requests"}),),
        want_writes=[("create", "Deployment", "hello"), ("create", "Service", "hello")],
    ),
    Row(
        "code too large for a ConfigMap: InvalidSpec, nothing read or written",
        spec={"code": {"files": {"main.py": "x" * (1024 * 1024)}}},
        want_deployed=("False", "InvalidSpec"),
        want_deployment_reads=0,
    ),
    Row(
        "spec the parser refuses: InvalidSpec, nothing read or written",
        spec={"memory": "1Mi"},
        want_deployed=("False", "InvalidSpec"),
        want_deployment_reads=0,
    ),
    Row(
        "scale.max lowered below the current replicas: clamped once",
        spec={"scale": {"max": 3}},
        objects=(built("ConfigMap"), with_bounds(built("Deployment", replicas=8), "0-20"), built("Service")),
        want_writes=[
            ("apply", "ConfigMap", "hello-code"),
            ("scale", "Deployment", "hello"),
            ("apply", "Deployment", "hello"),
            ("apply", "Service", "hello"),
        ],
        want_replicas=3,
    ),
    Row(
        "bounds changed but the replicas fit: not scaled",
        spec={"scale": {"max": 30}},
        objects=(built("ConfigMap"), with_bounds(built("Deployment", replicas=8), "0-20"), built("Service")),
        want_writes=APPLY_ALL,
        want_replicas=8,
    ),
    Row(
        "pinned replicas: scaled to them",
        spec={"replicas": 4},
        objects=(built("ConfigMap"), with_bounds(built("Deployment", replicas=1), "0-20"), built("Service")),
        want_writes=[
            ("apply", "ConfigMap", "hello-code"),
            ("scale", "Deployment", "hello"),
            ("apply", "Deployment", "hello"),
            ("apply", "Service", "hello"),
        ],
        want_replicas=4,
    ),
    Row(
        "the API refuses the Deployment (422): Invalid, in status",
        induce=(("create", "Deployment", 422),),
        want_writes=[("create", "ConfigMap", "hello-code"), ("create", "Deployment", "hello")],
        want_deployed=("False", "Invalid"),
    ),
    Row(
        "a ResourceQuota refuses the Service (403): Forbidden, in status",
        induce=(("create", "Service", 403),),
        want_writes=CREATE_ALL,
        want_deployed=("False", "Forbidden"),
    ),
    Row(
        "a conflict applying the ConfigMap (409): Conflict, nothing after it written",
        objects=ALL_IN_PLACE,
        induce=(("apply", "ConfigMap", 409),),
        want_writes=[("apply", "ConfigMap", "hello-code")],
        want_deployed=("False", "Conflict"),
        want_deployment_reads=0,
    ),
    Row(
        "the API server fails (500): ServerError, in status",
        objects=ALL_IN_PLACE,
        induce=(("apply", "Service", 500),),
        want_writes=APPLY_ALL,
        want_deployed=("False", "ServerError"),
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_sync_function(row: Row) -> None:
    kube = MemoryKube().add(make_default_service_account(NS))  # as after the namespace's first Function
    for obj in row.objects:
        kube.add(obj)
    for verb, kind, code in row.induce:
        kube.fail(verb, kind, code)
    body = function(first=row.first, **row.spec)
    kube.add(body)

    FunctionSync(kube, OperatorSettings()).sync_function(copy.deepcopy(body))

    assert kube.writes() == row.want_writes
    assert kube.count("read", "Deployment") == row.want_deployment_reads
    (status,) = kube.statuses()
    conditions = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert conditions["Deployed"] == row.want_deployed
    if row.want_ready is not None:
        assert conditions["Ready"] == row.want_ready
    assert status["observedGeneration"] == 1
    assert status["url"] == "http://wisp-gateway.wisp-system.svc.cluster.local/function/hello.ns"
    if row.want_replicas is not None:
        live = kube.get("Deployment", NS, "hello")
        assert live is not None and live["spec"]["replicas"] == row.want_replicas


def test_creates_carry_replicas_and_applies_never_do() -> None:
    kube = MemoryKube().add(function())
    sync = FunctionSync(kube, OperatorSettings())
    sync.sync_function(function())
    live = kube.get("Deployment", NS, "hello")
    assert live is not None
    live["spec"]["template"]["spec"]["containers"][0]["image"] = "someone/else:1"  # drift: applied again
    sync.sync_function(function())
    deployment_writes = [c for c in kube.calls if c.kind == "Deployment" and c.verb in ("create", "apply")]
    assert [c.verb for c in deployment_writes] == ["create", "apply"]
    create, apply = (c.detail for c in deployment_writes)
    assert create["spec"]["replicas"] == 0 and "replicas" not in apply["spec"]
    assert {**create, "spec": {k: v for k, v in create["spec"].items() if k != "replicas"}} == apply


def test_dependencies_in_a_referenced_configmap_add_the_install_step() -> None:
    kube = MemoryKube().add(user_configmap(**{"main.py": "x", "requirements.txt": "requests"}))
    body = function(code={"configMapRef": {"name": "user-code"}})
    FunctionSync(kube, OperatorSettings()).sync_function(body)
    (create,) = [c.detail for c in kube.calls if c.verb == "create" and c.kind == "Deployment"]
    assert [c["name"] for c in create["spec"]["template"]["spec"]["initContainers"]] == [
        "install-dependencies"
    ]


def test_a_create_race_lost_is_an_update() -> None:
    """Another replica created the Deployment between our read and our create (409)."""
    kube = MemoryKube().add(make_default_service_account(NS))
    real_create = kube.create

    def racing_create(manifest: Any) -> Obj:
        if manifest["kind"] == "Deployment":
            kube.add(built("Deployment", replicas=1))
        return real_create(manifest)

    kube.create = racing_create  # type: ignore[method-assign]
    FunctionSync(kube, OperatorSettings()).sync_function(function())
    assert kube.writes() == [
        ("create", "ConfigMap", "hello-code"),
        ("create", "Deployment", "hello"),
        ("apply", "Deployment", "hello"),
        ("create", "Service", "hello"),
    ]
    assert kube.count("read", "Deployment") == 2  # the second read is the race's


def refused(status: int, message: str) -> ApiException:
    exc = ApiException(status=status, reason="Forbidden")
    exc.body = json.dumps({"kind": "Status", "message": message})
    return exc


QUOTA = (
    'services "hello" is forbidden: exceeded quota: q, '
    "requested: services=1, used: services=0, limited: services=0"
)


def stored(kube: MemoryKube) -> Obj:
    """The Function as the API has it now (with the status the operator wrote)."""
    found = kube.get("Function", NS, "hello")
    assert found is not None
    return copy.deepcopy(found)


class RefusingKube(MemoryKube):
    """Refuses every Service create with the API's own Status body, until ``refusing`` is False."""

    refusing = True

    def create(self, manifest: Any) -> Obj:
        if manifest["kind"] == "Service" and self.refusing:
            self.calls.append(Call("create", "Service", manifest["metadata"]["name"]))
            raise refused(403, QUOTA)
        return super().create(manifest)


def test_a_refusal_quotes_the_api_and_backs_off_exponentially_to_a_cap() -> None:
    kube = RefusingKube()
    kube.add(function())
    sync = FunctionSync(kube, OperatorSettings())
    delays = [sync.sync_function(stored(kube)) for _ in range(12)]
    assert delays == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300, 300]
    deployed = {c["type"]: c for c in kube.statuses()[0]["conditions"]}["Deployed"]
    assert (deployed["status"], deployed["reason"], deployed["message"]) == ("False", "Forbidden", QUOTA)
    assert len(kube.statuses()) == 1  # the same refusal again: no new status write
    warnings = [e for e in kube.events() if e.startswith("Warning")]
    assert warnings == [f"Warning Forbidden: {QUOTA}"]  # one Event, not one per attempt

    kube.refusing = False
    assert sync.sync_function(stored(kube)) is None
    assert sync.sync_function(stored(kube)) is None
    assert sync.state.refusals.current == {}
    assert {c["type"]: c["reason"] for c in kube.statuses()[-1]["conditions"]}["Deployed"] == "Deployed"


def test_a_refusal_is_logged_once_per_change_of_reason(caplog: pytest.LogCaptureFixture) -> None:
    kube = RefusingKube()
    kube.add(function())
    sync = FunctionSync(kube, OperatorSettings())
    with caplog.at_level(logging.INFO, logger="wisp.operator"):
        for _ in range(5):
            sync.sync_function(stored(kube))
        kube.refusing = False
        kube.fail("create", "Service", 500)
        sync.sync_function(stored(kube))
        sync.sync_function(stored(kube))
    lines = [r.getMessage() for r in caplog.records]
    assert [line.split(": the API refused a child ")[-1][:12] for line in lines[:2]] == [
        "(Forbidden):",
        "(ServerError",
    ]
    assert len(lines) == 3 and "reconciled after 6 refusals" in lines[2]
    assert all(r.exc_info is None for r in caplog.records)  # no tracebacks


def test_deployment_events_do_not_retry_a_refused_function() -> None:
    """The hot loop: each Deployment status change re-ran the refused reconcile at once."""
    kube = RefusingKube()
    kube.add(function())
    sync = FunctionSync(kube, OperatorSettings())
    sync.sync_function(function())
    deployment = kube.get("Deployment", NS, "hello")
    assert deployment is not None
    before = len(kube.calls)
    for generation in range(2, 30):
        deployment["metadata"]["generation"] = generation
        sync.on_deployment(function(), deployment, deleted=False)
    assert kube.calls[before:] == []


TERMINATING = (
    'deployments.apps "hello" is forbidden: unable to create new content in namespace ns '
    "because it is being terminated"
)


class TerminatingKube(MemoryKube):
    """A namespace being deleted: every create refused as kube-apiserver refuses it."""

    def create(self, manifest: Any) -> Obj:
        self.calls.append(Call("create", manifest["kind"], manifest["metadata"]["name"]))
        exc = ApiException(status=403, reason="Forbidden")
        exc.body = json.dumps(
            {
                "kind": "Status",
                "message": TERMINATING,
                "reason": "Forbidden",
                "details": {"causes": [{"reason": "NamespaceTerminating", "field": "metadata.namespace"}]},
                "code": 403,
            }
        )
        raise exc


def test_a_namespace_being_deleted_is_not_a_refusal(caplog: pytest.LogCaptureFixture) -> None:
    """Its Deployment deleted with the namespace, before the Function: the create refused is
    neither written in status, posted, retried nor logged as a denial, and the Function's later
    events ask the API nothing."""
    kube = TerminatingKube().add(make_default_service_account(NS)).add(function())
    kube.add(built("ConfigMap")).add(built("Service"))
    sync = FunctionSync(kube, OperatorSettings())
    with caplog.at_level(logging.DEBUG, logger="wisp.operator"):
        assert sync.sync_function(function()) is None
    assert ("create", "Deployment", "hello") in kube.writes()
    assert kube.statuses() == [] and kube.events() == []
    assert sync.state.refusals.current == {}
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["Function ns/hello: not reconciled, its namespace is being deleted"]

    before = len(kube.calls)
    assert sync.sync_function(function()) is None
    sync.on_deployment(function(), built("Deployment"), deleted=True)
    pod: Obj = {"kind": "Pod", "metadata": {"name": "hello-1", "namespace": NS}}
    pod["metadata"]["labels"] = {"wisp.dev/function": "hello"}
    sync.on_pod(function(), pod, deleted=True)
    assert kube.calls[before:] == []

    # A Function of that name in a namespace of that name made afresh is reconciled.
    again = function()
    again["metadata"]["uid"] = "another-uid"
    assert not sync.state.in_terminating_namespace(again)
    sync.state.forget(NS, "hello")
    assert sync.state.terminating == {}


def test_a_replaced_service_is_headless_and_the_delete_names_the_old_one() -> None:
    kube = MemoryKube().add(function())
    for obj in (built("ConfigMap"), built("Deployment", replicas=1), with_cluster_ip(built("Service"))):
        kube.add(obj)
    sync = FunctionSync(kube, OperatorSettings())
    sync.sync_function(stored(kube))
    (delete,) = [c for c in kube.calls if c.verb == "delete"]
    assert delete.detail == "service-uid"  # the precondition: only the Service we read
    live = kube.get("Service", NS, "hello")
    assert live is not None and live["spec"]["clusterIP"] == "None"
    assert any("deleted Service hello to replace it (headless now)" in e for e in kube.events())

    before = len(kube.writes())
    sync.sync_function(stored(kube))  # replaced once: the next reconcile writes nothing
    assert kube.writes()[before:] == []


def test_a_headless_service_with_a_selector_is_replaced_by_one_without() -> None:
    """An earlier operator's headless Service selected the Function's pods; taking the selector off
    in place would leave its Endpoints and EndpointSlice behind, so it is replaced, once."""
    old = built("Service")
    old["spec"]["selector"] = {"wisp.dev/function": "hello"}
    kube = MemoryKube().add(function())
    for obj in (built("ConfigMap"), built("Deployment", replicas=1), old):
        kube.add(obj)
    sync = FunctionSync(kube, OperatorSettings())
    sync.sync_function(stored(kube))
    assert kube.writes()[-2:] == [("delete", "Service", "hello"), ("create", "Service", "hello")]
    live = kube.get("Service", NS, "hello")
    assert live is not None and live["spec"]["clusterIP"] == "None" and "selector" not in live["spec"]
    assert any("deleted Service hello to replace it (headless now)" in e for e in kube.events())
    before = len(kube.writes())
    sync.sync_function(stored(kube))
    assert kube.writes()[before:] == []


def test_a_cluster_ip_setting_replaces_a_headless_service() -> None:
    kube = MemoryKube().add(function())
    for obj in ALL_IN_PLACE:
        kube.add(obj)
    FunctionSync(kube, OperatorSettings(function_cluster_ip=True)).sync_function(stored(kube))
    assert kube.writes()[-2:] == [("delete", "Service", "hello"), ("create", "Service", "hello")]
    live = kube.get("Service", NS, "hello")
    assert live is not None and "clusterIP" not in live["spec"]
    assert live["spec"]["selector"] == {"wisp.dev/function": "hello"}  # kube-proxy needs its endpoints


def test_events_once_per_action_and_per_transition() -> None:
    kube = MemoryKube().add(function())
    sync = FunctionSync(kube, OperatorSettings())
    sync.sync_function(function())
    first = kube.events()
    assert first == [  # one Event: deployed, and what the reconcile did (the namespace's account too)
        "Normal Deployed: ConfigMap, Deployment and Service are in place: created ConfigMap hello-code;"
        " created ServiceAccount wisp-function; created Deployment hello; created Service hello",
    ]
    fresh = kube.get("Function", NS, "hello")
    assert fresh is not None
    sync.sync_function(fresh)
    assert kube.events() == first  # nothing changed: no Event, no status write
    assert len(kube.statuses()) == 1


@dataclass(frozen=True)
class DeploymentRow:
    name: str
    generation_seen: int | None  # what the operator last applied; None: never
    live_generation: int
    deleted: bool = False
    want_reconcile: bool = False


DEPLOYMENT_ROWS = [
    DeploymentRow("our own apply echoed back: status only", generation_seen=1, live_generation=1),
    DeploymentRow(
        "spec edited by hand: re-applied", generation_seen=1, live_generation=2, want_reconcile=True
    ),
    DeploymentRow(
        "never applied by this process: re-applied",
        generation_seen=None,
        live_generation=1,
        want_reconcile=True,
    ),
    DeploymentRow(
        "deleted: re-created", generation_seen=1, live_generation=1, deleted=True, want_reconcile=True
    ),
]


@pytest.mark.parametrize("row", DEPLOYMENT_ROWS, ids=[r.name for r in DEPLOYMENT_ROWS])
def test_on_deployment(row: DeploymentRow) -> None:
    kube = MemoryKube().add(function())
    for obj in ALL_IN_PLACE:
        kube.add(obj)
    sync = FunctionSync(kube, OperatorSettings())
    deployment = built("Deployment", replicas=2)
    deployment["metadata"]["generation"] = row.live_generation
    deployment["status"] = {"replicas": 2, "readyReplicas": 2, "observedGeneration": row.live_generation}
    if row.generation_seen is not None:
        sync.state.applied_generation["deployment-uid"] = row.generation_seen

    sync.on_deployment(function(), deployment, deleted=row.deleted)

    assert bool(kube.writes()) == row.want_reconcile
    if not row.want_reconcile:
        (status,) = kube.statuses()
        assert status["readyReplicas"] == 2
        assert {c["type"]: c["reason"] for c in status["conditions"]}["Ready"] == "Ready"


def test_a_stuck_pod_makes_the_function_not_ready_and_recovery_clears_it() -> None:
    kube = MemoryKube().add(function())
    deployment = built("Deployment", replicas=1)
    deployment["status"] = {"replicas": 1, "readyReplicas": 0, "observedGeneration": 1}
    kube.add(deployment)
    sync = FunctionSync(kube, OperatorSettings())
    pod = {
        "kind": "Pod",
        "metadata": {"name": "hello-1", "namespace": NS, "labels": {"wisp.dev/function": "hello"}},
        "status": {
            "containerStatuses": [{"state": {"waiting": {"reason": "CrashLoopBackOff", "message": "boom"}}}]
        },
    }
    sync.on_pod(function(), pod, deleted=False)
    ready = {c["type"]: c for c in kube.statuses()[-1]["conditions"]}["Ready"]
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", "CrashLoopBackOff", "boom")

    sync.on_pod(function(), pod, deleted=False)  # the same trouble again: nothing to say
    assert len(kube.statuses()) == 1

    sync.on_pod(function(), pod, deleted=True)
    assert {c["type"]: c["reason"] for c in kube.statuses()[-1]["conditions"]}["Ready"] == "Starting"


@pytest.mark.parametrize(
    ("live", "desired", "unchanged"),
    [
        ({"a": 1, "b": 2}, {"a": 1}, True),  # a field the operator does not set: not its to change
        ({"a": 1}, {"a": 2}, False),
        ({}, {"a": 1}, False),  # taken out by someone
        ({}, {"a": [], "b": {}, "c": None}, True),  # the API leaves empty fields out
        ({"a": [1, 2]}, {"a": [1]}, False),  # an item someone added to a list the operator sets
        ({"a": [{"n": 1, "x": 0}]}, {"a": [{"n": 1}]}, True),
        ({"limits": {"cpu": "1", "memory": "1Gi"}}, {"limits": {"cpu": "1000m", "memory": "1024Mi"}}, True),
        ({"limits": {"cpu": "2"}}, {"limits": {"cpu": "1000m"}}, False),
        ({"env": [{"value": "1"}]}, {"env": [{"value": "1.0"}]}, False),  # only quantities by value
        ({"limits": {"cpu": "lots"}}, {"limits": {"cpu": "1"}}, False),
        ({"a": "1"}, {"a": 1}, False),
    ],
)
def test_a_child_is_unchanged_when_it_holds_every_field_of_the_manifest(
    live: Obj, desired: Obj, unchanged: bool
) -> None:
    assert contains(live, desired) is unchanged
