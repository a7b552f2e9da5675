"""The Versions tab's data and the alias bodies the traffic slider sends, pure."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.console.releases import alias_body, versions_document
from wisp.console.source import ValidationFailed

W = "additionalVersionWeights"
PROD = "spec.aliases.prod"


def version(n: int, ready: str = "True", replicas: int = 0) -> dict[str, Any]:
    return {
        "metadata": {"name": f"hello-v{n}", "creationTimestamp": f"2026-12-0{n}T00:00:00Z"},
        "spec": {"function": "hello", "version": n, "template": {}},
        "status": {
            "conditions": [{"type": "Ready", "status": ready}],
            "replicas": replicas,
            "referenced": n < 3,
        },
    }


def test_versions_newest_first_with_each_aliases_share() -> None:
    function = {
        "spec": {
            "aliases": {
                "prod": {"version": 1, W: {"2": 10}},
                "beta": {"version": 2},
            }
        },
        "status": {"latestVersion": 3},
    }
    doc = versions_document(
        function, [version(1, replicas=2), version(3, "False"), version(2), {"kind": "x"}]
    )
    assert [(v["version"], v["traffic"], v["ready"]) for v in doc["versions"]] == [
        (3, {}, "False"),
        (2, {"beta": 100, "prod": 10}, "True"),
        (1, {"prod": 90}, "True"),
    ]
    assert doc["latestVersion"] == 3 and doc["versions"][2]["replicas"] == 2
    assert doc["aliases"] == {
        "beta": {"version": 2, "additionalVersion": None, "weight": 0},
        "prod": {"version": 1, "additionalVersion": 2, "weight": 10},
    }


@pytest.mark.parametrize(
    ("payload", "body"),
    [
        ({"version": 3}, {"version": 3, W: None}),
        (
            {"version": 3, "additionalVersion": None, "weight": 40},
            {"version": 3, W: None},
        ),
        (
            {"version": 3, "additionalVersion": 4, "weight": 10},
            {"version": 3, W: {"4": 10}},
        ),
        (
            {"version": 3, "additionalVersion": 4, "weight": 0},
            {"version": 3, W: None},
        ),
        (
            {"version": 3, "additionalVersion": 4, "weight": 100},
            {"version": 3, W: {"4": 100}},
        ),
    ],
)
def test_alias_body(payload: dict[str, Any], body: dict[str, Any]) -> None:
    assert alias_body("prod", payload) == body


@pytest.mark.parametrize(
    ("alias", "payload", "field"),
    [
        ("prod", {}, f"{PROD}.version"),
        ("prod", {"version": "3"}, f"{PROD}.version"),
        ("prod", {"version": True}, f"{PROD}.version"),
        (
            "prod",
            {"version": 3, "additionalVersion": 4, "weight": 101},
            f"{PROD}.{W}.4",
        ),
        ("prod", {"version": 3, "additionalVersion": 4}, f"{PROD}.{W}.4"),
        (
            "prod",
            {"version": 3, "additionalVersion": 3, "weight": 5},
            f"{PROD}.{W}",
        ),
        (
            "prod",
            {"version": 3, "additionalVersion": 0, "weight": 5},
            f"{PROD}.{W}",
        ),
        ("9x", {"version": 3}, "alias"),
        ("prod", [3], ""),
    ],
)
def test_alias_body_refuses_naming_the_field(alias: str, payload: Any, field: str) -> None:
    with pytest.raises(ValidationFailed) as refused:
        alias_body(alias, payload)
    assert [e.field for e in refused.value.errors] == [field]
