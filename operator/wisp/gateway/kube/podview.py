"""What the gateway reads from a function pod: where it is, whether it is ready or starting, and
its CPU.

Pure (no I/O): ``pod_view`` turns a pod from the gateway's pod watch (the pods labelled
``wisp.dev/function``) into a ``PodView``; the ``KubernetesBackend`` routes to a Ready pod
(``PodView.endpoint``), probes a starting pod ahead of the kubelet (``probe.py``) and resizes a
boosted pod's CPU once it is Ready.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wisp.api import contract
from wisp.api.names import CPU_AFTER_START_ANNOTATION, FUNCTION_LABEL, function_key
from wisp.api.quantities import parse_cpu_millis
from wisp.gateway.backend import Endpoint
from wisp.resources.names import CONTAINER_NAME


@dataclass(frozen=True)
class PodView:
    uid: str
    name: str
    namespace: str
    function_key: str
    ip: str  # empty until the sandbox has an address
    ready: bool  # the kubelet's Ready condition
    gone: bool  # terminating, or its phase is over: never an endpoint again
    restarts: int  # of the function container; a new start is a new probe
    cpu_limit: str | None  # the function container's CPU limit as its spec says now
    cpu_after_start: str | None  # what a boosted pod's CPU limit is resized to once Ready

    @property
    def endpoint(self) -> Endpoint | None:
        """Where calls go while the pod is routed to: the kubelet calls it Ready, it has an address
        and it is not going away (what the EndpointSlice controller calls a ready endpoint)."""
        if not self.ready or self.gone or not self.ip:
            return None
        return Endpoint(self.ip, contract.PORT, self.name)

    @property
    def startable(self) -> bool:
        """Worth probing: it has an address, is not going away, and the kubelet has not said
        Ready yet (a pod that was Ready and is not any more is the kubelet's to judge)."""
        return bool(self.ip) and not self.gone and not self.ready

    @property
    def resize_to(self) -> str | None:
        """The CPU limit to resize to now: Ready, boosted, and not resized yet (else None)."""
        if not self.ready or self.gone or self.cpu_after_start is None:
            return None
        if _same_cpu(self.cpu_limit, self.cpu_after_start):
            return None
        return self.cpu_after_start


def pod_view(obj: dict[str, Any]) -> PodView | None:
    """The view of a function pod; None for a pod without the function label."""
    meta = obj.get("metadata") or {}
    function = (meta.get("labels") or {}).get(FUNCTION_LABEL)
    if not function:
        return None
    namespace = str(meta.get("namespace") or "default")
    status = obj.get("status") or {}
    spec = obj.get("spec") or {}
    container: dict[str, Any] = next(
        (c for c in spec.get("containers") or () if c.get("name") == CONTAINER_NAME), {}
    )
    container_status: dict[str, Any] = next(
        (c for c in status.get("containerStatuses") or () if c.get("name") == CONTAINER_NAME), {}
    )
    ready = any(
        c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ()
    )
    limits = (container.get("resources") or {}).get("limits") or {}
    return PodView(
        uid=str(meta.get("uid") or ""),
        name=str(meta.get("name") or ""),
        namespace=namespace,
        function_key=function_key(function, namespace),
        ip=str(status.get("podIP") or ""),
        ready=ready,
        gone=bool(meta.get("deletionTimestamp")) or status.get("phase") in ("Succeeded", "Failed"),
        restarts=int(container_status.get("restartCount") or 0),
        cpu_limit=None if limits.get("cpu") is None else str(limits["cpu"]),
        cpu_after_start=(meta.get("annotations") or {}).get(CPU_AFTER_START_ANNOTATION),
    )


def _same_cpu(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a == b
    try:
        return parse_cpu_millis(a) == parse_cpu_millis(b)
    except ValueError:
        return a == b


def resize_body(cpu_limit: str) -> dict[str, Any]:
    """The strategic merge patch of ``pods/resize`` that sets the function container's CPU limit."""
    return {"spec": {"containers": [{"name": CONTAINER_NAME, "resources": {"limits": {"cpu": cpu_limit}}}]}}
