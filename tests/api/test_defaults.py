"""The parser's defaults are the CRDs' defaults: read from crds/*.yaml, compared one by one.

``wisp dev`` has no API server to fill defaults in, so the parser must fill in the same ones.
These tests default a spec the way the API server does (structural defaulting from the CRD's
schema) and check that the parser makes the same Function of it with and without them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from wisp.api.defaults import FUNCTION_DEFAULTS
from wisp.api.function import CodeSpec, FunctionSpec, Runtime, parse_function
from wisp.api.trigger import parse_trigger

CRDS = Path(__file__).resolve().parents[2] / "crds"


def spec_schema(plural: str) -> dict[str, Any]:
    crd = yaml.safe_load((CRDS / f"{plural}.wisp.dev.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["storage"]]
    return dict(version["schema"]["openAPIV3Schema"]["properties"]["spec"])


def crd_defaults(schema: dict[str, Any], path: str = "") -> dict[str, Any]:
    """Every default in a schema, by path (``[]`` for any item); object defaults ({}) left out."""
    found: dict[str, Any] = {}
    if "default" in schema and schema["default"] != {}:
        found[path] = schema["default"]
    for name, sub in (schema.get("properties") or {}).items():
        found.update(crd_defaults(sub, f"{path}.{name}" if path else name))
    if "items" in schema:
        found.update(crd_defaults(schema["items"], f"{path}[]"))
    return found


def defaulted(obj: Any, schema: dict[str, Any]) -> Any:
    """``obj`` with the schema's defaults filled in, as the API server does on apply."""
    if isinstance(obj, dict):
        out = copy.deepcopy(obj)
        for name, sub in (schema.get("properties") or {}).items():
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
            if name in out:
                out[name] = defaulted(out[name], sub)
        return out
    if isinstance(obj, list) and "items" in schema:
        return [defaulted(item, schema["items"]) for item in obj]
    return obj


def test_the_defaults_table_is_the_crds() -> None:
    assert FUNCTION_DEFAULTS.by_crd_path() == crd_defaults(spec_schema("functions"))


FUNCTION_SPECS = [
    {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": "x"}},
    {
        "runtime": "nodejs20",
        "handler": "index.handler",
        "code": {"files": {"index.js": "x"}},
        "scale": {"max": 5},
    },
    {
        "runtime": "python3.12",
        "handler": "main.handler",
        "code": {"configMapRef": {"name": "code"}},
        "access": {"tokenSecrets": [{"name": "tokens"}], "hmacSecret": {"name": "hooks"}},
    },
]


@pytest.mark.parametrize("spec", FUNCTION_SPECS)
def test_a_function_parses_the_same_with_the_crds_defaults_filled_in(spec: dict[str, Any]) -> None:
    body = {"metadata": {"name": "f", "namespace": "ns"}, "spec": spec}
    filled = {**body, "spec": defaulted(spec, spec_schema("functions"))}
    assert filled["spec"] != spec  # the CRD did default something
    assert parse_function(body) == parse_function(filled)


def test_the_spec_dataclass_defaults_are_the_parsers() -> None:
    body = {"metadata": {"name": "f"}, "spec": FUNCTION_SPECS[0]}
    assert parse_function(body).spec == FunctionSpec(Runtime.PYTHON312, "main.handler", CodeSpec(inline="x"))


TRIGGER_SPECS = [
    {"function": "f", "http": {"path": "/a"}},
    {"function": "f", "queue": {"stream": "orders"}},
    {"function": "f", "schedule": {"cron": "*/5 * * * *"}},
]


@pytest.mark.parametrize("spec", TRIGGER_SPECS, ids=["http", "queue", "schedule"])
def test_a_trigger_parses_the_same_with_the_crds_defaults_filled_in(spec: dict[str, Any]) -> None:
    body = {"metadata": {"name": "t", "namespace": "ns"}, "spec": spec}
    filled = {**body, "spec": defaulted(spec, spec_schema("triggers"))}
    assert parse_trigger(body) == parse_trigger(filled)
