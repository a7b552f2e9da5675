"""The operator's settings from its environment: how function pods get their CPU, where the gateway is."""

from __future__ import annotations

import pytest

from wisp.api.cpu import CpuMode
from wisp.controller.settings import OperatorSettings
from wisp.resources.deployment import CpuSettings
from wisp.resources.network import GatewayPeer


@pytest.mark.parametrize(
    ("env", "cpu"),
    [
        ({}, CpuSettings(CpuMode.BOOST, 1000)),
        ({"WISP_FUNCTION_CPU_MODE": "limit"}, CpuSettings(CpuMode.LIMIT, 1000)),
        ({"WISP_FUNCTION_CPU_MODE": "request"}, CpuSettings(CpuMode.REQUEST, 1000)),
        (
            {"WISP_FUNCTION_CPU_MODE": "boost", "WISP_FUNCTION_CPU_BOOST": "2"},
            CpuSettings(CpuMode.BOOST, 2000),
        ),
        ({"WISP_FUNCTION_CPU_BOOST": "1500m"}, CpuSettings(CpuMode.BOOST, 1500)),
    ],
)
def test_cpu_mode_and_boost_from_the_environment(env: dict[str, str], cpu: CpuSettings) -> None:
    assert OperatorSettings.from_env(env).deployment.cpu == cpu


@pytest.mark.parametrize(
    "env", [{"WISP_FUNCTION_CPU_MODE": "turbo"}, {"WISP_FUNCTION_CPU_BOOST": "lots"}], ids=["mode", "boost"]
)
def test_a_bad_cpu_setting_names_the_variables(env: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="WISP_FUNCTION_CPU_MODE / WISP_FUNCTION_CPU_BOOST"):
        OperatorSettings.from_env(env)


@pytest.mark.parametrize(
    ("value", "without"),
    [(None, True), ("", True), ("true", True), ("1", True), ("false", False), ("no", False), ("0", False)],
)
def test_whether_small_code_starts_without_volumes_from_the_environment(
    value: str | None, without: bool
) -> None:
    env = {} if value is None else {"WISP_FUNCTION_START_WITHOUT_VOLUMES": value}
    assert OperatorSettings.from_env(env).deployment.start_without_volumes is without


def test_a_bad_start_without_volumes_setting_names_the_variable() -> None:
    with pytest.raises(ValueError, match="WISP_FUNCTION_START_WITHOUT_VOLUMES must be true or false"):
        OperatorSettings.from_env({"WISP_FUNCTION_START_WITHOUT_VOLUMES": "sometimes"})


@pytest.mark.parametrize("value", ["0", "-1", "fast"])
def test_a_bad_resync_rate_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="WISP_RESYNC_RATE"):
        OperatorSettings.from_env({"WISP_RESYNC_RATE": value})


@pytest.mark.parametrize("value", ["0", "-3", "2.5", "many"])
def test_a_bad_reconcile_workers_setting_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="WISP_RECONCILE_WORKERS must be a whole number"):
        OperatorSettings.from_env({"WISP_RECONCILE_WORKERS": value})


def test_the_reconcile_workers_from_the_environment() -> None:
    assert OperatorSettings.from_env({}).reconcile_workers == 32
    assert OperatorSettings.from_env({"WISP_RECONCILE_WORKERS": "64"}).reconcile_workers == 64


def test_the_resync_rate_from_the_environment() -> None:
    assert OperatorSettings.from_env({}).resync_rate == 2.0
    assert OperatorSettings.from_env({"WISP_RESYNC_RATE": "10"}).resync_rate == 10.0


@pytest.mark.parametrize(
    ("env", "peer"),
    [
        ({}, GatewayPeer()),
        ({"WISP_GATEWAY_POD_PORT": "8888"}, GatewayPeer(port=8888)),
        (
            {"WISP_GATEWAY_NAMESPACE": "platform", "WISP_GATEWAY_POD_LABELS": '{"app": "gw"}'},
            GatewayPeer(namespace="platform", labels={"app": "gw"}),
        ),
    ],
)
def test_where_the_gateways_pods_are_from_the_environment(env: dict[str, str], peer: GatewayPeer) -> None:
    """What a Function's NetworkPolicy lets in, and lets its pods call (the invocation port)."""
    assert OperatorSettings.from_env(env).gateway_peer == peer


@pytest.mark.parametrize("value", ["0", "70000", "http"])
def test_a_bad_gateway_port_names_the_variable(value: str) -> None:
    with pytest.raises(ValueError, match="WISP_GATEWAY_POD_PORT"):
        OperatorSettings.from_env({"WISP_GATEWAY_POD_PORT": value})
