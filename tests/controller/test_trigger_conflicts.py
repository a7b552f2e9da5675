"""Two HTTP Triggers on one route: the oldest holds it, the other is reported ``PathConflict``
(condition and Event) naming the holder, and takes the route over once the holder is gone."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
import yaml

from tests.cluster.fixtures import Kubectl, OperatorProcess, wait_for
from tests.controller.test_operator import apply_hello, condition, get

pytestmark = pytest.mark.cluster


def http_trigger(name: str, path: str) -> dict[str, Any]:
    return {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": name},
        "spec": {"function": "hello", "http": {"path": path, "methods": ["POST"]}},
    }


def test_the_newer_trigger_on_a_route_is_reported_and_takes_over_when_the_holder_goes(
    kubectl: Kubectl, namespace: str, operator: OperatorProcess
) -> None:
    apply_hello(kubectl, namespace)

    def bound(name: str) -> dict[str, Any]:
        return condition(get(kubectl, namespace, "trigger", name), "Bound")

    # The older one sorts last by name: age decides, not the name.
    kubectl("apply", "-f", "-", input=yaml.safe_dump(http_trigger("zz-old", "/orders")), namespace=namespace)
    wait_for(lambda: bound("zz-old").get("status") == "True", what="the first Trigger bound")
    created = (get(kubectl, namespace, "trigger", "zz-old") or {})["metadata"]["creationTimestamp"]
    # creationTimestamp has whole seconds: let the next one be a later second.
    wait_for(
        lambda: datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") > created,
        what="the next second",
    )
    kubectl("apply", "-f", "-", input=yaml.safe_dump(http_trigger("aa-new", "/orders")), namespace=namespace)

    wait_for(lambda: bound("aa-new").get("reason") == "PathConflict", what="the conflict reported")
    conflict = bound("aa-new")
    assert conflict["status"] == "False"
    assert f"Trigger {namespace}/zz-old" in conflict["message"]
    assert "POST */orders" in conflict["message"]
    assert bound("zz-old")["status"] == "True"
    events = kubectl("get", "events", "--field-selector", "reason=PathConflict", namespace=namespace).stdout
    assert "zz-old" in events or "aa-new" in events

    kubectl("delete", "trigger", "zz-old", namespace=namespace)
    wait_for(lambda: bound("aa-new").get("status") == "True", what="the route taken over")
