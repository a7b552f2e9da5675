"""The chart's values for Lambda compatibility and the gateway's request limits reach the pods."""

from __future__ import annotations

from typing import Any

from tests.helm.chart import env_of, one
from tests.helm.conftest import Render


def _env(objects: list[dict[str, Any]], workload: str) -> dict[str, Any]:
    container = one(objects, "Deployment", f"-{workload}")["spec"]["template"]["spec"]["containers"][0]
    return {name: e.get("value") for name, e in env_of(container).items()}


def test_region_and_account_reach_the_operator_and_the_gateway(render: Render) -> None:
    objects = render({"lambda": {"region": "eu-west-1", "accountId": "123456789012"}})
    operator = _env(objects, "operator")
    assert operator["WISP_REGION"] == "eu-west-1"
    assert operator["WISP_ACCOUNT_ID"] == "123456789012"
    assert _env(objects, "gateway")["WISP_ACCOUNT_ID"] == "123456789012"
    defaults = render(None)
    assert _env(defaults, "operator")["WISP_REGION"] == ""  # the runtimes' own default
    assert _env(defaults, "gateway")["WISP_ACCOUNT_ID"] == ""


def test_gateway_limits(render: Render) -> None:
    env = _env(render(None), "gateway")
    assert env["WISP_MAX_RESPONSE_BYTES"] == "6291456"
    assert env["WISP_HEADER_READ_TIMEOUT"] == "10"
    assert env["WISP_BODY_READ_TIMEOUT"] == "30"
    assert env["WISP_MAX_UNVERIFIED_BODY_BYTES"] == "67108864"
    gateway = {
        "maxResponseBytes": 1048576,
        "headerReadTimeout": 5,
        "bodyReadTimeout": 2.5,
        "maxUnverifiedBodyBytes": 8388608,
    }
    env = _env(render({"gateway": gateway}), "gateway")
    assert env["WISP_MAX_RESPONSE_BYTES"] == "1048576"
    assert env["WISP_HEADER_READ_TIMEOUT"] == "5"
    assert env["WISP_BODY_READ_TIMEOUT"] == "2.5"
    assert env["WISP_MAX_UNVERIFIED_BODY_BYTES"] == "8388608"
