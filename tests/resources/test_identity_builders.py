"""The identity, secret and network parts of a Function's children, as whole manifests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from wisp.api import parse_function
from wisp.resources import make_deployment
from wisp.resources.identity import make_default_service_account, make_identity
from wisp.resources.network import GatewayPeer, make_network_policy

OWNER = {
    "apiVersion": "wisp.dev/v1alpha1",
    "kind": "Function",
    "name": "hello",
    "uid": "u-1",
    "controller": True,
    "blockOwnerDeletion": True,
}
LABELS = {
    "wisp.dev/function": "hello",
    "app.kubernetes.io/name": "hello",
    "app.kubernetes.io/component": "function",
    "app.kubernetes.io/managed-by": "wisp-operator",
    "app.kubernetes.io/part-of": "wisp",
}
META = {"name": "wisp-fn-hello", "namespace": "ns", "labels": LABELS, "ownerReferences": [OWNER]}
READ_CONFIG = {
    "apiGroups": [""],
    "resources": ["configmaps"],
    "verbs": ["get"],
    "resourceNames": ["settings"],
}


def function(**spec: Any) -> Any:
    body = {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": "x"}, **spec}
    return parse_function({"metadata": {"name": "hello", "namespace": "ns", "uid": "u-1"}, "spec": body})


def pod(fn: Any) -> dict[str, Any]:
    return dict(make_deployment(fn)["spec"]["template"]["spec"])


def test_a_function_without_identity_runs_as_the_namespace_account_without_a_token() -> None:
    assert make_identity(function()) == []
    assert (pod(function())["serviceAccountName"], pod(function())["automountServiceAccountToken"]) == (
        "wisp-function",
        False,
    )
    assert make_default_service_account("ns") == {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": "wisp-function",
            "namespace": "ns",
            "labels": {"app.kubernetes.io/managed-by": "wisp-operator", "app.kubernetes.io/part-of": "wisp"},
        },
        "automountServiceAccountToken": False,
    }


def test_a_named_account_is_used_with_its_token() -> None:
    spec = pod(function(serviceAccountName="reporting"))
    assert (spec["serviceAccountName"], spec["automountServiceAccountToken"]) == ("reporting", True)
    assert make_identity(function(serviceAccountName="reporting")) == []


def test_a_role_is_an_account_role_and_binding_of_the_functions_own() -> None:
    irsa = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/hello"}
    fn = function(role={"rules": [READ_CONFIG], "annotations": irsa})
    assert make_identity(fn) == [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {**META, "annotations": irsa}},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": META,
            "rules": [READ_CONFIG],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": META,
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "wisp-fn-hello"},
            "subjects": [{"kind": "ServiceAccount", "name": "wisp-fn-hello", "namespace": "ns"}],
        },
    ]
    spec = pod(fn)
    assert (spec["serviceAccountName"], spec["automountServiceAccountToken"]) == ("wisp-fn-hello", True)


def test_secrets_are_files_under_a_fixed_path_and_env_stays_a_reference() -> None:
    fn = function(
        secrets=[{"name": "api-keys"}, {"name": "tls.certs"}],
        envFrom=[{"secretRef": {"name": "db"}, "prefix": "DB_"}],
        env=[{"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}}],
        code={"files": {"main.py": "x", "requirements.txt": "requests"}},
    )
    spec = pod(fn)
    (main,) = spec["containers"]
    assert main["envFrom"] == [{"secretRef": {"name": "db"}, "prefix": "DB_"}]
    assert {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "t", "key": "k"}}} in main["env"]
    assert main["volumeMounts"][-2:] == [
        {"name": "secret-0", "mountPath": "/var/wisp/secrets/api-keys", "readOnly": True},
        {"name": "secret-1", "mountPath": "/var/wisp/secrets/tls.certs", "readOnly": True},
    ]
    assert spec["volumes"][-2:] == [
        {"name": "secret-0", "secret": {"secretName": "api-keys", "defaultMode": 0o440}},
        {"name": "secret-1", "secret": {"secretName": "tls.certs", "defaultMode": 0o440}},
    ]
    (deps,) = spec["initContainers"]  # the dependency step sees the same (a private index's token)
    assert deps["envFrom"] == main["envFrom"] and deps["volumeMounts"] == main["volumeMounts"]


GATEWAY = GatewayPeer(namespace="wisp-system", labels={"app.kubernetes.io/component": "gateway"})
FROM_GATEWAY = {
    "from": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "wisp-system"}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/component": "gateway"}},
        }
    ]
}
DNS = {"ports": [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]}
# Calls of other Functions through the gateway: its pods, on their invocation port only.
TO_GATEWAY = {"to": FROM_GATEWAY["from"], "ports": [{"protocol": "TCP", "port": 8080}]}


def test_no_network_no_policy() -> None:
    assert make_network_policy(function(), GATEWAY) is None


def test_egress_is_dns_and_what_is_declared_ingress_the_gateway_and_what_is_declared() -> None:
    db = {"to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}], "ports": [{"port": 5432}]}
    batch = {"from": [{"podSelector": {"matchLabels": {"app": "batch"}}}]}
    fn = function(network={"egress": [db], "ingress": [batch]})
    assert make_network_policy(fn, GATEWAY) == {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": META,
        "spec": {
            "podSelector": {"matchLabels": {"wisp.dev/function": "hello"}},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [FROM_GATEWAY, batch],
            "egress": [DNS, TO_GATEWAY, {**db, "ports": [{"protocol": "TCP", "port": 5432}]}],
        },
    }


def test_ingress_only_leaves_egress_to_the_namespace() -> None:
    policy = make_network_policy(function(network={}), GATEWAY)
    assert policy is not None
    assert policy["spec"] == {
        "podSelector": {"matchLabels": {"wisp.dev/function": "hello"}},
        "policyTypes": ["Ingress"],
        "ingress": [FROM_GATEWAY],
    }
    empty = make_network_policy(function(network={"egress": []}), GATEWAY)
    assert empty is not None and empty["spec"]["egress"] == [DNS, TO_GATEWAY]
    moved = make_network_policy(function(network={"egress": []}), replace(GATEWAY, port=9999))
    assert moved is not None and moved["spec"]["egress"][1]["ports"] == [{"protocol": "TCP", "port": 9999}]
