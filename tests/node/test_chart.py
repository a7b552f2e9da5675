"""The README's cluster path on the real node: ``helm install`` of deploy/helm/wisp with the images
``make images`` built, into a namespace enforcing the ``restricted`` Pod Security Standard,
Functions from examples/ applied with kubectl, waited Ready and called through the gateway
Service, and what only real containers show (non-root, where a function may write, OOM kills)."""

from __future__ import annotations

import concurrent.futures
import json
import subprocess
import time
from typing import Any

import pytest

from tests.cluster.fixtures import wait_for
from tests.node.chart import FUNCTIONS, SYSTEM, Wisp
from tests.node.node import ROOT

pytestmark = [pytest.mark.node, pytest.mark.cluster, pytest.mark.timeout(900)]


def test_chart_runs_operator_gateway_and_redis_as_non_root_pods(wisp: Wisp) -> None:
    pods = json.loads(wisp.kubectl("get", "pods", "-o", "json", namespace=SYSTEM).stdout)["items"]
    components: dict[str, list[dict[str, Any]]] = {}
    for pod in pods:
        component = pod["metadata"]["labels"].get("app.kubernetes.io/component", "")
        components.setdefault(component, []).append(pod)
    assert len(components["gateway"]) == 2
    assert {"operator", "gateway", "redis"} <= set(components)
    for pod in pods:
        assert pod["status"]["phase"] == "Running"
        assert pod["spec"]["securityContext"]["runAsNonRoot"] is True
    for component in ("operator", "gateway"):
        for pod in components[component]:
            assert pod["spec"]["serviceAccountName"] == f"wisp-{component}"


def test_python_example_answers_through_the_gateway_service(wisp: Wisp) -> None:
    wisp.apply(ROOT / "examples" / "hello.yaml")
    wisp.wait_ready("hello")
    status, body = wisp.call("hello", {"name": "node"})
    assert status == 200, body
    assert body["hello"] == "node"


def test_node_example_answers_through_the_gateway_service(wisp: Wisp) -> None:
    wisp.apply(ROOT / "examples" / "node-hello.yaml")
    wisp.wait_ready("node-hello")
    status, body = wisp.call("node-hello", {"name": "node"})
    assert status == 200, body
    assert body["hello"] == "node"
    assert body["runtime"].startswith("node 20.")


def test_function_container_is_non_root_and_may_write_only_tmp(wisp: Wisp) -> None:
    """The hello example's code is small: its pod starts with no volume, the code in its
    environment and /tmp on the container's writable layer; its user still writes nowhere else."""
    wisp.apply(ROOT / "examples" / "hello.yaml")
    wisp.wait_ready("hello")
    assert wisp.call("hello", {"name": "fs"})[0] == 200
    pod = next(p for p in wisp.function_pods("hello") if p["status"]["phase"] == "Running")
    name = pod["metadata"]["name"]

    def exec_(*argv: str) -> subprocess.CompletedProcess[str]:
        return wisp.kubectl("exec", name, "--", *argv, namespace=FUNCTIONS, check=False)

    assert "volumes" not in pod["spec"]
    assert exec_("id", "-u").stdout.strip() not in ("", "0")
    for path in ("/var/wisp/code/written", "/opt/wisp/written", "/usr/local/lib/written", "/written"):
        denied = exec_("touch", path)
        assert denied.returncode != 0, path
        assert "Permission denied" in denied.stderr, (path, denied.stderr)
    assert exec_("sh", "-c", "echo ok > /tmp/written && cat /tmp/written").stdout.strip() == "ok"
    writable = exec_("find", "/", "-xdev", "-type", "d", "-writable").stdout.split()
    assert "/tmp" in writable
    under_tmp = ("/tmp", "/var/tmp")
    assert [p for p in writable if p not in under_tmp and not p.startswith(("/tmp/", "/var/tmp/"))] == []


FOLDERS = """apiVersion: wisp.dev/v1alpha1
kind: Function
metadata:
  name: folders
spec:
  runtime: python3.14
  handler: main.handler
  code:
    files:
      main.py: |
        from lib.greet import greet
        def handler(event, context):
            return greet(event.get("name", "world"))
      lib/__init__.py: ""
      lib/greet.py: |
        def greet(name):
            return {"hello": name}
  access:
    public: true
"""


def test_a_function_whose_code_has_folders_gets_it_mounted_under_a_read_only_root(wisp: Wisp) -> None:
    wisp.apply(FOLDERS)
    wisp.wait_ready("folders")
    assert wisp.call("folders", {"name": "fs"}) == (200, {"hello": "fs"})
    pod = next(p for p in wisp.function_pods("folders") if p["status"]["phase"] == "Running")
    assert {v["name"] for v in pod["spec"]["volumes"]} == {"tmp", "code"}
    name = pod["metadata"]["name"]

    def exec_(*argv: str) -> subprocess.CompletedProcess[str]:
        return wisp.kubectl("exec", name, "--", *argv, namespace=FUNCTIONS, check=False)

    denied = exec_("touch", "/var/wisp/written")
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr
    assert exec_("sh", "-c", "echo ok > /tmp/written && cat /tmp/written").stdout.strip() == "ok"


