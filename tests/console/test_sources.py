"""The sources' pure parts: log lines, Function files of a dev folder, API-server errors."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from kubernetes.client.rest import ApiException

from wisp.console.cluster import field_errors
from wisp.console.logs import LogBook, parse_line, select
from wisp.console.manifests import FunctionFiles, editable
from wisp.console.source import FieldError, LogLine


def test_runtime_json_lines_keep_level_and_request_id() -> None:
    raw = json.dumps(
        {
            "time": "2024-01-01T00:00:01Z",
            "level": "ERROR",
            "requestId": "r1",
            "function": "fn",
            "message": "boom",
        }
    )
    assert parse_line(raw, "fn-1") == LogLine("2024-01-01T00:00:01Z", "fn-1", "ERROR", "r1", "boom")
    stamped = parse_line(f"2024-01-01T00:00:02.5Z {raw}", "fn-2")
    assert (stamped.time, stamped.request_id) == ("2024-01-01T00:00:01Z", "r1")
    plain = parse_line("2024-01-01T00:00:03Z plain text", "fn-1")
    assert (plain.time, plain.level, plain.request_id, plain.message) == (
        "2024-01-01T00:00:03Z",
        "INFO",
        "",
        "plain text",
    )


def test_select_merges_pods_by_time_and_filters_one_call() -> None:
    lines = [
        LogLine("t3", "b", "INFO", "r2", "c"),
        LogLine("t1", "a", "INFO", "r1", "a"),
        LogLine("t2", "b", "INFO", "r1", "b"),
    ]
    assert [line.message for line in select(lines, "", 10)] == ["a", "b", "c"]
    assert [line.message for line in select(lines, "r1", 10)] == ["a", "b"]
    assert [line.message for line in select(lines, "", 1)] == ["c"]


def test_logbook_routes_dev_replica_lines_to_their_function() -> None:
    book = LogBook(lines_per_function=2)
    sink = book.replica_sink("default")
    sink("hello-1", json.dumps({"function": "hello", "message": "one", "requestId": "r"}))
    sink("my-fn-2", "not json")
    sink("hello-1", json.dumps({"function": "hello", "message": "two"}))
    sink("hello-1", json.dumps({"function": "hello", "message": "three"}))
    assert [line.message for line in book.lines("hello.default")] == ["two", "three"]
    assert [line.message for line in book.lines("my-fn.default")] == ["not json"]


def function(name: str, memory: str = "128Mi") -> dict[str, object]:
    return {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": name},
        "spec": {
            "runtime": "python3.12",
            "handler": "main.handler",
            "code": {"inline": "def handler(e, c):\n    return 1\n"},
            "memory": memory,
        },
    }


def test_saving_replaces_the_document_in_its_own_file(tmp_path: Path) -> None:
    trigger = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": "t"},
        "spec": {"function": "a", "http": {"path": "/a"}},
    }
    (tmp_path / "app.yaml").write_text(yaml.safe_dump_all([function("a"), trigger]))
    files = FunctionFiles(tmp_path)
    assert files.save(function("a", memory="512Mi")) == tmp_path / "app.yaml"
    docs = list(yaml.safe_load_all((tmp_path / "app.yaml").read_text()))
    assert [d["kind"] for d in docs] == ["Function", "Trigger"] and docs[0]["spec"]["memory"] == "512Mi"
    assert files.save(function("b")) == tmp_path / "b.yaml"
    assert files.remove("default", "a") and [
        d["kind"] for d in yaml.safe_load_all((tmp_path / "app.yaml").read_text())
    ] == ["Trigger"]
    assert files.remove("default", "b") and not (tmp_path / "b.yaml").exists()
    assert not files.remove("default", "b")


def test_editable_drops_server_fields() -> None:
    obj = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {
            "name": "a",
            "namespace": "n",
            "uid": "u",
            "resourceVersion": "1",
            "managedFields": [],
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
        },
        "spec": {"runtime": "python3.12"},
        "status": {"replicas": 1},
    }
    assert editable(obj) == {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": "a", "namespace": "n"},
        "spec": {"runtime": "python3.12"},
    }


def test_api_server_causes_become_field_errors() -> None:
    exc = ApiException(status=422, reason="Unprocessable Entity")
    exc.body = json.dumps(
        {
            "kind": "Status",
            "message": 'Function.wisp.dev "a" is invalid',
            "details": {
                "causes": [
                    {
                        "reason": "FieldValueInvalid",
                        "field": "spec.memory",
                        "message": "Invalid value: \"lots\": spec.memory in body should match '^[0-9]+'",
                    }
                ]
            },
        }
    )
    assert field_errors(exc) == [
        FieldError("spec.memory", "Invalid value: \"lots\": spec.memory in body should match '^[0-9]+'")
    ]
    bare = ApiException(status=422, reason="Unprocessable Entity")
    bare.body = json.dumps({"message": "admission webhook denied"})
    assert field_errors(bare) == [FieldError("", "admission webhook denied")]
