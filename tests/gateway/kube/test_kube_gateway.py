"""The gateway against the real control plane: watches, scale subresource, Leases.

Functions are applied with kubectl, the operator makes their Deployment and Service, the test
node agent runs their pods as local runtime processes, and the gateway routes to the pods its
watch shows Ready.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from kubernetes import client

from tests.cluster.fixtures import Kubectl, OperatorProcess, wait_for
from tests.gateway.kube.conftest import GatewayStarter
from tests.support.redis import RedisServer, redis_server  # noqa: F401 (fixture)

pytestmark = [pytest.mark.cluster, pytest.mark.controllers]

FUNCTION = """
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata: {{name: {name}}}
spec:
  runtime: python3.12
  handler: main.handler
  code:
    inline: |
      import os, time
      def handler(event, context):
          if isinstance(event, dict) and event.get("sleep"):
              time.sleep(event["sleep"])
          return {{"pid": os.getpid(), "event": event}}
  timeout: 10s
  scale: {{min: {min}, max: 4, target: 5, idleTimeout: {idle}}}
"""


def apply_function(kubectl: Kubectl, namespace: str, name: str, min: int = 0, idle: str = "3s") -> None:
    kubectl(
        "apply",
        "-f",
        "-",
        input=FUNCTION.format(name=name, min=min, idle=idle),
        namespace=namespace,
    )
    wait_for(
        lambda: kubectl("get", "deploy", name, namespace=namespace, check=False).returncode == 0,
        timeout=30,
        what="the Deployment",
    )


def deployment_replicas(kube_api: client.ApiClient, namespace: str, name: str) -> int:
    scale = client.AppsV1Api(kube_api).read_namespaced_deployment_scale(name, namespace)
    return int(scale.spec.replicas or 0)


@contextlib.contextmanager
def steady_load(gw: Any, path: str, body: bytes, *, callers: int) -> Iterator[list[int]]:
    """``callers`` threads calling ``path`` back to back until the block ends; yields the
    statuses they got (complete once the block has ended)."""
    statuses: list[int] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            statuses.append(gw.call(path, body)[0])

    workers = [threading.Thread(target=load) for _ in range(callers)]
    for worker in workers:
        worker.start()
    try:
        yield statuses
    finally:
        stop.set()
        for worker in workers:
            worker.join()


def test_first_call_scales_from_zero_and_idle_returns_to_zero(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
) -> None:
    apply_function(kubectl, namespace, "cold")
    gw = start_gateway()
    assert deployment_replicas(kube_api, namespace, "cold") == 0
    status, headers, body = gw.call(f"/function/cold.{namespace}", b'{"n": 1}')
    assert status == 200, (body, gw.log.read_text())
    assert json.loads(body).get("event") == {"n": 1}, body
    assert headers.get("X-Wisp-Cold-Start") == "true"
    assert deployment_replicas(kube_api, namespace, "cold") == 1
    # Idle for the 3 s idle timeout: the autoscaler takes it back to zero.
    wait_for(
        lambda: deployment_replicas(kube_api, namespace, "cold") == 0,
        timeout=60,
        what="scale to zero after idle",
    )

    # The status is a second write, after the scale: it follows within a tick.
    def published_zero() -> dict[str, Any] | None:
        fn = json.loads(kubectl("get", "fn", "cold", "-o", "json", namespace=namespace).stdout)
        return fn if fn["status"].get("desiredReplicas") == 0 else None

    fn = wait_for(published_zero, timeout=10, what="desiredReplicas 0 in the Function's status")
    assert fn["status"].get("lastInvocation")


def test_trigger_routes_while_it_exists(
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
) -> None:
    apply_function(kubectl, namespace, "routed", min=1)
    gw = start_gateway()
    assert gw.call("/shop/cart", method="GET")[0] == 404
    # Without WISP_REDIS_URL the event path says so instead of a confusing 404.
    status, _, body = gw.call("/async-function/routed")
    assert status == 503 and json.loads(body)["errorType"] == "EventsNotConfigured"
    kubectl(
        "apply",
        "-f",
        "-",
        namespace=namespace,
        input="""
