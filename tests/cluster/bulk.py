"""Many Functions at once, as a platform team applies them: one ``kubectl apply`` of a List, then
wait until every one is Ready. Shared by the bulk-apply test and ``make bench-scale``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

from kubernetes import client

from tests.cluster.fixtures import Kubectl

GROUP, VERSION, PLURAL = "wisp.dev", "v1alpha1", "functions"
HANDLER = "def handler(event, context):\n    return {'n': NUMBER}\n"


def function_list(prefix: str, start: int, count: int) -> str:
    """A List of ``count`` small idle Functions named ``prefix-NNNNN`` from ``start`` on."""
    items = [
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Function",
            "metadata": {"name": f"{prefix}-{i:05d}"},
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


def ready_count(api: client.ApiClient, namespace: str) -> tuple[int, int]:
    """(Ready Functions, all Functions) in ``namespace``, from one list."""
    listed = client.CustomObjectsApi(api).list_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, _preload_content=False
    )
    items = json.loads(listed.data)["items"]
    ready = 0
    for item in items:
        for condition in (item.get("status") or {}).get("conditions") or []:
            if condition.get("type") == "Ready" and condition.get("status") == "True":
                ready += 1
    return ready, len(items)


def wait_all_ready(
    api: client.ApiClient,
    namespace: str,
    total: int,
    timeout: float,
    progress: Callable[[int, float], None] | None = None,
) -> float:
    """Seconds until ``total`` Functions in ``namespace`` are Ready; AssertionError after ``timeout``."""
    started = time.monotonic()
    ready = 0
    while time.monotonic() - started < timeout:
        ready, _ = ready_count(api, namespace)
        if progress is not None:
            progress(ready, time.monotonic() - started)
        if ready >= total:
            return time.monotonic() - started
        time.sleep(1.0)
    raise AssertionError(f"{ready} of {total} Functions Ready after {timeout:g} s")
