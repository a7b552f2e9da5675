"""The operator's work queue (``wisp.controller.workqueue``): a key waits once with its latest
job, one worker at a time works on a key, no more than ``workers`` at once, refusals are retried
after the delay the job asks for unless a newer event came, and what waits is a small copy."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from typing import Any

import pytest

from wisp.controller import workqueue
from wisp.controller.workqueue import WorkQueue


@pytest.fixture
async def queue() -> Any:
    q = WorkQueue(workers=4)
    q.start()
    yield q
    await q.stop()


async def until(check: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


class Gate:
    """A job that records its runs and, while closed, blocks its worker thread."""

    def __init__(self, runs: list[str], label: str, closed: threading.Event | None = None) -> None:
        self.runs, self.label, self.closed = runs, label, closed

    def __call__(self) -> None:
        if self.closed is not None:
            self.closed.wait(5)
        self.runs.append(self.label)


async def test_a_waiting_job_is_replaced_by_a_newer_one(queue: WorkQueue) -> None:
    runs: list[str] = []
    hold = threading.Event()
    for i in range(4):  # every worker busy, so what comes next waits
        queue.add(("busy", i), Gate(runs, f"busy{i}", hold))
    await until(lambda: len(queue) == 0)
    queue.add("fn", Gate(runs, "old"))
    queue.add("fn", Gate(runs, "new"))
    assert len(queue) == 1
    hold.set()
    await until(lambda: len(runs) == 5)
    await asyncio.sleep(0.05)
    assert runs.count("new") == 1 and "old" not in runs


async def test_a_key_is_worked_on_by_one_worker_at_a_time_and_its_newer_job_runs_after(
    queue: WorkQueue,
) -> None:
    runs: list[str] = []
    hold = threading.Event()
    queue.add("fn", Gate(runs, "first", hold))
    await until(lambda: len(queue) == 0)  # taken
    queue.add("fn", Gate(runs, "second"))
    await asyncio.sleep(0.1)  # three workers are idle, yet the key's second job waits
    assert runs == []
    hold.set()
    await until(lambda: runs == ["first", "second"])


async def test_no_more_than_its_workers_run_at_once() -> None:
    q = WorkQueue(workers=3)
    q.start()
    running, peak, lock = [0], [0], threading.Lock()

    def job() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.02)
        with lock:
            running[0] -= 1

    try:
        for i in range(30):
            q.add(i, job)
        await until(lambda: len(q) == 0 and running[0] == 0)
    finally:
        await q.stop()
    assert peak[0] == 3


async def test_a_refused_job_runs_again_after_its_delay(queue: WorkQueue) -> None:
    runs: list[float] = []

    def refused() -> float | None:
        runs.append(time.monotonic())
        return 0.2 if len(runs) == 1 else None

    queue.add("fn", refused)
    await until(lambda: len(runs) == 2)
    assert runs[1] - runs[0] >= 0.19
    await asyncio.sleep(0.3)
    assert len(runs) == 2  # done once it was not refused


async def test_a_newer_job_cancels_the_retry_of_an_older_one(queue: WorkQueue) -> None:
    runs: list[str] = []

    def refused() -> float:
        runs.append("old")
        return 0.1

    queue.add("fn", refused)
    await until(lambda: runs == ["old"])
    queue.add("fn", Gate(runs, "new"))
    await asyncio.sleep(0.3)
    assert runs == ["old", "new"]


async def test_a_job_that_raises_is_retried_and_the_others_go_on(
    queue: WorkQueue, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(workqueue, "FAILED_RETRY", 0.1)
    runs: list[str] = []

    def broken() -> None:
        runs.append("broken")
        if runs.count("broken") == 1:
            raise RuntimeError("boom")

    queue.add(("Function", "ns", "a"), broken)
    queue.add(("Function", "ns", "b"), Gate(runs, "b"))
    await until(lambda: runs.count("broken") == 2 and "b" in runs)
    assert "Function/ns/a" in caplog.text and "boom" in caplog.text


def function(annotations: dict[str, str]) -> dict[str, Any]:
    spec = {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": "x" * 200}}
    return {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {
            "name": "f",
            "namespace": "ns",
            "uid": "u1",
            "resourceVersion": "7",
            "generation": 2,
            "labels": {"team": "a"},
            "annotations": annotations,
            "finalizers": ["kopf.zalando.org/KopfFinalizerMarker"],
            "managedFields": [
                {"manager": m, "operation": "Apply", "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {}}}
                for m in ("kubectl", "kopf", "wisp-operator")
            ],
        },
        "spec": spec,
        "status": {"observedGeneration": 1},
    }


def test_a_slim_copy_keeps_what_reconciling_reads_and_drops_field_records_and_spec_copies() -> None:
    body = function(
        {
            "wisp.dev/publish": "true",
            "wisp.dev/last-handled-configuration": json.dumps({"spec": {}}),
            "kopf.zalando.org/function_changed": "{}",
            "kubectl.kubernetes.io/last-applied-configuration": "{}",
        }
    )
    slim = workqueue.slim(body)
    assert "managedFields" not in slim["metadata"]
    assert slim["metadata"]["annotations"] == {"wisp.dev/publish": "true"}
    for kept in ("name", "namespace", "uid", "resourceVersion", "generation", "labels", "finalizers"):
        assert slim["metadata"][kept] == body["metadata"][kept]
    assert slim["spec"] == body["spec"] and slim["status"] == body["status"]
    body["spec"]["code"]["inline"] = "changed"  # a copy: the watch's object may change after
    body["metadata"]["labels"]["team"] = "b"
    assert slim["spec"]["code"]["inline"] == "x" * 200 and slim["metadata"]["labels"]["team"] == "a"
