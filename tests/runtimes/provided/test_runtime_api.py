"""The provided runtime's Runtime API, driven by a standard-library bootstrap (scripted_bootstrap.py).

Each test starts the runtime through ``wisp.launcher`` and calls it as the gateway does; the
bootstrap reports back what the Runtime API told it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import time
from pathlib import Path

import aiohttp
import pytest

from tests.runtimes.conftest import UUID_RE, metric_value
from tests.runtimes.provided.conftest import SCRIPTED, StartProvided
from wisp.launcher import LaunchError


async def test_a_call_is_one_invocation_with_lambdas_headers(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted, handler="my.handler", WISP_MEMORY_MB="512")
    assert running.ready.handler_loaded
    async with http.get(f"{running.url}/healthz") as response:
        assert response.status == 200
    before = time.time() * 1000
    async with http.post(
        running.url, json={"op": "echo", "n": 1}, headers={"X-Wisp-Request-Id": "req-1"}
    ) as response:
        assert response.status == 200
        assert response.headers["X-Wisp-Request-Id"] == "req-1"
        assert float(response.headers["X-Wisp-Duration-Ms"]) >= 0
        body = await response.json()
    headers = {k.lower(): v for k, v in body["headers"].items()}
    assert body["event"] == {"op": "echo", "n": 1}
    assert headers["lambda-runtime-aws-request-id"] == "req-1"
    assert (
        headers["lambda-runtime-invoked-function-arn"] == "arn:aws:lambda:us-east-1:tests:function:provided"
    )
    assert headers["lambda-runtime-trace-id"].startswith("Root=1-")
    assert before + 9000 < int(headers["lambda-runtime-deadline-ms"]) <= time.time() * 1000 + 10000
    assert "lambda-runtime-client-context" not in headers
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\]\S+", body["env"].pop("AWS_LAMBDA_LOG_STREAM_NAME"))
    assert body["env"] == {
        "_HANDLER": "my.handler",
        "LAMBDA_TASK_ROOT": str(running.process.spec.code_dir),
        "AWS_LAMBDA_FUNCTION_NAME": "provided",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_REGION": "us-east-1",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/provided",
        "AWS_EXECUTION_ENV": None,
    }
    # The bootstrap's output is logged, tagged with the call it served.
    records = await running.wait_for_record(lambda r: r.get("message") == "handling echo")
    assert records[0]["requestId"] == "req-1"


async def test_a_published_versions_bootstrap_is_told_its_number(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    """Version 3's pods (docs/releases.md): the invoked ARN is qualified with it and Lambda's
    variables name it, as for a Python or Node.js function."""
    running = await start_provided(
        scripted, WISP_FUNCTION_NAME="orders", WISP_FUNCTION_VERSION="3", WISP_REGION="eu-west-1"
    )
    async with http.post(running.url, json={"op": "echo"}) as response:
        assert response.status == 200
        body = await response.json()
    arn = {k.lower(): v for k, v in body["headers"].items()}["lambda-runtime-invoked-function-arn"]
    assert arn == "arn:aws:lambda:eu-west-1:tests:function:orders:3"
    assert body["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert body["env"]["AWS_LAMBDA_FUNCTION_VERSION"] == "3"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[3\]\S+", body["env"]["AWS_LAMBDA_LOG_STREAM_NAME"])


async def test_log_tail_hands_back_the_calls_output(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    """Lambda's ``LogType: Tail`` (``X-Wisp-Log-Tail: 1``): base64 of the last 4 KB of the call's
    log lines, the bootstrap's output up to its answer included; none without the header."""
    running = await start_provided(scripted)
    headers = {"X-Wisp-Log-Tail": "1", "X-Wisp-Request-Id": "req-tail"}
    for _ in range(3):  # each time, the lines printed right before the answer are in it
        async with http.post(running.url, json={"op": "chatty", "lines": 300}, headers=headers) as response:
            assert response.status == 200
            tail = base64.b64decode(response.headers["X-Wisp-Log-Tail"])
        assert 3000 < len(tail) <= 4096
        records = [json.loads(line) for line in tail.decode().splitlines()[1:]]
        assert all(record["requestId"] == "req-tail" for record in records)
        assert records[-1]["message"] == "last words" and records[-1]["level"] == "ERROR"
        assert records[-2]["message"] == "line 299 of the call"
    async with http.post(running.url, json={"op": "echo"}) as response:
        assert response.status == 200
        assert "X-Wisp-Log-Tail" not in response.headers


