"""The runtime contract (docs/runtime-contract.md), the same table of cases for every language.

Each runtime is a real process started by ``wisp.launcher`` and called over HTTP on loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from tests.runtimes.conftest import UUID_RE, Start, metric_value, wait_for_metric
from tests.runtimes.languages import Language
from tests.support.net import free_port
from wisp.launcher import LaunchError, LaunchSpec, install_dependencies, start_runtime

BINARY = bytes(range(256)) * 4 + b"\xff\xfe\x00"


@dataclass(frozen=True)
class Call:
    body: bytes = b""
    method: str = "POST"
    path: str = "/"
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Case:
    """One request to one handler and what the response must be."""

    id: str
    handler: str
    call: Call
    status: int
    json: Any = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    check: Callable[[Any], None] | None = None


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _check_http_event(body: Any) -> None:
    assert body["httpMethod"] == "PUT"
    assert body["path"] == "/orders/42"
    assert body["queryStringParameters"] == {"a": "2", "b": "x y"}
    assert body["multiValueQueryStringParameters"] == {"a": ["1", "2"], "b": ["x y"]}
    assert body["headers"]["x-custom"] == "Value"
    assert body["headers"]["content-type"] == "text/plain; charset=utf-8"
    assert body["body"] == "héllo wörld"
    assert body["isBase64Encoded"] is False
    assert body["requestContext"]["requestId"] == "req-http-1"
    assert body["requestContext"]["httpMethod"] == "PUT"


def _check_probe_path_reaches_handler(body: Any) -> None:
    assert body["path"] == "/healthz"
    assert body["httpMethod"] == "GET"
    assert body["body"] is None


CASES = [
    Case(
        "json-event",
        "echo",
        Call(_json({"a": [1, 2], "b": "x"})),
        200,
        json={"a": [1, 2], "b": "x"},
        headers={"Content-Type": "application/json"},
    ),
    Case("empty-body-is-empty-object", "echo", Call(b""), 200, json={}),
    Case("unicode-event", "echo", Call(_json({"name": "Zoë ✓"})), 200, json={"name": "Zoë ✓"}),
    Case("invalid-json", "echo", Call(b"{nope"), 400, check=lambda b: _error(b, "InvalidEventJSON")),
    Case("string-result", "value", Call(_json({"value": "text"})), 200, json="text"),
    Case("null-result", "value", Call(_json({"value": None})), 200, json=None),
    Case("list-result", "value", Call(_json({"value": [1, {"x": 2}]})), 200, json=[1, {"x": 2}]),
    Case(
        "http-event",
        "http_echo",
        Call(
            "héllo wörld".encode(),
            method="PUT",
            path="/orders/42?a=1&a=2&b=x%20y",
            headers={
                "X-Wisp-Event": "http",
                "X-Custom": "Value",
                "Content-Type": "text/plain; charset=utf-8",
                "X-Wisp-Request-Id": "req-http-1",
            },
        ),
        201,
        headers={"x-handler": "http_echo"},
        check=_check_http_event,
    ),
    Case(
        "probe-path-with-event-header-is-an-invocation",
        "http_echo",
        Call(method="GET", path="/healthz", headers={"X-Wisp-Event": "http"}),
        201,
        check=_check_probe_path_reaches_handler,
    ),
    Case(
        "binary-round-trip",
        "binary_echo",
        Call(BINARY, headers={"X-Wisp-Event": "http", "Content-Type": "application/octet-stream"}),
        200,
        body=BINARY,
        headers={"Content-Type": "application/octet-stream"},
    ),
    Case(
        "non-utf8-text-is-base64",
        "binary_echo",
        Call(b"caf\xe9", headers={"X-Wisp-Event": "http", "Content-Type": "text/plain"}),
        200,
        body=b"caf\xe9",
    ),
    Case(
        "proxy-response-base64-body",
        "value",
        Call(_json({"value": {"statusCode": 200, "body": "aGk=", "isBase64Encoded": True}})),
        200,
        body=b"hi",
        headers={"Content-Type": "application/json"},
    ),
    Case(
        "proxy-response-object-body-is-json",
        "value",
        Call(_json({"value": {"statusCode": 418, "body": {"tea": True}}})),
        418,
        json={"tea": True},
    ),
    Case(
        "proxy-response-invalid-header",
        "value",
        Call(_json({"value": {"statusCode": 200, "headers": {"X-Bad": "a\r\nb"}, "body": ""}})),
        500,
        check=lambda b: _error(b, "InvalidHandlerResponse"),
    ),
    Case(
        "unknown-event-type",
        "echo",
        Call(b"{}", headers={"X-Wisp-Event": "carrier-pigeon"}),
        400,
        check=lambda b: _error(b, "InvalidEventType"),
    ),
    Case(
        "exception-is-500",
        "boom",
        Call(_json({"fail": True, "why": "bad input"})),
        500,
        headers={"X-Wisp-Error": "Unhandled"},
        check=lambda b: _exception_body(b),
    ),
    Case(
        "deadline-already-passed",
        "echo",
        Call(b"{}", headers={"X-Wisp-Deadline-Ms": "1000"}),
        504,
        headers={"X-Wisp-Error": "Timeout"},
        check=lambda b: _error(b, "TimeoutError"),
    ),
]


def _error(body: Any, error_type: str) -> None:
    assert body["errorType"] == error_type, body
    assert body["errorMessage"]


def _exception_body(body: Any) -> None:
    assert body["errorType"] in ("ValueError", "RangeError"), body
    assert body["errorMessage"] == "boom: bad input"
    assert "stackTrace" not in body


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
async def test_contract_case(start: Start, http: aiohttp.ClientSession, case: Case) -> None:
    runtime = await start(case.handler)
    call = case.call
    async with http.request(
        call.method, runtime.url + call.path, data=call.body, headers=call.headers
    ) as response:
        body = await response.read()
        assert response.status == case.status, body
        for name, value in case.headers.items():
            assert response.headers.get(name, "").startswith(value), (name, response.headers)
        request_id = response.headers["X-Wisp-Request-Id"]
        assert request_id == call.headers.get("X-Wisp-Request-Id", request_id)
        assert UUID_RE.match(request_id) or "X-Wisp-Request-Id" in call.headers
    if case.status < 300 or case.status == 500:  # the handler ran
        assert float(response.headers["X-Wisp-Duration-Ms"]) >= 0
    if case.body is not None:
        assert body == case.body
    if case.json is not None or (case.check is None and case.body is None):
        assert json.loads(body) == case.json
    if case.check is not None:
        case.check(json.loads(body))


async def test_every_handler_style_echoes(
    start: Start, http: aiohttp.ClientSession, language: Language
) -> None:
    event = {"style": "any", "n": [1, 2, 3]}
    for style in language.echo_styles:
        runtime = await start(style)
        async with http.post(runtime.url, json=event) as response:
            assert response.status == 200, style
            assert await response.json() == event, style


async def test_exception_leaves_the_server_serving(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("boom")
    for _ in range(3):
        async with http.post(runtime.url, json={"fail": True}) as response:
            assert response.status == 500
    async with http.post(runtime.url, json={"fail": False}) as response:
        assert response.status == 200
        assert await response.json() == {"ok": True}
    async with http.get(runtime.url + "/healthz") as response:
        assert response.status == 200


async def test_stack_traces_only_when_asked(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("boom", WISP_STACK_TRACES="true")
    async with http.post(runtime.url, json={"fail": True}) as response:
        body = await response.json()
    assert response.status == 500
    assert any("handlers" in frame for frame in body["stackTrace"]), body["stackTrace"]


async def test_async_timeout_is_504_and_server_recovers(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("async_sleep", WISP_TIMEOUT_SECONDS="0.5")
    async with http.post(runtime.url, json={"seconds": 30}) as response:
        assert response.status == 504
        assert response.headers["X-Wisp-Error"] == "Timeout"
        assert (await response.json())["errorType"] == "TimeoutError"
    async with http.post(runtime.url, json={"seconds": 0}) as response:
        assert response.status == 200
        assert await response.json() == {"slept": True}


async def test_blocking_handler_is_cut_off(
    start: Start, http: aiohttp.ClientSession, language: Language
) -> None:
    runtime = await start("sleep", WISP_TIMEOUT_SECONDS="0.5", WISP_CONCURRENCY="1")
    started = time.monotonic()
    async with http.post(runtime.url, json={"seconds": 60}) as response:
        assert response.status == 504
        assert response.headers["X-Wisp-Error"] == "Timeout"
    assert time.monotonic() - started < 30, "the blocked call was waited for"
    async with http.get(runtime.url + "/livez") as response:
        live = response.status
        if language.blocked_call_fails_liveness:
            assert live == 503
            assert (await response.json())["errorType"] == "RunawayHandlers"
        else:
            assert live == 200
    if not language.blocked_call_fails_liveness:
        await wait_for_metric(http, runtime.url, "wisp_runtime_worker_restarts_total", 1)
    # Capacity was replaced: the next call runs even though the first one never returned.
    async with http.post(runtime.url, json={"seconds": 0}) as response:
        assert response.status == 200
        assert await response.json() == {"slept": True}


async def test_deadline_header_shortens_the_timeout(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("async_sleep", WISP_TIMEOUT_SECONDS="60")
    deadline_ms = int(time.time() * 1000) + 300
    async with http.post(
        runtime.url, json={"seconds": 30}, headers={"X-Wisp-Deadline-Ms": str(deadline_ms)}
    ) as response:
        assert response.status == 504


async def test_concurrency_limit_is_429(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("async_sleep", WISP_CONCURRENCY="1")

    async def slow_call() -> int:
        async with http.post(runtime.url, json={"seconds": 3}) as response:
            return response.status

    first = asyncio.create_task(slow_call())
    await wait_for_metric(http, runtime.url, "wisp_runtime_inflight_requests", 1)
    async with http.post(runtime.url, json={"seconds": 0}) as response:
        assert response.status == 429
        assert response.headers["Retry-After"] == "1"
        assert response.headers["X-Wisp-Throttled"] == "runtime"
        assert (await response.json())["errorType"] == "TooManyRequests"
    assert await first == 200


async def test_missing_handler_fails_readiness(
    start: Start, http: aiohttp.ClientSession, language: Language
) -> None:
    runtime = await start("no_such_function")
    assert runtime.ready.handler_loaded is False
    async with http.get(runtime.url + "/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["status"] == "error"
    assert body["errorType"] == "HandlerNotFound"
    assert "no_such_function" in body["errorMessage"]
    async with http.get(runtime.url + "/livez") as response:
        assert response.status == 200
    async with http.post(runtime.url, json={}) as response:
        assert response.status == 503
        assert (await response.json())["errorType"] == "HandlerNotFound"
    errors = [
        r
        for r in runtime.records()
        if r.get("level") == "ERROR" and "no_such_function" in r.get("message", "")
    ]
    assert len(errors) == 1, errors


async def test_in_a_pod_a_handler_that_fails_to_load_ends_the_runtime_saying_why(
    start: Start, language: Language
) -> None:
    # What the Deployment sets: the kubelet then restarts the container and its status says why.
    with pytest.raises(LaunchError) as failed:
        await start("no_such_function", WISP_EXIT_ON_LOAD_FAILURE="true")
    assert "exited with code 1" in str(failed.value)
    assert "no_such_function" in str(failed.value)


async def test_ready_only_once_the_handler_has_loaded(
    http: aiohttp.ClientSession, language: Language, tmp_path: Any
) -> None:
    if not language.slow_load_files:
        pytest.skip(f"no slow-loading handler fixture for {language}")
    for name, text in language.slow_load_files.items():
        (tmp_path / name).write_text(text)
    port = free_port()
    process = await start_runtime(
        LaunchSpec(
            runtime=language.runtime,
            code_dir=tmp_path,
            env={"WISP_HANDLER": language.slow_load_handler, **language.extra_env},
            port=port,
            log_sink=lambda line: None,
        )
    )
    # /healthz is polled from the spawn on: a 200 (what a readiness probe and the activator go
    # by) must never come while the module is still loading.
    answers: list[tuple[int, bool]] = []
    try:
        async with asyncio.timeout(30):
            while not answers or answers[-1][0] != 200:
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        answers.append((response.status, (tmp_path / "loaded").exists()))
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.005)
        ready = await process.wait_ready(timeout=30)
        assert ready.handler_loaded
        async with http.post(ready.url, json={"n": 1}) as response:
            assert await response.json() == {"n": 1}
    finally:
        await process.stop(grace=5)
    assert all(loaded for status, loaded in answers if status == 200), answers


@pytest.mark.parametrize(
    ("head", "status", "error_type"),
    [
        (b"NOT HTTP AT ALL\r\n\r\n", 400, "BadRequest"),
        (
            b"GET / HTTP/1.1\r\nHost: t\r\nX-Big: " + b"z" * (70 * 1024) + b"\r\n\r\n",
            431,
            "RequestHeadersTooLarge",
        ),
    ],
    ids=["malformed", "head too large"],
)
async def test_protocol_errors_are_json_and_end_the_connection(
    start: Start, language: Language, head: bytes, status: int, error_type: str
) -> None:
    if not language.json_protocol_errors:
        pytest.skip(f"{language}'s HTTP server answers protocol errors itself")
    runtime = await start("echo")
    reader, writer = await asyncio.open_connection(runtime.ready.host, runtime.ready.port)
    try:
        writer.write(head)
        answer = await asyncio.wait_for(reader.read(), 10)  # to EOF: the runtime closes
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == str(status).encode()
    assert json.loads(rest.partition(b"\r\n\r\n")[2])["errorType"] == error_type


async def test_missing_module_fails_readiness(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("", handler_ref="absent.handler")
    async with http.get(runtime.url + "/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["errorType"] == "HandlerNotFound"
    assert "absent" in body["errorMessage"]


async def test_syntax_error_fails_readiness(
    start: Start, http: aiohttp.ClientSession, language: Language, tmp_path: Any
) -> None:
    for name, text in language.syntax_error_files.items():
        (tmp_path / name).write_text(text)
    runtime = await start("", code_dir=tmp_path, handler_ref=language.syntax_error_handler)
    async with http.get(runtime.url + "/healthz") as response:
        assert response.status == 503
        body = await response.json()
    assert body["errorType"] == "SyntaxError"
    assert language.syntax_error_mentions in body["errorMessage"]
    logged = [r for r in runtime.records() if r.get("errorType") == "SyntaxError"]
    assert len(logged) == 1


async def test_body_limit_is_413(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("echo", WISP_MAX_BODY_BYTES="1024")
    small = _json({"pad": "x" * 900})
    async with http.post(runtime.url, data=small) as response:
        assert response.status == 200
    async with http.post(runtime.url, data=_json({"pad": "x" * 2000})) as response:
        assert response.status == 413
        assert (await response.json())["errorType"] == "RequestTooLarge"

    async def chunks() -> Any:  # no Content-Length: the limit holds while reading
        for _ in range(8):
            yield b" " * 512

    async with http.post(runtime.url, data=chunks()) as response:
        assert response.status == 413


async def test_context_fields(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start(
        "context_fields",
        WISP_FUNCTION_NAME="ctx-fn",
        WISP_FUNCTION_NAMESPACE="team-a",
        WISP_MEMORY_MB="512",
        WISP_TIMEOUT_SECONDS="10",
    )
    async with http.post(runtime.url, json={}, headers={"X-Wisp-Request-Id": "req-ctx"}) as response:
        body = await response.json()
    assert body["requestId"] == body["awsRequestId"] == "req-ctx"
    assert body["functionName"] == "ctx-fn"
    assert body["functionNamespace"] == "team-a"
    assert body["memoryLimitInMB"] in (512, "512")  # Lambda's Python and Node.js give a string
    assert 0 < body["remainingMs"] <= 10_000


async def test_handler_output_is_logged_with_the_request_id(
    start: Start, http: aiohttp.ClientSession
) -> None:
    runtime = await start("logs")
    marker = base64.b32encode(os.urandom(10)).decode()
    async with http.post(
        runtime.url, json={"marker": marker}, headers={"X-Wisp-Request-Id": "req-logs"}
    ) as response:
        assert response.status == 200
    wanted = {f"printed {marker}", f"logged {marker}", f"library {marker}"}
    records = await runtime.wait_for_record(lambda r: r.get("message") == f"library {marker}")
    records = [r for r in runtime.records() if r.get("message") in wanted]
    assert {r["message"] for r in records} == wanted
    assert all(r["requestId"] == "req-logs" for r in records), records
    assert all(r["function"] == "contract" and r["time"] and r["level"] for r in records)
    finished = await runtime.wait_for_record(
        lambda r: r.get("requestId") == "req-logs" and r.get("status") == 200
    )
    assert finished


async def test_metrics_count_invocations(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("boom")
    for fail in (False, False, True):
        async with http.post(runtime.url, json={"fail": fail}) as response:
            await response.read()
    async with http.get(runtime.url + "/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain")
    url = runtime.url
    assert await metric_value(http, url, 'wisp_runtime_invocations_total{code="200"}') == 2
    assert await metric_value(http, url, 'wisp_runtime_invocations_total{code="500"}') == 1
    assert await metric_value(http, url, "wisp_runtime_errors_total") == 1
    assert await metric_value(http, url, "wisp_runtime_invocation_duration_seconds_count") == 3
    assert await metric_value(http, url, 'wisp_runtime_invocation_duration_seconds_bucket{le="+Inf"}') == 3
    assert await metric_value(http, url, "wisp_runtime_inflight_requests") == 0


async def test_dependencies_are_installed_and_loaded(
    start: Start, http: aiohttp.ClientSession, language: Language, tmp_path: Any
) -> None:
    if not language.deps_files:
        pytest.skip(f"{language.name} functions bring their dependencies in their artifact")
    code_dir = tmp_path / "code"
    deps_dir = tmp_path / "deps"
    code_dir.mkdir()
    for name, text in language.deps_files.items():
        (code_dir / name).write_text(text)
    output: list[str] = []
    await install_dependencies(language.runtime, code_dir, deps_dir, log_sink=output.append)
    runtime = await start(
        "", code_dir=code_dir, handler_ref=language.deps_handler, WISP_DEPS_DIR=str(deps_dir)
    )
    async with http.post(runtime.url, json={"n": 5, "s": "x"}) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    assert body["ok"] is True
    assert os.path.realpath(body["location"]).startswith(os.path.realpath(deps_dir))
    # A second run with the same dependency file skips the install.
    again: list[str] = []
    await install_dependencies(language.runtime, code_dir, deps_dir, log_sink=again.append)
    assert any("already installed" in line for line in again), again


async def test_proxy_response_headers(start: Start, http: aiohttp.ClientSession) -> None:
    response_value = {
        "statusCode": 202,
        "headers": {"X-Single": "1", "Content-Type": "text/plain", "Content-Length": "999"},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]},
        "body": "accepted",
    }
    runtime = await start("value")
    async with http.post(runtime.url, json={"value": response_value}) as response:
        assert response.status == 202
        assert await response.read() == b"accepted"  # framed by the server, not the handler
        assert response.headers["X-Single"] == "1"
        assert response.headers["Content-Type"] == "text/plain"
        assert sorted(response.headers.getall("Set-Cookie")) == ["a=1", "b=2"]
