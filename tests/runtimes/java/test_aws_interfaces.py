"""Lambda code written against aws-lambda-java-core runs unchanged (issue #19, Java).

The handlers (``aws/basic/``) follow AWS's java-basic sample (awsdocs/aws-lambda-developer-guide,
``sample-apps/java-basic``) and are built with that sample's own library versions from Maven
Central: aws-lambda-java-core 1.2.1 (older than ``LogLevel``) and Gson 2.8.6, shaded into the
function's jar as a Lambda deployment package is. They take AWS's ``Context``, log through its
``LambdaLogger``, and one is a ``RequestStreamHandler``.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runtimes.java.process import JavaRuntime, StartJava

pytestmark = pytest.mark.java


@pytest.fixture(scope="module")
def basic_jar(aws_handlers: Callable[[str], Path]) -> Path:
    return aws_handlers("basic")


@pytest.fixture(scope="module")
def sample(start_java: StartJava, basic_jar: Path) -> JavaRuntime:
    """AWS's java-basic Handler: logs the environment, the context and the event with Gson."""
    return start_java("example.Handler", jar=basic_jar, function_name="java-basic", memory_mb="512")


def b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


def logged(runtime: JavaRuntime, request_id: str) -> dict[str, dict[str, Any]]:
    """The log lines of one call, by the first word of their message."""
    return {r["message"].split(":")[0]: r for r in runtime.records() if r.get("requestId") == request_id}


def test_the_java_basic_sample_runs_and_its_context_is_plain_data(sample: JavaRuntime) -> None:
    reply = sample.invoke({"key1": "value1"}, headers={"X-Wisp-Request-Id": "req-basic-1"})

    assert reply.status == 200
    assert reply.json() == "200 OK"  # a String result is a JSON string, as Lambda sends it
    lines = logged(sample, "req-basic-1")
    assert lines["EVENT"]["message"].startswith("EVENT: {")
    assert json.loads(lines["EVENT"]["message"].removeprefix("EVENT: ")) == {"key1": "value1"}
    assert lines["EVENT TYPE"]["message"] == "EVENT TYPE: class java.util.LinkedHashMap"
    # Gson prints the context field by field, as it prints AWS's own.
    context = json.loads(lines["CONTEXT"]["message"].removeprefix("CONTEXT: "))
    assert context["awsRequestId"] == "req-basic-1"
    assert context["functionName"] == "java-basic"
    assert context["functionVersion"] == "$LATEST"
    assert context["memoryLimit"] == 512
    assert context["logGroupName"] == "/aws/lambda/java-basic"
    assert context["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:default:function:java-basic"
    assert context["deadlineTimeInMs"] > 0
    assert context["logger"] == {}
    assert lines["CONTEXT"]["level"] == "INFO"


def test_every_getter_of_aws_context_answers(start_java: StartJava, basic_jar: Path) -> None:
    runtime = start_java(
        "example.ContextProbe",
        jar=basic_jar,
        function_name="probe",
        function_namespace="team-a",
        region="eu-west-1",
        account_id="123456789012",
        memory_mb="1024",
        timeout_seconds="20",
    )

    reply = runtime.invoke({}, headers={"X-Wisp-Request-Id": "req-probe-1"})

    assert reply.status == 200
    body = reply.json()
    assert body["awsRequestId"] == "req-probe-1"
    assert body["functionName"] == "probe"
    assert body["functionVersion"] == "$LATEST"
    assert body["invokedFunctionArn"] == "arn:aws:lambda:eu-west-1:123456789012:function:probe"
    assert body["logGroupName"] == "/aws/lambda/probe"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\].+", body["logStreamName"])
    assert body["memoryLimitInMB"] == 1024
    assert 0 < body["remainingTimeInMillis"] <= 20_000
    assert "identityId" not in body and "installationId" not in body  # none sent: null
    lines = logged(runtime, "req-probe-1")
    assert lines["bytes line"]["level"] == "INFO"  # LambdaLogger.log(byte[]), newline dropped


def test_a_published_versions_aws_context_names_it(start_java: StartJava, basic_jar: Path) -> None:
    """Version 3's pods (docs/releases.md): AWS's Context says 3, as Lambda's does."""
    runtime = start_java(
        "example.ContextProbe",
        jar=basic_jar,
        function_name="orders",
        function_version="3",
        region="eu-west-1",
        account_id="123456789012",
    )

    reply = runtime.invoke({})

    assert reply.status == 200
    body = reply.json()
    assert (body["functionName"], body["functionVersion"]) == ("orders", "3")
    assert body["invokedFunctionArn"] == "arn:aws:lambda:eu-west-1:123456789012:function:orders:3"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[3\].+", body["logStreamName"])
    assert body["logGroupName"] == "/aws/lambda/orders"