async def test_request_id_client_context_identity_and_deadline_pass_through(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted)
    client_context = {"custom": {"tenant": "acme"}}
    identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    deadline = int(time.time() * 1000) + 5000
    async with http.post(
        running.url,
        json={"op": "echo"},
        headers={
            "X-Wisp-Client-Context": base64.b64encode(json.dumps(client_context).encode()).decode(),
            "X-Wisp-Identity": base64.b64encode(json.dumps(identity).encode()).decode(),
            "X-Wisp-Deadline-Ms": str(deadline),
            "X-Amzn-Trace-Id": "Root=1-5f84c7a1-4b1f2ab4d1d7e0c7a1b2c3d4;Sampled=1",
        },
    ) as response:
        assert response.status == 200
        headers = {k.lower(): v for k, v in (await response.json())["headers"].items()}
    assert UUID_RE.match(headers["lambda-runtime-aws-request-id"])
    assert json.loads(headers["lambda-runtime-client-context"]) == client_context
    assert json.loads(headers["lambda-runtime-cognito-identity"]) == identity
    assert int(headers["lambda-runtime-deadline-ms"]) == deadline  # earlier than the 10 s timeout
    assert headers["lambda-runtime-trace-id"] == "Root=1-5f84c7a1-4b1f2ab4d1d7e0c7a1b2c3d4;Sampled=1"


async def test_error_is_the_contracts_500_and_the_runtime_stays_up(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted, WISP_STACK_TRACES="true")
    async with http.post(
        running.url, json={"op": "error"}, headers={"X-Wisp-Request-Id": "r-err"}
    ) as response:
        assert response.status == 500
        assert response.headers["X-Wisp-Error"] == "Unhandled"
        assert await response.json() == {
            "errorType": "Custom.Broken",
            "errorMessage": "it broke",
            "requestId": "r-err",
            "stackTrace": ["at line 1"],
        }
    async with http.post(running.url, json={"op": "echo"}) as response:
        assert response.status == 200
    assert await metric_value(http, running.url, "wisp_runtime_errors_total") == 1
    assert await metric_value(http, running.url, "wisp_runtime_bootstrap_restarts_total") == 0


async def test_a_proxy_shaped_answer_shapes_the_http_response(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted)
    async with http.post(running.url, json={"op": "proxy"}) as response:
        assert response.status == 202
        assert response.headers["X-Scripted"] == "yes"
        assert await response.text() == "accepted"
    # Any other answer is passed on byte for byte.
    async with http.post(running.url, json={"op": "raw", "body": "[1,  2]"}) as response:
        assert response.status == 200
        assert await response.read() == b"[1,  2]"


async def test_http_events_are_api_gateway_events(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted)
    async with http.post(
        f"{running.url}/orders/42?op=x",
        data=b'{"op": "echo"}',
        headers={"X-Wisp-Event": "http", "Content-Type": "application/json"},
    ) as response:
        assert response.status == 200
        event = (await response.json())["event"]
    assert event["httpMethod"] == "POST"
    assert event["path"] == "/orders/42"
    assert event["queryStringParameters"] == {"op": "x"}


async def test_bad_events_are_refused_before_the_bootstrap(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted)
    async with http.post(running.url, data=b"{nope") as response:
        assert response.status == 400
        assert (await response.json())["errorType"] == "InvalidEventJSON"
    async with http.post(running.url, data=b"", headers={"X-Wisp-Identity": "%%%"}) as response:
        assert response.status == 400
        assert (await response.json())["errorType"] == "InvalidContextHeader"
    async with http.post(running.url, data=b"") as response:  # an empty body is {}
        assert (await response.json())["event"] == {}


async def test_an_answer_for_another_request_id_is_refused(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted)
    async with http.post(running.url, json={"op": "wrong-id"}) as response:
        assert await response.json() == {"wrongIdStatus": 400}


async def test_timeout_answers_504_and_restarts_the_bootstrap(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted, WISP_TIMEOUT_SECONDS="1")
    async with http.post(running.url, json={"op": "echo"}) as response:
        first_pid = (await response.json())["pid"]
    async with http.post(
        running.url, json={"op": "sleep", "ms": 60_000}, headers={"X-Wisp-Request-Id": "slow"}
    ) as response:
        assert response.status == 504
        assert response.headers["X-Wisp-Error"] == "Timeout"
        assert (await response.json())["errorType"] == "TimeoutError"
    async with http.post(running.url, json={"op": "echo"}) as response:
        assert response.status == 200
        assert (await response.json())["pid"] != first_pid  # a fresh bootstrap, as Lambda does
    assert await metric_value(http, running.url, "wisp_runtime_bootstrap_restarts_total") == 1


