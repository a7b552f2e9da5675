"""What the operator's Function index keeps of each Function: what reconciling reads, not the
managedFields and annotations that make up most of an object's size (docs/scale.md)."""

from __future__ import annotations

import json

from wisp.controller.handlers import cached


def test_the_index_keeps_what_reconciling_reads_and_drops_the_bulk() -> None:
    spec = {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": "x"}}
    body = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {
            "name": "hello",
            "namespace": "team-a",
            "uid": "u-1",
            "generation": 3,
            "resourceVersion": "42",
            "labels": {"team": "a"},
            "annotations": {"wisp.dev/last-handled-configuration": json.dumps({"spec": spec})},
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}] * 4,
        },
        "spec": spec,
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }
    kept = cached(body)
    assert kept["metadata"] == {
        "name": "hello",
        "namespace": "team-a",
        "uid": "u-1",
        "generation": 3,
        "resourceVersion": "42",
        "labels": {"team": "a"},
    }
    assert kept["spec"] == spec and kept["status"] == body["status"] and kept["kind"] == "Function"
    kept["spec"]["code"]["inline"] = "changed"
    assert spec["code"]["inline"] == "x"  # a copy: kopf's body is never shared
    assert len(json.dumps(kept)) < len(json.dumps(body)) / 2
