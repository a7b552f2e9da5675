"""A platform team's bulk apply: many Functions in one ``kubectl apply`` of a List, against the
real API server and an operator of their own; every one becomes Ready (at zero), each Deployment
at zero, and the operator keeps running. The size fits the suite's budget on a shared 2-core
machine (the operator keeps up with kubectl there, a few Functions a second, about 8 API calls
each); the thousands are ``make bench-scale``'s (docs/benchmarks.md).

The operator is this test's own, on a namespace the session's operator does not watch, so the
other tests never wait behind the work of a bulk apply. The namespace is left in place when the
test ends: its Functions carry the operator's finalizer and are idle at zero."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from kubernetes import client

from tests.cluster.bulk import apply_functions, wait_all_ready
from tests.cluster.fixtures import Kubectl, start_operator, stop_process

pytestmark = [pytest.mark.cluster, pytest.mark.controllers]

COUNT = 300


def test_a_bulk_apply_of_many_functions_all_become_ready(
    kubectl: Kubectl, kube_api: client.ApiClient, kubeconfig: Path, crds: None, tmp_path: Path
) -> None:
    namespace = f"bulk-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(kube_api).create_namespace(
        {"metadata": {"name": namespace, "labels": {"wisp.dev/test": "true"}}}
    )
    operator = start_operator(
        kubeconfig, tmp_path / "operator.log", "--namespace", namespace, "--liveness-port", "0"
    )
    try:
        apply_functions(kubectl, namespace, "bulk", 0, COUNT)
        took = wait_all_ready(kube_api, namespace, COUNT, timeout=240)
        print(f"{COUNT} Functions Ready {took:.0f} s after the apply returned")
        assert operator.proc.poll() is None, operator.logs()[-3000:]
    finally:
        stop_process(operator.proc)
    listed = client.AppsV1Api(kube_api).list_namespaced_deployment(
        namespace, label_selector="wisp.dev/function", _preload_content=False
    )
    replicas = [item["spec"].get("replicas") for item in json.loads(listed.data)["items"]]
    assert len(replicas) == COUNT and set(replicas) == {0}  # each at zero: idle, no pod
