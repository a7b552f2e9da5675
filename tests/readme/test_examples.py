"""Every example's comments must be true on a cluster as well as under ``wisp dev``.

A cluster's gateway is private by default (the chart's ``gateway.publicByDefault`` is false):
a ``curl`` without a token, as an example's comment shows it, answers 401 unless the Function it
reaches declares ``spec.access.public: true``. ``wisp dev`` is open on loopback, so an example that
forgets it works there and fails on the first real install.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.cluster.fixtures import ROOT
from wisp.api.function import Function, parse_function
from wisp.api.trigger import Trigger, parse_trigger

EXAMPLES = sorted((ROOT / "examples").rglob("*.yaml"))
CURL = re.compile(r"^#\s+curl\b.*?https?://(?:<gateway>|127\.0\.0\.1:\d+|localhost:\d+)(/[^\s'\"?]*)")


def _documents(path: Path) -> tuple[list[Function], list[Trigger]]:
    functions, triggers = [], []
    for doc in yaml.safe_load_all(path.read_text()):
        if not doc:
            continue
        doc.setdefault("metadata", {}).setdefault("namespace", "default")
        if doc.get("kind") == "Function":
            doc.setdefault("spec", {}).setdefault("code", {"inline": "x"})  # a folder's code
            functions.append(parse_function(doc))
        elif doc.get("kind") == "Trigger":
            triggers.append(parse_trigger(doc))
    return functions, triggers


def _target(path: str, functions: list[Function], triggers: list[Trigger]) -> Function:
    by_name = {fn.name: fn for fn in functions}
    match = re.match(r"^/function/([^/.]+)", path)
    if match:
        return by_name[match.group(1)]
    for trigger in triggers:
        route = trigger.http.path.rstrip("/") if trigger.http else None
        if route is not None and (path == route or path.startswith(route + "/")):
            return by_name[trigger.function]
    raise AssertionError(f"{path} reaches no function of the example")


@pytest.mark.parametrize("path", EXAMPLES, ids=[str(p.relative_to(ROOT)) for p in EXAMPLES])
def test_a_call_shown_without_a_token_reaches_a_public_function(path: Path) -> None:
    functions, triggers = _documents(path)
    calls = [
        (line, m.group(1))
        for line in path.read_text().splitlines()
        if (m := CURL.match(line)) and "Authorization" not in line
    ]
    for line, url_path in calls:
        fn = _target(url_path, functions, triggers)
        assert fn.spec.access.public is True, (
            f"{path.name}: `{line.lstrip('# ')}` answers 401 on a cluster (private by default): "
            f"declare spec.access.public: true on {fn.name} or show the call with its token"
        )


def test_the_examples_show_calls() -> None:
    """The check above has something to check."""
    shown = [p for p in EXAMPLES if any(CURL.match(line) for line in p.read_text().splitlines())]
    assert len(shown) >= 4, shown
