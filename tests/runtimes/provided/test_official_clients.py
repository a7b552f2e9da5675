"""The official runtime interface clients, unmodified, through the provided runtime.

* Go: a function on ``github.com/aws/aws-lambda-go`` (go/main.go), built as the bootstrap.
* Rust: a function on ``lambda_runtime`` from crates.io (rust/src/main.rs), built as the bootstrap.
* Python: ``awslambdaric`` from PyPI running functions/python/app.py, as a Lambda container
  image's ``CMD`` would (``python -m awslambdaric app.handler``).
* Java: ``aws-lambda-java-runtime-interface-client`` from Maven Central running a
  ``RequestHandler`` (java/src), as AWS's Java base images do.

See clients.py for how each is built and cached.
"""

from __future__ import annotations

import base64
import json
import shutil
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.runtimes.conftest import Running, metric_value
from tests.runtimes.provided import clients
from tests.runtimes.provided.conftest import PYTHON_FUNCTIONS, StartProvided


def _go_code_dir(tmp_path: Path, go_bootstrap: Path) -> Path:
    """A code dir as a Go function ships it to Lambda: one executable named ``bootstrap``."""
    code = tmp_path / "code"
    code.mkdir()
    shutil.copy2(go_bootstrap, code / "bootstrap")
    return code


async def _context_call(http: aiohttp.ClientSession, running: Running, request_id: str) -> Any:
    """The ``context`` op with a client context and an identity, as the gateway passes a Lambda
    Invoke's; checks what every client reports of it the same way, and returns the body."""
    before = time.time() * 1000
    async with http.post(
        running.url,
        json={"op": "context"},
        headers={
            "X-Wisp-Request-Id": request_id,
            "X-Wisp-Client-Context": base64.b64encode(
                json.dumps({"custom": {"tenant": "acme"}}).encode()
            ).decode(),
            "X-Wisp-Identity": base64.b64encode(json.dumps({"cognitoIdentityId": "id-7"}).encode()).decode(),
        },
    ) as response:
        body = await response.json()
        assert response.status == 200, body
    assert body["requestId"] == request_id
    assert body["functionArn"] == "arn:aws:lambda:us-east-1:tests:function:provided"
    assert before + 4000 < body["deadlineMs"] <= time.time() * 1000 + 5000  # the call's deadline
    assert (body["functionName"], body["memory"], body["handler"]) == ("provided", 256, "bootstrap")
    assert body["custom"] == {"tenant": "acme"}
    assert body["identityId"] == "id-7"
    assert body["traceId"].startswith("Root=1-")
    return body


