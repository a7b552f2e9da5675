"""The Service that gives a Function's pods an EndpointSlice the gateway watches."""

from __future__ import annotations

from typing import Any

from wisp.api.function import Function
from wisp.resources.names import Names, child_metadata, selector_labels


def make_service(fn: Function) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": child_metadata(fn, Names.of(fn).service),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(fn),
            "ports": [
                {"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"},
            ],
        },
    }
