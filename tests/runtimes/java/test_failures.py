"""How the Java runtime fails: exceptions, timeouts, throttling, big bodies, bad handlers."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tests.runtimes.java.process import JavaRuntime, Reply, StartJava
from tests.support.wait import wait_for

pytestmark = pytest.mark.java


def inflight(runtime: JavaRuntime) -> float:
    for line in runtime.request("GET", "/metrics").body.decode().splitlines():
        if line.startswith("wisp_runtime_inflight_requests "):
            return float(line.split()[1])
    raise AssertionError("no inflight gauge")


def test_an_exception_is_a_500_and_the_server_keeps_serving(start_java: StartJava) -> None:
    runtime = start_java("fixtures.Failing", stack_traces="true")

    failed = runtime.invoke({"why": "bad input"}, headers={"X-Wisp-Request-Id": "req-boom"})

    assert failed.status == 500
    assert failed.headers["X-Wisp-Error"] == "Unhandled"
    body = failed.json()
    assert body["errorType"] == "IllegalStateException"
    assert body["errorMessage"] == "boom: bad input"
    assert body["requestId"] == "req-boom"
    assert any("fixtures.Failing.handleRequest" in frame for frame in body["stackTrace"])
    # Only the handler's own frames: the runtime's reflection plumbing is cut off.
    assert not any("dev.wisp.runtime" in frame for frame in body["stackTrace"])
    again = runtime.invoke({})
    assert again.status == 200
    assert again.json() == "fine"


def test_stack_traces_are_left_out_unless_asked_for(start_java: StartJava) -> None:
    runtime = start_java("fixtures.Failing")

    body = runtime.invoke({"why": "x"}).json()

    assert "stackTrace" not in body


def test_a_call_past_its_timeout_is_a_504_and_the_worker_is_freed(start_java: StartJava) -> None:
    runtime = start_java("fixtures.Sleepy", timeout_seconds="0.5", concurrency="1")

    slow = runtime.invoke({"ms": 20_000})

    assert slow.status == 504
    assert slow.headers["X-Wisp-Error"] == "Timeout"
    assert slow.json()["errorType"] == "TimeoutError"
    # The sleeping worker was interrupted, so its one slot is free again at once.
    wait_for(lambda: inflight(runtime) == 0, what="the interrupted call to release its slot")
    assert runtime.invoke({"ms": 1}).status == 200
    assert runtime.request("GET", "/livez").status == 200


def test_the_callers_deadline_shortens_the_timeout(start_java: StartJava) -> None:
    runtime = start_java("fixtures.Sleepy", timeout_seconds="30")
    past = str(int(time.time() * 1000) - 1000)

    reply = runtime.invoke({"ms": 1}, headers={"X-Wisp-Deadline-Ms": past})

    assert reply.status == 504
    assert reply.json()["errorType"] == "TimeoutError"


def test_a_runaway_handler_fails_liveness_but_calls_go_on(start_java: StartJava) -> None:
    runtime = start_java("fixtures.Sleepy", timeout_seconds="0.3", concurrency="1")

    stuck = runtime.invoke({"ms": 20_000, "spin": True})

    assert stuck.status == 504
    live = runtime.request("GET", "/livez")
    assert live.status == 503
    assert live.json()["errorType"] == "RunawayHandlers"
    # The spinning thread cannot be stopped, but a replacement serves the next call.
    assert runtime.invoke({"ms": 1}).status == 200
    runtime.stop()  # rather than leave a core spinning while the other tests run


def test_a_runaway_that_returns_gives_liveness_back(start_java: StartJava) -> None:
    runtime = start_java("fixtures.Sleepy", timeout_seconds="0.3", concurrency="1")

    assert runtime.invoke({"ms": 1500, "spin": True}).status == 504

    wait_for(lambda: runtime.request("GET", "/livez").status == 200, what="the runaway to return")
    assert any(r["message"] == "a call that had timed out returned" for r in runtime.records())


def test_calls_past_the_concurrency_limit_are_429(start_java: StartJava) -> None:
    runtime = start_java("fixtures.Sleepy", concurrency="1")
    replies: list[Reply] = []
    first = threading.Thread(target=lambda: replies.append(runtime.invoke({"ms": 3000})))
    first.start()
    try:
        wait_for(lambda: inflight(runtime) == 1, what="the first call to be in flight")

        throttled = runtime.invoke({"ms": 1})

        assert throttled.status == 429
        assert throttled.headers["Retry-After"] == "1"
        assert throttled.headers["X-Wisp-Throttled"] == "runtime"
        assert throttled.json()["errorType"] == "TooManyRequests"
    finally:
        first.join(timeout=30)
    assert [reply.status for reply in replies] == [200]


def test_a_body_past_the_limit_is_413(start_java: StartJava) -> None:
    runtime = start_java("fixtures.EchoMap", max_body_bytes="1024")

    too_big = runtime.invoke({"blob": "x" * 2048})

    assert too_big.status == 413
    assert too_big.json()["errorType"] == "RequestTooLarge"
    assert runtime.invoke({"blob": "x" * 100}).status == 200


@pytest.mark.parametrize(
    ("handler", "error_type", "mentions"),
    [
        ("fixtures.Missing", "HandlerNotFound", "fixtures.Missing"),
        ("fixtures.EchoMap::nope", "HandlerNotFound", "nope"),
        ("fixtures.BrokenInit", "IllegalStateException", "SETTING is not configured"),
        ("not a handler!", "InvalidHandler", "package.Class"),
    ],
)
def test_a_handler_that_cannot_load_makes_healthz_503_with_the_reason(
    start_java: StartJava, handler: str, error_type: str, mentions: str
) -> None:
    runtime = start_java(handler)

    health = runtime.request("GET", "/healthz")
    call = runtime.invoke({})

    assert health.status == 503
    assert health.json()["status"] == "error"
    assert health.json()["errorType"] == error_type
    assert mentions in health.json()["errorMessage"]
    assert call.status == 503
    assert call.json()["errorType"] == error_type
    assert runtime.process.poll() is None, "the server keeps running"
    runtime.stop()  # the whole log has been read once the process is gone
    reasons = [r for r in runtime.records() if r["level"] == "ERROR" and r.get("errorType")]
    assert len(reasons) == 1, "the reason is logged once"
    assert mentions in json.dumps(reasons[0])
