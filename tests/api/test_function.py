"""Parsing Functions and Triggers without an API server: the same defaults and the same field names."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.api import parse_function, parse_trigger
from wisp.api.function import Runtime, SpecError, handler_source_file
from wisp.api.quantities import parse_duration


def fn(**spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": "x"}}
    body.update(spec)
    return {"metadata": {"name": "f"}, "spec": body}


def test_unset_namespace_access_and_replicas() -> None:
    """Defaults that are no CRD default (the CRD's are compared in test_defaults.py)."""
    parsed = parse_function(fn())
    assert parsed.namespace == "default"
    assert parsed.spec.access.public is None and parsed.spec.replicas is None


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"runtime": "cobol"}, "spec.runtime"),
        ({"handler": "main"}, "spec.handler"),
        ({"code": {"inline": "x", "image": "i"}}, "spec.code"),
        ({"code": {}}, "spec.code"),
        ({"runtime": "custom"}, "spec.code.image"),
        ({"memory": "32Mi"}, "spec.memory"),
        ({"memory": "11Gi"}, "spec.memory"),
        ({"timeout": "16m"}, "spec.timeout"),
        ({"timeout": "later"}, "spec.timeout"),
        ({"concurrency": 0}, "spec.concurrency"),
        ({"concurrency": True}, "spec.concurrency"),
        ({"scale": {"min": 3, "max": 2}}, "spec.scale.min"),
        ({"scale": {"metric": "cpu"}}, "spec.scale.metric"),
        ({"scale": {"idleTimeout": "25h"}}, "spec.scale.idleTimeout"),
        ({"env": [{"name": "WISP_X", "value": "1"}]}, "spec.env[0].name"),
        ({"env": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]}, "spec.env[1].name"),
        ({"code": {"files": {"../x": ""}}}, "spec.code.files[../x]"),
        ({"code": {"files": {"src/../x.py": ""}}}, "spec.code.files[src/../x.py]"),
        ({"code": {"files": {"/etc/x.py": ""}}}, "spec.code.files[/etc/x.py]"),
        ({"code": {"files": {"src//x.py": ""}}}, "spec.code.files[src//x.py]"),
        ({"code": {"files": {"a b.py": ""}}}, "spec.code.files[a b.py]"),
        ({"code": {"files": {".wisp-layout.json": ""}}}, "spec.code.files[.wisp-layout.json]"),
        ({"layers": [{"configMapRef": {"name": f"l{i}"}} for i in range(6)]}, "spec.layers"),
        (
            {"layers": [{"configMapRef": {"name": "l"}}, {"configMapRef": {"name": "l"}}]},
            "spec.layers[1].configMapRef.name",
        ),
        ({"layers": [{"image": "x"}]}, "spec.layers[0].configMapRef"),
        ({"layers": "common"}, "spec.layers"),
        ({"cpu": "0"}, "spec.cpu"),
        ({"cpuMode": "turbo"}, "spec.cpuMode"),
        ({"access": {"rateLimit": {"rps": 0}}}, "spec.access.rateLimit.rps"),
    ],
)
def test_bad_function_names_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_function(fn(**spec))
    assert info.value.field == field


def test_bad_name_is_rejected() -> None:
    with pytest.raises(SpecError) as info:
        parse_function({"metadata": {"name": "Bad_Name"}, "spec": fn()["spec"]})
    assert info.value.field == "metadata.name"


@pytest.mark.parametrize(
    ("runtime", "handler", "file"),
    [
        (Runtime.PYTHON312, "main.handler", "main.py"),
        (Runtime.PYTHON311, "pkg.mod.handler", "pkg/mod.py"),
        (Runtime.NODEJS20, "index.handler", "index.js"),
        (Runtime.NODEJS22, "app.mjs.handler", "app.mjs"),
    ],
)
def test_inline_code_file_follows_the_handler(runtime: Runtime, handler: str, file: str) -> None:
    assert handler_source_file(runtime, handler) == file


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("1m30s", 90), ("250ms", 0.25), ("1h", 3600), ("1.5s", 1.5)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def trig(**spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": "t", "namespace": "ns"}, "spec": {"function": "f", **spec}}


def test_trigger_kinds_and_defaults() -> None:
    http = parse_trigger(trig(http={"path": "/a", "methods": ["GET"]}))
    assert http.http is not None and http.http.methods == ("GET",) and http.function_key == "f.ns"
    queue = parse_trigger(trig(queue={"stream": "orders"}))
    assert queue.queue is not None
    assert (queue.queue.group, queue.queue.dead_letter, queue.queue.max_retries) == (
        "wisp.ns.t",
        "orders.dead",
        3,
    )
    schedule = parse_trigger(trig(schedule={"cron": "*/5 * * * *", "payload": {"a": 1}}))
    assert schedule.schedule is not None and schedule.schedule.timezone == "UTC"


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({}, "spec"),
        ({"http": {"path": "/a"}, "queue": {"stream": "s"}}, "spec"),
        ({"http": {"path": "a"}}, "spec.http.path"),
        ({"http": {"path": "/system/x"}}, "spec.http.path"),
        ({"http": {"path": "/a", "methods": ["FETCH"]}}, "spec.http.methods[0]"),
        ({"schedule": {"cron": "* *"}}, "spec.schedule.cron"),
        ({"queue": {"stream": "bad stream"}}, "spec.queue.stream"),
    ],
)
def test_bad_trigger_names_the_field(spec: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_trigger(trig(**spec))
    assert info.value.field == field


def test_code_files_may_have_folders_and_layers_keep_their_order() -> None:
    files = {"main.py": "", "src/orders/models.py": "", "src/orders/__init__.py": "", ".env.sample": ""}
    layers = [{"configMapRef": {"name": "common"}}, {"configMapRef": {"name": "pandas"}}]
    spec = parse_function(fn(code={"files": files}, layers=layers)).spec
    assert spec.code.files == files
    assert [layer.config_map for layer in spec.layers] == ["common", "pandas"]
