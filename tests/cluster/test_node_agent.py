"""The harness itself: a Function's pod runs as a local process, Ready at an address of its own."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.cluster.fixtures import ROOT, Kubectl, OperatorProcess, wait_for

pytestmark = pytest.mark.cluster


def ready_addresses(kubectl: Kubectl, ns: str, function: str) -> list[str]:
    """The addresses of the function's pods the node agent reports Ready (what the gateway routes to)."""
    out = kubectl("get", "pods", "-l", f"wisp.dev/function={function}", "-o", "json", namespace=ns)
    pods: list[dict[str, Any]] = json.loads(out.stdout)["items"]
    return [
        p["status"]["podIP"]
        for p in pods
        if not p["metadata"].get("deletionTimestamp")
        and any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions") or ())
    ]


def test_scaled_function_pod_serves_on_its_ready_address(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess, node_agent: Any
) -> None:
    kubectl("apply", "-f", str(ROOT / "examples" / "hello.yaml"), namespace=namespace)
    wait_for(
        lambda: kubectl("get", "deploy/hello", namespace=namespace, check=False).returncode == 0,
        what="Deployment",
    )
    kubectl("scale", "deploy/hello", "--replicas=1", namespace=namespace)
    addresses = wait_for(
        lambda: ready_addresses(kubectl, namespace, "hello"), timeout=60, what="a ready endpoint"
    )
    request = urllib.request.Request(
        f"http://{addresses[0]}:8080/",
        data=b'{"name": "cluster"}',
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["hello"] == "cluster"

    def function_ready() -> bool:
        fn = json.loads(kubectl("get", "fn", "hello", "-o", "json", namespace=namespace).stdout)
        return bool(fn["status"].get("readyReplicas") == 1)

    wait_for(function_ready, what="the Function's status to follow its Deployment")
    pod = kubectl(
        "get", "pods", "-l", "wisp.dev/function=hello", "-o", "name", namespace=namespace
    ).stdout.split()[0]
    logs = kubectl("logs", pod, namespace=namespace).stdout
    assert "greeting cluster" in logs, logs
    kubectl("scale", "deploy/hello", "--replicas=0", namespace=namespace)
    wait_for(lambda: not ready_addresses(kubectl, namespace, "hello"), timeout=60, what="the endpoint to go")
