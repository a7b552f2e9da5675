"""The warm pool on the real node (docs/warm-pool.md): wisp installed with ``pool.python``,
``pool.node`` and ``pool.java`` on, a call to a Function at zero answered by a generic runtime pod
specialised for it (Python, Node.js and Java), the pool refilled, the handover to the Function's
own pods with no lost call, one function per pool pod, a specialised function unable to specialise
another pool pod, and the fallbacks (a Function that may not use the pool, an empty pool, a pod
that fails to specialise) answering from the Function's own pods without an error to the caller."""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import json
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster.fixtures import wait_for
from tests.node.chart import FUNCTIONS, SYSTEM, Wisp
from wisp.gateway.kube.poolplan import pod_token

pytestmark = [pytest.mark.node, pytest.mark.cluster, pytest.mark.timeout(900)]

POOL_SIZE = 2
POOL_PREFIX = "wisp-pool-python-"
HANDLER = """import os
import socket
import time

LOADED_IN = socket.gethostname()
if os.environ.get("FAIL_IN_POOL") and LOADED_IN.startswith("wisp-pool-"):
    raise RuntimeError("this module refuses to load in a pool pod")
if os.environ.get("SLOW_OUTSIDE_POOL") and not LOADED_IN.startswith("wisp-pool-"):
    time.sleep(90)  # the function's own pod stays unready: the pool pod keeps serving it


def handler(event, context):
    return {
        "pod": socket.gethostname(),
        "function": context.function_name,
        "mark": os.environ.get("MARK"),
        "token": os.environ.get("WISP_POOL_TOKEN"),
        "n": event.get("n"),
    }
"""


NODE_HANDLER = """const os = require('node:os');

if (!os.hostname().startsWith('wisp-pool-')) {
  // The function's own pod stays unready for a while: the answer can only come from the pool.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 90000);
}

exports.handler = async (event, context) => ({
  pod: os.hostname(),
  function: context.functionName,
  mark: process.env.MARK ?? null,
  token: process.env.WISP_POOL_TOKEN ?? null,
});
"""


JAVA_HANDLER = """package warm;

import dev.wisp.runtime.Context;
import dev.wisp.runtime.RequestHandler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

public class Hello implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    static {
        if (!hostname().startsWith("wisp-pool-")) {
            // The function's own pod stays unready for a while: the answer can only come from the pool.
            try {
                Thread.sleep(90_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    static String hostname() {
        try {
            return Files.readString(Path.of("/proc/sys/kernel/hostname")).trim();
        } catch (Exception e) {
            return "";
        }
    }

    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        Map<String, Object> out = new HashMap<>();
        out.put("pod", hostname());
        out.put("function", context.getFunctionName());
        out.put("mark", System.getenv("MARK"));
        out.put("token", System.getenv("WISP_POOL_TOKEN"));
        return out;
    }
}
"""


# Code that, once specialised into a pool pod, tries to take over another free pool pod: with
# every value it can find in its process (its environment, its initial environment in
# /proc/self/environ, the pod's token file) as the token.
INTRUDER = """import json
import os
import socket
import time
import urllib.error
import urllib.request

if not socket.gethostname().startswith("wisp-pool-"):
    time.sleep(90)  # the function's own pod stays unready: the pool pod keeps serving it

INTRUSION = json.dumps({
    "env": {"WISP_HANDLER": "main.handler", "WISP_FUNCTION_NAME": "intruder"},
    "files": {"main.py": "def handler(event, context):\\n    return {'pod': 'intruder'}\\n"},
}).encode()


def found_secrets():
    found = {value for value in os.environ.values() if value}
    with open("/proc/self/environ", "rb") as initial:
        for item in initial.read().split(b"\\0"):
            found.add(item.partition(b"=")[2].decode(errors="replace"))
    for path in ("/tmp/wisp-pool-token", os.environ.get("WISP_POOL_TOKEN_FILE", "")):
        try:
            with open(path) as given:
                found.add(given.read().strip())
        except OSError:
            pass
    return sorted(value for value in found if value)


def status_of(request):
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
        return str(exc)


def handler(event, context):
    target = event.get("target")
    found = found_secrets()
    tried = {}
    if target:
        for value in found:
            request = urllib.request.Request(
                target + "/_wisp/specialise",
                data=INTRUSION,
                headers={"Authorization": "Bearer " + value, "Content-Type": "application/json"},
            )
            tried[value] = status_of(request)
    call = urllib.request.Request(target or "http://127.0.0.1:8080", data=b"{}")
    return {"pod": socket.gethostname(), "found": found, "tried": tried, "target_answers": status_of(call)}
"""


