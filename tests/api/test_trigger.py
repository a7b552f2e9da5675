"""HTTP Triggers on paths the gateway serves itself are refused, by ``wisp dev``'s parser and by
the API server (the CRD's CEL rule), from one list of reserved paths; of Triggers claiming one
route, the oldest holds it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from wisp.api.function import SpecError
from wisp.api.trigger import RESERVED_PATHS, RESERVED_PREFIXES, Trigger, parse_trigger, route_holders

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


def http_at(name: str, path: str, created: str, namespace: str = "default", **http: Any) -> Trigger:
    return parse_trigger(
        {
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": created},
            "spec": {"function": "f", "http": {"path": path, **http}},
        }
    )


OLD, NEW = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"


@pytest.mark.parametrize(
    ("newer", "conflicts"),
    [
        ({}, True),  # same path, no host, every method
        ({"methods": ["POST"]}, True),  # the older one takes every method
        ({"host": "api.example.com"}, False),  # an exact host is another route
        ({"host": "*.example.com"}, False),
    ],
)
def test_the_newer_trigger_on_a_route_loses_it(newer: dict[str, Any], conflicts: bool) -> None:
    older = http_at("zeta", "/orders", OLD)
    late = http_at("alpha", "/orders", NEW, **newer)
    holders = route_holders([late, older])
    assert holders == ({"alpha.default": older} if conflicts else {})


def test_methods_must_overlap_for_a_conflict() -> None:
    get = http_at("get", "/orders", OLD, methods=["GET"])
    post = http_at("post", "/orders", NEW, methods=["POST"])
    both = http_at("both", "/orders", "2026-01-03T00:00:00Z", methods=["POST", "PUT"], namespace="b")
    assert route_holders([both, post, get]) == {"both.b": post}


def test_same_age_is_decided_by_name_then_namespace_whatever_the_order() -> None:
    a = http_at("a", "/x", OLD, namespace="z")
    b = http_at("b", "/x", OLD, namespace="a")
    a_other = http_at("a", "/x", OLD, namespace="y")
    for order in ([a, b, a_other], [b, a_other, a], [a_other, a, b]):
        assert route_holders(order) == {"a.z": a_other, "b.a": a_other}
