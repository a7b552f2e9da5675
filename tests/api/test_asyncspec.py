"""``spec.async`` of a Function and a queue Trigger's ``maxEventAge``/``onFailure``: the parser
accepts what the CRD accepts and names the field it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.api.asyncspec import AsyncConfig, Destination, DestinationKind
from wisp.api.function import SpecError, parse_function
from wisp.api.trigger import parse_trigger


def function(**spec_async: Any) -> Any:
    spec = {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": "x"}}
    if spec_async:
        spec["async"] = spec_async
    return parse_function({"metadata": {"name": "f"}, "spec": spec})


def test_unset_async_follows_the_gateway_defaults() -> None:
    assert function().spec.async_config == AsyncConfig()


def test_every_async_control_is_parsed() -> None:
    config = function(
        maxRetries=0,
        maxEventAge="90m",
        onSuccess={"function": "audit"},
        onFailure={"url": "https://hooks.example.com/failed"},
    ).spec.async_config
    assert config == AsyncConfig(
        max_retries=0,
        max_event_age=5400.0,
        on_success=Destination(DestinationKind.FUNCTION, "audit"),
        on_failure=Destination(DestinationKind.URL, "https://hooks.example.com/failed"),
    )
    assert function(onFailure={"stream": "orders.failed"}).spec.async_config.on_failure == Destination(
        DestinationKind.STREAM, "orders.failed"
    )


@pytest.mark.parametrize(
    ("spec_async", "field"),
    [
        ({"maxRetries": -1}, "spec.async.maxRetries"),
        ({"maxRetries": 101}, "spec.async.maxRetries"),
        ({"maxEventAge": "59s"}, "spec.async.maxEventAge"),
        ({"maxEventAge": "7h"}, "spec.async.maxEventAge"),
        ({"onSuccess": {}}, "spec.async.onSuccess"),
        ({"onSuccess": {"function": "a", "stream": "b"}}, "spec.async.onSuccess"),
        ({"onFailure": {"function": "Not_A_Name"}}, "spec.async.onFailure.function"),
        ({"onFailure": {"url": "ftp://x/y"}}, "spec.async.onFailure.url"),
        ({"onFailure": {"stream": "has space"}}, "spec.async.onFailure.stream"),
    ],
)
def test_bad_async_controls_name_their_field(spec_async: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as caught:
        function(**spec_async)
    assert caught.value.field == field


def test_a_queue_trigger_takes_an_event_age_and_a_failure_destination() -> None:
    trigger = parse_trigger(
        {
            "metadata": {"name": "t"},
            "spec": {
                "function": "f",
                "queue": {"stream": "orders", "maxEventAge": "1h", "onFailure": {"stream": "orders.failed"}},
            },
        }
    )
    assert trigger.queue is not None
    assert trigger.queue.max_event_age == 3600.0
    assert trigger.queue.on_failure == Destination(DestinationKind.STREAM, "orders.failed")
    with pytest.raises(SpecError) as caught:
        parse_trigger(
            {"metadata": {"name": "t"}, "spec": {"function": "f", "queue": {"stream": "o", "onFailure": {}}}}
        )
    assert caught.value.field == "spec.queue.onFailure"
