"""The identity, network and Secret phases of a reconcile, over the in-memory port: what is
written, what is refused, and what the Function's status says."""

from __future__ import annotations

import copy
from typing import Any

from tests.controller.memory_kube import MemoryKube, Obj
from wisp.api.identity import PolicyRule
from wisp.controller.settings import OperatorSettings
from wisp.controller.sync import FunctionSync
from wisp.resources.identity import make_default_service_account

NS = "ns"
READ_CONFIG = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
GRANTABLE = OperatorSettings(grantable_rules=(PolicyRule(("",), ("configmaps",), ("get", "list")),))


def function(**spec: Any) -> Obj:
    return {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": "hello", "namespace": NS, "uid": "fn-uid", "generation": 1},
        "spec": {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": "x"}, **spec},
    }


def sync(
    kube: MemoryKube, body: Obj, settings: OperatorSettings = GRANTABLE
) -> dict[str, tuple[str, str, str]]:
    stored = kube.get("Function", NS, body["metadata"]["name"])
    if stored is not None and "status" in stored:  # as the API has it: the last reconcile's status
        body = {**body, "status": stored["status"]}
    kube.add(body)
    FunctionSync(kube, settings).sync_function(copy.deepcopy(body))
    status = kube.statuses()[-1]
    return {c["type"]: (c["status"], c["reason"], c["message"]) for c in status["conditions"]}


def identity_writes(kube: MemoryKube) -> list[tuple[str, str, str]]:
    kinds = ("ServiceAccount", "Role", "RoleBinding", "NetworkPolicy")
    return [w for w in kube.writes() if w[1] in kinds]


def test_the_first_function_of_a_namespace_creates_its_account_once() -> None:
    kube = MemoryKube()
    assert sync(kube, function())["Deployed"][0] == "True"
    assert identity_writes(kube) == [("create", "ServiceAccount", "wisp-function")]
    account = kube.get("ServiceAccount", NS, "wisp-function")
    assert account is not None and account["automountServiceAccountToken"] is False
    assert "ownerReferences" not in account["metadata"]  # shared by the namespace's Functions
    sync(kube, function())
    assert identity_writes(kube) == [("create", "ServiceAccount", "wisp-function")]


def test_a_role_within_the_grantable_gets_account_role_and_binding() -> None:
    kube = MemoryKube().add(make_default_service_account(NS))
    conditions = sync(kube, function(role={"rules": [READ_CONFIG]}))
    assert conditions["Deployed"][0] == "True"
    assert identity_writes(kube) == [
        ("create", "ServiceAccount", "wisp-fn-hello"),
        ("create", "Role", "wisp-fn-hello"),
        ("create", "RoleBinding", "wisp-fn-hello"),
    ]
    deployment = kube.get("Deployment", NS, "hello")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "wisp-fn-hello"


def test_a_role_beyond_the_grantable_is_refused_naming_what_and_nothing_runs() -> None:
    kube = MemoryKube().add(make_default_service_account(NS))
    secrets = {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}
    conditions = sync(kube, function(role={"rules": [READ_CONFIG, secrets]}))
    status, reason, message = conditions["Deployed"]
    assert (status, reason) == ("False", "RoleNotGrantable")
    assert "get core/secrets, list core/secrets" in message and message.startswith("spec.role.rules")
    assert conditions["Ready"][:2] == ("False", "RoleNotGrantable")
    assert identity_writes(kube) == [] and kube.get("Deployment", NS, "hello") is None


def test_removing_the_role_deletes_what_wisp_made_for_it() -> None:
    kube = MemoryKube().add(make_default_service_account(NS))
    sync(kube, function(role={"rules": [READ_CONFIG]}))
    body = function()
    body["metadata"]["generation"] = 2
    sync(kube, body)
    assert identity_writes(kube)[-3:] == [
        ("delete", "RoleBinding", "wisp-fn-hello"),
        ("delete", "Role", "wisp-fn-hello"),
        ("delete", "ServiceAccount", "wisp-fn-hello"),
    ]
    deployment = kube.get("Deployment", NS, "hello")
    assert deployment is not None
    assert deployment["spec"]["template"]["spec"]["serviceAccountName"] == "wisp-function"
    # Only once the Deployment no longer names the account.
    writes = kube.writes()
    assert writes.index(("apply", "Deployment", "hello"), 4) < writes.index(
        ("delete", "ServiceAccount", "wisp-fn-hello")
    )


def test_an_account_of_that_name_not_made_by_wisp_is_not_taken_over() -> None:
    foreign = {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "wisp-fn-hello", "namespace": NS},
    }
    kube = MemoryKube().add(make_default_service_account(NS)).add(foreign)
    assert sync(kube, function(role={"rules": [READ_CONFIG]}))["Deployed"][:2] == ("False", "NotOwned")


def test_a_named_account_that_does_not_exist_is_said_in_status() -> None:
    kube = MemoryKube()
    status, reason, message = sync(kube, function(serviceAccountName="reporting"))["Deployed"]
    assert (status, reason) == ("False", "ServiceAccountNotFound")
    assert message == "spec.serviceAccountName: ServiceAccount reporting not found in ns"


def test_a_missing_secret_is_a_condition_naming_the_field_and_heals() -> None:
    kube = MemoryKube().add(make_default_service_account(NS))
    body = function(secrets=[{"name": "api-keys"}], envFrom=[{"secretRef": {"name": "db"}}])
    status, reason, message = sync(kube, body)["Deployed"]
    assert (status, reason) == ("False", "SecretNotFound")
    assert message == "spec.envFrom[0].secretRef: Secret db not found in ns (and 1 more)"
    assert kube.get("Deployment", NS, "hello") is not None  # its pods start once the Secrets exist

    for name in ("db", "api-keys"):
        kube.add({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": NS}})
    assert sync(kube, body)["Deployed"][:2] == ("True", "Deployed")


def test_a_network_policy_follows_spec_network() -> None:
    kube = MemoryKube().add(make_default_service_account(NS))
    sync(kube, function(network={"egress": []}))
    policy = kube.get("NetworkPolicy", NS, "wisp-fn-hello")
    assert policy is not None and policy["spec"]["policyTypes"] == ["Ingress", "Egress"]
    body = function()
    body["metadata"]["generation"] = 2
    sync(kube, body)
    assert kube.get("NetworkPolicy", NS, "wisp-fn-hello") is None
