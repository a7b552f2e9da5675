"""HTTP Triggers on paths the gateway serves itself are refused, by ``wisp dev``'s parser and by
the API server (the CRD's CEL rule), from one list of reserved paths."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from wisp.api.function import SpecError
from wisp.api.trigger import RESERVED_PATHS, RESERVED_PREFIXES, parse_trigger

CRD = Path(__file__).resolve().parents[2] / "crds" / "triggers.wisp.dev.yaml"


def http_trigger(path: str) -> dict[str, Any]:
    return {"metadata": {"name": "t"}, "spec": {"function": "f", "http": {"path": path}}}


@pytest.mark.parametrize(
    "path",
    [
        "/ui",
        "/ui/",
        "/ui/api/functions",
        "/system",
        "/system/stats",
        "/function",
        "/function/f",
        "/async-function/f",
        "/invocations",
        "/invocations/x",
        "/2015-03-31/functions/f/invocations",
        "/healthz",
        "/readyz",
        "/metrics",
    ],
)
def test_a_path_the_gateway_serves_is_refused_naming_the_field(path: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_trigger(http_trigger(path))
    assert refused.value.field == "spec.http.path"
    assert "served by the gateway itself" in str(refused.value)


@pytest.mark.parametrize("path", ["/", "/uix", "/functions", "/system-status", "/api/ui", "/metrics-report"])
def test_look_alike_paths_are_accepted(path: str) -> None:
    trigger = parse_trigger(http_trigger(path))
    assert trigger.http is not None and trigger.http.path == path


def crd_path_rule() -> dict[str, str]:
    crd = yaml.safe_load(CRD.read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    [rule] = spec["properties"]["http"]["properties"]["path"]["x-kubernetes-validations"]
    return dict(rule)


def test_the_crd_rule_reserves_the_same_paths_as_the_parser() -> None:
    rule = crd_path_rule()
    prefixes, exact = re.findall(r"\[([^\]]*)\]", rule["rule"])
    assert tuple(re.findall(r"'([^']*)'", prefixes)) == RESERVED_PREFIXES
    assert tuple(re.findall(r"'([^']*)'", exact)) == RESERVED_PATHS
    assert ".exists(p, self.startsWith(p))" in rule["rule"] and "!(self in [" in rule["rule"]
    for path in RESERVED_PATHS:
        assert path in rule["message"]
