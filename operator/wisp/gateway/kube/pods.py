"""Why a function's pod dropped a call: asked of the API server only after the call failed.

When a handler goes over its memory limit the kernel kills the runtime mid-call; the gateway
sees only a connection that broke. The kubelet then records the kill in the pod's status
(``terminated.reason: OOMKilled`` in the container's ``state``, or in ``lastState`` once it has
restarted), usually within a second or two. ``wait_for_oom_kill`` reads the pod and watches it
(that one pod, by field selector) for a few seconds until its status says how the container
ended. Off the hot path: only a call that already failed waits for it.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import Any

import urllib3
from kubernetes import client, watch

OOM_REASON = "OOMKilled"


def _epoch(stamp: Any) -> float | None:
    try:
        moment = datetime.datetime.strptime(str(stamp), "%Y-%m-%dT%H:%M:%SZ")
    except ValueError:
        return None
    return moment.replace(tzinfo=datetime.UTC).timestamp()


def oom_verdict(pod: Mapping[str, Any], since: float) -> bool | None:
    """True: a container of the pod was OOMKilled at or after ``since`` (epoch seconds); False:
    it ended otherwise, or the pod is going away; None: its status does not say yet."""
    meta = pod.get("metadata") or {}
    if meta.get("deletionTimestamp"):
        return False
    status = pod.get("status") or {}
    ended_otherwise = False
    for cs in status.get("containerStatuses") or ():
        for state in (cs.get("state"), cs.get("lastState")):
            terminated = (state or {}).get("terminated") or {}
            finished = _epoch(terminated.get("finishedAt"))
            if finished is None or finished < int(since) - 1:  # the kubelet writes whole seconds
                continue
            if terminated.get("reason") == OOM_REASON:
                return True
            ended_otherwise = True
    return False if ended_otherwise else None


def wait_for_oom_kill(core: client.CoreV1Api, namespace: str, pod: str, since: float, timeout: float) -> bool:
    """Whether the pod's container was OOM-killed after ``since``, waiting up to ``timeout`` s for
    its status to tell (blocking: run it in a thread).

    A watch that the API server ends with an error (a resource version its watch cache has not
    reached yet under load, one that expired, a restart) is not an answer: the pod is read again
    and watched from there until the deadline. Only a pod that is gone ends the wait early."""
    deadline = time.monotonic() + timeout
    version: str | None = None
    while time.monotonic() < deadline:
        if version is None:
            try:
                current = core.api_client.sanitize_for_serialization(core.read_namespaced_pod(pod, namespace))
            except client.ApiException as error:
                if error.status == 404:
                    return False
                time.sleep(0.2)
                continue
            except urllib3.exceptions.HTTPError:
                time.sleep(0.2)
                continue
            verdict = oom_verdict(current, since)
            if verdict is not None:
                return verdict
            version = (current.get("metadata") or {}).get("resourceVersion") or ""
        stream = watch.Watch()
        try:
            for event in stream.stream(
                core.list_namespaced_pod,
                namespace,
                field_selector=f"metadata.name={pod}",
                resource_version=version or None,
                timeout_seconds=max(1, int(deadline - time.monotonic() + 0.999)),
            ):
                if event["type"] == "DELETED":
                    return False
                raw = event.get("raw_object") or {}
                version = (raw.get("metadata") or {}).get("resourceVersion") or version
                verdict = oom_verdict(raw, since)
                if verdict is not None:
                    return verdict
                if time.monotonic() >= deadline:
                    break
        except (client.ApiException, urllib3.exceptions.HTTPError):
            version = None
            time.sleep(0.1)
        finally:
            stream.stop()
    return False