async def test_a_bootstrap_that_exits_fails_its_call_and_is_restarted(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted)
    async with http.post(running.url, json={"op": "exit"}) as response:
        assert response.status == 500
        body = await response.json()
    assert body["errorType"] == "Runtime.ExitError"
    assert "status 3" in body["errorMessage"]
    async with http.post(running.url, json={"op": "echo"}) as response:
        assert response.status == 200
    async with http.get(f"{running.url}/healthz") as response:
        assert response.status == 200


async def test_calls_queue_behind_the_one_in_flight(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted, WISP_CONCURRENCY="3")

    async def call(ms: int) -> tuple[int, dict[str, object]]:
        async with http.post(running.url, json={"op": "sleep", "ms": ms}) as response:
            return response.status, await response.json()

    first = asyncio.create_task(call(300))
    await running.wait_for_record(lambda r: r.get("message") == "handling sleep")
    queued = [asyncio.create_task(call(0)) for _ in range(2)]
    while await metric_value(http, running.url, "wisp_runtime_inflight_requests") < 3:
        await asyncio.sleep(0.01)
    async with http.post(running.url, json={"op": "echo"}) as response:
        assert response.status == 429
        assert response.headers["X-Wisp-Throttled"] == "runtime"
    results = await asyncio.gather(first, *queued)
    assert [status for status, _ in results] == [200, 200, 200]
    assert len({body["pid"] for _, body in results}) == 1  # one bootstrap served them in turn


async def test_init_error_makes_the_runtime_not_ready(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted, SCRIPTED_INIT="error")
    assert not running.ready.handler_loaded
    async with http.get(f"{running.url}/healthz") as response:
        assert response.status == 503
        assert await response.json() == {
            "status": "error",
            "errorType": "Custom.InitBroken",
            "errorMessage": "no config",
        }
    async with http.post(running.url, json={}) as response:
        assert response.status == 503
        assert (await response.json())["errorType"] == "Custom.InitBroken"


async def test_in_a_pod_an_init_error_ends_the_runtime_saying_why(
    start_provided: StartProvided, scripted: list[str]
) -> None:
    # What the Deployment sets: the kubelet restarts the container and its status says why.
    with pytest.raises(LaunchError) as failed:
        await start_provided(scripted, SCRIPTED_INIT="error", WISP_EXIT_ON_LOAD_FAILURE="true")
    assert "exited with code 1" in str(failed.value)
    assert "Custom.InitBroken: no config" in str(failed.value)


async def test_a_bootstrap_that_exits_during_init_is_not_ready(
    start_provided: StartProvided, scripted: list[str], http: aiohttp.ClientSession
) -> None:
    running = await start_provided(scripted, SCRIPTED_INIT="exit")
    assert not running.ready.handler_loaded
    async with http.get(f"{running.url}/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["errorType"] == "Runtime.ExitError"
    assert "status 4" in body["errorMessage"]


async def test_no_bootstrap_is_an_invalid_entrypoint(
    start_provided: StartProvided, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    running = await start_provided(code_dir=tmp_path)
    async with http.get(f"{running.url}/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["errorType"] == "Runtime.InvalidEntrypoint"
    assert str(tmp_path / "bootstrap") in body["errorMessage"]


async def test_the_bootstrap_is_found_in_the_code_dir(
    start_provided: StartProvided, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    """Lambda's rule (``bootstrap`` in the task root, the handler only ``_HANDLER``), and a
    script mounted without its execute bit (a ConfigMap) run by its ``#!`` line."""
    import sys

    script = f"#!{sys.executable}\n" + SCRIPTED.read_text()
    (tmp_path / "bootstrap").write_text(script)
    os.chmod(tmp_path / "bootstrap", 0o644)
    running = await start_provided(code_dir=tmp_path, handler="anything.goes")
    async with http.post(running.url, json={"op": "echo"}) as response:
        assert response.status == 200
        assert (await response.json())["env"]["_HANDLER"] == "anything.goes"