HOG = """apiVersion: wisp.dev/v1alpha1
kind: Function
metadata:
  name: hog
spec:
  runtime: python3.14
  handler: main.handler
  code:
    inline: |
      def handler(event, context):
          chunks = []
          while True:
              chunks.append(bytearray(8 * 1024 * 1024))
  memory: 64Mi
  timeout: 30s
  access:
    public: true
  scale:
    min: 0
    max: 1
"""


def test_a_handler_past_its_memory_is_oom_killed_and_the_status_says_so(wisp: Wisp) -> None:
    wisp.apply(HOG)
    wisp.wait_ready("hog")
    status, body = wisp.call("hog", {})
    # The caller is told why, in Lambda's words.
    assert status == 502, body
    assert body["errorType"] == "Runtime.OutOfMemory", body

    def killed() -> dict[str, Any] | None:
        for pod in wisp.function_pods("hog"):
            for container in pod["status"].get("containerStatuses", []):
                for state in (container.get("state", {}), container.get("lastState", {})):
                    if state.get("terminated", {}).get("reason") == "OOMKilled":
                        return dict(state["terminated"])
        return None

    terminated = wait_for(killed, timeout=120, interval=0.5, what="an OOMKilled container in the pod status")
    assert terminated["exitCode"] == 137

    def out_of_memory() -> dict[str, Any] | None:
        fn = json.loads(wisp.kubectl("get", "function", "hog", "-o", "json", namespace=FUNCTIONS).stdout)
        conditions = {c["type"]: c for c in fn.get("status", {}).get("conditions", [])}
        condition = conditions.get("OutOfMemory")
        if condition and condition["status"] == "True" and fn["status"].get("outOfMemory", {}).get("kills"):
            return dict(condition)
        return None

    condition = wait_for(
        out_of_memory, timeout=120, interval=0.5, what="the Function's OutOfMemory condition"
    )
    assert condition["reason"] == "OOMKilled"
    assert "64Mi" in condition["message"]


def test_http_trigger_example_through_a_port_forward_of_the_gateway(wisp: Wisp) -> None:
    wisp.apply(ROOT / "examples" / "http-trigger.yaml")
    wisp.wait_ready("orders")
    with wisp.port_forward() as base:

        def get_order() -> Any:
            status, body = wisp.request(f"{base}/orders/42?verbose=1")
            return body if status == 200 else None

        # The gateways learn the Trigger from their watch: the route appears within moments.
        body = wait_for(get_order, timeout=120, interval=0.5, what="GET /orders/42 through the Trigger")
        assert body == {"id": 42, "item": "tea", "verbose": True}
        status, created = wisp.request(f"{base}/orders", {"item": "tea"})
        assert status == 201
        assert created == {"id": 1, "item": "tea"}


def test_queue_trigger_example_takes_a_message_from_the_charts_redis(wisp: Wisp) -> None:
    wisp.apply(ROOT / "examples" / "queue-worker.yaml")
    wisp.wait_ready("welcome")
    redis = wisp.kubectl(
        "get", "pods", "-l", "app.kubernetes.io/component=redis", "-o", "name", namespace=SYSTEM
    ).stdout.split()[0]
    sent: list[float] = []

    def handled() -> bool:
        logs = wisp.kubectl(
            "logs", "-l", "wisp.dev/function=welcome", "--tail=-1", namespace=FUNCTIONS, check=False
        ).stdout
        if "welcome mail to ada@example.com" in logs:
            return True
        # The gateways make the stream's consumer group once they see the Trigger: a message
        # added before that is not for them, so add one again now and then.
        if not sent or time.monotonic() - sent[-1] > 10:
            message = '{"email": "ada@example.com"}'
            wisp.kubectl(
                "exec", redis, "--", "redis-cli", "XADD", "signups", "*", "data", message, namespace=SYSTEM
            )
            sent.append(time.monotonic())
        return False

    wait_for(handled, timeout=120, interval=1, what="the queue message in the function's kubectl logs")


