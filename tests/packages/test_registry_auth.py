"""Which credentials a docker config (a dockerconfigjson Secret's file) holds for a registry."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from wisp.packages.registry import Credentials, docker_config_credentials


def auth(pair: str) -> str:
    return base64.b64encode(pair.encode()).decode()


@pytest.mark.parametrize(
    ("config", "registry", "found"),
    [
        ({"auths": {"reg.io": {"auth": auth("ci:pw")}}}, "reg.io", Credentials("ci", "pw")),
        ({"auths": {"reg.io:5000": {"auth": auth("ci:p:w")}}}, "reg.io:5000", Credentials("ci", "p:w")),
        ({"auths": {"https://reg.io/v1/": {"auth": auth("ci:pw")}}}, "reg.io", Credentials("ci", "pw")),
        ({"auths": {"reg.io/team": {"username": "ci", "password": "pw"}}}, "reg.io", Credentials("ci", "pw")),
        ({"auths": {"other.io": {"auth": auth("ci:pw")}}}, "reg.io", None),
        ({"auths": {}}, "reg.io", None),
        ({}, "reg.io", None),
    ],
)
def test_credentials_for_a_registry(config: dict[str, Any], registry: str, found: Credentials | None) -> None:
    assert docker_config_credentials(config, registry) == found


@pytest.mark.parametrize(
    "config",
    [
        [],
        {"auths": []},
        {"auths": {"reg.io": "x"}},
        {"auths": {"reg.io": {"auth": "%%%"}}},
        {"auths": {"reg.io": {"auth": auth("no-colon")}}},
        {"auths": {"reg.io": {}}},
    ],
)
def test_what_is_not_a_docker_config_is_refused(config: Any) -> None:
    with pytest.raises(ValueError):
        docker_config_credentials(config, "reg.io")
