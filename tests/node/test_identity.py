"""Each Function's own identity on the real node: a function pod calls the API server with its
real ServiceAccount token for what its role allows and is refused what it does not; a Function
without an identity finds no token; a Secret reaches the pod as files, a rotated one reaches new
pods, and its value is in no log."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests.cluster.fixtures import wait_for
from tests.node.chart import FUNCTIONS, SYSTEM, Wisp

# The timeout covers a wait for the machine's one node (up to 30 min) as well as the test.
pytestmark = [pytest.mark.node, pytest.mark.cluster, pytest.mark.timeout(2700)]

READ_SETTINGS = {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get"]}
# The handler reports what it could do with whatever token its pod has; it never returns or
# prints a Secret's value, only its digest.
PROBE = """
import hashlib, json, os, ssl, urllib.error, urllib.request

SA = "/var/run/secrets/kubernetes.io/serviceaccount"


def call(path):
    ctx = ssl.create_default_context(cafile=SA + "/ca.crt")
    with open(SA + "/token") as f:
        token = f.read()
    host = os.environ["KUBERNETES_SERVICE_HOST"] + ":" + os.environ["KUBERNETES_SERVICE_PORT"]
    request = urllib.request.Request("https://" + host + path, headers={"Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(request, context=ctx, timeout=10) as resp:
            return resp.status
    except urllib.error.HTTPError as exc:
        return exc.code


def handler(event, context):
    ns = os.environ["WISP_FUNCTION_NAMESPACE"]
    answer = {"token": os.path.exists(SA + "/token")}
    if answer["token"]:
        answer["getConfigMap"] = call(f"/api/v1/namespaces/{ns}/configmaps/settings")
        answer["listSecrets"] = call(f"/api/v1/namespaces/{ns}/secrets")
        answer["getConfigMapElsewhere"] = call("/api/v1/namespaces/kube-system/configmaps/settings")
    key = "/var/wisp/secrets/api-keys/key"
    if os.path.exists(key):
        with open(key, "rb") as f:
            answer["secretDigest"] = hashlib.sha256(f.read()).hexdigest()
    return answer
"""


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
                "access": {"public": True},
                **spec,
            },
        }
    )


@pytest.fixture(scope="module")
def wisp(wisp: Wisp) -> Iterator[Wisp]:
    """The session's install, allowed to grant the role this module's function asks for."""
    wisp.configure(json_values={"functions.identity.grantableRules": [READ_SETTINGS]})
    yield wisp
    wisp.configure()


def secret(name: str, **data: str) -> str:
    return yaml.safe_dump(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name}, "stringData": data}
    )


def digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def test_a_function_uses_its_own_token_for_its_role_and_nothing_more(wisp: Wisp) -> None:
    first, second = "first-s3cr3t-value", "second-s3cr3t-value"
    wisp.kubectl("create", "configmap", "settings", "--from-literal=a=b", namespace=FUNCTIONS)
    # The values go on stdin, never on a command line (which a failure message would print).
    wisp.kubectl("apply", "-f", "-", input=secret("api-keys", key=first), namespace=FUNCTIONS)
    wisp.apply(function("reader", role={"rules": [READ_SETTINGS]}, secrets=[{"name": "api-keys"}]))
    wisp.apply(function("plain"))
    wisp.wait_ready("reader")
    wisp.wait_ready("plain")

    status, body = wisp.call("reader", {"namespace": FUNCTIONS})
    assert status == 200, body
    assert body == {
        "token": True,
        "getConfigMap": 200,  # what its role allows
        "listSecrets": 403,  # what it does not
        "getConfigMapElsewhere": 403,  # its role is its namespace's only
        "secretDigest": digest(first),
    }

    status, body = wisp.call("plain", {"namespace": FUNCTIONS})
    assert (status, body) == (200, {"token": False})

    # A rotated Secret reaches the Function's new pods.
    wisp.kubectl("apply", "-f", "-", input=secret("api-keys", key=second), namespace=FUNCTIONS)
    wisp.kubectl("delete", "pods", "-l", "wisp.dev/function=reader", "--wait=true", namespace=FUNCTIONS)

    def rotated() -> bool:
        status, body = wisp.call("reader", {"namespace": FUNCTIONS})
        return status == 200 and body.get("secretDigest") == digest(second)

    wait_for(rotated, timeout=200, interval=2, what="the rotated Secret in a new pod")

    # Neither value is in any log of wisp's or of the function's pods.
    logs = ""
    for namespace in (SYSTEM, FUNCTIONS):
        pods = json.loads(wisp.kubectl("get", "pods", "-o", "json", namespace=namespace).stdout)["items"]
        for pod in pods:
            proc = wisp.kubectl(
                "logs", pod["metadata"]["name"], "--all-containers", namespace=namespace, check=False
            )
            logs += proc.stdout
    assert logs, "no logs read"
    assert first not in logs and second not in logs
    # Nor in a log of the node's (kubelet, containerd, ...) or of the control plane's.
    assert wisp.node.plane is not None
    files = [*(wisp.node.state / "logs").glob("*.log"), *wisp.node.plane.workdir.glob("*.log")]
    assert len(files) > 3, files
    leaked = [f.name for f in files if any(v.encode() in f.read_bytes() for v in (first, second))]
    assert leaked == [], "a Secret's value is in these logs"
    statuses = wisp.kubectl("get", "functions", "-o", "json", namespace=FUNCTIONS).stdout
    assert first not in statuses and second not in statuses
