"""A Function's Service.

Headless and without a selector by default: the gateway routes to the function's pods itself,
from its pod watch, so a cluster IP (and the kube-proxy rules behind it) would be spent on every
Function for nothing, and a cluster with a thousand Functions runs out of its Service range.
Without a selector, kube-controller-manager's endpoint controllers make no Endpoints and no
EndpointSlice for it, and skip it when they match a pod change against the namespace's
Services; with one, every cold start paid for every idle Function beside it (``docs/scale.md``).
An operator setting (``WISP_FUNCTION_CLUSTER_IP``) gives every Function a cluster IP and a
selector, for clients inside the cluster that call a Function's Service directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wisp.api.function import Function
from wisp.resources.names import Names, child_metadata, selector_labels

HEADLESS = "None"


def make_service(fn: Function, *, cluster_ip: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "ClusterIP"}
    if cluster_ip:
        spec["selector"] = selector_labels(fn)
    else:
        spec["clusterIP"] = HEADLESS
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(fn, Names.of(fn).service),
        "spec": {
            **spec,
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
            ],
        },
    }


def service_kind(service: Mapping[str, Any]) -> str:
    """What a Service is, in the terms a change between them is replaced in (``spec.clusterIP`` is
    immutable; a selector taken off leaves its Endpoints and EndpointSlices behind)."""
    spec = service.get("spec") or {}
    if spec.get("clusterIP") != HEADLESS:
        return "with a cluster IP"
    return "headless, with a selector" if spec.get("selector") else "headless"
