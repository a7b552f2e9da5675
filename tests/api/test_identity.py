"""spec.role, spec.serviceAccountName, spec.envFrom, spec.secrets and spec.network, parsed: bad
input names its field, and a role asks only what the installation lets wisp grant."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.api.function import SpecError, parse_function
from wisp.api.identity import PolicyRule, ungranted


def spec(**extra: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "f", "namespace": "ns"},
        "spec": {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": "x"}, **extra},
    }


def rule(
    groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None
) -> dict[str, Any]:
    r: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names is not None:
        r["resourceNames"] = names
    return r


BAD = [
    ({"serviceAccountName": "a", "role": {}}, "spec.role"),
    ({"serviceAccountName": "Bad_Name"}, "spec.serviceAccountName"),
    ({"role": {"rules": [rule([""], ["pods"], ["steal"])]}}, "spec.role.rules[0].verbs[0]"),
    ({"role": {"rules": [rule([""], [], ["get"])]}}, "spec.role.rules[0].resources"),
    ({"role": {"rules": [{"resources": ["pods"], "verbs": ["get"]}]}}, "spec.role.rules[0].apiGroups"),
    ({"role": {"annotations": {"bad key!": "x"}}}, "spec.role.annotations[bad key!]"),
    ({"envFrom": [{"secretRef": {"name": "a"}, "configMapRef": {"name": "b"}}]}, "spec.envFrom[0]"),
    ({"envFrom": [{"prefix": "WISP_X", "secretRef": {"name": "a"}}]}, "spec.envFrom[0].prefix"),
    ({"envFrom": [{"secretRef": {}}]}, "spec.envFrom[0].secretRef.name"),
    ({"secrets": [{"name": "../etc"}]}, "spec.secrets[0].name"),
    ({"secrets": [{"name": "a"}, {"name": "a"}]}, "spec.secrets[1].name"),
    ({"network": {"egress": [{}]}}, "spec.network.egress[0]"),
    (
        {"network": {"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.1/8"}}]}]}},
        "spec.network.egress[0].to[0].ipBlock.cidr",
    ),
    (
        {"network": {"egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}, "podSelector": {}}]}]}},
        "spec.network.egress[0].to[0]",
    ),
    ({"network": {"egress": [{"ports": [{"port": 0}]}]}}, "spec.network.egress[0].ports[0].port"),
    (
        {"network": {"egress": [{"ports": [{"port": 80, "protocol": "ICMP"}]}]}},
        "spec.network.egress[0].ports[0].protocol",
    ),
    ({"network": {"ingress": [{"from": [{}]}]}}, "spec.network.ingress[0].from[0]"),
    ({"network": {"ingress": [{"to": []}]}}, "spec.network.ingress[0].to"),
]


@pytest.mark.parametrize(("extra", "field"), BAD, ids=[b[1] + " " + str(i) for i, b in enumerate(BAD)])
def test_bad_input_names_the_field(extra: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_function(spec(**extra))
    assert info.value.field == field


def test_a_full_identity_and_network_parse() -> None:
    fn = parse_function(
        spec(
            role={
                "rules": [rule([""], ["configmaps"], ["get"], ["a"])],
                "annotations": {"iam.gke.io/gcp-service-account": "f@p.iam"},
            },
            env=[{"name": "DB", "valueFrom": {"secretKeyRef": {"name": "db", "key": "url"}}}],
            envFrom=[{"secretRef": {"name": "api"}}, {"secretRef": {"name": "maybe", "optional": True}}],
            secrets=[{"name": "keys"}],
            network={"egress": []},
        )
    )
    assert fn.spec.role is not None and fn.spec.role.rules == (
        PolicyRule(("",), ("configmaps",), ("get",), ("a",)),
    )
    assert fn.spec.network is not None and fn.spec.network.egress == ()
    # An optional reference is no reason to refuse the Function.
    assert fn.spec.secret_names() == [
        ("spec.env[0].valueFrom.secretKeyRef", "db"),
        ("spec.envFrom[0].secretRef", "api"),
        ("spec.secrets[0]", "keys"),
    ]


GRANTABLE = (
    PolicyRule(("",), ("configmaps",), ("get", "list", "watch")),
    PolicyRule(("",), ("secrets",), ("get",), ("app-config",)),
    PolicyRule(("apps",), ("*",), ("get",)),
)
UNGRANTED = [
    ("within the grantable", [PolicyRule(("",), ("configmaps",), ("get", "list"))], []),
    ("one verb more", [PolicyRule(("",), ("configmaps",), ("get", "delete"))], ["delete core/configmaps"]),
    ("the named secret", [PolicyRule(("",), ("secrets",), ("get",), ("app-config",))], []),
    ("every secret", [PolicyRule(("",), ("secrets",), ("get",))], ["get core/secrets"]),
    ("another secret", [PolicyRule(("",), ("secrets",), ("get",), ("db",))], ["get core/secrets/db"]),
    ("a wildcard asked for", [PolicyRule(("",), ("configmaps",), ("*",))], ["* core/configmaps"]),
    ("covered by a wildcard", [PolicyRule(("apps",), ("deployments", "statefulsets"), ("get",))], []),
    ("another group", [PolicyRule(("batch",), ("jobs",), ("get",))], ["get batch/jobs"]),
]


@pytest.mark.parametrize(("case", "asked", "missing"), UNGRANTED, ids=[u[0] for u in UNGRANTED])
def test_ungranted_is_what_no_grantable_rule_covers(
    case: str, asked: list[PolicyRule], missing: list[str]
) -> None:
    assert ungranted(asked, GRANTABLE) == missing
