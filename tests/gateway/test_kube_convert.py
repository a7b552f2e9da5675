"""API objects into the gateway's terms (pure; no cluster needed)."""

from __future__ import annotations

from typing import Any

from wisp.gateway.backend import Endpoint
from wisp.gateway.kube.convert import function_info, slice_endpoints


def _function(conditions: list[dict[str, Any]] | None = None, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "hello", "namespace": "ns"},
        "spec": {
            "runtime": "python3.12",
            "handler": "main.handler",
            "code": {"inline": "x"},
            **spec,
        },
        "status": {"conditions": conditions or []},
    }


def test_function_readiness_from_conditions() -> None:
    assert function_info(_function()).ready  # type: ignore[union-attr]
    scaled_to_zero = _function([{"type": "Ready", "status": "False", "reason": "ScaledToZero"}])
    assert function_info(scaled_to_zero).ready  # type: ignore[union-attr]
    pull = function_info(
        _function(
            [
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "ImagePullBackOff",
                    "message": "no such image",
                }
            ]
        )
    )
    assert pull is not None and not pull.ready and pull.reason == "ImagePullBackOff"
    undeployed = function_info(_function([{"type": "Deployed", "status": "False", "reason": "Conflict"}]))
    assert undeployed is not None and not undeployed.ready and undeployed.reason == "Conflict"
    assert function_info(_function(runtime="cobol")) is None


def test_endpoint_slice_ready_addresses() -> None:
    obj = {
        "metadata": {
            "name": "hello-abc",
            "namespace": "ns",
            "labels": {"kubernetes.io/service-name": "hello", "wisp.dev/function": "hello"},
        },
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
        "endpoints": [
            {
                "addresses": ["127.0.1.2"],
                "conditions": {"ready": True},
                "targetRef": {"name": "p1"},
            },
            {"addresses": ["127.0.1.1"], "conditions": {}, "targetRef": {"name": "p0"}},
            {"addresses": ["127.0.1.3"], "conditions": {"ready": False, "terminating": True}},
        ],
    }
    parsed = slice_endpoints(obj)
    assert parsed is not None
    assert parsed.function_key == "hello.ns"
    assert parsed.endpoints == (
        Endpoint("127.0.1.1", 8080, "p0"),
        Endpoint("127.0.1.2", 8080, "p1"),
    )
    assert slice_endpoints({"metadata": {"name": "x", "labels": {}}}) is None
