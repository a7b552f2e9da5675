"""A function's start-up on the real control plane: the gateway probes a starting pod itself and
forwards a held call before the kubelet's readiness says the pod is ready,
and a pod started with boosted CPU is resized down in place (``pods/resize``) once Ready.

The test node agent plays a kubelet whose readiness report is late (``hold_ready``): the pod is
running with its address, its runtime answers, but its Ready condition stays False until the
test releases it.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from tests.cluster.fixtures import Kubectl, OperatorProcess, wait_for
from tests.gateway.kube.conftest import GatewayStarter
from tests.gateway.kube.test_kube_gateway import apply_function

pytestmark = [pytest.mark.cluster, pytest.mark.controllers]


def _pods(kube_api: client.ApiClient, namespace: str, name: str) -> list[Any]:
    pods = client.CoreV1Api(kube_api).list_namespaced_pod(
        namespace, label_selector=f"wisp.dev/function={name}"
    )
    return list(pods.items)


def _is_ready(pod: Any) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions or ())


def _ready_addresses(kube_api: client.ApiClient, namespace: str, name: str) -> list[str]:
    return [p.status.pod_ip for p in _pods(kube_api, namespace, name) if _is_ready(p)]


def test_a_held_call_is_forwarded_before_the_pod_is_ready(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
) -> None:
    node_agent.hold_ready(namespace)
    try:
        apply_function(kubectl, namespace, "early")
        gw = start_gateway(extra_env={"WISP_COLD_START_TIMEOUT": "20"})
        status, headers, body = gw.call("/function/early", b'{"n": 1}')
        assert status == 200, body
        assert headers["X-Wisp-Cold-Start"] == "true"
        # Answered by a pod the kubelet has not called Ready.
        (pod,) = _pods(kube_api, namespace, "early")
        assert not _is_ready(pod)
        assert gw.call("/function/early", b'{"n": 2}')[0] == 200
    finally:
        node_agent.release_ready(namespace)
    # Once the kubelet catches up, the pod is an ordinary endpoint.
    wait_for(lambda: _ready_addresses(kube_api, namespace, "early"), timeout=30, what="the pod Ready")
    status, headers, _ = gw.call("/function/early", b'{"n": 3}')
    assert status == 200
    assert "X-Wisp-Cold-Start" not in headers


def test_without_probing_a_held_call_waits_for_the_pod_ready(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
) -> None:
    """``WISP_PROBE_PODS=false``: the kubelet's path only (what the benchmark compares against)."""
    node_agent.hold_ready(namespace)
    try:
        apply_function(kubectl, namespace, "late")
        gw = start_gateway(extra_env={"WISP_COLD_START_TIMEOUT": "3", "WISP_PROBE_PODS": "false"})
        status, _, body = gw.call("/function/late")
        assert status == 504, body
        (pod,) = _pods(kube_api, namespace, "late")
        assert pod.status.pod_ip  # it was running all along, only not Ready
    finally:
        node_agent.release_ready(namespace)
    wait_for(lambda: _ready_addresses(kube_api, namespace, "late"), timeout=30, what="the pod Ready")
    assert gw.call("/function/late")[0] == 200
    # The Function's Service selects nothing: kube-controller-manager made no EndpointSlice for it.
    slices = client.DiscoveryV1Api(kube_api).list_namespaced_endpoint_slice(namespace)
    assert [s.metadata.name for s in slices.items] == []


def test_a_boosted_pod_is_resized_down_once_ready(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
) -> None:
    """The operator's default CPU mode is ``boost``: the pod starts with a whole CPU as its limit,
    and the gateway writes the proportional figure through ``pods/resize`` once it is Ready (the
    test node agent does not act on a resize; a kubelet applies it without a restart)."""
    apply_function(kubectl, namespace, "boosted", min=1)
    deployment = client.AppsV1Api(kube_api).read_namespaced_deployment("boosted", namespace)
    template = deployment.spec.template
    after = template.metadata.annotations["wisp.dev/cpu-after-start"]
    assert after == "145m"  # 256Mi: one CPU per 1,769 MiB
    assert template.spec.containers[0].resources.limits["cpu"] == "1"
    start_gateway()

    def resized() -> Any:
        pods = [p for p in _pods(kube_api, namespace, "boosted") if _is_ready(p)]
        return pods and all(p.spec.containers[0].resources.limits["cpu"] == after for p in pods) and pods

    (pod,) = wait_for(resized, timeout=30, what="the pod's CPU limit resized")
    assert pod.spec.containers[0].resources.requests["cpu"] == "72m"  # requests are not touched
    assert pod.spec.containers[0].resources.limits["memory"] == "256Mi"
    # The Deployment keeps the boost for the next pod; the operator's applies leave the pod alone.
    deployment = client.AppsV1Api(kube_api).read_namespaced_deployment("boosted", namespace)
    assert deployment.spec.template.spec.containers[0].resources.limits["cpu"] == "1"
