"""NetworkPolicy enforced for real on the real node (docs/security.md): with a policy engine
running (kube-router's policy controller, ``RealNode.network_policy``), a Function reaches what
its ``spec.network`` allows and is turned away from what it does not, DNS answers it either way,
a pod that is not the gateway fails to call a function pod or a warm-pool pod directly, and the
gateway still reaches both. An ``ipBlock`` egress reaches an address inside its CIDR and not one
outside it; with the chart's deny-by-default baseline (``networkPolicy.denyByDefault``) a
Function without ``spec.network`` reaches nothing but DNS and the gateway's invocation port, while
calls through the gateway still work and a Function's own egress still reaches what it names: one
Function calls another through the gateway and gets its answer, yet reaches neither that
Function's pod directly nor the gateway's admin port.

Targets are plain pods serving HTTP in a namespace of their own: ``open`` (which the fenced
Function's egress names) and ``closed`` (which it does not); a Function with no ``spec.network``
reaches both, so a refusal is the policy's doing, not a closed port."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.cluster.fixtures import wait_for
from tests.node.chart import FUNCTIONS, SYSTEM, Wisp
from tests.node.node import NodeUnavailable, RealNode, netpol_engine

# The timeout covers a wait for the machine's one node (up to 30 min) as well as the test.
pytestmark = [pytest.mark.node, pytest.mark.cluster, pytest.mark.timeout(2700)]

TARGETS = "wisp-np-targets"
IMAGE = "wisp/runtime-python:3.11"
DNS_NAME = "kubernetes.default.svc.cluster.local"
# How a function calls another: the gateway's Service, by name, on its port.
GATEWAY_URL = f"http://wisp-gateway.{SYSTEM}.svc.cluster.local:8080"
# What a function (or any pod with Python) makes of a list of URLs and names: the HTTP status, or
# "blocked" when the connection is refused, unreachable or times out (kube-router rejects what
# a policy does not allow; engines that drop it make callers time out instead); for ``call``, the
# JSON a URL answers a POST of a payload with.
PROBE = """
import json, socket, urllib.error, urllib.request


def reach(url):
    try:
        with urllib.request.urlopen(url, timeout=4) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return "blocked"


def call(url, payload):
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code
    except (urllib.error.URLError, OSError):
        return "blocked"


def handler(event, context):
    answer = {name: reach(url) for name, url in (event.get("reach") or {}).items()}
    for name, (url, payload) in (event.get("call") or {}).items():
        answer[name] = call(url, payload)
    for name in event.get("resolve") or []:
        try:
            socket.getaddrinfo(name, 443)
            answer[name] = "resolved"
        except OSError:
            answer[name] = "unresolved"
    if event.get("whoami"):
        answer["pod"] = socket.gethostname()
    return answer
"""
PROBE_MAIN = PROBE + "\nimport sys\nprint(json.dumps(handler(json.loads(sys.argv[1]), None)))\n"


def function(name: str, **spec: Any) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "wisp.dev/v1alpha1",
            "kind": "Function",
            "metadata": {"name": name},
            "spec": {
                "runtime": "python3.12",
                "handler": "main.handler",
                "code": {"inline": PROBE},
                "memory": "128Mi",
                "access": {"public": True},
                **spec,
            },
        }
    )


def pod(name: str, role: str, command: list[str]) -> str:
    """A plain pod of the targets' namespace running ``command`` in the Python runtime image."""
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"role": role}},
            "spec": {
                "containers": [
                    {
                        "name": "main",
                        "image": IMAGE,
                        "imagePullPolicy": "Never",
                        "command": command,
                        "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}},
                    }
                ],
                "terminationGracePeriodSeconds": 1,
            },
        }
    )


SERVE = ["python3", "-m", "http.server", "8080"]
IDLE = ["python3", "-c", "import time; time.sleep(86400)"]
# Only the open target, on its port: the fenced Function's whole egress beside DNS.
FENCED_EGRESS = [
    {
        "to": [
            {
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": TARGETS}},
                "podSelector": {"matchLabels": {"role": "open"}},
            }
        ],
        "ports": [{"protocol": "TCP", "port": 8080}],
    }
]


@pytest.fixture(scope="module")
def enforced(real_node: RealNode) -> Iterator[RealNode]:
    """The node with its NetworkPolicy engine running for this module."""
    try:
        engine = netpol_engine()
    except NodeUnavailable as exc:
        if os.environ.get("WISP_SKIP_NODE"):
            pytest.skip(f"NetworkPolicy engine unavailable: {exc}")
        raise
    with real_node.network_policy(engine):
        yield real_node


POOL = {"pool.python.enabled": "true", "pool.python.size": "1"}


