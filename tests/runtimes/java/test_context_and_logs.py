"""What a Java handler sees (Context) and what its output becomes (JSON log lines)."""

from __future__ import annotations

import re

import pytest

from tests.runtimes.java.process import StartJava

pytestmark = pytest.mark.java


def test_context_and_logs_carry_the_invocation(start_java: StartJava) -> None:
    runtime = start_java(
        "fixtures.ContextProbe",
        function_name="probe",
        function_namespace="team-a",
        memory_mb="512",
        timeout_seconds="30",
    )

    reply = runtime.invoke({}, headers={"X-Wisp-Request-Id": "req-ctx-7"})

    assert reply.status == 200
    context = reply.json()
    assert context["awsRequestId"] == context["requestId"] == "req-ctx-7"
    assert context["functionName"] == "probe"
    assert context["functionNamespace"] == "team-a"
    assert context["functionVersion"] == "$LATEST"
    assert context["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:team-a:function:probe"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\].+", context["logStreamName"])
    assert context["memoryLimitInMB"] == 512
    assert 0 < context["remainingTimeInMillis"] <= 30_000
    assert context["contextClassLoader"] == "wisp-function"

    runtime.stop()  # flushes everything the process wrote
    records = runtime.records()  # every stdout line is a JSON object
    by_message = {r["message"]: r for r in records if r.get("requestId") == "req-ctx-7"}
    assert by_message["printed line"]["level"] == "INFO"
    assert by_message["error line"]["level"] == "ERROR"
    assert by_message["logger line"]["level"] == "WARNING"
    assert by_message["invocation finished"]["status"] == 200
    for record in by_message.values():
        assert record["function"] == "probe"
        assert record["time"].endswith("Z")


def test_a_published_versions_context_names_it(start_java: StartJava) -> None:
    """Version 3's pods (docs/releases.md): the version, the ARN's qualifier and the log stream."""
    runtime = start_java(
        "fixtures.ContextProbe", function_name="orders", function_version="3", function_namespace="shop"
    )

    reply = runtime.invoke({})

    assert reply.status == 200
    context = reply.json()
    assert (context["functionName"], context["functionVersion"]) == ("orders", "3")
    assert context["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:shop:function:orders:3"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[3\].+", context["logStreamName"])
