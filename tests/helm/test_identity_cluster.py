"""Each Function's own identity against the real control plane, with the operator running as
the chart's ServiceAccount: what it may grant is what the chart lists, the API server itself
refuses it more, and each account can do exactly what its role says (by impersonation)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.fixtures import Kubectl, wait_for
from tests.helm.chart import Helm, one
from tests.helm.components import Component
from tests.helm.release import Release as Release
from tests.helm.release import condition, forbidden_lines, start_components
from wisp.api.names import APPLIED_ANNOTATION

pytestmark = pytest.mark.cluster

READ_SETTINGS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}


def function(name: str, **spec: Any) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "wisp.dev/v1alpha1",
            "kind": "Function",
            "metadata": {"name": name},
            "spec": {
                "runtime": "python3.12",
                "handler": "main.handler",
                "code": {"inline": "def handler(event, context):\n    return event\n"},
                **spec,
            },
        }
    )


def deployed(kubectl: Kubectl, namespace: str, name: str) -> dict[str, Any] | None:
    proc = kubectl("get", "function", name, "-o", "json", namespace=namespace, check=False)
    if proc.returncode != 0:
        return None
    fn = json.loads(proc.stdout)
    cond = condition(fn, "Deployed")
    if cond is None or cond.get("observedGeneration") != fn["metadata"]["generation"]:
        return None
    return dict(fn)


def can(
    kubectl: Kubectl, account: str, namespace: str, verb: str, resource: str, *, at: str | None = None
) -> bool:
    proc = kubectl(
        "auth",
        "can-i",
        verb,
        resource,
        f"--as=system:serviceaccount:{namespace}:{account}",
        namespace=at or namespace,
        check=False,
    )
    return proc.stdout.strip() == "yes"


@pytest.mark.parametrize("helm", [3], indirect=True, ids=["helm3"])
def test_each_function_gets_exactly_its_role_and_nothing_beyond_the_chart(
    helm: Helm,
    release: Release,
    kubectl: Kubectl,
    kubeconfig: Path,
    namespace: str,
    other_namespace: str,
    components: dict[str, Component],
) -> None:
    release.install(
        {
            "watchNamespaces": [namespace],
            "networkPolicy": {"functionNamespaces": [namespace]},
            "functions": {"identity": {"grantableRules": [READ_SETTINGS]}},
        }
    )
    components.update(start_components(release, kubectl, kubeconfig, which=("operator",)))
    operator = components["operator"]
    kubectl("create", "secret", "generic", "api-keys", "--from-literal=key=s3cr3t-value", namespace=namespace)

    irsa = {"eks.amazonaws.com/role-arn": "arn:aws:iam::123456789012:role/reader"}
    kubectl(
        "apply",
        "-f",
        "-",
        input=function(
            "reader",
            role={"rules": [READ_SETTINGS], "annotations": irsa},
            secrets=[{"name": "api-keys"}],
            network={"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 5432}]}]},
        ),
        namespace=namespace,
    )
    kubectl("apply", "-f", "-", input=function("plain"), namespace=namespace)
    greedy = {"rules": [READ_SETTINGS, {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get"]}]}
    kubectl("apply", "-f", "-", input=function("greedy", role=greedy), namespace=namespace)
    kubectl(
        "apply", "-f", "-", input=function("needs-secret", secrets=[{"name": "absent"}]), namespace=namespace
    )

    def reconciled(name: str) -> dict[str, Any]:
        try:
            return dict(
                wait_for(lambda: deployed(kubectl, namespace, name), timeout=60, what=f"{name} reconciled")
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\noperator:\n{operator.logs()[-4000:]}") from None

    reader = reconciled("reader")
    assert condition(reader, "Deployed")["status"] == "True", reader["status"]  # type: ignore[index]
    # Its own account: what its role says, in its namespace only, and nothing else.
    account = "wisp-fn-reader"
    assert can(kubectl, account, namespace, "get", "configmaps")
    assert can(kubectl, account, namespace, "list", "configmaps")
    assert not can(kubectl, account, namespace, "delete", "configmaps")
    assert not can(kubectl, account, namespace, "get", "secrets")
    assert not can(kubectl, account, namespace, "get", "configmaps", at=other_namespace)
    sa = json.loads(kubectl("get", "serviceaccount", account, "-o", "json", namespace=namespace).stdout)
    # the role's annotations, beside the hash of the manifest the operator applied
    assert {k: v for k, v in sa["metadata"]["annotations"].items() if k != APPLIED_ANNOTATION} == irsa
    assert sa["metadata"]["ownerReferences"][0]["uid"] == reader["metadata"]["uid"]
    pod = json.loads(kubectl("get", "deployment", "reader", "-o", "json", namespace=namespace).stdout)
    pod_spec = pod["spec"]["template"]["spec"]
    assert (pod_spec["serviceAccountName"], pod_spec["automountServiceAccountToken"]) == (account, True)
    policy = json.loads(kubectl("get", "networkpolicy", account, "-o", "json", namespace=namespace).stdout)
    assert policy["spec"]["policyTypes"] == ["Ingress", "Egress"]

    # Without an identity: the namespace's account, no permissions, no token.
    plain = reconciled("plain")
    assert condition(plain, "Deployed")["status"] == "True"  # type: ignore[index]
    plain_pod = json.loads(kubectl("get", "deployment", "plain", "-o", "json", namespace=namespace).stdout)
    plain_spec = plain_pod["spec"]["template"]["spec"]
    assert (plain_spec["serviceAccountName"], plain_spec["automountServiceAccountToken"]) == (
        "wisp-function",
        False,
    )
    for verb, resource in (("get", "configmaps"), ("list", "pods"), ("get", "secrets")):
        assert not can(kubectl, "wisp-function", namespace, verb, resource)

    # Beyond what the chart lists: refused in status, naming what, before any write.
    greedy_fn = reconciled("greedy")
    refused = condition(greedy_fn, "Deployed")
    assert refused is not None and (refused["status"], refused["reason"]) == ("False", "RoleNotGrantable")
    assert "get core/secrets" in refused["message"]
    assert kubectl("get", "role", "wisp-fn-greedy", namespace=namespace, check=False).returncode != 0

    # And were the operator's check wrong, the API server would refuse the write itself: the
    # operator's account may not grant what it does not hold (RBAC escalation prevention).
    operator_account = one(release.manifest(), "Deployment", "-operator")["spec"]["template"]["spec"][
        "serviceAccountName"
    ]
    as_operator = f"--as=system:serviceaccount:{release.namespace}:{operator_account}"
    allowed = kubectl(
        "create",
        "role",
        "within",
        "--verb=get",
        "--resource=configmaps",
        as_operator,
        namespace=namespace,
        check=False,
    )
    assert allowed.returncode == 0, allowed.stderr
    beyond = kubectl(
        "create",
        "role",
        "beyond",
        "--verb=list",
        "--resource=secrets",
        as_operator,
        namespace=namespace,
        check=False,
    )
    assert beyond.returncode != 0 and "not currently held" in beyond.stderr, beyond.stderr

    # A Secret that does not exist: said in status, naming the field.
    waiting = reconciled("needs-secret")
    missing = condition(waiting, "Deployed")
    assert missing is not None and (missing["status"], missing["reason"]) == ("False", "SecretNotFound")
    assert missing["message"] == f"spec.secrets[0]: Secret absent not found in {namespace}"

    # The Secret's value went nowhere the operator writes: not its logs, not any status.
    statuses = kubectl("get", "functions", "-o", "json", namespace=namespace).stdout
    assert "s3cr3t-value" not in statuses and "s3cr3t-value" not in operator.logs()
    assert forbidden_lines(operator.logs()) == [], operator.logs()[-3000:]

    # Deleting the Function takes its account, Role and RoleBinding with it.
    kubectl("delete", "function", "reader", namespace=namespace)

    def identity_gone() -> bool:
        for kind in ("serviceaccount", "role", "rolebinding", "networkpolicy"):
            if kubectl("get", kind, account, namespace=namespace, check=False).returncode == 0:
                return False
        return True

    wait_for(identity_gone, timeout=60, what="the Function's identity garbage-collected")
