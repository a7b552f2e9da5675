"""A platform team's bulk apply: many Functions in one ``kubectl apply`` of a List, against the
real API server and the session's operator; every one becomes Ready (at zero), each Deployment
at zero, and the operator keeps running. The size fits the suite's budget on a shared 2-core
machine (the operator makes a few Functions Ready a second there); the thousands are
``make bench-scale``'s (docs/benchmarks.md)."""

from __future__ import annotations

import json

import pytest
from kubernetes import client

from tests.cluster.bulk import apply_functions, wait_all_ready
from tests.cluster.fixtures import Kubectl, OperatorProcess

pytestmark = [pytest.mark.cluster, pytest.mark.controllers]

COUNT = 200


def test_a_bulk_apply_of_thousands_of_functions_all_become_ready(
    kubectl: Kubectl, kube_api: client.ApiClient, namespace: str, operator: OperatorProcess
) -> None:
    apply_functions(kubectl, namespace, "bulk", 0, COUNT)
    took = wait_all_ready(kube_api, namespace, COUNT, timeout=240)
    print(f"{COUNT} Functions Ready {took:.0f} s after the apply returned")
    assert operator.proc.poll() is None, operator.logs()[-3000:]
    listed = client.AppsV1Api(kube_api).list_namespaced_deployment(
        namespace, label_selector="wisp.dev/function", _preload_content=False
    )
    replicas = [item["spec"].get("replicas") for item in json.loads(listed.data)["items"]]
    assert len(replicas) == COUNT and set(replicas) == {0}  # each at zero: idle, no pod
