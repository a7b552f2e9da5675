"""A settled Function's reconcile writes nothing to the real API server: its children, as the
API stores them (defaults filled in, managed fields and all), hold every field of the operator's
manifests, so the resync and the child events cost reads only. A child someone edited, or a
field someone took out, is applied again and put right."""

from __future__ import annotations

import copy
import uuid
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from kubernetes import client

from wisp.api.names import APPLIED_ANNOTATION
from wisp.controller.kube import KubeApi
from wisp.controller.settings import OperatorSettings
from wisp.controller.sync import FunctionSync

pytestmark = pytest.mark.cluster


@pytest.fixture
def namespace(kube_api: client.ApiClient, crds: None) -> Iterator[str]:
    """A namespace no operator of the session watches (theirs are ``t-*``): the reconciles here
    are the test's own, and an edit stays until one of them puts it right."""
    name = f"s-{uuid.uuid4().hex[:8]}"
    core = client.CoreV1Api(kube_api)
    core.create_namespace({"metadata": {"name": name, "labels": {"wisp.dev/test": "true"}}})
    yield name
    core.delete_namespace(name, propagation_policy="Background")


class CountingKubeApi(KubeApi):
    def __init__(self, api: client.ApiClient) -> None:
        super().__init__(api)
        self.applied: list[str] = []

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        self.applied.append(manifest["kind"])
        return super().apply(manifest)


def make_function(kube_api: client.ApiClient, namespace: str, **spec: Any) -> dict[str, Any]:
    body = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": "hello", "namespace": namespace},
        "spec": {
            "runtime": "python3.12",
            "handler": "main.handler",
            "code": {"inline": "def handler(event, context):\n    return event\n"},
            "env": [{"name": "GREETING", "value": "hi"}],
            **spec,
        },
    }
    created: dict[str, Any] = client.CustomObjectsApi(kube_api).create_namespaced_custom_object(
        "wisp.dev", "v1alpha1", namespace, "functions", body
    )
    return created


def stored(kube_api: client.ApiClient, namespace: str) -> dict[str, Any]:
    found: dict[str, Any] = client.CustomObjectsApi(kube_api).get_namespaced_custom_object(
        "wisp.dev", "v1alpha1", namespace, "functions", "hello"
    )
    return found


NETWORK = {
    "egress": [{"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 5432}]}],
    "ingress": [{"from": [{"podSelector": {"matchLabels": {"app": "batch"}}}]}],
}


@pytest.mark.parametrize("spec", [{}, {"network": NETWORK}], ids=["plain", "network-policy"])
def test_a_settled_function_is_reconciled_with_reads_only(
    kube_api: client.ApiClient, namespace: str, spec: dict[str, Any]
) -> None:
    api = CountingKubeApi(kube_api)
    sync = FunctionSync(api, OperatorSettings())
    sync.sync_function(make_function(kube_api, namespace, **spec))
    api.applied.clear()
    for _ in range(2):  # the first reconcile after the creates, and one after that
        assert sync.sync_function(copy.deepcopy(stored(kube_api, namespace))) is None
        assert api.applied == []

    apps = client.AppsV1Api(kube_api)
    deployment = apps.read_namespaced_deployment("hello", namespace)
    assert deployment.metadata.annotations[APPLIED_ANNOTATION]
    # Someone edits a variable the operator set, and takes out a label of the Service.
    container = deployment.spec.template.spec.containers[0]
    env = [
        {"name": e.name, "value": "edited" if e.name == "GREETING" else e.value}
        for e in container.env or []
        if e.value_from is None
    ]
    patch = {"spec": {"template": {"spec": {"containers": [{"name": container.name, "env": env}]}}}}
    apps.patch_namespaced_deployment("hello", namespace, patch, field_manager="someone")
    core = client.CoreV1Api(kube_api)
    labels = core.read_namespaced_service("hello", namespace).metadata.labels
    label = sorted(labels)[0]
    without = {"metadata": {"labels": {label: None}}}
    core.patch_namespaced_service("hello", namespace, without, field_manager="someone")

    assert sync.sync_function(copy.deepcopy(stored(kube_api, namespace))) is None
    # (each applied twice: a child's first apply since its create hands its fields over)
    assert set(api.applied) == {"Deployment", "Service"}
    container = apps.read_namespaced_deployment("hello", namespace).spec.template.spec.containers[0]
    assert {e.name: e.value for e in container.env or []}["GREETING"] == "hi"
    assert label in core.read_namespaced_service("hello", namespace).metadata.labels
    api.applied.clear()
    assert sync.sync_function(copy.deepcopy(stored(kube_api, namespace))) is None
    assert api.applied == []
