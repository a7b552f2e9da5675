"""An OOM kill reported where a user looks, against the real API server and operator.

No container really runs out of memory here (the real-node tier has a real kill): the pod runs on
the test node agent, and once it is Ready the test writes the pod status the kubelet writes after
an OOM kill (``lastState.terminated.reason: OOMKilled``), as the agent writes pod statuses, and
checks the Function's status, its Event and ``wisp describe``.
"""

from __future__ import annotations

import datetime
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from tests.cluster.fixtures import ROOT, Kubectl, OperatorProcess, wait_for
from tests.controller.test_operator import apply_hello, condition, get

pytestmark = pytest.mark.cluster


def _oom_killed(kube_api: client.ApiClient, namespace: str, pod: str, at: datetime.datetime) -> None:
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    client.CoreV1Api(kube_api).patch_namespaced_pod_status(
        pod,
        namespace,
        {
            "status": {
                "phase": "Running",
                "containerStatuses": [
                    {
                        "name": "function",
                        "image": "wisp/python:test",
                        "imageID": "",
                        "ready": False,
                        "restartCount": 1,
                        "started": True,
                        "state": {"running": {"startedAt": stamp}},
                        "lastState": {
                            "terminated": {
                                "exitCode": 137,
                                "reason": "OOMKilled",
                                "startedAt": stamp,
                                "finishedAt": stamp,
                            }
                        },
                    }
                ],
            }
        },
    )


def test_an_oom_killed_container_shows_in_status_event_and_describe(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    kubeconfig: Path,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
) -> None:
    apply_hello(kubectl, namespace, memory="64Mi", scale={"min": 1})

    def ready_pod() -> dict[str, Any] | None:
        # Ready first: the node agent's status write for the started runtime replaces the
        # container statuses, and would wipe a kill written before it (the agent is
        # session-wide: without waiting, whether it ran decided the test).
        for item in (get(kubectl, namespace, "pods", "-l", "wisp.dev/function=hello") or {}).get(
            "items"
        ) or ():
            conditions = (item.get("status") or {}).get("conditions") or ()
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return item
        return None

    pod = wait_for(ready_pod, timeout=60, what="the function's pod Ready")["metadata"]["name"]
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    _oom_killed(kube_api, namespace, pod, now)

    def reported() -> dict[str, Any] | None:
        fn = get(kubectl, namespace, "function", "hello")
        return fn if condition(fn, "OutOfMemory").get("status") == "True" else None

    fn = wait_for(reported, timeout=30, what="the OutOfMemory condition")
    oom = condition(fn, "OutOfMemory")
    assert oom["reason"] == "OOMKilled"
    assert "ran out of memory" in oom["message"] and "64Mi" in oom["message"] and pod in oom["message"]
    assert fn["status"]["outOfMemory"]["kills"] == 1

    # A second kill of the same container (the kubelet replaces lastState) counts once more.
    _oom_killed(kube_api, namespace, pod, now + datetime.timedelta(seconds=5))
    wait_for(
        lambda: (get(kubectl, namespace, "function", "hello") or {})["status"]["outOfMemory"]["kills"] == 2,
        timeout=30,
        what="the second kill counted",
    )
    events = kubectl(
        "get", "events", "--field-selector", "reason=OOMKilled", "-o", "name", namespace=namespace
    )
    assert events.stdout.strip(), "no OOMKilled Event"

    described = subprocess.run(
        [sys.executable, "-m", "wisp", "describe", "hello", "--kubeconfig", str(kubeconfig), "-n", namespace],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert described.returncode == 0, described.stderr
    assert "Memory kills: OOMKilled 2 times, last at" in described.stdout
    assert "OutOfMemory" in described.stdout and "OOMKilled" in described.stdout
