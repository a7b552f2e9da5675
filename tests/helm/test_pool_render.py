"""The warm pool in the chart (docs/warm-pool.md): off by default; on, a Deployment of generic
runtime pods per enabled runtime in the pool's namespace, hardened like function pods, a key
shared by the gateway and the pool pods' init step only (each pod's runtime gets a token of its
own, derived as the gateway derives it), and the gateway's rights on pool pods limited to that
namespace."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

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
from tests.runtimes.java.javabuild import build_runtime
from wisp.gateway.kube.poolplan import pod_token

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
    (init, container) = containers(deployment)
    assert container["image"] == init["image"] == "wisp/runtime-python:3.14"
    assert container["resources"]["limits"]["memory"] == "256Mi"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    # The runtime reads its own token from a file; the pool's key is not in its environment.
    assert env_of(container)["WISP_POOL_TOKEN_FILE"]["value"] == "/tmp/wisp-pool-token"
    assert not [e for e in container["env"] if "valueFrom" in e]
    assert env_of(init)["WISP_POOL_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "wisp-pool-key"
    assert init["securityContext"]["readOnlyRootFilesystem"] is True


def test_a_java_pool_runs_the_jdk_image_that_compiles_java_functions_sources(render: Render) -> None:
    objects = render({**POOL, "pool": {"java": {"enabled": True}}})
    deployment = one(objects, "Deployment", "-pool-java")
    assert deployment["metadata"]["labels"]["wisp.dev/pool"] == "java"
    (init, container) = containers(deployment)
    # The image of Java Functions given as sources, the only ones that start from a pool pod.
    assert container["image"] == init["image"] == "wisp/runtime-java:25-jdk"
    assert container["resources"]["limits"]["memory"] == "512Mi"
    assert env_of(container)["WISP_POOL_TOKEN_FILE"]["value"] == "/tmp/wisp-pool-token"


def test_a_pool_grows_between_its_size_and_max_size_by_the_gateways_hands(render: Render) -> None:
    objects = render({**POOL, "pool": {"python": {"enabled": True, "size": 3, "maxSize": 9}}})
    deployment = one(objects, "Deployment", "-pool-python")
    assert deployment["metadata"]["labels"]["wisp.dev/pool"] == "python"
    annotations = deployment["metadata"]["annotations"]
    assert (annotations["wisp.dev/pool-min-size"], annotations["wisp.dev/pool-max-size"]) == ("3", "9")
    (role,) = [r for r in of_kind(objects, "Role") if r["metadata"]["name"] == "wisp-gateway-pool"]
    assert grants(role["rules"], "apps", "deployments/scale", "patch")
    assert not grants(role["rules"], "apps", "deployments", "patch")  # its size, nothing else
    small = render({**POOL, "pool": {"python": {"enabled": True, "size": 4, "maxSize": 1}}})
    assert (
        one(small, "Deployment", "-pool-python")["metadata"]["annotations"]["wisp.dev/pool-max-size"] == "4"
    )


def test_the_pool_key_is_shared_by_the_gateway_and_the_pool_only(render: Render) -> None:
    objects = render(POOL)
    secrets = [s for s in of_kind(objects, "Secret") if s["metadata"]["name"] == "wisp-pool-key"]
    assert sorted(s["metadata"]["namespace"] for s in secrets) == ["fns", "wisp-system"]
    assert secrets[0]["data"] == secrets[1]["data"]
    (gateway,) = containers(one(objects, "Deployment", "-gateway"))
    env = env_of(gateway)
    assert env["WISP_POOL_NAMESPACE"]["value"] == "fns"
    assert env["WISP_POOL_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "wisp-pool-key"


@pytest.mark.parametrize("language", ["python", "node", pytest.param("java", marks=pytest.mark.java)])
def test_a_pool_pods_init_step_derives_the_token_the_gateway_sends_it(
    render: Render, language: str, tmp_path: Path
) -> None:
    objects = render({**POOL, "pool": {language: {"enabled": True}}})
    (init,) = one(objects, "Deployment", f"-pool-{language}")["spec"]["template"]["spec"]["initContainers"]
    # The image's interpreter is the init step's first word; this machine's runs its program.
    local = {"python": sys.executable, "node": shutil.which("node"), "java": shutil.which("java")}[language]
    args = init["command"][1:]
    if local is None:
        pytest.skip(f"no {language} on this machine")
    if language == "java":
        # The image's runtime jar is this checkout's, built.
        jar, _ = build_runtime()
        args = [str(jar) if arg == "/opt/wisp/wisp-runtime.jar" else arg for arg in args]
    token_file = tmp_path / "token"
    env = {
        "PATH": os.environ["PATH"],
        "WISP_POOL_KEY": "the-pool-key",
        "WISP_POD_UID": "3f1c9a40-uid",
        "WISP_POOL_TOKEN_FILE": str(token_file),
    }
    subprocess.run([local, *args], env=env, check=True, timeout=30)
    assert token_file.read_text() == pod_token("the-pool-key", "3f1c9a40-uid")
    assert token_file.stat().st_mode & 0o077 == 0  # the pod's user's only


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
