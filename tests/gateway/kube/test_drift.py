"""The autoscaler is level-triggered: two gateway processes against the real control plane.

Whatever moves a function's replica count — ``kubectl scale``, a follower's activator waking the
function the moment it appears, a scale write the API server refused — the leader compares the
Deployment's ``spec.replicas`` (from its watch) with what it wants on every tick and corrects it,
so an idle function always returns to zero.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from kubernetes import client

from tests.cluster.fixtures import Kubectl, OperatorProcess, wait_for
from tests.gateway.kube.conftest import GatewayProcess, GatewayStarter
from tests.gateway.kube.test_kube_gateway import FUNCTION, apply_function, deployment_replicas

pytestmark = [pytest.mark.cluster, pytest.mark.controllers]

IDLE = 2.0  # the functions' idleTimeout, seconds; the gateways tick every second


def _leader_and_follower(
    kube_api: client.ApiClient, namespace: str, gateways: tuple[GatewayProcess, GatewayProcess]
) -> tuple[GatewayProcess, GatewayProcess]:
    def holder() -> str | None:
        try:
            lease = client.CoordinationV1Api(kube_api).read_namespaced_lease("wisp-gateway", namespace)
        except client.ApiException:
            return None
        return lease.spec.holder_identity if lease.spec else None

    name = wait_for(holder, timeout=20, what="a leader")
    first, second = gateways
    return (first, second) if first.name == name else (second, first)


def _decided(gateway: GatewayProcess, name: str) -> int | None:
    """What the leader last decided for ``name`` (its ``/system/stats``); None before it looked.
    A new Function at zero gets no status write, so the leader's own figure tells it tracked it."""
    for row in gateway.admin("/system/stats")["functions"]:
        if row["function"] == name:
            desired = row["replicas"]["desired"]
            return None if desired is None else int(desired)
    return None


def _back_to_zero(
    kube_api: client.ApiClient, namespace: str, name: str, since: float, timeout: float = 30
) -> float:
    wait_for(
        lambda: deployment_replicas(kube_api, namespace, name) == 0,
        timeout=timeout,
        interval=0.2,
        what=f"{name} back to zero",
    )
    return time.monotonic() - since


def test_an_outside_scale_of_an_idle_function_returns_to_zero(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    start_gateway: GatewayStarter,
) -> None:
    """``kubectl scale deploy/<idle function> --replicas=2``: the leader takes it back."""
    apply_function(kubectl, namespace, "drift", idle=f"{IDLE:g}s")
    gateways = (start_gateway("gw-a"), start_gateway("gw-b"))
    leader, _ = _leader_and_follower(kube_api, namespace, gateways)
    # The leader has looked at the function (its own figure of what it wants says so).
    wait_for(lambda: _decided(leader, "drift") == 0, timeout=20, what="tracked")
    kubectl("scale", "deploy/drift", "--replicas=2", namespace=namespace)
    took = _back_to_zero(kube_api, namespace, "drift", time.monotonic())
    print(f"outside scale corrected in {took:.1f}s (idleTimeout {IDLE:g}s, tick 1s)")
    assert "replicas of drift." in leader.log.read_text()


def test_a_wake_through_the_follower_as_the_function_appears_returns_to_zero(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
) -> None:
    # As on the first install: the default 2 s tick and a 1 s idle timeout, so that by the leader's
    # next look the woken function may already have been idle for longer than its timeout.
    tick = {"WISP_AUTOSCALE_TICK": "2"}
    gateways = (start_gateway("gw-a", extra_env=tick), start_gateway("gw-b", extra_env=tick))
    _, follower = _leader_and_follower(kube_api, namespace, gateways)
    kubectl("apply", "-f", "-", input=FUNCTION.format(name="woken", min=0, idle="1s"), namespace=namespace)
    path = f"/function/woken.{namespace}"
    status, headers, body = wait_for(
        lambda: (answer := follower.call(path, b'{"n": 1}'))[0] != 404 and answer,
        timeout=20,
        interval=0.02,
        what="the follower to route the new function",
    )
    assert status == 200 and headers.get("X-Wisp-Cold-Start") == "true", (body, follower.log.read_text())
    took = _back_to_zero(kube_api, namespace, "woken", time.monotonic())
    print(f"follower's wake-up returned to zero {took:.1f}s after the call (idleTimeout 1s, tick 2s)")


