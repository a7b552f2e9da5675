"""The Service that gives a Function's pods an EndpointSlice the gateway watches.

Headless by default: the gateway routes to the EndpointSlice's pod addresses itself, so a
cluster IP (and the kube-proxy rules behind it) would be spent on every Function for nothing,
and a cluster with a thousand Functions runs out of its Service range. An operator setting
(``WISP_FUNCTION_CLUSTER_IP``) gives every Function a cluster IP for clients inside the cluster
that call a Function's Service directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from wisp.api.function import Function
from wisp.resources.names import Names, child_metadata, selector_labels

HEADLESS = "None"


def make_service(fn: Function, *, cluster_ip: bool = False) -> dict[str, Any]:
    spec: dict[str, Any] = {"type": "ClusterIP"}
    if not cluster_ip:
        spec["clusterIP"] = HEADLESS
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(fn, Names.of(fn).service),
        "spec": {
            **spec,
            "selector": selector_labels(fn),
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
            ],
        },
    }


def is_headless(service: Mapping[str, Any]) -> bool:
    return bool((service.get("spec") or {}).get("clusterIP") == HEADLESS)
