"""HTTP Trigger calls reach Java handlers as API Gateway's payload 1.0 and 2.0 events
(docs/runtime-contract.md, "Invocation"), so ``APIGatewayProxyRequestEvent`` and
``APIGatewayV2HTTPEvent`` handlers behind a Trigger get what API Gateway gives them.

The gateway's facts arrive as ``X-Wisp-*`` headers; these tests send them themselves.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.runtimes.java.process import JavaRuntime, StartJava

pytestmark = pytest.mark.java

GATEWAY_HEADERS = {
    "X-Wisp-Event": "http",
    "X-Wisp-Request-Id": "req-http",
    "X-Wisp-Route": "/orders/{id}",
    "X-Wisp-Path-Params": "id=42&tag=a%20b",
    "X-Wisp-Source-Ip": "203.0.113.9",
    "X-Wisp-Host": "api.example.com",
    "X-Forwarded-For": "203.0.113.9, 10.0.0.5",
    "User-Agent": "curl/8.5.0",
    "Content-Type": "application/json",
}


@pytest.fixture(scope="module")
def echo(start_java: StartJava) -> JavaRuntime:
    return start_java("fixtures.EchoMap", function_namespace="tests")


def test_payload_1_0_is_complete(echo: JavaRuntime) -> None:
    reply = echo.request("PATCH", "/orders/42?a=1&a=2", b'{"qty": 3}', GATEWAY_HEADERS)

    assert reply.status == 200, reply.body
    event = reply.json()["event"]
    assert event["version"] == "1.0"
    assert event["resource"] == "/orders/{id}"
    assert event["path"] == "/orders/42"
    assert event["httpMethod"] == "PATCH"
    assert event["pathParameters"] == {"id": "42", "tag": "a b"}
    assert event["stageVariables"] is None
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["headers"]["host"] == "api.example.com"
    assert event["multiValueHeaders"]["host"] == ["api.example.com"]
    assert not [h for h in [*event["headers"], *event["multiValueHeaders"]] if h.startswith("x-wisp-")]
    assert event["body"] == '{"qty": 3}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["accountId"] == "tests"
    assert context["apiId"] == "wisp"
    assert context["identity"]["sourceIp"] == "203.0.113.9"
    assert context["identity"]["userAgent"] == "curl/8.5.0"
    assert context["identity"]["caller"] is None
    assert context["stage"] == "$default"
    assert context["domainName"] == "api.example.com"
    assert context["domainPrefix"] == "api"
    assert context["resourcePath"] == "/orders/{id}"
    assert context["httpMethod"] == "PATCH"
    assert context["requestId"] == context["extendedRequestId"] == "req-http"
    assert context["path"] == "/orders/42"
    assert context["protocol"] == "HTTP/1.1"
    assert isinstance(context["requestTimeEpoch"], int) and context["requestTimeEpoch"] > 0
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", context["requestTime"])


def test_payload_1_0_without_the_gateways_facts(echo: JavaRuntime) -> None:
    forwarded = {
        "X-Wisp-Event": "http",
        "X-Forwarded-For": "198.51.100.1, 10.0.0.5",
        "X-Forwarded-Host": "shop.example.com",
    }

    event = echo.request("GET", "/items", headers=forwarded).json()["event"]
    bare = echo.request("GET", "/items", headers={"X-Wisp-Event": "http"}).json()["event"]

    assert event["requestContext"]["identity"]["sourceIp"] == "10.0.0.5"
    assert event["headers"]["host"] == "shop.example.com"
    assert event["pathParameters"] is None
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/items"
    assert bare["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"


def test_payload_2_0(echo: JavaRuntime) -> None:
    headers = {
        **GATEWAY_HEADERS,
        "X-Wisp-Payload-Format": "2.0",
        "X-Wisp-Route": "GET /orders/{id}",
        "Cookie": "a=1; b=2",
    }

    reply = echo.request("GET", "/orders/42?a=1&a=2&b=x", headers=headers)

    assert reply.status == 200, reply.body
    event = reply.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /orders/{id}"
    assert event["rawPath"] == "/orders/42"
    assert event["rawQueryString"] == "a=1&a=2&b=x"
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["host"] == "api.example.com"
    assert not [h for h in event["headers"] if h.startswith("x-wisp-")]
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["pathParameters"] == {"id": "42", "tag": "a b"}
    assert event["isBase64Encoded"] is False
    assert "body" not in event
    assert "multiValueHeaders" not in event
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/orders/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "203.0.113.9",
        "userAgent": "curl/8.5.0",
    }
    assert context["routeKey"] == "GET /orders/{id}"
    assert context["stage"] == "$default"
    assert context["requestId"] == "req-http"
    assert context["accountId"] == "tests"
    assert isinstance(context["timeEpoch"], int)


def test_payload_2_0_binary_body_and_default_route(echo: JavaRuntime) -> None:
    headers = {"X-Wisp-Event": "http", "X-Wisp-Payload-Format": "2.0", "Content-Type": "image/png"}

    event = echo.request("POST", "/upload", b"\x89PNG\x00", headers).json()["event"]

    assert event["routeKey"] == event["requestContext"]["routeKey"] == "$default"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x89PNG\x00"
    assert "queryStringParameters" not in event and "cookies" not in event
    assert event["rawQueryString"] == ""


def test_an_unknown_payload_format_is_a_400(echo: JavaRuntime) -> None:
    reply = echo.request("POST", "/", headers={"X-Wisp-Event": "http", "X-Wisp-Payload-Format": "3.0"})

    assert reply.status == 400
    assert reply.json()["errorType"] == "InvalidPayloadFormat"


def test_an_http_api_handler_behind_a_trigger(
    start_java: StartJava, aws_handlers: Callable[[str], Path]
) -> None:
    """AWS's APIGatewayV2HTTPEvent handler, called as a payload 2.0 HTTP Trigger calls it."""
    runtime = start_java("example.HandlerApiGatewayV2", jar=aws_handlers("events"))
    headers = {
        **GATEWAY_HEADERS,
        "X-Wisp-Payload-Format": "2.0",
        "X-Wisp-Route": "GET /orders/{id}",
        "Cookie": "c1=v1; c2=v2",
    }

    reply = runtime.request("GET", "/orders/42", headers=headers)

    assert reply.status == 200, reply.body
    assert reply.headers.get_all("Set-Cookie") == ["session=abc; Path=/"]
    assert reply.body == b"GET /orders/42 route=GET /orders/{id} cookies=[c1=v1, c2=v2] base64=false"