@pytest.fixture(scope="module")
def wisp(wisp: Wisp, enforced: RealNode) -> Iterator[Wisp]:
    """The session's install with a one-pod Python pool, and the target pods, for this module."""
    wisp.configure(POOL)
    wisp.kubectl("create", "namespace", TARGETS)
    for name, role, command in (
        ("open", "open", SERVE),
        ("closed", "closed", SERVE),
        ("outsider", "none", IDLE),
    ):
        wisp.kubectl("apply", "-f", "-", input=pod(name, role, command), namespace=TARGETS)
    wisp.kubectl(
        "wait", "--for=condition=Ready", "pod", "--all", "--timeout=180s", namespace=TARGETS, timeout=190
    )
    yield wisp
    wisp.kubectl("delete", "namespace", TARGETS, "--wait=false")
    wisp.configure()


def pod_ip(wisp: Wisp, namespace: str, selector: str) -> str:
    """The address of a running pod matching ``selector`` (waiting for one to have it)."""

    def running() -> str:
        out = wisp.kubectl("get", "pods", "-l", selector, "-o", "json", namespace=namespace)
        ips = [
            p["status"]["podIP"]
            for p in json.loads(out.stdout)["items"]
            if p["status"].get("podIP") and not p["metadata"].get("deletionTimestamp")
        ]
        return str(ips[0]) if ips else ""

    ip: str = wait_for(
        running, timeout=180, interval=1, what=f"a pod with an address for {selector} in {namespace}"
    )
    return ip


def pod_names(wisp: Wisp, namespace: str, selector: str) -> set[str]:
    out = wisp.kubectl(
        "get", "pods", "-l", selector, "-o", "jsonpath={.items[*].metadata.name}", namespace=namespace
    )
    return set(out.stdout.split())


def url(ip: str, path: str = "/") -> str:
    return f"http://{ip}:8080{path}"


def from_outsider(wisp: Wisp, event: dict[str, Any]) -> dict[str, Any]:
    """The probe run in a plain pod of another namespace (not the gateway, not a function)."""
    out = wisp.kubectl(
        "exec", "outsider", "--", "python3", "-c", PROBE_MAIN, json.dumps(event), namespace=TARGETS
    )
    answer: dict[str, Any] = json.loads(out.stdout)
    return answer


def settles_at(what: str, probe: Any, expected: dict[str, Any]) -> None:
    """``probe()`` answers ``expected``, once the engine has seen the newest pods (a sync after
    each pod event): a policy that is never enforced fails here."""
    seen: list[Any] = []

    def matches() -> bool:
        seen.append(probe())
        return bool(seen[-1] == expected)

    try:
        wait_for(matches, timeout=120, interval=2, what=what)
    except AssertionError:
        assert seen[-1] == expected, what


def test_a_function_reaches_what_its_network_allows_and_nothing_else(wisp: Wisp) -> None:
    wisp.apply(function("fenced", network={"egress": FENCED_EGRESS}))
    wisp.apply(function("roamer"))
    wisp.wait_ready("fenced")
    wisp.wait_ready("roamer")
    targets = {
        "open": url(pod_ip(wisp, TARGETS, "role=open")),
        "closed": url(pod_ip(wisp, TARGETS, "role=closed")),
    }
    event = {"reach": targets, "resolve": [DNS_NAME]}

    def call(function: str) -> Any:
        status, body = wisp.call(function, event)
        return body if status == 200 else (status, body)

    # Without spec.network (and no deny-by-default baseline) a function reaches both targets.
    settles_at(
        "a function without spec.network",
        lambda: call("roamer"),
        {"open": 200, "closed": 200, DNS_NAME: "resolved"},
    )
    # Its egress names the open target only; DNS is always allowed.
    settles_at(
        "a function with spec.network.egress",
        lambda: call("fenced"),
        {"open": 200, "closed": "blocked", DNS_NAME: "resolved"},
    )


def test_only_the_gateway_reaches_function_pods(wisp: Wisp) -> None:
    # One pod of its own at all times: a call at zero may be served by a pool pod instead.
    wisp.apply(function("private", scale={"min": 1, "max": 1}))
    wisp.apply(function("roamer"))
    wisp.wait_ready("private")
    wisp.wait_ready("roamer")
    status, _ = wisp.call("private", {})
    assert status == 200  # through the gateway
    health = url(pod_ip(wisp, FUNCTIONS, "wisp.dev/function=private"), "/healthz")
    control = url(pod_ip(wisp, TARGETS, "role=closed"))
    # A pod of another namespace reaches an ordinary pod but not the function's.
    settles_at(
        "a pod outside the gateway calling a function pod",
        lambda: from_outsider(wisp, {"reach": {"function": health, "control": control}}),
        {"function": "blocked", "control": 200},
    )

    # Nor does another function of the same namespace.
    def from_roamer() -> Any:
        status, body = wisp.call("roamer", {"reach": {"function": health}})
        return body if status == 200 else (status, body)

    settles_at("a function pod calling another one directly", from_roamer, {"function": "blocked"})
    status, _ = wisp.call("private", {})
    assert status == 200  # the gateway still does


