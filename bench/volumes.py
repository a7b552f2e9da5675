"""What a function pod's volumes cost its start on the real node (docs/benchmarks.md, "Real node").

    python -m bench.volumes [RUNS]

Creates pods of the Python runtime's image, alternately with a function pod's two volumes (the
``/tmp`` emptyDir and the code ConfigMap) and with none, same security context, command ``sleep``
(so the runtime's own start is left out), and times from the create to the scheduler's binding,
the sandbox's start and the container's start (the pod watch and containerd's events, as
bench/node.py does). The kubelet waits for a pod's volumes to be mounted before it creates the
sandbox, checking every 0.3 s; a pod with no volumes does not wait. Prints the medians.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.node import Timeline  # noqa: E402
from tests.cluster.fixtures import Kubectl  # noqa: E402
from tests.node.chart import FUNCTIONS  # noqa: E402
from tests.node.node import start_real_node  # noqa: E402

STEPS = ("scheduled", "sandbox", "container")


def pod(name: str, volumes: bool) -> dict[str, Any]:
    security = {
        "runAsNonRoot": True,
        "runAsUser": 10001,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    container: dict[str, Any] = {
        "name": "function",
        "image": "wisp/runtime-python:3.14",
        "imagePullPolicy": "Never",
        "command": ["sleep", "3600"],
        "securityContext": security,
        "resources": {"limits": {"memory": "128Mi"}},
    }
    spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "terminationGracePeriodSeconds": 0,
        "containers": [container],
    }
    if volumes:
        container["volumeMounts"] = [
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "code", "mountPath": "/var/wisp/code", "readOnly": True},
        ]
        spec["volumes"] = [
            {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
            {"name": "code", "configMap": {"name": "volumes-bench-code"}},
        ]
    meta = {"name": name, "namespace": FUNCTIONS, "labels": {"wisp.dev/function": "volumes-bench"}}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": spec}


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    node = start_real_node()
    assert node.plane is not None
    kubectl = Kubectl(node.plane.kubectl_binary, node.kubeconfig)
    kubectl("create", "namespace", FUNCTIONS, check=False)
    kubectl("create", "configmap", "volumes-bench-code", "--from-literal=main.py=x = 1", namespace=FUNCTIONS)
    timeline = Timeline(node)
    time.sleep(2)
    marks: dict[bool, list[dict[str, float]]] = {True: [], False: []}
    try:
        for i in range(runs):
            for volumes in (True, False):
                name = f"volumes-bench-{'with' if volumes else 'none'}-{i}"
                since = time.time()
                kubectl("apply", "-f", "-", input=json.dumps(pod(name, volumes)))
                deadline = time.time() + 60
                while "container" not in (seen := timeline.marks(since)) and time.time() < deadline:
                    time.sleep(0.01)
                marks[volumes].append(seen)
                kubectl(
                    "delete", "pod", name, "--wait=true", "--timeout=60s", namespace=FUNCTIONS, check=False
                )
                time.sleep(1)
    finally:
        timeline.close()
        kubectl("delete", "namespace", FUNCTIONS, "--wait=false", check=False)
    print(f"| pod | {' | '.join(STEPS)} | runs |")
    print(f"|---|{'---|' * len(STEPS)}---|")
    for volumes, seen in marks.items():
        cells = [f"{statistics.median(m[step] for m in seen if step in m) * 1000:.0f} ms" for step in STEPS]
        kind = "tmp emptyDir + code ConfigMap" if volumes else "no volumes"
        print(f"| {kind} | {' | '.join(cells)} | {runs} |")


if __name__ == "__main__":
    main()