def function(
    name: str,
    env: list[dict[str, Any]] | None = None,
    *,
    node: bool = False,
    code: str | None = None,
    java: bool = False,
) -> str:
    runtime, handler, default_code = (
        ("java17", "warm.Hello", JAVA_HANDLER)
        if java
        else ("nodejs24", "main.handler", NODE_HANDLER)
        if node
        else ("python3.14", "main.handler", HANDLER)
    )
    manifest = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": name},
        "spec": {
            "runtime": runtime,
            "handler": handler,
            "code": {"inline": code or default_code},
            "env": env or [{"name": "MARK", "value": name}],
            "memory": "128Mi",
            "access": {"public": True},
            "scale": {"min": 0, "max": 1},
        },
    }
    return json.dumps(manifest)


@pytest.fixture(scope="module")
def wisp(wisp: Wisp) -> Iterator[Wisp]:
    """The session's install with the pools on, for this module; off again after it."""
    wisp.configure(
        {
            "pool.python.enabled": "true",
            "pool.python.size": str(POOL_SIZE),
            "pool.node.enabled": "true",
            "pool.node.size": "1",
            "pool.java.enabled": "true",
            "pool.java.size": "1",
        }
    )
    yield wisp
    wisp.configure()


def pool_pods(wisp: Wisp, state: str, pool: str = "python") -> list[dict[str, Any]]:
    out = wisp.kubectl(
        "get",
        "pods",
        "-l",
        f"wisp.dev/pool={pool},wisp.dev/pool-state={state}",
        "-o",
        "json",
        namespace=FUNCTIONS,
    )
    return [p for p in json.loads(out.stdout)["items"] if not p["metadata"].get("deletionTimestamp")]


def gateway_ips(wisp: Wisp) -> list[str]:
    """The gateway replicas' pod addresses."""
    out = wisp.kubectl(
        "get", "pods", "-l", "app.kubernetes.io/component=gateway", "-o", "json", namespace=SYSTEM
    )
    return [ip for pod in json.loads(out.stdout)["items"] if (ip := pod["status"].get("podIP"))]


def gateway_metric(wisp: Wisp, series: str) -> float:
    """The sum over the gateway replicas of one series of their /metrics (admin port)."""
    total = 0.0
    for ip in gateway_ips(wisp):
        with urllib.request.urlopen(f"http://{ip}:9090/metrics", timeout=30) as response:
            for line in response.read().decode().splitlines():
                if line.startswith(series + " "):
                    total += float(line.split()[-1])
    return total


def is_ready(pod: dict[str, Any]) -> bool:
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def pool_ready(wisp: Wisp, pool: str = "python", size: int = POOL_SIZE) -> None:
    def ready() -> bool:
        pods = pool_pods(wisp, "free", pool)
        return len(pods) == size and all(map(is_ready, pods))

    wait_for(ready, timeout=180, interval=0.5, what=f"{size} free, ready {pool} pool pods")


def deploy(
    wisp: Wisp,
    name: str,
    env: list[dict[str, Any]] | None = None,
    *,
    node: bool = False,
    code: str | None = None,
    java: bool = False,
) -> None:
    wisp.apply(function(name, env, node=node, code=code, java=java))
    wisp.wait_ready(name)
    assert not wisp.function_pods(name)


