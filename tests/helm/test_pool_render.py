"""The warm pool in the chart (docs/warm-pool.md): off by default; on, a Deployment of generic
runtime pods per enabled runtime in the pool's namespace, hardened like function pods, a token
shared by the gateway and the pool only, and the gateway's rights on pool pods limited to that
namespace."""

from __future__ import annotations

from typing import Any

from tests.helm.chart import (
    assert_dns_and_gateway_egress,
    component,
    containers,
    env_of,
    grants,
    of_kind,
    one,
    selector_matches,
)
from tests.helm.conftest import Render

POOL = {"pool": {"python": {"enabled": True, "size": 3}}, "gateway": {"defaultNamespace": "fns"}}


def pool_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if component(o) == "pool" or o["metadata"]["name"].endswith("-pool")]


def test_no_pool_by_default(render: Render) -> None:
    objects = render()
    assert pool_objects(objects) == []
    (gateway,) = containers(one(objects, "Deployment", "-gateway"))
    assert "WISP_POOL_NAMESPACE" not in env_of(gateway)


def test_a_pool_per_enabled_runtime_in_the_functions_namespace(render: Render) -> None:
    objects = render(POOL)
    deployment = one(objects, "Deployment", "-pool-python")
    assert deployment["metadata"]["namespace"] == "fns"
    assert deployment["spec"]["replicas"] == 3
    assert not [d for d in of_kind(objects, "Deployment") if d["metadata"]["name"].endswith("-pool-node")]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector_matches(deployment["spec"]["selector"], labels)
    # A claimed pod leaves the ReplicaSet, which replaces it.
    assert not selector_matches(deployment["spec"]["selector"], {**labels, "wisp.dev/pool-state": "claimed"})
    (container,) = containers(deployment)
    assert container["image"] == "wisp/runtime-python:3.14"
    assert container["resources"]["limits"]["memory"] == "256Mi"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    token = next(e for e in container["env"] if e["name"] == "WISP_POOL_TOKEN")
    assert token["valueFrom"]["secretKeyRef"]["name"] == "wisp-pool-token"


def test_the_pool_token_is_shared_by_the_gateway_and_the_pool_only(render: Render) -> None:
    objects = render(POOL)
    secrets = [s for s in of_kind(objects, "Secret") if s["metadata"]["name"] == "wisp-pool-token"]
    assert sorted(s["metadata"]["namespace"] for s in secrets) == ["fns", "wisp-system"]
    assert secrets[0]["data"] == secrets[1]["data"]
    (gateway,) = containers(one(objects, "Deployment", "-gateway"))
    env = env_of(gateway)
    assert env["WISP_POOL_NAMESPACE"]["value"] == "fns"
    assert env["WISP_POOL_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "wisp-pool-token"


def test_the_gateway_may_claim_and_retire_pool_pods_in_the_pool_namespace_only(render: Render) -> None:
    objects = render(POOL)
    roles = [r for r in of_kind(objects, "Role") if r["metadata"]["name"] == "wisp-gateway-pool"]
    assert [r["metadata"]["namespace"] for r in roles] == ["fns"]
    assert grants(roles[0]["rules"], "", "pods", "patch") and grants(roles[0]["rules"], "", "pods", "delete")
    for role in of_kind(objects, "ClusterRole"):
        assert not grants(role["rules"], "", "pods", "delete"), role["metadata"]["name"]
    policy = one(objects, "NetworkPolicy", "-pool")
    assert policy["metadata"]["namespace"] == "fns"
    assert selector_matches(policy["spec"]["podSelector"], {"wisp.dev/pool": "python"})


def test_deny_by_default_holds_for_pool_pods(render: Render) -> None:
    # A pool pod serves Functions without spec.network: the baseline must fence it as their own pods.
    assert not [
        p for p in of_kind(render(POOL), "NetworkPolicy") if p["metadata"]["name"].endswith("-pool-egress")
    ]
    policy = one(render({**POOL, "networkPolicy": {"denyByDefault": True}}), "NetworkPolicy", "-pool-egress")
    assert policy["metadata"]["namespace"] == "fns"
    spec = policy["spec"]
    for state in ("free", "claimed"):
        labels = {"wisp.dev/pool": "python", "wisp.dev/pool-state": state}
        assert selector_matches(spec["podSelector"], labels)
    assert spec["policyTypes"] == ["Egress"]
    assert_dns_and_gateway_egress(render(POOL), spec["egress"])