def _member_heartbeat(kube_api: client.ApiClient, namespace: str, gateway: str) -> object:
    lease = client.CoordinationV1Api(kube_api).read_namespaced_lease(f"wisp-gateway-{gateway}", namespace)
    return lease.spec.renew_time


def test_a_wake_through_the_follower_between_two_leader_ticks_returns_to_zero(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
) -> None:
    """The leader has seen the function at zero; the follower wakes it right after one of the
    leader's ticks, and the call is over (and idle for longer than idleTimeout) by the next one,
    so no sample the leader reads ever shows it in flight: only the Deployment's count tells."""
    leader = start_gateway("gw-a", extra_env={"WISP_AUTOSCALE_TICK": "8"})
    _leader_and_follower(kube_api, namespace, (leader, leader))
    follower = start_gateway("gw-b")
    apply_function(kubectl, namespace, "between", idle="1s")
    wait_for(lambda: _decided(leader, "between") == 0, timeout=30, what="tracked")
    path = f"/function/between.{namespace}"
    wait_for(
        lambda: follower.admin("/system/functions")["functions"], timeout=20, what="the follower's routes"
    )
    before = _member_heartbeat(kube_api, namespace, leader.name)
    wait_for(
        lambda: _member_heartbeat(kube_api, namespace, leader.name) != before,
        timeout=20,
        interval=0.05,
        what="a leader tick",
    )
    status, headers, body = follower.call(path, b'{"n": 1}')
    assert status == 200 and headers.get("X-Wisp-Cold-Start") == "true", (body, follower.log.read_text())
    took = _back_to_zero(kube_api, namespace, "between", time.monotonic(), timeout=60)
    print(f"follower's wake-up between leader ticks returned to zero {took:.1f}s after the call (tick 8s)")


DENY_SCALE = """
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: {{name: {name}}}
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
      - apiGroups: [apps]
        apiVersions: [v1]
        operations: [UPDATE]
        resources: [deployments/scale]
  validations:
    - expression: "false"
      message: scaling is switched off for this test
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: {{name: {name}}}
spec:
  policyName: {name}
  validationActions: [Deny]
  matchResources:
    namespaceSelector:
      matchLabels: {{kubernetes.io/metadata.name: {namespace}}}
"""


def test_a_refused_scale_write_is_retried(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    start_gateway: GatewayStarter,
) -> None:
    """The API server refuses the leader's scale to zero for a while; once it accepts, it lands."""
    apply_function(kubectl, namespace, "refused", idle="6s")
    gateways = (start_gateway("gw-a"), start_gateway("gw-b"))
    leader, _ = _leader_and_follower(kube_api, namespace, gateways)
    wait_for(lambda: _decided(leader, "refused") == 0, timeout=20, what="tracked")
    kubectl("scale", "deploy/refused", "--replicas=1", namespace=namespace)
    policy = f"deny-scale-{namespace}"
    kubectl("apply", "-f", "-", input=DENY_SCALE.format(name=policy, namespace=namespace))
    try:
        # Validating admission runs on server-side dry runs too: they tell when the policy bites.
        wait_for(
            lambda: (
                kubectl(
                    "scale",
                    "deploy/refused",
                    "--replicas=1",
                    "--dry-run=server",
                    namespace=namespace,
                    check=False,
                ).returncode
                != 0
            ),
            timeout=20,
            what="the policy to refuse scale writes",
        )
        failed = f"scaling refused.{namespace} failed"
        wait_for(
            lambda: leader.log.read_text().count(failed) >= 2,
            timeout=30,
            what="the leader to try, and try again",
        )
        assert deployment_replicas(kube_api, namespace, "refused") == 1
    finally:
        kubectl("delete", "validatingadmissionpolicybinding,validatingadmissionpolicy", policy, check=False)
    _back_to_zero(kube_api, namespace, "refused", time.monotonic())