async def test_go_function_answers_and_sees_lambdas_context(
    start_provided: StartProvided, go_bootstrap: Path, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    code = _go_code_dir(tmp_path, go_bootstrap)
    running = await start_provided(code_dir=code, handler="bootstrap", WISP_TIMEOUT_SECONDS="5")
    assert running.ready.handler_loaded
    async with http.post(running.url, json={"op": "echo", "data": {"hello": "go"}}) as response:
        assert response.status == 200
        assert await response.json() == {"hello": "go"}
    body = await _context_call(http, running, "go-1")
    assert body["taskRoot"] == str(code)
    assert body["runtimeApi"].startswith("127.0.0.1:")


async def test_go_function_errors_timeouts_and_exits(
    start_provided: StartProvided, go_bootstrap: Path, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    running = await start_provided(code_dir=_go_code_dir(tmp_path, go_bootstrap), WISP_TIMEOUT_SECONDS="1")
    async with http.post(running.url, json={"op": "fail", "value": "order 7"}) as response:
        assert response.status == 500
        assert response.headers["X-Wisp-Error"] == "Unhandled"
        body = await response.json()
    assert body["errorType"] == "notFound"  # aws-lambda-go names the Go type
    assert body["errorMessage"] == "order 7 was not found"
    async with http.post(running.url, json={"op": "reader-fail"}) as response:
        assert response.status == 500  # the error came in the chunked response's trailers
        body = await response.json()
    assert (body["errorType"], body["errorMessage"]) == ("errorString", "stream broke")
    async with http.post(running.url, json={"op": "http", "value": "made"}) as response:
        assert response.status == 201
        assert response.headers["X-From"] == "go"
        assert await response.text() == "made"
    async with http.post(running.url, json={}) as response:
        first_pid = (await response.json())["pid"]
    # A handler that ignores its deadline: 504 at the timeout, and a fresh process after.
    async with http.post(running.url, json={"op": "block", "ms": 30_000}) as response:
        assert response.status == 504
        assert (await response.json())["errorType"] == "TimeoutError"
    async with http.post(running.url, json={}) as response:
        assert response.status == 200
        second_pid = (await response.json())["pid"]
    assert second_pid != first_pid
    async with http.post(running.url, json={"op": "exit", "code": 2}) as response:
        assert response.status == 500
        assert (await response.json())["errorType"] == "Runtime.ExitError"
    async with http.post(running.url, json={}) as response:
        assert response.status == 200
        assert (await response.json())["pid"] not in (first_pid, second_pid)
    assert await metric_value(http, running.url, "wisp_runtime_bootstrap_restarts_total") == 2


async def test_rust_function_answers_sees_lambdas_context_and_fails_as_lambda_runtime_reports(
    start_provided: StartProvided, rust_bootstrap: Path, http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    code = _go_code_dir(tmp_path, rust_bootstrap)  # the same shape: one executable, `bootstrap`
    running = await start_provided(code_dir=code, handler="bootstrap", WISP_TIMEOUT_SECONDS="5")
    assert running.ready.handler_loaded
    async with http.post(running.url, json={"op": "echo", "data": {"hello": "rust"}}) as response:
        assert response.status == 200
        assert await response.json() == {"hello": "rust"}
    await _context_call(http, running, "rust-1")
    async with http.post(running.url, json={"op": "fail", "value": "order 7"}) as response:
        assert response.status == 500
        assert response.headers["X-Wisp-Error"] == "Unhandled"
        assert (await response.json())["errorMessage"] == "order 7 was not found"
    async with http.post(running.url, json={}) as response:
        first_pid = (await response.json())["pid"]
    async with http.post(running.url, json={"op": "exit", "code": 2}) as response:
        assert response.status == 500
        assert (await response.json())["errorType"] == "Runtime.ExitError"
    async with http.post(running.url, json={}) as response:
        assert response.status == 200
        assert (await response.json())["pid"] != first_pid


async def test_awslambdaric_runs_a_python_handler(
    start_provided: StartProvided, ric_python: Path, http: aiohttp.ClientSession
) -> None:
    running = await start_provided(
        [str(ric_python), "-m", "awslambdaric", "app.handler"],
        code_dir=PYTHON_FUNCTIONS,
        handler="app.handler",
        WISP_TIMEOUT_SECONDS="3",
    )
    assert running.ready.handler_loaded
    async with http.post(
        running.url, json={"name": "ric"}, headers={"X-Wisp-Request-Id": "py-1"}
    ) as response:
        assert response.status == 200
        body = await response.json()
    assert body["event"] == {"name": "ric"}
    assert body["requestId"] == "py-1"
    assert body["arn"] == "arn:aws:lambda:us-east-1:tests:function:provided"
    assert 2000 < body["remainingMs"] <= 3000
    assert body["memory"] == "256"
    async with http.post(running.url, json={"op": "fail", "value": "no such key"}) as response:
        assert response.status == 500
        error = await response.json()
    assert error["errorType"] == "LookupError"
    assert error["errorMessage"] == "no such key"
    async with http.post(running.url, json={"op": "sleep", "ms": 20_000}) as response:
        assert response.status == 504
    async with http.post(running.url, json={}) as response:
        assert response.status == 200
        assert (await response.json())["pid"] != body["pid"]


async def test_awslambdaric_init_error_makes_the_runtime_not_ready(
    start_provided: StartProvided, ric_python: Path, http: aiohttp.ClientSession
) -> None:
    running = await start_provided(
        [str(ric_python), "-m", "awslambdaric", "broken.handler"], code_dir=PYTHON_FUNCTIONS
    )
    assert not running.ready.handler_loaded
    async with http.get(f"{running.url}/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["errorType"] == "RuntimeError"  # what the module raised, as awslambdaric reports it
    assert "no configuration" in body["errorMessage"]
    async with http.post(running.url, json={}) as response:
        assert response.status == 503


async def test_the_java_client_runs_a_request_handler(
    start_provided: StartProvided, java_classpath: str, http: aiohttp.ClientSession
) -> None:
    handler = "example.Hello::handleRequest"
    running = await start_provided(
        ["java", "-cp", java_classpath, clients.JAVA_RIC_MAIN, handler],
        handler=handler,
        WISP_TIMEOUT_SECONDS="5",
    )
    assert running.ready.handler_loaded
    async with http.post(
        running.url, json={"name": "java"}, headers={"X-Wisp-Request-Id": "j-1"}
    ) as response:
        assert response.status == 200
        body = await response.json()
    assert body["event"] == {"name": "java"}
    assert body["requestId"] == "j-1"
    assert body["arn"] == "arn:aws:lambda:us-east-1:tests:function:provided"
    assert 0 < body["remainingMs"] <= 5000
    async with http.post(running.url, json={"op": "fail"}) as response:
        assert response.status == 500
        error = await response.json()
    assert error["errorType"] == "java.lang.IllegalStateException"
    assert error["errorMessage"] == "java says no"
