"""Many Functions at once, as a platform team applies them: one ``kubectl apply`` of a List, then
wait until every one is Ready. Shared by the bulk-apply test and ``make bench-scale``."""

from __future__ import annotations

import concurrent.futures
import json
import time
from collections.abc import Callable
from typing import Any

from kubernetes import client

from tests.cluster.fixtures import Kubectl

GROUP, VERSION, PLURAL = "wisp.dev", "v1alpha1", "functions"
SET_LABEL = "bulk.wisp.dev/set"  # each bulk Function carries its prefix, for a delete by label
HANDLER = "def handler(event, context):\n    return {'n': NUMBER}\n"


def function_list(prefix: str, start: int, count: int) -> str:
    """A List of ``count`` small idle Functions named ``prefix-NNNNN`` from ``start`` on, labelled
    with their prefix (``SET_LABEL``)."""
    items = [
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Function",
            "metadata": {"name": f"{prefix}-{i:05d}", "labels": {SET_LABEL: prefix}},
            "spec": {
                "runtime": "python3.12",
                "handler": "main.handler",
                "code": {"inline": HANDLER.replace("NUMBER", str(i))},
                "memory": "128Mi",
                "scale": {"min": 0, "max": 3},
            },
        }
        for i in range(start, start + count)
    ]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items})


def apply_functions(kubectl: Kubectl, namespace: str, prefix: str, start: int, count: int) -> None:
    kubectl(
        "apply",
        "--server-side",
        "-f",
        "-",
        input=function_list(prefix, start, count),
        namespace=namespace,
        timeout=600,
    )


def is_ready(item: dict[str, Any]) -> bool:
    """A Function whose Ready condition is True."""
    for condition in (item.get("status") or {}).get("conditions") or []:
        if condition.get("type") == "Ready" and condition.get("status") == "True":
            return True
    return False


def caught_up(item: dict[str, Any]) -> bool:
    """A Deployment kube-controller-manager has handled as it is (its ReplicaSet made)."""
    generation = int((item.get("metadata") or {}).get("generation") or 0)
    return int((item.get("status") or {}).get("observedGeneration") or 0) >= generation


def functions_in(api: client.ApiClient) -> Callable[..., Any]:
    """The list call of Functions, for ``wait_until``."""
    custom = client.CustomObjectsApi(api)
    return lambda namespace, **kwargs: custom.list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, **kwargs
    )


def deployments_in(api: client.ApiClient) -> Callable[..., Any]:
    """The list call of Deployments, for ``wait_until``."""
    return client.AppsV1Api(api).list_namespaced_deployment


def wait_until(
    list_call: Callable[..., Any],
    namespace: str,
    done: Callable[[dict[str, Any]], bool],
    total: int,
    timeout: float,
    progress: Callable[[int, float], None] | None = None,
    what: str = "objects",
) -> float:
    """Seconds until ``total`` objects ``list_call`` lists in ``namespace`` are ``done`` (and, with
    ``total`` 0, until every one listed is); AssertionError after ``timeout``. One list, then a
    watch from it: the API server sends each change once, where a list of thousands every second
    would cost it more than the operator being measured. ``progress`` gets the count done and
    the seconds so far, at most once a second."""
    started = time.monotonic()
    state: dict[str, bool] = {}
    version: str | None = None
    reported = -1.0

    def finished() -> bool:
        count = sum(state.values())
        return count >= total if total else count == len(state)

    def report() -> None:
        nonlocal reported
        elapsed = time.monotonic() - started
        if progress is not None and elapsed - reported >= 1.0:
            reported = elapsed
            progress(sum(state.values()), elapsed)

    while True:
        report()
        elapsed = time.monotonic() - started
        if version is not None and finished():
            return elapsed
        if elapsed > timeout:
            raise AssertionError(f"{sum(state.values())} of {total or len(state)} {what} after {timeout:g} s")
        if version is None:  # (again, when the watch's version has expired)
            listed = json.loads(list_call(namespace, _preload_content=False).data)
            state = {item["metadata"]["name"]: done(item) for item in listed["items"]}
            version = listed["metadata"]["resourceVersion"]
            continue
        stream = list_call(
            namespace,
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=max(1, min(30, int(timeout - elapsed) + 1)),
            _preload_content=False,
        )
        try:
            pending = b""
            for chunk in stream.stream(1 << 16):
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    event = json.loads(line)
                    obj = event["object"]
                    if event["type"] == "ERROR":  # 410: the version is gone, list again
                        version = None
                        break
                    version = obj["metadata"]["resourceVersion"]
                    if event["type"] == "DELETED":
                        state.pop(obj["metadata"]["name"], None)
                    elif event["type"] != "BOOKMARK":
                        state[obj["metadata"]["name"]] = done(obj)
                if version is None or finished():
                    break
                report()
        finally:
            stream.close()


def delete_set(api: client.ApiClient, namespace: str, prefix: str, timeout: float) -> float:
    """Delete the Functions ``function_list`` made with ``prefix`` (one request each, several at
    once: one delete-collection of thousands outlasts the API server's request timeout); seconds
    until they, their Deployments and what the garbage collector deletes after them (their
    ReplicaSets, Services and code ConfigMaps) are gone."""
    started = time.monotonic()
    custom = client.CustomObjectsApi(api)
    listed = json.loads(
        custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURAL, label_selector=f"{SET_LABEL}={prefix}", _preload_content=False
        ).data
    )

    def delete(name: str) -> None:
        try:
            custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name)
        except client.ApiException as exc:
            if exc.status != 404:
                raise

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(delete, [item["metadata"]["name"] for item in listed["items"]]))

    def other(item: dict[str, Any]) -> bool:
        return not str(item["metadata"]["name"]).startswith(f"{prefix}-")

    core = client.CoreV1Api(api)
    owned = (
        client.AppsV1Api(api).list_namespaced_replica_set,
        core.list_namespaced_service,
        core.list_namespaced_config_map,
    )
    for list_call in (functions_in(api), deployments_in(api), *owned):
        left = timeout - (time.monotonic() - started)
        wait_until(list_call, namespace, other, 0, left, what=f"objects other than {prefix}-*")
    return time.monotonic() - started


def wait_all_ready(
    api: client.ApiClient,
    namespace: str,
    total: int,
    timeout: float,
    progress: Callable[[int, float], None] | None = None,
) -> float:
    """Seconds until ``total`` Functions in ``namespace`` are Ready; AssertionError after ``timeout``."""
    return wait_until(functions_in(api), namespace, is_ready, total, timeout, progress, "Functions Ready")
