"""The warm pool's size against the real control plane: a gateway with a pool sets the pool
Deployment's replicas to the claims of the last minute (within the bounds its annotations give),
and back to its size once they are older (docs/warm-pool.md, "The pool's size follows the cold
starts"). Pods stay unscheduled here (no node): the pool watch reads their labels only."""

from __future__ import annotations

import json
import time

import pytest

from tests.cluster.fixtures import Kubectl, wait_for
from tests.gateway.kube.conftest import GatewayStarter
from wisp.gateway.kube.poolplan import SIZE_WINDOW

pytestmark = [pytest.mark.cluster]

POOL = "wisp-pool-python"


def pool_deployment(least: int, most: int) -> str:
    labels = {"wisp.dev/pool": "python", "wisp.dev/pool-state": "free"}
    return json.dumps(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": POOL,
                "labels": {"wisp.dev/pool": "python"},
                "annotations": {"wisp.dev/pool-min-size": str(least), "wisp.dev/pool-max-size": str(most)},
            },
            "spec": {
                "replicas": least,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "function", "image": "wisp/runtime-python:3.14"}]},
                },
            },
        }
    )


def claimed_pod(name: str, claimed_at: float) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "labels": {
                    "wisp.dev/pool": "python",
                    "wisp.dev/pool-state": "specialised",
                    "wisp.dev/pool-function": "gone",
                },
                "annotations": {"wisp.dev/pool-claimed-at": f"{claimed_at:.3f}"},
            },
            "spec": {"containers": [{"name": "function", "image": "wisp/runtime-python:3.14"}]},
        }
    )


def replicas(kubectl: Kubectl, namespace: str) -> int:
    out = kubectl("get", "deployment", POOL, "-o", "jsonpath={.spec.replicas}", namespace=namespace)
    return int(out.stdout)


def test_a_pool_grows_with_its_claims_and_shrinks_back_when_they_age(
    kubectl: Kubectl, namespace: str, start_gateway: GatewayStarter
) -> None:
    kubectl("apply", "-f", "-", input=pool_deployment(2, 4), namespace=namespace)
    start_gateway(extra_env={"WISP_POOL_NAMESPACE": namespace, "WISP_POOL_KEY": "the-pool-key"})
    # A pod is refused until the ServiceAccount controller has made the namespace's "default".
    wait_for(
        lambda: kubectl("get", "serviceaccount", "default", namespace=namespace, check=False).returncode == 0,
        timeout=30,
        what="the namespace's default ServiceAccount",
    )
    # Five claims made now (the gateway sees them on its pod watch, and retires their pods: their
    # function does not exist): the pool grows to its most (4), then, once the claims are older
    # than the window (and the gateway has watched for a whole one), shrinks back to its size (2).
    for i in range(5):
        kubectl("apply", "-f", "-", input=claimed_pod(f"pool-pod-{i}", time.time()), namespace=namespace)
    wait_for(lambda: replicas(kubectl, namespace) == 4, timeout=60, what="the pool grown to its maxSize")
    wait_for(
        lambda: replicas(kubectl, namespace) == 2, timeout=SIZE_WINDOW * 3, what="the pool back to its size"
    )
