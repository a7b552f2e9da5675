"""The gateway's settings from flags and environment, as the Helm chart sets them."""

from __future__ import annotations

import argparse

import pytest

from wisp.gateway import config as config_module
from wisp.gateway.app import make_app
from wisp.gateway.config import GatewayConfig, config_from
from wisp.gateway.state import COMPONENTS
from wisp.gateway.static import StaticBackend


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    config_module.add_arguments(parser)
    return parser.parse_args(argv)


def test_autoscaler_windows_default_to_knatives() -> None:
    config = config_from(parse(), env={})
    assert (config.autoscale_stable_window, config.autoscale_panic_window, config.autoscale_tick) == (
        60.0,
        6.0,
        2.0,
    )


def test_autoscaler_windows_come_from_the_environment_and_reach_the_decider() -> None:
    env = {
        "WISP_AUTOSCALE_STABLE_WINDOW": "120",
        "WISP_AUTOSCALE_PANIC_WINDOW": "12.5",
        "WISP_AUTOSCALE_TICK": "3",
    }
    config = config_from(parse(), env=env)
    scaler = make_app(config, StaticBackend())[COMPONENTS].autoscaler
    assert scaler is not None
    assert (scaler.settings.decider.stable_window, scaler.settings.decider.panic_window) == (120.0, 12.5)
    assert scaler.settings.tick == 3.0


def test_flags_win_over_the_environment() -> None:
    config = config_from(parse("--autoscale-stable-window", "30"), env={"WISP_AUTOSCALE_STABLE_WINDOW": "90"})
    assert config.autoscale_stable_window == 30.0


@pytest.mark.parametrize(("stable", "panic", "tick"), [(60.0, 61.0, 2.0), (60.0, 0.0, 2.0), (60.0, 6.0, 0.0)])
def test_windows_that_cannot_work_are_refused(stable: float, panic: float, tick: float) -> None:
    with pytest.raises(ValueError, match="autoscaler"):
        GatewayConfig(autoscale_stable_window=stable, autoscale_panic_window=panic, autoscale_tick=tick)


@pytest.mark.parametrize(("raw", "probe"), [(None, True), ("true", True), ("false", False), ("0", False)])
def test_probing_starting_pods_is_on_unless_turned_off(raw: str | None, probe: bool) -> None:
    env = {} if raw is None else {"WISP_PROBE_PODS": raw}
    assert config_from(parse(), env=env).probe_pods is probe