def test_helm_upgrade_with_a_changed_value_rolls_the_gateways(wisp: Wisp) -> None:
    def gateway_pods() -> set[str]:
        out = wisp.kubectl(
            "get", "pods", "-l", "app.kubernetes.io/component=gateway", "-o", "name", namespace=SYSTEM
        )
        return set(out.stdout.split())

    before = gateway_pods()
    wisp.upgrade(**{"gateway.maxBodyBytes": "1048576"})
    wisp.kubectl("rollout", "status", "deploy/wisp-gateway", "--timeout=180s", namespace=SYSTEM, timeout=190)

    def rolled() -> set[str] | None:
        pods = gateway_pods()
        return pods if len(pods) == 2 and not pods & before else None

    after = wait_for(rolled, timeout=120, what="two new gateway pods")
    assert len(after) == 2
    env = wisp.kubectl(
        "get",
        "deploy/wisp-gateway",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].env}",
        namespace=SYSTEM,
    ).stdout
    assert "1048576" in env
    # Still serving after the roll.
    wisp.apply(ROOT / "examples" / "hello.yaml")
    wisp.wait_ready("hello")
    assert wait_for(lambda: wisp.call("hello", {"name": "rolled"})[0] == 200, timeout=60)


BURST = """apiVersion: wisp.dev/v1alpha1
kind: Function
metadata:
  name: burst
spec:
  runtime: python3.14
  handler: main.handler
  code:
    inline: |
      def handler(event, context):
          return {"n": event["n"]}
  memory: 64Mi
  access:
    public: true
  scale:
    min: 0
    max: 3
"""


def test_two_hundred_concurrent_calls_to_a_function_at_zero_all_answer(wisp: Wisp) -> None:
    wisp.apply(BURST)
    wisp.wait_ready("burst")
    assert not wisp.function_pods("burst")
    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(lambda n: wisp.call("burst", {"n": n}, timeout=120), range(200)))
    failed = [(status, body) for status, body in answers if status != 200]
    assert not failed, f"{len(failed)} of 200 failed, e.g. {failed[:3]}"
    assert sorted(body["n"] for _, body in answers) == list(range(200))


CRASH = """apiVersion: wisp.dev/v1alpha1
kind: Function
metadata:
  name: crash
spec:
  runtime: python3.14
  handler: main.handler
  code:
    inline: |
      raise RuntimeError("broken at import")

      def handler(event, context):
          return {}
  memory: 64Mi
  access:
    public: true
  scale:
    min: 1
    max: 1
"""


def test_a_function_whose_handler_fails_to_load_says_why(wisp: Wisp) -> None:
    wisp.apply(CRASH)

    def not_ready() -> dict[str, Any] | None:
        fn = json.loads(wisp.kubectl("get", "function", "crash", "-o", "json", namespace=FUNCTIONS).stdout)
        conditions = {c["type"]: c for c in fn.get("status", {}).get("conditions", [])}
        ready = conditions.get("Ready")
        return (
            dict(ready)
            if ready and ready["status"] == "False" and ready["reason"] == "CrashLoopBackOff"
            else None
        )

    condition = wait_for(
        not_ready, timeout=120, interval=1, what="Ready=False (CrashLoopBackOff) on the Function"
    )
    # The runtime's own words, not the kubelet's "back-off restarting failed container".
    message = condition["message"]
    assert "'main.handler' could not be loaded: RuntimeError" in message, condition
    assert "broken at import" in message, condition
    pod = wisp.function_pods("crash")[0]["metadata"]["name"]
    logs = wisp.kubectl("logs", pod, "--previous", namespace=FUNCTIONS, check=False).stdout
    assert "broken at import" in logs
    # A caller is told at once, not held until the cold-start timeout.
    status, body = wisp.call("crash", {}, timeout=60)
    assert status == 503, body
    assert "broken at import" in json.dumps(body), body


SLOW = """apiVersion: wisp.dev/v1alpha1
kind: Function
metadata:
  name: slow
spec:
  runtime: python3.14
  handler: main.handler
  code:
    inline: |
      import time

      def handler(event, context):
          context.logger.info("call %s sleeping", event["id"])
          time.sleep(event["seconds"])
          return {"id": event["id"], "slept": event["seconds"]}
  memory: 64Mi
  timeout: 30s
  access:
    public: true
  scale:
    min: 1
    max: 1
"""


def test_sigterm_to_a_pod_lets_its_call_in_flight_finish(wisp: Wisp) -> None:
    wisp.apply(SLOW)
    wisp.wait_ready("slow")
    assert wisp.call("slow", {"id": "warm", "seconds": 0})[0] == 200
    pod = next(p for p in wisp.function_pods("slow") if p["status"]["phase"] == "Running")["metadata"]["name"]
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        call = pool.submit(wisp.call, "slow", {"id": "in-flight", "seconds": 5}, 60)

        def started() -> bool:
            logs = wisp.kubectl("logs", pod, namespace=FUNCTIONS, check=False).stdout
            return "call in-flight sleeping" in logs

        wait_for(started, timeout=60, interval=0.2, what="the call to reach the handler")
        # What a scale-down does to a pod: the kubelet sends its container SIGTERM (to PID 1).
        wisp.kubectl("delete", "pod", pod, "--wait=false", namespace=FUNCTIONS)
        status, body = call.result(timeout=60)
    assert status == 200, body
    assert body == {"id": "in-flight", "slept": 5}