apiVersion: wisp.dev/v1alpha1
kind: Trigger
metadata: {name: shop}
spec: {function: routed, http: {path: /shop, methods: [GET]}}
""",
    )
    wait_for(
        lambda: gw.call("/shop/cart?x=1", method="GET")[0] == 200,
        timeout=30,
        what="the trigger to route",
    )
    _, _, body = gw.call("/shop/cart?x=1", method="GET")
    event = json.loads(body)["event"]
    assert (event["path"], event["queryStringParameters"]) == ("/shop/cart", {"x": "1"})
    kubectl("delete", "trigger", "shop", namespace=namespace)
    wait_for(lambda: gw.call("/shop/cart", method="GET")[0] == 404, timeout=10, what="the route to go")


def _holder(kube_api: client.ApiClient, namespace: str) -> str | None:
    try:
        lease = client.CoordinationV1Api(kube_api).read_namespaced_lease("wisp-gateway", namespace)
    except client.ApiException:
        return None
    return lease.spec.holder_identity if lease.spec else None


def test_one_leader_among_gateways_and_handover(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
) -> None:
    first = start_gateway("gw-a")
    second = start_gateway("gw-b")
    leader_name = wait_for(lambda: _holder(kube_api, namespace), timeout=10, what="a lease holder")
    assert leader_name in ("gw-a", "gw-b")
    leaders = [gw for gw in (first, second) if gw.admin("/system/stats")["leader"]]
    assert [gw.name for gw in leaders] == [leader_name]
    # Both replicas publish their samples; the leader sees both members.
    members = wait_for(
        lambda: (
            len(
                client.CoordinationV1Api(kube_api)
                .list_namespaced_lease(namespace, label_selector="wisp.dev/gateway-lease=wisp-gateway")
                .items
            )
            == 2
        ),
        timeout=10,
        what="both member leases",
    )
    assert members
    leader, follower = (first, second) if leader_name == "gw-a" else (second, first)
    leader.stop()
    wait_for(lambda: _holder(kube_api, namespace) == follower.name, timeout=15, what="handover")
    wait_for(lambda: follower.admin("/system/stats")["leader"], timeout=5, what="the follower to lead")


def test_deleting_a_pod_under_load_loses_no_call(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
) -> None:
    apply_function(kubectl, namespace, "steady", min=2, idle="60s")
    gw = start_gateway()

    def endpoints() -> list[str]:
        rows = gw.admin("/system/functions")["functions"]
        return [e for row in rows if row["function"] == "steady" for e in row["endpoints"]]

    wait_for(lambda: len(endpoints()) == 2, timeout=90, what="two ready endpoints")
    with steady_load(gw, f"/function/steady.{namespace}", b'{"sleep": 0.05}', callers=4) as statuses:
        time.sleep(1)
        pods = json.loads(
            kubectl("get", "pods", "-l", "wisp.dev/function=steady", "-o", "json", namespace=namespace).stdout
        )["items"]
        kubectl("delete", "pod", pods[0]["metadata"]["name"], "--wait=false", namespace=namespace)
        time.sleep(4)
    assert statuses and set(statuses) == {200}, sorted(set(statuses))


def test_queue_trigger_and_console_in_wisp_gateway(
    kubectl: Kubectl,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
    redis_server: RedisServer,  # noqa: F811 (the fixture)
) -> None:
    """``wisp gateway`` with WISP_REDIS_URL: a queue Trigger applied with kubectl reaches the
    consumers through the watch, and a plain XADD invokes the function; the console is mounted
    on the admin port behind the admin token."""
    apply_function(kubectl, namespace, "consumer", min=1)
    stream = f"jobs-{namespace}"
    gw = start_gateway(extra_env={"WISP_REDIS_URL": redis_server.url, "WISP_ADMIN_TOKEN": "kube-admin"})
    kubectl(
        "apply",
        "-f",
        "-",
        namespace=namespace,
        input=f"""