def test_only_the_gateway_reaches_pool_pods(wisp: Wisp) -> None:
    def free_pool_pod() -> bool:
        out = wisp.kubectl(
            "get",
            "pods",
            "-l",
            "wisp.dev/pool=python,wisp.dev/pool-state=free",
            "-o",
            "json",
            namespace=FUNCTIONS,
        )
        return any(
            c["type"] == "Ready" and c["status"] == "True"
            for p in json.loads(out.stdout)["items"]
            for c in p["status"].get("conditions", [])
        )

    wait_for(free_pool_pod, timeout=180, interval=1, what="a free, ready pool pod")
    health = url(pod_ip(wisp, FUNCTIONS, "wisp.dev/pool=python,wisp.dev/pool-state=free"), "/healthz")
    settles_at(
        "a pod outside the gateway calling a pool pod",
        lambda: from_outsider(wisp, {"reach": {"pool": health}}),
        {"pool": "blocked"},
    )
    # The gateway still specialises it for a Function at zero and calls it.
    wisp.apply(function("pooled", scale={"min": 0, "max": 1}))
    wisp.wait_ready("pooled")
    status, body = wisp.call("pooled", {"whoami": True})
    assert status == 200, body
    assert body["pod"].startswith("wisp-pool-python-"), body


def call_probe(wisp: Wisp, function: str, event: dict[str, Any]) -> Any:
    status, body = wisp.call(function, event)
    return body if status == 200 else (status, body)


def test_an_ip_block_egress_reaches_inside_its_cidr_and_not_outside(wisp: Wisp) -> None:
    inside, outside = pod_ip(wisp, TARGETS, "role=open"), pod_ip(wisp, TARGETS, "role=closed")
    egress = [{"to": [{"ipBlock": {"cidr": f"{inside}/32"}}], "ports": [{"protocol": "TCP", "port": 8080}]}]
    wisp.apply(function("cidr", network={"egress": egress}))
    wisp.wait_ready("cidr")
    event = {"reach": {"inside": url(inside), "outside": url(outside)}, "resolve": [DNS_NAME]}
    settles_at(
        "a function whose egress is an ipBlock",
        lambda: call_probe(wisp, "cidr", event),
        {"inside": 200, "outside": "blocked", DNS_NAME: "resolved"},
    )


@pytest.fixture
def deny_by_default(wisp: Wisp) -> Iterator[Wisp]:
    """The install with the deny-by-default baseline for one test, then back to the module's."""
    wisp.configure({**POOL, "networkPolicy.denyByDefault": "true"})
    yield wisp
    wisp.configure(POOL)


def test_deny_by_default_leaves_a_function_dns_and_the_gateway(deny_by_default: Wisp) -> None:
    wisp = deny_by_default
    # At zero (a call may be served by a pool pod) and at one (by its own pod); the callee at one,
    # so its pod's address is known.
    wisp.apply(function("bare-zero", scale={"min": 0, "max": 1}))
    wisp.apply(function("bare-one", scale={"min": 1, "max": 1}))
    wisp.apply(function("callee", scale={"min": 1, "max": 1}))
    wisp.apply(function("named", network={"egress": FENCED_EGRESS}))
    for name in ("bare-zero", "bare-one", "callee", "named"):
        wisp.wait_ready(name)
    callee_pod = pod_ip(wisp, FUNCTIONS, "wisp.dev/function=callee")
    gateway_pod = pod_ip(wisp, SYSTEM, "app.kubernetes.io/component=gateway")
    event = {
        "reach": {
            "open": url(pod_ip(wisp, TARGETS, "role=open")),
            "closed": url(pod_ip(wisp, TARGETS, "role=closed")),
            "callee-pod": url(callee_pod, "/healthz"),
            "gateway-admin": f"http://{gateway_pod}:9090/healthz",
        },
        "call": {"callee": [f"{GATEWAY_URL}/function/callee", {"whoami": True}]},
        "resolve": [DNS_NAME],
    }
    callee_pods = pod_names(wisp, FUNCTIONS, "wisp.dev/function=callee")

    def answered_by_callee(answer: Any) -> Any:
        # Which of the callee's pods answered is the gateway's choice: any of them will do.
        if isinstance(answer, dict) and isinstance(answer.get("callee"), dict):
            answer["callee"] = answer["callee"].get("pod") in callee_pods
        return answer

    # Each answer comes through the gateway: it still reaches the fenced pods. And each function
    # calls another through the gateway (its Service, its invocation port) and gets its answer,
    # while the callee's pod, the gateway's admin port and every other pod stay out of reach.
    for name in ("bare-zero", "bare-one"):
        settles_at(
            f"{name}: a function without spec.network under deny-by-default",
            lambda name=name: answered_by_callee(call_probe(wisp, name, event)),
            {
                "open": "blocked",
                "closed": "blocked",
                "callee-pod": "blocked",
                "gateway-admin": "blocked",
                "callee": True,
                DNS_NAME: "resolved",
            },
        )
    # A Function's own egress (which names neither) allows the gateway too.
    settles_at(
        "a function with spec.network.egress under deny-by-default",
        lambda: answered_by_callee(call_probe(wisp, "named", event)),
        {
            "open": 200,
            "closed": "blocked",
            "callee-pod": "blocked",
            "gateway-admin": "blocked",
            "callee": True,
            DNS_NAME: "resolved",
        },
    )