def test_client_context_and_cognito_identity_reach_aws_context(
    start_java: StartJava, basic_jar: Path
) -> None:
    runtime = start_java("example.ContextProbe", jar=basic_jar)
    client_context = {
        "client": {
            "installation_id": "install-1",
            "app_title": "Notes",
            "app_version_name": "1.2",
            "app_version_code": "12",
            "app_package_name": "com.example.notes",
        },
        "custom": {"tenant": "acme"},
        "env": {"platform": "Android"},
    }
    identity = {"cognitoIdentityId": "eu-west-1:abc", "cognitoIdentityPoolId": "eu-west-1:pool"}

    reply = runtime.invoke(
        {}, headers={"X-Wisp-Client-Context": b64(client_context), "X-Wisp-Identity": b64(identity)}
    )

    assert reply.status == 200
    body = reply.json()
    assert body["identityId"] == "eu-west-1:abc"
    assert body["identityPoolId"] == "eu-west-1:pool"
    assert body["installationId"] == "install-1"
    assert body["appTitle"] == "Notes"
    assert body["appVersionName"] == "1.2"
    assert body["appVersionCode"] == "12"
    assert body["appPackageName"] == "com.example.notes"
    assert body["custom"] == {"tenant": "acme"}
    assert body["environment"] == {"platform": "Android"}


@pytest.mark.parametrize("header", ["X-Wisp-Client-Context", "X-Wisp-Identity"])
def test_a_context_header_that_is_not_base64_json_is_a_400(
    start_java: StartJava, basic_jar: Path, header: str
) -> None:
    runtime = start_java("example.ContextProbe", jar=basic_jar)

    not_json = runtime.invoke({}, headers={header: base64.b64encode(b"{nope").decode()})
    not_object = runtime.invoke({}, headers={header: b64([1, 2])})

    for reply in (not_json, not_object):
        assert reply.status == 400
        assert reply.json()["errorType"] == "InvalidContextHeader"


def test_a_request_stream_handler_gets_the_bytes_and_its_output_is_the_body(
    start_java: StartJava, basic_jar: Path
) -> None:
    runtime = start_java("example.HandlerStream", jar=basic_jar)
    raw = b'{"b": 2,   "a": [1, 2]}'  # spacing and key order kept: the bytes, not a re-encoding

    reply = runtime.request(
        "POST", "/", raw, {"Content-Type": "application/json", "X-Wisp-Request-Id": "req-stream-1"}
    )
    empty = runtime.request("POST", "/", b"")

    assert reply.status == 200
    assert reply.body == raw
    assert reply.headers["Content-Type"] == "application/json"
    assert empty.body == b"{}"  # an empty body is the empty event, for streams too
    printed = [r for r in runtime.records() if r.get("requestId") == "req-stream-1"]
    assert printed[0]["message"] == raw.decode()


def test_the_java_basic_typed_handlers(start_java: StartJava, basic_jar: Path) -> None:
    integer = start_java("example.HandlerInteger", jar=basic_jar)
    listing = start_java("example.HandlerList", jar=basic_jar)
    string = start_java("example.HandlerString", jar=basic_jar)
    weather = start_java("example.HandlerWeatherData", jar=basic_jar)

    assert integer.invoke(21).json() == 42
    assert listing.invoke([1, 2, 3, 4]).json() == 10
    assert string.invoke("hello").json() == "HELLO"
    reply = weather.invoke({"temperatureK": 281, "windKmh": -3, "humidityPct": 0.55, "pressureHPa": 1020.5})
    assert reply.status == 200
    assert reply.json() == {
        "temperatureK": 282,
        "windKmh": -3,
        "humidityPct": 0.55,
        "pressureHPa": 2041.0,
    }


def test_an_exception_of_the_sample_is_a_500_naming_it(start_java: StartJava, basic_jar: Path) -> None:
    runtime = start_java("example.HandlerDivide", jar=basic_jar)

    assert runtime.invoke([12, 4]).json() == 3
    reply = runtime.invoke([1, 2, 3])

    assert reply.status == 500
    assert reply.json()["errorType"] == "InputLengthException"
    assert reply.json()["errorMessage"] == "Input must be an array that contains 2 numbers."