apiVersion: wisp.dev/v1alpha1
kind: Trigger
metadata: {{name: jobs}}
spec: {{function: consumer, queue: {{stream: {stream}}}}}
""",
    )
    client_ = redis.Redis.from_url(redis_server.url)
    try:

        def group_ready() -> bool:
            try:
                return bool(client_.xinfo_groups(stream))
            except redis.ResponseError:
                return False

        wait_for(group_ready, timeout=30, what="the trigger's consumer group")
        client_.xadd(stream, {"data": json.dumps({"job": 1})})
        (group,) = client_.xinfo_groups(stream)
        wait_for(
            lambda: (
                client_.xinfo_groups(stream)[0]["entries-read"] == 1
                and client_.xpending(stream, group["name"])["pending"] == 0
            ),
            timeout=60,
            what="the message delivered and acknowledged",
        )
    finally:
        client_.close()
    metrics = urllib.request.urlopen(f"http://127.0.0.1:{gw.admin_port}/metrics", timeout=10).read()
    assert b'wisp_invocations_total{code="200",function="consumer"' in metrics

    # An async call goes through the same path; its record needs the admin token.
    status, headers, _ = gw.call("/async-function/consumer", b'{"later": true}')
    assert status == 202
    record = gw.url(f"/invocations/{headers['X-Wisp-Invocation-Id']}")
    assert _status(record) == 401
    wait_for(lambda: _status(record, "kube-admin", want="succeeded"), timeout=60, what="the async call")

    # The console is on the admin port; its API needs the admin token.
    console = f"http://127.0.0.1:{gw.admin_port}/ui/api/functions/{namespace}/consumer"
    assert _status(console) == 401
    assert _status(console, "kube-admin") == 200
    # So are the dead letters its tab and `wisp dlq` read.
    dead_letters = f"http://127.0.0.1:{gw.admin_port}/system/dead-letters/functions/consumer.{namespace}"
    assert _status(dead_letters) == 401
    assert _status(dead_letters, "kube-admin") == 200


def _status(url: str, token: str | None = None, want: str | None = None) -> int | bool:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as resp:
            body = json.loads(resp.read())
            return body.get("status") == want if want else int(resp.status)
    except urllib.error.HTTPError as exc:
        return False if want else exc.code


def test_apply_call_from_zero_scale_out_under_load_and_back_to_zero(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
) -> None:
    """The whole story on a real control plane, with zero failed calls."""
    apply_function(kubectl, namespace, "story", idle="3s")
    gw = start_gateway(extra_env={"WISP_AUTOSCALE_STABLE_WINDOW": "6", "WISP_AUTOSCALE_PANIC_WINDOW": "2"})
    status, headers, body = gw.call(f"/function/story.{namespace}", b'{"n": 0}')
    assert status == 200 and headers.get("X-Wisp-Cold-Start") == "true", body

    # A step to 20 callers of a 0.2 s handler: ~20 in flight against a target of 5 per pod.
    peak = 0
    with steady_load(gw, f"/function/story.{namespace}", b'{"sleep": 0.2}', callers=20) as statuses:
        deadline = time.monotonic() + 45
        while time.monotonic() < deadline and peak < 3:
            peak = max(peak, deployment_replicas(kube_api, namespace, "story"))
            time.sleep(0.5)
    assert peak >= 3, f"scaled out to {peak} replicas only"
    assert statuses and set(statuses) == {200}, sorted(set(statuses))

    wait_for(
        lambda: deployment_replicas(kube_api, namespace, "story") == 0,
        timeout=90,
        what="scale to zero after the load stopped",
    )
