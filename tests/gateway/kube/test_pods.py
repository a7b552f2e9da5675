"""Why a pod dropped a call: its status read as a verdict (table), and waited for on the real API
server while the status is written the way the kubelet (here: the test) writes it."""

from __future__ import annotations

import datetime
import threading
from typing import Any

import pytest
from kubernetes import client

from tests.cluster.fixtures import wait_for
from wisp.gateway.kube.pods import oom_verdict, wait_for_oom_kill

SINCE = datetime.datetime(2026, 12, 4, 13, 0, 10, tzinfo=datetime.UTC)


def _at(seconds: int) -> str:
    return (SINCE + datetime.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod(
    state: dict[str, Any] | None = None, last: dict[str, Any] | None = None, deleting: bool = False
) -> Any:
    meta: dict[str, Any] = {"name": "p"}
    if deleting:
        meta["deletionTimestamp"] = _at(0)
    return {
        "metadata": meta,
        "status": {"containerStatuses": [{"state": state or {}, "lastState": last or {}}]},
    }


def _ended(reason: str, seconds: int) -> dict[str, Any]:
    return {"terminated": {"reason": reason, "finishedAt": _at(seconds)}}


@pytest.mark.parametrize(
    ("pod", "verdict"),
    [
        (_pod({"running": {}}), None),
        (_pod(_ended("OOMKilled", 1)), True),
        (_pod({"waiting": {"reason": "CrashLoopBackOff"}}, _ended("OOMKilled", 0)), True),
        (_pod({"running": {}}, _ended("OOMKilled", -30)), None),  # an older kill, not this call's
        (_pod(_ended("Error", 1)), False),
        (_pod({"running": {}}, deleting=True), False),
        ({"metadata": {}}, None),
    ],
    ids=["running", "oom-now", "oom-restarted", "old-oom", "crashed", "deleting", "no-status"],
)
def test_verdicts(pod: Any, verdict: bool | None) -> None:
    assert oom_verdict(pod, SINCE.timestamp()) is verdict


def _created(core: client.CoreV1Api, namespace: str, pod: dict[str, Any]) -> bool:
    try:
        core.create_namespaced_pod(namespace, pod)
    except client.ApiException as exc:
        if exc.status == 403:  # the ServiceAccount controller has not made "default" yet
            return False
        raise
    return True


@pytest.mark.cluster
def test_waits_for_the_kubelet_to_record_the_kill(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    spec = {
        "automountServiceAccountToken": False,
        # Never scheduled: a kubelet (the real node's, when the suite has started it) would write
        # the container statuses this test writes itself.
        "nodeSelector": {"wisp.dev/test": "no-node"},
        "containers": [{"name": "function", "image": "wisp/python"}],
    }
    wait_for(
        lambda: _created(core, namespace, {"metadata": {"name": "hungry"}, "spec": spec}),
        timeout=30,
        what="the pod (its namespace's default ServiceAccount first)",
    )
    since = datetime.datetime.now(datetime.UTC).timestamp()
    answer: list[bool] = []
    waiting = threading.Thread(
        target=lambda: answer.append(wait_for_oom_kill(core, namespace, "hungry", since, 30))
    )
    waiting.start()
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    core.patch_namespaced_pod_status(
        "hungry",
        namespace,
        {
            "status": {
                "containerStatuses": [
                    {
                        "name": "function",
                        "image": "wisp/python",
                        "imageID": "",
                        "ready": False,
                        "restartCount": 1,
                        "state": {"waiting": {"reason": "ContainerCreating"}},
                        "lastState": {
                            "terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": stamp}
                        },
                    }
                ]
            }
        },
    )
    waiting.join(60)
    assert answer == [True]
