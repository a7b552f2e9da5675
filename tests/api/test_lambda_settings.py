"""Lambda's settings across the platform: an HTTP Trigger's payload format, and the region and
account the operator (or ``wisp dev``) hands every function's runtime."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.api import contract, parse_function
from wisp.api.function import SpecError
from wisp.api.trigger import parse_trigger
from wisp.controller.settings import OperatorSettings
from wisp.resources import make_deployment
from wisp.resources.deployment import DeploymentSettings

FN = parse_function(
    {
        "metadata": {"name": "orders", "namespace": "shop"},
        "spec": {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": "x = 1\n"}},
    }
)


def _http(**http: Any) -> Any:
    return parse_trigger(
        {"metadata": {"name": "t"}, "spec": {"function": "orders", "http": {"path": "/orders", **http}}}
    ).http


def test_payload_format_defaults_to_1_0_and_takes_2_0() -> None:
    assert _http().payload_format == "1.0"
    assert _http(payloadFormat="2.0").payload_format == "2.0"
    with pytest.raises(SpecError, match=r"spec\.http\.payloadFormat"):
        _http(payloadFormat="3.0")
    with pytest.raises(SpecError, match=r"spec\.http\.payloadFormat"):
        _http(payloadFormat=2.0)  # a YAML number: the CRD's enum takes strings only


def test_region_and_account_reach_the_runtime_only_when_set() -> None:
    env = contract.runtime_environment(FN)
    assert "WISP_REGION" not in env
    assert "WISP_ACCOUNT_ID" not in env
    env = contract.runtime_environment(FN, region="eu-west-1", account_id="123456789012")
    assert env["WISP_REGION"] == "eu-west-1"
    assert env["WISP_ACCOUNT_ID"] == "123456789012"


def test_the_operator_puts_them_into_function_pods() -> None:
    settings = OperatorSettings.from_env({"WISP_REGION": "eu-west-1", "WISP_ACCOUNT_ID": "123456789012"})
    assert settings.deployment == DeploymentSettings(region="eu-west-1", account_id="123456789012")
    deployment = make_deployment(FN, settings.deployment)
    env = {e["name"]: e.get("value") for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["WISP_REGION"] == "eu-west-1"
    assert env["WISP_ACCOUNT_ID"] == "123456789012"
    unset = make_deployment(FN, OperatorSettings.from_env({}).deployment)
    names = {e["name"] for e in unset["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "WISP_REGION" not in names
