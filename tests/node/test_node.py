"""The real node itself: containers under runc with the CNI bridge, pod IPs and ClusterIPs
reachable from the host, what the kubelet enforces (non-root, read-only root, memory limit),
and a teardown that leaves nothing on the host."""

from __future__ import annotations

import json
import socket

import pytest

from tests.cluster.fixtures import Kubectl, wait_for
from tests.node.node import NODE_NAME, RealNode, leftovers

pytestmark = [pytest.mark.node, pytest.mark.cluster, pytest.mark.timeout(900)]

REDIS = "wisp/redis:7.0-debian"
RESTRICTED = {
    "runAsNonRoot": True,
    "runAsUser": 999,
    "runAsGroup": 999,
    "seccompProfile": {"type": "RuntimeDefault"},
}
CONTAINER_SECURITY = {
    "allowPrivilegeEscalation": False,
    "readOnlyRootFilesystem": True,
    "capabilities": {"drop": ["ALL"]},
}


def pod(name: str, command: list[str], memory: str = "64Mi", **extra: object) -> str:
    spec = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "restartPolicy": "Never",
            "securityContext": RESTRICTED,
            "containers": [
                {
                    "name": "main",
                    "image": REDIS,
                    "imagePullPolicy": "Never",
                    "command": command,
                    "securityContext": CONTAINER_SECURITY,
                    "resources": {
                        "requests": {"cpu": "10m", "memory": "16Mi"},
                        "limits": {"cpu": "500m", "memory": memory},
                    },
                    "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    **extra,
                }
            ],
            "volumes": [{"name": "tmp", "emptyDir": {}}],
        },
    }
    return json.dumps(spec)


def test_node_registered_ready(real_node: RealNode, node_kubectl: Kubectl) -> None:
    node = json.loads(node_kubectl("get", "node", NODE_NAME, "-o", "json").stdout)
    ready = {c["type"]: c["status"] for c in node["status"]["conditions"]}["Ready"]
    assert ready == "True"
    assert any(image.startswith("docker.io/wisp/redis") for image in real_node.images())


def test_pod_runs_as_a_container_reachable_by_pod_ip_and_cluster_ip(
    restricted: str, node_kubectl: Kubectl
) -> None:
    node_kubectl(
        "apply",
        "-f",
        "-",
        namespace=restricted,
        input=pod("redis", ["redis-server", "--port", "6379", "--dir", "/tmp", "--protected-mode", "no"]),
    )
    node_kubectl("create", "service", "clusterip", "redis", "--tcp=6379:6379", namespace=restricted)
    node_kubectl(
        "wait", "--for=condition=Ready", "pod/redis", "--timeout=120s", namespace=restricted, timeout=130
    )
    pod_ip = node_kubectl(
        "get", "pod", "redis", "-o", "jsonpath={.status.podIP}", namespace=restricted
    ).stdout
    assert pod_ip.startswith("10.250.0.")
    cluster_ip = node_kubectl(
        "get", "svc", "redis", "-o", "jsonpath={.spec.clusterIP}", namespace=restricted
    ).stdout
    assert cluster_ip.startswith("10.251.")

    def ping(address: str) -> bool:
        try:
            with socket.create_connection((address, 6379), timeout=2) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16) == b"+PONG\r\n"
        except OSError:
            return False

    assert ping(pod_ip)
    wait_for(lambda: ping(cluster_ip), timeout=60, what=f"redis through ClusterIP {cluster_ip}")

    # What the kubelet and runc enforce: the image's user, a read-only root, a writable /tmp.
    def exec_(*argv: str) -> str:
        return node_kubectl("exec", "redis", "--", *argv, namespace=restricted).stdout.strip()

    assert exec_("id", "-u") == "999"
    denied = node_kubectl("exec", "redis", "--", "touch", "/root-write", namespace=restricted, check=False)
    assert denied.returncode != 0
    assert "Read-only file system" in denied.stderr
    assert exec_("sh", "-c", "echo ok > /tmp/x && cat /tmp/x") == "ok"
    logs = node_kubectl("logs", "redis", namespace=restricted).stdout
    assert "Ready to accept connections" in logs


def test_past_its_memory_limit_a_container_is_oom_killed(restricted: str, node_kubectl: Kubectl) -> None:
    # A shell that keeps doubling a string until the cgroup's memory limit stops it.
    grow = 'x=xxxxxxxxxxxxxxxx; while true; do x="$x$x"; done'
    node_kubectl(
        "apply", "-f", "-", namespace=restricted, input=pod("hog", ["sh", "-c", grow], memory="32Mi")
    )

    def terminated() -> dict[str, object] | None:
        out = node_kubectl(
            "get",
            "pod",
            "hog",
            "-o",
            "jsonpath={.status.containerStatuses[0].state.terminated}",
            namespace=restricted,
        ).stdout
        return json.loads(out) if out else None

    state = wait_for(terminated, timeout=120, interval=0.5, what="the container to be killed")
    assert state["reason"] == "OOMKilled"
    assert state["exitCode"] == 137


def test_a_pod_violating_restricted_is_refused(restricted: str, node_kubectl: Kubectl) -> None:
    spec = json.loads(pod("root", ["sleep", "1"]))
    spec["spec"]["securityContext"] = {}
    spec["spec"]["containers"][0]["securityContext"] = {}
    out = node_kubectl("apply", "-f", "-", namespace=restricted, input=json.dumps(spec), check=False)
    assert out.returncode != 0
    assert "violates PodSecurity" in out.stderr


def test_nothing_of_the_node_is_left_behind_by_a_torn_down_node() -> None:
    # The session's node is up: what leftovers() reports now is what teardown must remove.
    found = leftovers()
    assert any("interface" in f for f in found)
    assert any("cgroup" in f for f in found)