def test_a_call_at_zero_is_served_by_a_specialised_pool_pod_then_handed_over(wisp: Wisp) -> None:
    pool_ready(wisp)
    deploy(wisp, "warm")
    status, body = wisp.call("warm", {"n": 0})
    assert status == 200, body
    assert body["pod"].startswith(POOL_PREFIX), body
    assert body["function"] == "warm"
    assert body["mark"] == "warm"
    assert body["token"] is None  # the pool's token is not the function's to see
    # The gateway routes the held call to the pod first and marks it specialised meanwhile.
    (claimed,) = wait_for(
        lambda: [p for p in pool_pods(wisp, "specialised") if p["metadata"]["name"] == body["pod"]],
        timeout=30,
        what="the pool pod marked specialised",
        interval=0.5,
    )
    assert claimed["metadata"]["labels"]["wisp.dev/pool-function"] == "warm"
    # The pool is refilled: its ReplicaSet replaced the pod that left it.
    pool_ready(wisp)
    cold = 'wisp_cold_start_seconds_count{function="warm",namespace="' + FUNCTIONS + '",path="pool"}'
    assert gateway_metric(wisp, cold) >= 1
    assert gateway_metric(wisp, 'wisp_pool_starts_total{pool="python",result="hit"}') >= 1

    # Calls keep coming while the Function's own pod starts and takes over: none is lost.
    answers: list[tuple[int, Any]] = []
    stop = threading.Event()

    def keep_calling() -> None:
        n = 1
        while not stop.is_set():
            answers.append(wisp.call("warm", {"n": n}, timeout=60))
            n += 1

    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        calling = pool.submit(keep_calling)

        def handed_over() -> bool:
            own = [p for p in wisp.function_pods("warm") if not p["metadata"].get("deletionTimestamp")]
            gone = all(p["metadata"]["name"] != body["pod"] for p in pool_pods(wisp, "specialised"))
            last = answers[-1][1] if answers else None
            return bool(own) and gone and isinstance(last, dict) and last["pod"] == own[0]["metadata"]["name"]

        try:
            wait_for(handed_over, timeout=240, interval=0.5, what="the Function's own pod to take over")
        finally:
            stop.set()
            calling.result(timeout=120)
    failed = [a for a in answers if a[0] != 200]
    assert not failed, f"{len(failed)} of {len(answers)} calls failed during the handover: {failed[:3]}"
    assert answers[-1][1]["pod"].startswith("warm-")


def test_a_burst_of_200_calls_at_zero_is_served_without_an_error(wisp: Wisp) -> None:
    pool_ready(wisp)
    deploy(wisp, "burst")
    with concurrent.futures.ThreadPoolExecutor(max_workers=200) as pool:
        answers = list(pool.map(lambda n: wisp.call("burst", {"n": n}, timeout=120), range(200)))
    failed = [a for a in answers if a[0] != 200]
    assert not failed, f"{len(failed)} of 200 calls failed: {failed[:3]}"
    assert sorted(a[1]["n"] for a in answers) == list(range(200))
    assert any(a[1]["pod"].startswith(POOL_PREFIX) for a in answers)  # the pool served the first


def test_two_functions_at_zero_at_once_get_a_pod_each(wisp: Wisp) -> None:
    pool_ready(wisp)
    # Their own pods stay unready, so the pool pods that served them are still there to look at.
    for name in ("left", "right"):
        deploy(wisp, name, [{"name": "MARK", "value": name}, {"name": "SLOW_OUTSIDE_POOL", "value": "1"}])
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        left, right = pool.map(lambda name: wisp.call(name, {}), ["left", "right"])
    assert left[0] == 200 and right[0] == 200, (left, right)
    assert left[1]["pod"].startswith(POOL_PREFIX) and right[1]["pod"].startswith(POOL_PREFIX)
    assert left[1]["pod"] != right[1]["pod"]
    assert (left[1]["mark"], right[1]["mark"]) == ("left", "right")

    # The gateway routes a held call to its pod first and marks the pod specialised meanwhile.
    def functions() -> dict[str, str]:
        return {
            p["metadata"]["name"]: p["metadata"]["labels"]["wisp.dev/pool-function"]
            for p in pool_pods(wisp, "specialised")
        }

    served = {left[1]["pod"]: "left", right[1]["pod"]: "right"}
    wait_for(lambda: served.items() <= functions().items(), timeout=30, interval=0.5, what="both specialised")


BOUNDS = ("wisp.dev/pool-min-size", "wisp.dev/pool-max-size")


@contextlib.contextmanager
def fixed_pool_size(wisp: Wisp) -> Iterator[None]:
    """The Python pool at its size and without its size bounds: the gateways leave its size alone
    (no free pod is removed by a shrink meanwhile, and a pool grown by the claims of the tests
    before is not left at that size); its bounds as they were afterwards."""
    out = wisp.kubectl("get", "deployment", "wisp-pool-python", "-o", "json", namespace=FUNCTIONS)
    annotations = json.loads(out.stdout)["metadata"].get("annotations") or {}
    bound = [f"{b}={annotations[b]}" for b in BOUNDS if b in annotations]
    unbound = [f"{b}-" for b in BOUNDS]
    wisp.kubectl("annotate", "deployment", "wisp-pool-python", *unbound, namespace=FUNCTIONS)
    wisp.kubectl("scale", "deployment", "wisp-pool-python", f"--replicas={POOL_SIZE}", namespace=FUNCTIONS)
    try:
        yield
    finally:
        if bound:
            wisp.kubectl(
                "annotate", "deployment", "wisp-pool-python", *bound, "--overwrite", namespace=FUNCTIONS
            )


