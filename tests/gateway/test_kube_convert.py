"""API objects into the gateway's terms (pure; no cluster needed)."""

from __future__ import annotations

from typing import Any

from wisp.gateway.kube.convert import function_info


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
