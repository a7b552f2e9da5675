"""Versions and aliases, pure: parsing spec.aliases, where one call goes, what is referenced."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.api.contract import runtime_environment
from wisp.api.function import SpecError, parse_function
from wisp.api.version import (
    LATEST,
    Alias,
    as_function,
    missing_qualifier,
    parse_aliases,
    pick_version,
    referenced_versions,
    snapshot,
    snapshot_hash,
    split_demand,
    version_manifest,
    version_ref,
)
from wisp_runtime.config import Settings
from wisp_runtime.lambdaenv import function_identity

PROD = Alias("prod", 3, 4, 10)
ALIASES = {"prod": PROD, "beta": Alias("beta", 4)}


@pytest.mark.parametrize(
    ("aliases", "field"),
    [
        ({"9x": {"version": 1}}, "spec.aliases.9x"),
        ({"prod": {}}, "spec.aliases.prod.version"),
        ({"prod": {"version": 0}}, "spec.aliases.prod.version"),
        ({"prod": {"version": "3"}}, "spec.aliases.prod.version"),
        (
            {"prod": {"version": 3, "additionalVersionWeights": {"4": 101}}},
            "spec.aliases.prod.additionalVersionWeights.4",
        ),
        (
            {"prod": {"version": 3, "additionalVersionWeights": {"4": -1}}},
            "spec.aliases.prod.additionalVersionWeights.4",
        ),
        (
            {"prod": {"version": 3, "additionalVersionWeights": {"x": 1}}},
            "spec.aliases.prod.additionalVersionWeights",
        ),
        (
            {"prod": {"version": 3, "additionalVersionWeights": {"3": 1}}},
            "spec.aliases.prod.additionalVersionWeights",
        ),
        (
            {"prod": {"version": 3, "additionalVersionWeights": {"4": 1, "5": 1}}},
            "spec.aliases.prod.additionalVersionWeights",
        ),
        ([], "spec.aliases"),
    ],
)
def test_bad_aliases_name_the_field(aliases: Any, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_aliases(aliases)
    assert caught.value.field == field


def test_aliases_parse_on_the_function() -> None:
    fn = parse_function(
        {
            "metadata": {"name": "f"},
            "spec": {
                "runtime": "python3.12",
                "handler": "main.handler",
                "code": {"inline": "x"},
                "publish": True,
                "aliases": {"prod": {"version": 3, "additionalVersionWeights": {"4": 10}}},
            },
        }
    )
    assert fn.spec.publish is True
    assert fn.spec.aliases == {"prod": PROD}


@pytest.mark.parametrize(
    ("qualifier", "draw", "version"),
    [
        ("", 0.5, LATEST),
        (LATEST, 0.0, LATEST),
        ("7", 0.0, "7"),
        ("prod", 0.0, "4"),
        ("prod", 0.0999, "4"),
        ("prod", 0.1, "3"),
        ("prod", 0.9999, "3"),
        ("beta", 0.0, "4"),
        ("gamma", 0.0, None),
        ("07", 0.0, None),
    ],
)
def test_pick_version(qualifier: str, draw: float, version: str | None) -> None:
    assert pick_version(ALIASES, qualifier, draw) == version


def test_weight_zero_and_hundred() -> None:
    none = {"a": Alias("a", 1, 2, 0)}
    every = {"a": Alias("a", 1, 2, 100)}
    assert {pick_version(none, "a", d / 100) for d in range(100)} == {"1"}
    assert {pick_version(every, "a", d / 100) for d in range(100)} == {"2"}


@pytest.mark.parametrize(
    ("qualifier", "demand", "shares"),
    [
        ("", 7, {LATEST: 7}),
        (LATEST, 7, {LATEST: 7}),
        ("5", 7, {"5": 7}),
        ("beta", 7, {"4": 7}),
        ("prod", 100, {"3": 90, "4": 10}),
        ("prod", 3, {"3": 3}),  # 10% of 3 rounds to none: the activator starts 4 if a call goes there
        ("prod", 6, {"3": 5, "4": 1}),
        ("gamma", 7, {}),
    ],
)
def test_split_demand(qualifier: str, demand: int, shares: dict[str, int]) -> None:
    assert split_demand(ALIASES, qualifier, demand) == shares


@pytest.mark.parametrize(
    ("qualifier", "missing"),
    [
        ("", None),
        (LATEST, None),
        ("3", None),
        ("4", None),
        ("12", "version 12 of the Function is not published"),
        ("2", "version 2 of the Function is not published"),  # published once, deleted since
        ("prod", None),
        ("gamma", "the Function has no alias gamma"),
    ],
)
def test_missing_qualifier(qualifier: str, missing: str | None) -> None:
    assert missing_qualifier(ALIASES, qualifier, published={1, 3, 4}) == missing


def test_referenced_versions() -> None:
    assert referenced_versions(ALIASES, ()) == {3, 4}
    assert referenced_versions({}, ("7", "prod", "", "nope")) == {7}
    assert referenced_versions(ALIASES, ("9", "beta")) == {3, 4, 9}


SPEC = {
    "runtime": "python3.12",
    "handler": "main.handler",
    "code": {"configMapRef": {"name": "code"}},
    "publish": True,
    "aliases": {"prod": {"version": 1}},
    "scale": {"min": 2, "max": 5},
}


def test_snapshot_leaves_out_publish_and_aliases_and_copies_referenced_code() -> None:
    template = snapshot(SPEC, {"main.py": "def handler(e, c): pass"})
    assert "publish" not in template and "aliases" not in template
    assert template["code"] == {"files": {"main.py": "def handler(e, c): pass"}}
    assert snapshot_hash(template) == snapshot_hash(snapshot(SPEC, {"main.py": "def handler(e, c): pass"}))
    assert snapshot_hash(template) != snapshot_hash(snapshot(SPEC, {"main.py": "other"}))
    assert snapshot_hash(snapshot({**SPEC, "aliases": {}})) == snapshot_hash(snapshot(SPEC))


def test_a_version_renders_as_a_function_named_after_it() -> None:
    function = {"metadata": {"name": "hello", "namespace": "ns", "uid": "u1"}, "spec": SPEC}
    manifest = version_manifest(function, 3, snapshot(SPEC, {"main.py": "x"}))
    assert manifest["metadata"]["name"] == "hello-v3"
    assert manifest["metadata"]["ownerReferences"][0]["uid"] == "u1"
    manifest["metadata"]["uid"] = "u3"
    ref = version_ref(manifest)
    assert ref is not None and (ref.function, ref.number, ref.namespace) == ("hello", 3, "ns")
    fn = parse_function(as_function(manifest, referenced=True))
    assert (fn.name, fn.kind, fn.uid) == ("hello-v3", "FunctionVersion", "u3")
    assert fn.spec.scale.min == 2
    idle = parse_function(as_function(manifest, referenced=False))
    assert idle.spec.scale.min == 0 and idle.spec.scale.max == 5


def test_a_versions_pods_know_their_function_and_version() -> None:
    function = {"metadata": {"name": "hello", "namespace": "ns", "uid": "u1"}, "spec": SPEC}
    manifest = version_manifest(function, 3, snapshot(SPEC, {"main.py": "x"}))
    env = runtime_environment(parse_function(as_function(manifest)))
    assert (env["WISP_FUNCTION_NAME"], env["WISP_FUNCTION_VERSION"]) == ("hello", "3")
    assert "WISP_FUNCTION_VERSION" not in runtime_environment(parse_function(function))

    settings = Settings.from_env({"WISP_FUNCTION_NAME": "hello", "WISP_FUNCTION_VERSION": "3"})
    identity = function_identity(settings, 0.0, "hello-v3-abc")
    assert identity.version == "3"
    assert identity.arn.endswith(":function:hello:3")
    assert identity.log_stream == "1970/01/01/[3]hello-v3-abc"
    latest = function_identity(Settings.from_env({"WISP_FUNCTION_NAME": "hello"}), 0.0, "h")
    assert latest.version == "$LATEST" and latest.arn.endswith(":function:hello")