def test_a_burst_over_both_gateways_is_served_by_one_pool_pod(wisp: Wisp) -> None:
    """Calls to a function at zero reach both gateway replicas at once: both hand the same pool
    pod the function, rather than using up a pod each."""
    pool_ready(wisp)
    # Its own pod stays unready, so the pool pods are all there is to serve it.
    deploy(wisp, "shared", [{"name": "MARK", "value": "shared"}, {"name": "SLOW_OUTSIDE_POOL", "value": "1"}])
    urls = [f"http://{ip}:8080/function/shared" for ip in gateway_ips(wisp)]
    assert len(urls) == 2, urls
    with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(lambda n: wisp.request(urls[n % 2], {"n": n}, timeout=120), range(20)))
    assert all(status == 200 for status, _ in answers), answers
    assert {body["pod"] for _, body in answers} == {answers[0][1]["pod"]}
    # One listing: a pod moves from claimed to specialised while two would be read.
    taken = wisp.kubectl(
        "get", "pods", "-l", "wisp.dev/pool-function=shared", "-o", "name", namespace=FUNCTIONS
    ).stdout.split()
    assert taken == [f"pod/{answers[0][1]['pod']}"]


def test_a_specialised_function_cannot_specialise_another_pool_pod(wisp: Wisp) -> None:
    with fixed_pool_size(wisp):
        pool_ready(wisp)
        intrude(wisp)


def intrude(wisp: Wisp) -> None:
    deploy(wisp, "intruder", code=INTRUDER)
    # The victim is a pod that was free and ready before the call (not the replacement the
    # ReplicaSet starts for the claimed pod, whose runtime may not listen yet).
    ready = {p["metadata"]["name"] for p in pool_pods(wisp, "free") if is_ready(p)}
    status, body = wisp.call("intruder", {})
    assert status == 200, body
    assert body["pod"].startswith(POOL_PREFIX), body
    victim = next(p for p in pool_pods(wisp, "free") if p["metadata"]["name"] in ready - {body["pod"]})
    target = f"http://{victim['status']['podIP']}:8080"
    status, body = wisp.call("intruder", {"target": target})
    assert status == 200, body
    assert body["pod"].startswith(POOL_PREFIX), body
    # Nothing the function can read is the other pod's token ...
    out = wisp.kubectl("get", "secret", "wisp-pool-key", "-o", "jsonpath={.data.key}", namespace=FUNCTIONS)
    key = base64.b64decode(out.stdout).decode()
    assert pod_token(key, victim["metadata"]["uid"]) not in body["found"]
    assert key not in body["found"]
    # ... so every try is refused, and the other pod is still free and without a function.
    assert body["tried"], body
    assert not [value for value, answer in body["tried"].items() if answer == 200], body["tried"]
    assert body["target_answers"] == 503, body  # NotSpecialised
    assert victim["metadata"]["name"] in {p["metadata"]["name"] for p in pool_pods(wisp, "free")}


SKIPPED = 'wisp_pool_starts_total{pool="python",result="skipped"}'


def test_a_function_with_a_secret_in_its_environment_skips_the_pool(wisp: Wisp) -> None:
    pool_ready(wisp)
    wisp.kubectl(
        "create", "secret", "generic", "mark", "--from-literal=value=secret-mark", namespace=FUNCTIONS
    )
    env = [{"name": "MARK", "valueFrom": {"secretKeyRef": {"name": "mark", "key": "value"}}}]
    deploy(wisp, "secretive", env)
    skipped = gateway_metric(wisp, SKIPPED)
    status, body = wisp.call("secretive", {})
    assert status == 200, body
    assert body["pod"].startswith("secretive-"), body
    assert body["mark"] == "secret-mark"
    # No pool pod was taken for it (counting the free ones would not say: the pool's size follows
    # the claims of the tests before, and may change meanwhile), and the gateway says it skipped.
    taken = wisp.kubectl(
        "get", "pods", "-l", "wisp.dev/pool-function=secretive", "-o", "name", namespace=FUNCTIONS
    )
    assert not taken.stdout.strip(), taken.stdout
    assert gateway_metric(wisp, SKIPPED) > skipped


