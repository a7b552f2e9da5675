"""The Java runtime's invocation contract: events in, results out (docs/runtime-contract.md)."""

from __future__ import annotations

import pytest

from tests.runtimes.java.process import JavaRuntime, StartJava

pytestmark = pytest.mark.java


@pytest.fixture(scope="module")
def echo(start_java: StartJava) -> JavaRuntime:
    return start_java("fixtures.EchoMap")


def test_json_event_arrives_as_a_map_and_returns_as_json(echo: JavaRuntime) -> None:
    event = {"name": "ada", "count": 3, "ratio": 1.5, "tags": ["a", "b"], "nested": {"ok": True}}

    reply = echo.invoke(event, headers={"X-Wisp-Request-Id": "req-json-1"})

    assert reply.status == 200
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.headers["X-Wisp-Request-Id"] == "req-json-1"
    assert float(reply.headers["X-Wisp-Duration-Ms"]) >= 0
    body = reply.json()
    assert body["event"] == event
    # Integral JSON numbers become Long (not Gson's default Double), fractions Double.
    assert body["types"] == {
        "name": "String",
        "count": "Long",
        "ratio": "Double",
        "tags": "ArrayList",
        "nested": "LinkedTreeMap",
    }


def test_a_request_id_is_made_when_the_caller_gives_none(echo: JavaRuntime) -> None:
    first = echo.invoke({})
    second = echo.invoke({})

    assert first.headers["X-Wisp-Request-Id"]
    assert first.headers["X-Wisp-Request-Id"] != second.headers["X-Wisp-Request-Id"]


def test_an_empty_body_is_the_empty_event(echo: JavaRuntime) -> None:
    reply = echo.request("POST", "/anything")

    assert reply.status == 200
    assert reply.json()["event"] == {}


def test_a_body_that_is_not_json_is_a_400(echo: JavaRuntime) -> None:
    reply = echo.request("POST", "/", b"{not json", {"Content-Type": "application/json"})

    assert reply.status == 400
    assert reply.json()["errorType"] == "InvalidEventJSON"


def test_probe_paths_with_the_event_header_reach_the_handler(echo: JavaRuntime) -> None:
    reply = echo.request("GET", "/healthz", headers={"X-Wisp-Event": "json"})

    assert reply.status == 200
    assert reply.json()["event"] == {}


def test_metrics_count_invocations_by_status(echo: JavaRuntime) -> None:
    echo.invoke({"counted": True})
    echo.request("POST", "/", b"[", {"Content-Type": "application/json"})

    metrics = echo.request("GET", "/metrics").body.decode()

    assert 'wisp_runtime_invocations_total{code="200"}' in metrics
    assert 'wisp_runtime_invocations_total{code="400"}' in metrics
    assert "wisp_runtime_invocation_duration_seconds_bucket" in metrics
    assert "wisp_runtime_inflight_requests 0.0" in metrics


def test_http_event_with_a_binary_body_round_trips(start_java: StartJava) -> None:
    runtime = start_java("fixtures.HttpEcho")
    payload = bytes(range(256)) * 4

    reply = runtime.request(
        "PUT",
        "/files/raw?a=1&a=2&b=x%20y",
        payload,
        {
            "X-Wisp-Event": "http",
            "Content-Type": "application/octet-stream",
            "X-Wisp-Request-Id": "req-http-1",
        },
    )

    assert reply.status == 207
    assert reply.body == payload
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert reply.headers["x-echo-method"] == "PUT"
    assert reply.headers["x-echo-path"] == "/files/raw"
    assert reply.headers["x-echo-base64"] == "true"
    assert reply.headers["x-echo-query"] == "{a=2, b=x y}"
    assert reply.headers["x-echo-request-id"] == "req-http-1"


def test_http_event_with_a_text_body_stays_text(start_java: StartJava) -> None:
    runtime = start_java("fixtures.HttpEcho")

    reply = runtime.request(
        "POST",
        "/hello",
        "héllo".encode(),
        {"X-Wisp-Event": "http", "Content-Type": "text/plain; charset=utf-8"},
    )

    assert reply.status == 207
    assert reply.body.decode() == "héllo"
    assert reply.headers["x-echo-base64"] == "false"
    assert reply.headers["x-echo-query"] == "none"


def test_a_pojo_handler_gets_and_returns_objects(start_java: StartJava) -> None:
    runtime = start_java("fixtures.Orders")

    reply = runtime.invoke(
        {"item": "tea", "quantity": 3, "price": 2.5, "tags": ["hot"]},
        headers={"X-Wisp-Request-Id": "req-pojo"},
    )

    assert reply.status == 200
    assert reply.json() == {"item": "tea", "total": 7.5, "tagCount": 1, "requestId": "req-pojo"}
    wrong = runtime.invoke({"item": "tea", "quantity": "many"})
    assert wrong.status == 400
    assert wrong.json()["errorType"] == "InvalidEvent"


def test_the_input_type_bound_by_a_subclass_is_used(start_java: StartJava) -> None:
    runtime = start_java("fixtures.Inherited")

    reply = runtime.invoke({"item": "cake", "quantity": 1})

    assert reply.status == 200
    assert reply.json() == {"type": "Order", "item": "cake"}


def test_a_static_string_method_handler(start_java: StartJava) -> None:
    runtime = start_java("fixtures.Strings::shout")

    reply = runtime.invoke("hello")

    assert reply.status == 200
    assert reply.json() == "HELLO!"


def test_code_as_a_classes_folder(start_java: StartJava) -> None:
    runtime = start_java("fixtures.EchoMap", layout="classes")

    assert runtime.invoke({"from": "classes"}).json()["event"] == {"from": "classes"}
