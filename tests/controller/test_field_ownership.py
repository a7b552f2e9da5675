"""What a child's create owned goes to the operator's applies (all but the replicas), so that a
later apply that leaves a field out removes it (``wisp.controller.kube.handed_over``)."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from wisp.controller.kube import CREATE_MANAGER, FIELD_MANAGER, MERGE, KubeApi, handed_over

T = "2026-12-05T12:00:00Z"


def env(*names: str) -> dict[str, Any]:
    """The fields of a Deployment's function container's variables ``names``."""
    variables = {f'k:{{"name":"{n}"}}': {} for n in names}
    return {"f:template": {"f:spec": {"f:containers": {'k:{"name":"function"}': {"f:env": variables}}}}}


def entry(manager: str, operation: str, fields: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "apiVersion": "apps/v1", "time": T,
            "fieldsType": "FieldsV1", "fieldsV1": fields, **extra}  # fmt: skip


CREATED = {"f:spec": {"f:replicas": {}, **env("A")}}
WITHOUT_REPLICAS = {"f:spec": env("A")}
B = {"f:spec": env("B")}
BOTH = {"f:spec": env("A", "B")}
GATEWAY = entry("wisp-gateway", "Update", {"f:spec": {"f:replicas": {}}}, subresource="scale")


@pytest.mark.parametrize(
    ("entries", "after"),
    [
        ([], None),
        ([entry(FIELD_MANAGER, "Apply", B)], None),
        ([entry(CREATE_MANAGER, "Update", CREATED)], [entry(FIELD_MANAGER, "Apply", WITHOUT_REPLICAS)]),
        (
            [entry(CREATE_MANAGER, "Update", CREATED), entry(FIELD_MANAGER, "Apply", B), GATEWAY],
            [entry(FIELD_MANAGER, "Apply", BOTH), GATEWAY],
        ),
        (
            [entry(CREATE_MANAGER, "Update", {"f:status": {}}, subresource="status")],
            None,
        ),
    ],
    ids=["nothing", "applied only", "created only", "created, applied and scaled", "a status write"],
)
def test_the_creates_fields_go_to_the_applies_but_the_replicas(
    entries: list[dict[str, Any]], after: list[dict[str, Any]] | None
) -> None:
    assert handed_over(entries) == after


def test_the_entries_given_are_left_as_they_were() -> None:
    entries = [entry(CREATE_MANAGER, "Update", CREATED), entry(FIELD_MANAGER, "Apply", B)]
    handed_over(entries)
    assert entries == [entry(CREATE_MANAGER, "Update", CREATED), entry(FIELD_MANAGER, "Apply", B)]


@pytest.mark.cluster
@pytest.mark.parametrize("created_by", ["operator", "an older operator"])
def test_a_created_childs_fields_are_handed_over_at_its_first_apply(
    kube_api: client.ApiClient, namespace: str, created_by: str
) -> None:
    """A ConfigMap's create is one write, its manager owning the files; the operator's first apply
    hands them over and takes out the file it leaves out. The same for one an older operator
    created (its create's manager likewise)."""
    api = KubeApi(kube_api)
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "code", "namespace": namespace},
        "data": {"main.py": "x", "old.txt": "y"},
    }
    if created_by == "operator":
        created = api.create(manifest)
        assert {m["manager"] for m in created["metadata"]["managedFields"]} == {CREATE_MANAGER}
    else:
        body = {"metadata": {"name": "code"}, "data": manifest["data"]}
        client.CoreV1Api(kube_api).create_namespaced_config_map(namespace, body, field_manager=CREATE_MANAGER)
    applied = api.apply({**manifest, "data": {"main.py": "x"}})
    assert applied["data"] == {"main.py": "x"}
    managers = {(m["manager"], m["operation"]) for m in applied["metadata"]["managedFields"]}
    assert managers == {(FIELD_MANAGER, "Apply")}


def deployment(namespace: str, env: list[dict[str, str]], replicas: int | None = None) -> dict[str, Any]:
    container = {"name": "function", "image": "wisp/runtime-python:3.14", "env": env}
    spec: dict[str, Any] = {
        "selector": {"matchLabels": {"app": "d"}},
        "template": {"metadata": {"labels": {"app": "d"}}, "spec": {"containers": [container]}},
    }
    if replicas is not None:
        spec["replicas"] = replicas
    meta = {"name": "d", "namespace": namespace}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta, "spec": spec}


@pytest.mark.cluster
def test_a_created_deployment_keeps_its_replicas_and_loses_a_variable_left_out(
    kube_api: client.ApiClient, namespace: str
) -> None:
    api = KubeApi(kube_api)
    a, b = {"name": "A", "value": "1"}, {"name": "B", "value": "2"}
    api.create(deployment(namespace, [a, b], replicas=0))
    applied = api.apply(deployment(namespace, [a]))
    assert applied["spec"]["replicas"] == 0  # not defaulted to 1: the applies never owned it
    assert applied["spec"]["template"]["spec"]["containers"][0]["env"] == [a]


@pytest.mark.cluster
def test_a_deployment_written_between_the_apply_and_the_hand_over_still_loses_the_variable(
    kube_api: client.ApiClient, namespace: str
) -> None:
    """kube-controller-manager writes a Deployment's status as soon as an apply changes its
    template, often before the hand-over's patch (which holds the applied resourceVersion) reaches
    the API. The refused patch is tried again on the object read anew, and the variable left out
    goes; the status write's own entry stays."""
    api = KubeApi(kube_api)
    apps = client.AppsV1Api(kube_api)
    a, b = {"name": "A", "value": "1"}, {"name": "B", "value": "2"}
    api.create(deployment(namespace, [a, b], replicas=0))
    patch = api.apps.patch_namespaced_deployment
    hand_overs: list[int] = []

    def written_meanwhile(name: str, ns: str, body: Any, **kwargs: Any) -> Any:
        if kwargs.get("_content_type") == MERGE and not hand_overs:
            status = {"status": {"observedGeneration": 99}}
            apps.patch_namespaced_deployment_status(name, ns, status, field_manager="a-controller")
        if kwargs.get("_content_type") == MERGE:
            hand_overs.append(1)
        return patch(name, ns, body, **kwargs)

    api.apps.patch_namespaced_deployment = written_meanwhile  # type: ignore[method-assign]
    applied = api.apply(deployment(namespace, [a]))
    assert len(hand_overs) == 2  # refused once (409), then handed over
    assert applied["spec"]["template"]["spec"]["containers"][0]["env"] == [a]
    assert applied["spec"]["replicas"] == 0
    managers = {(m["manager"], m.get("subresource")) for m in applied["metadata"]["managedFields"]}
    assert managers == {(FIELD_MANAGER, None), ("a-controller", "status")}