def test_a_pod_that_fails_to_specialise_is_discarded_and_the_call_still_answers(wisp: Wisp) -> None:
    pool_ready(wisp)
    before = {p["metadata"]["name"] for p in pool_pods(wisp, "free")}
    deploy(wisp, "picky", [{"name": "MARK", "value": "picky"}, {"name": "FAIL_IN_POOL", "value": "1"}])
    status, body = wisp.call("picky", {})
    assert status == 200, body
    assert body["pod"].startswith("picky-"), body

    def discarded() -> bool:
        now = {p["metadata"]["name"] for p in pool_pods(wisp, "free")}
        claimed = [p for p in pool_pods(wisp, "claimed") if p["metadata"]["name"] in before]
        return len(before - now) == 1 and not claimed

    wait_for(discarded, timeout=120, interval=0.5, what="the pod that failed to specialise to be deleted")
    pool_ready(wisp)


def pool_replicas(wisp: Wisp, pool: str = "python") -> int:
    out = wisp.kubectl(
        "get", "deployment", f"wisp-pool-{pool}", "-o", "jsonpath={.spec.replicas}", namespace=FUNCTIONS
    )
    return int(out.stdout)


def test_the_pool_grows_with_its_cold_starts_and_shrinks_back_when_they_stop(wisp: Wisp) -> None:
    pool_ready(wisp)
    names = [f"often{i}" for i in range(POOL_SIZE + 1)]
    for name in names:
        deploy(wisp, name)
    for name in names:  # one after another, each once the pool has a free pod again (it refills)
        wait_for(lambda: any(map(is_ready, pool_pods(wisp, "free"))), 120, "a free pool pod", interval=0.5)
        status, body = wisp.call(name, {})
        assert status == 200, body
        assert body["pod"].startswith(POOL_PREFIX), body  # a claim: what the pool's size follows
    wait_for(
        lambda: pool_replicas(wisp) > POOL_SIZE,
        timeout=120,
        interval=1,
        what="the pool to grow past its size after more claims than it has pods in a minute",
    )
    wait_for(
        lambda: pool_replicas(wisp) == POOL_SIZE,
        timeout=240,
        interval=2,
        what="the pool to shrink back to its size once the claims are a minute old",
    )


def test_an_empty_pool_falls_back_to_the_functions_own_pod(wisp: Wisp) -> None:
    pool_ready(wisp)
    with fixed_pool_size(wisp):
        empty_pool_falls_back(wisp)


def empty_pool_falls_back(wisp: Wisp) -> None:
    wisp.kubectl("scale", "deployment", "wisp-pool-python", "--replicas=0", namespace=FUNCTIONS)
    try:
        wait_for(lambda: not pool_pods(wisp, "free"), timeout=120, interval=0.5, what="an empty pool")
        deploy(wisp, "cold")
        status, body = wisp.call("cold", {})
        assert status == 200, body
        assert body["pod"].startswith("cold-"), body
    finally:
        wisp.kubectl(
            "scale", "deployment", "wisp-pool-python", f"--replicas={POOL_SIZE}", namespace=FUNCTIONS
        )


def test_a_nodejs_function_at_zero_is_served_by_a_specialised_node_pool_pod(wisp: Wisp) -> None:
    pool_ready(wisp, "node", 1)
    deploy(wisp, "nodewarm", node=True)
    status, body = wisp.call("nodewarm", {})
    assert status == 200, body
    assert body["pod"].startswith("wisp-pool-node-"), body
    assert (body["function"], body["mark"], body["token"]) == ("nodewarm", "nodewarm", None)
    pool_ready(wisp, "node", 1)


def test_a_java_function_at_zero_is_served_by_a_specialised_java_pool_pod(wisp: Wisp) -> None:
    pool_ready(wisp, "java", 1)
    deploy(wisp, "javawarm", java=True)
    status, body = wisp.call("javawarm", {})
    assert status == 200, body
    assert body["pod"].startswith("wisp-pool-java-"), body
    # Its sources compiled and loaded in the pool pod's JVM, which reads the Function's environment.
    assert (body["function"], body["mark"], body["token"]) == ("javawarm", "javawarm", None)
    pool_ready(wisp, "java", 1)


def test_wisp_describe_shows_the_pool_pod_serving_a_function(wisp: Wisp) -> None:
    pool_ready(wisp)
    deploy(
        wisp, "slowown", [{"name": "MARK", "value": "slowown"}, {"name": "SLOW_OUTSIDE_POOL", "value": "1"}]
    )
    status, body = wisp.call("slowown", {})
    assert status == 200, body
    assert body["pod"].startswith(POOL_PREFIX), body
    described = subprocess.run(
        [
            str(Path(sys.executable).with_name("wisp")),
            "describe",
            "slowown",
            "--kubeconfig",
            str(wisp.node.kubeconfig),
            "-n",
            FUNCTIONS,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"Warm pool:    pod {body['pod']} (specialised)" in described.stdout, described.stderr
