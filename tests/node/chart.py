"""wisp on the real node as a user installs it: ``helm install`` of deploy/helm/wisp with the
images ``make images`` built (imported into the node, never pulled), into a namespace that
enforces the ``restricted`` Pod Security Standard, Functions in another such namespace."""

from __future__ import annotations

import contextlib
import errno
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.cluster.fixtures import Kubectl
from tests.node.node import ROOT, RealNode

SYSTEM = "wisp-system"
_REJECTED = (errno.ECONNREFUSED, errno.EHOSTUNREACH)
FUNCTIONS = "wisp-fns"
RELEASE = "wisp"
SELECTOR = f"app.kubernetes.io/instance={RELEASE}"
# The images tools/build-images.sh makes from Debian packages: Debian's Python 3.11 serves every
# Python Function here, Debian's Node.js 20 every Node.js one and Debian's OpenJDK 17 every Java
# one (the official bases, with each runtime's own version, are for users).
VALUES = {
    "image.repository": "wisp/wisp",
    "image.tag": "dev",
    "image.pullPolicy": "Never",
    "runtimeImages.python": "wisp/runtime-python:3.11",
    "runtimeImages.node": "wisp/runtime-node:20",
    "runtimeImages.java": "wisp/runtime-java:17",
    "runtimeImages.javaJdk": "wisp/runtime-java:17-jdk",
    "runtimeImages.provided": "wisp/runtime-provided:latest",
    "runtimeImages.pullPolicy": "Never",
    "redis.image.repository": "wisp/redis",
    "redis.image.tag": "7.0-debian",
    "redis.image.pullPolicy": "Never",
    "redis.persistence.enabled": "false",  # no StorageClass on a bare node
    "gateway.defaultNamespace": FUNCTIONS,
    # A first start on a freshly booted node of a loaded 2-core machine may take long.
    "gateway.coldStartTimeout": "180",
}


