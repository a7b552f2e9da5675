"""A release upgraded with changed values keeps its secrets and follows the values; uninstalled,
it leaves nothing behind but the CRDs."""

from __future__ import annotations

import json

import pytest

from tests.cluster.fixtures import Kubectl, wait_for
from tests.helm.release import Release

pytestmark = pytest.mark.cluster


def release_objects(kubectl: Kubectl, release: str) -> list[str]:
    """Every object, in any namespace or cluster-scoped, labelled as this release's."""
    kinds = (
        "deployments,services,secrets,configmaps,serviceaccounts,roles,rolebindings,"
        "networkpolicies,poddisruptionbudgets,persistentvolumeclaims,clusterroles,clusterrolebindings,"
        "clusterkopfpeerings,kopfpeerings"
    )
    proc = kubectl(
        "get", kinds, "--all-namespaces", "-l", f"app.kubernetes.io/instance={release}", "-o", "name"
    )
    return sorted(proc.stdout.split())


def secret_value(kubectl: Kubectl, namespace: str, name: str, key: str) -> str:
    return kubectl("get", "secret", name, "-o", f"jsonpath={{.data.{key}}}", namespace=namespace).stdout


def exists(kubectl: Kubectl, kind: str, name: str, namespace: str) -> bool:
    return kubectl("get", kind, name, namespace=namespace, check=False).returncode == 0


def test_upgrade_and_uninstall(
    release: Release, kubectl: Kubectl, namespace: str, other_namespace: str
) -> None:
    name = f"{release.name}-wisp"
    # The test cluster has no default StorageClass: naming one keeps Redis on a claim.
    persistent = {"persistence": {"storageClass": "standard"}}
    release.install({"watchNamespaces": [namespace], "redis": persistent})
    before = release_objects(kubectl, release.name)
    assert f"role.rbac.authorization.k8s.io/{name}-gateway" in before
    assert f"persistentvolumeclaim/{name}-redis" in before
    password = secret_value(kubectl, namespace, f"{name}-redis", "password")
    token = secret_value(kubectl, namespace, f"{name}-gateway-admin", "token")

    release.install(
        {
            "watchNamespaces": [namespace, other_namespace],
            "gateway": {"replicas": 3, "maxBodyBytes": 1024},
            "image": {"tag": "next"},
            "redis": {"persistence": {"enabled": False}},
        },
        upgrade=True,
    )
    gateway = json.loads(
        kubectl("get", "deployment", f"{name}-gateway", "-o", "json", namespace=namespace).stdout
    )
    assert gateway["spec"]["replicas"] == 3
    container = gateway["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "wisp/wisp:next"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["WISP_MAX_BODY_BYTES"] == "1024"
    assert env["WISP_NAMESPACES"] == f"{namespace},{other_namespace}"
    assert exists(kubectl, "role", f"{name}-operator", other_namespace)
    assert exists(kubectl, "rolebinding", f"{name}-gateway", other_namespace)
    assert exists(kubectl, "kopfpeering", name, other_namespace)
    # The claim goes once the old Redis pod that uses it has (pvc-protection).
    wait_for(
        lambda: not exists(kubectl, "persistentvolumeclaim", f"{name}-redis", namespace),
        timeout=60,
        what="the Redis claim removed",
    )
    # Generated secrets survive upgrades (the gateway and Redis keep agreeing on the password).
    assert secret_value(kubectl, namespace, f"{name}-redis", "password") == password
    assert secret_value(kubectl, namespace, f"{name}-gateway-admin", "token") == token

    release.install({"watchNamespaces": [namespace], "redis": persistent}, upgrade=True)
    assert not exists(kubectl, "role", f"{name}-operator", other_namespace)
    assert exists(kubectl, "persistentvolumeclaim", f"{name}-redis", namespace)

    release.uninstall()
    assert release_objects(kubectl, release.name) == []

    def leftovers() -> list[str]:
        found = kubectl("get", "all,secrets,configmaps,serviceaccounts", "-o", "name", namespace=namespace)
        return sorted(set(found.stdout.split()) - {"configmap/kube-root-ca.crt", "serviceaccount/default"})

    # Pods go with their ReplicaSets, by garbage collection.
    wait_for(lambda: leftovers() == [], timeout=30, what=f"an empty namespace (left: {leftovers()})")
    # The CRDs stay: Helm never deletes them (that would delete every Function in the cluster).
    crds = kubectl("get", "crd", "-o", "name").stdout.split()
    assert "customresourcedefinition.apiextensions.k8s.io/functions.wisp.dev" in crds