def helm_binary(major: int = 3) -> str:
    out = subprocess.run(
        ["bash", str(ROOT / "tools" / "install-helm.sh"), str(major)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return out.stdout.strip().splitlines()[-1]


@dataclass
class Wisp:
    node: RealNode
    kubectl: Kubectl
    helm: list[str]
    gateway: str = ""  # http://<ClusterIP>:8080

    def install(self, **values: str) -> Wisp:
        for namespace in (SYSTEM, FUNCTIONS):
            self.kubectl("create", "namespace", namespace)
            self.kubectl("label", "namespace", namespace, "pod-security.kubernetes.io/enforce=restricted")
        sets = [arg for key, value in {**VALUES, **values}.items() for arg in ("--set", f"{key}={value}")]
        subprocess.run(
            [*self.helm, "install", RELEASE, str(ROOT / "deploy" / "helm" / "wisp"), *sets],
            check=True,
            capture_output=True,
            timeout=120,
        )
        for deployment in ("wisp-operator", "wisp-gateway", "wisp-redis"):
            self.kubectl(
                "rollout", "status", f"deploy/{deployment}", "--timeout=180s", namespace=SYSTEM, timeout=190
            )
        ip = self.kubectl("get", "svc", "wisp-gateway", "-o", "jsonpath={.spec.clusterIP}", namespace=SYSTEM)
        self.gateway = f"http://{ip.stdout}:8080"
        return self

    def configure(
        self, values: dict[str, str] | None = None, json_values: dict[str, Any] | None = None
    ) -> None:
        """``helm upgrade`` to the session's install values plus ``values`` (and ``json_values``),
        dropping what an earlier ``configure`` set; waits for the roll to finish."""
        merged = {**VALUES, **(values or {})}
        sets = [arg for key, value in merged.items() for arg in ("--set", f"{key}={value}")]
        for key, value in (json_values or {}).items():
            sets += ["--set-json", f"{key}={json.dumps(value)}"]
        subprocess.run(
            [*self.helm, "upgrade", RELEASE, str(ROOT / "deploy" / "helm" / "wisp"), "--reset-values", *sets],
            check=True,
            capture_output=True,
            timeout=120,
        )
        for deployment in ("wisp-operator", "wisp-gateway"):
            self.kubectl(
                "rollout", "status", f"deploy/{deployment}", "--timeout=180s", namespace=SYSTEM, timeout=190
            )
        # A finished rollout can leave the old pods terminating, and a terminating gateway can
        # still answer a call for a Function created after its watches stopped (as unknown):
        # the roll is over for a caller once they are gone.
        deadline = time.monotonic() + 120
        while self._terminating() and time.monotonic() < deadline:
            time.sleep(0.5)

    def _terminating(self) -> list[str]:
        pods = json.loads(self.kubectl("get", "pods", "-o", "json", namespace=SYSTEM).stdout)["items"]
        return [p["metadata"]["name"] for p in pods if p["metadata"].get("deletionTimestamp")]

    def uninstall(self) -> list[str]:
        """Uninstall; what is left of the release afterwards (nothing, CRDs aside)."""
        self.kubectl("delete", "namespace", FUNCTIONS, "--timeout=120s", timeout=130)
        subprocess.run(
            [*self.helm, "uninstall", RELEASE, "--wait", "--timeout=120s"], check=True, timeout=130
        )
        # The pods go with their ReplicaSets, by garbage collection after the uninstall.
        self.kubectl(
            "wait", "--for=delete", "pod", "-l", SELECTOR, "--timeout=120s", namespace=SYSTEM, timeout=130
        )
        kinds = "all,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,secrets,configmaps"
        left = self.kubectl("get", kinds, "-A", "-l", SELECTOR, "-o", "name").stdout.split()
        self.kubectl("delete", "namespace", SYSTEM, "--timeout=120s", timeout=130)
        return left

    def upgrade(self, **values: str) -> None:
        sets = [arg for key, value in values.items() for arg in ("--set", f"{key}={value}")]
        subprocess.run(
            [*self.helm, "upgrade", RELEASE, str(ROOT / "deploy" / "helm" / "wisp"), "--reuse-values", *sets],
            check=True,
            capture_output=True,
            timeout=120,
        )

    @contextlib.contextmanager
    def port_forward(self) -> Iterator[str]:
        """``kubectl port-forward svc/wisp-gateway``: the gateway as the README reaches it."""
        argv = [self.kubectl.binary, f"--kubeconfig={self.kubectl.kubeconfig}", f"--namespace={SYSTEM}"]
        proc = subprocess.Popen(
            [*argv, "port-forward", "svc/wisp-gateway", ":8080"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()  # "Forwarding from 127.0.0.1:PORT -> 8080"
            port = line.split("127.0.0.1:", 1)[1].split()[0] if "127.0.0.1:" in line else ""
            assert port, f"kubectl port-forward said: {line!r}"
            yield f"http://127.0.0.1:{port}"
        finally:
            proc.terminate()
            proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()

    def call(self, function: str, payload: Any, timeout: float = 200) -> tuple[int, Any]:
        return self.request(f"{self.gateway}/function/{function}", payload, timeout)

    def request(self, url: str, payload: Any = None, timeout: float = 200) -> tuple[int, Any]:
        """GET ``url``, or POST ``payload`` as JSON to it; the status and the decoded body."""
        request = urllib.request.Request(
            url,
            data=None if payload is None else json.dumps(payload).encode(),
            headers={"Content-Type": "application/json"},
        )
        # A refused connection (or "no route to host") is the Service with no ready gateway behind
        # it yet (kube-proxy rejects then): what a user's first curl after an install or a roll
        # sees; wait it out.
        refused_until = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(request, timeout=timeout) as resp:
                    return resp.status, json.loads(resp.read() or b"null")
            except urllib.error.HTTPError as exc:
                body = exc.read()
                try:
                    return exc.code, json.loads(body)
                except ValueError:
                    return exc.code, body.decode(errors="replace")
            except urllib.error.URLError as exc:
                rejected = isinstance(exc.reason, OSError) and exc.reason.errno in _REJECTED
                if not rejected or time.monotonic() > refused_until:
                    raise
                time.sleep(0.5)

    def forget_functions(self) -> None:
        """Delete every Function of the functions namespace, so the next module starts from none
        (its names may be ones an earlier module used), and give their pods time to go."""
        self.kubectl("delete", "functions", "--all", "--timeout=300s", namespace=FUNCTIONS, timeout=310)
        self.kubectl(
            "wait",
            "--for=delete",
            "pod",
            "-l",
            "wisp.dev/function",
            "--timeout=180s",
            namespace=FUNCTIONS,
            timeout=190,
            check=False,
        )

    def apply(self, manifest: str | Path) -> None:
        if isinstance(manifest, Path):
            self.kubectl("apply", "-f", str(manifest), namespace=FUNCTIONS)
        else:
            self.kubectl("apply", "-f", "-", input=manifest, namespace=FUNCTIONS)

    def wait_ready(self, function: str) -> None:
        self.kubectl(
            "wait",
            "--for=condition=Ready",
            f"function/{function}",
            "--timeout=120s",
            namespace=FUNCTIONS,
            timeout=130,
        )

    def function_pods(self, function: str) -> list[dict[str, Any]]:
        out = self.kubectl(
            "get", "pods", "-l", f"wisp.dev/function={function}", "-o", "json", namespace=FUNCTIONS
        )
        items: list[dict[str, Any]] = json.loads(out.stdout)["items"]
        return items


def wisp_on(node: RealNode, helm_major: int = 3) -> Wisp:
    assert node.plane is not None
    kubectl = Kubectl(node.plane.kubectl_binary, node.kubeconfig)
    helm = [helm_binary(helm_major), f"--kubeconfig={node.kubeconfig}", f"--namespace={SYSTEM}"]
    return Wisp(node=node, kubectl=kubectl, helm=helm)
