"""Out-of-memory kills in a Function's status: tables of pod statuses, no cluster."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from tests.controller.memory_kube import MemoryKube
from tests.controller.test_reconcile_table import NS, built, function
from wisp.controller.memory import OomKill, count_kills, oom_condition, oom_kills
from wisp.controller.settings import OperatorSettings
from wisp.controller.status import Observed, function_status
from wisp.controller.sync import FunctionSync

NOW = datetime.datetime(2026, 12, 4, 13, 0, tzinfo=datetime.UTC)
T1, T2, T3 = "2026-12-04T12:00:01Z", "2026-12-04T12:00:05Z", "2026-12-04T12:01:00Z"


def pod(
    name: str = "hello-1", *, state: dict[str, Any] | None = None, last: dict[str, Any] | None = None
) -> Any:
    return {
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NS, "labels": {"wisp.dev/function": "hello"}},
        "status": {
            "containerStatuses": [
                {
                    "name": "function",
                    "state": state or {"running": {}},
                    "lastState": last or {},
                    "restartCount": 1,
                }
            ]
        },
    }


def terminated(reason: str, at: str) -> dict[str, Any]:
    return {"terminated": {"reason": reason, "exitCode": 137, "finishedAt": at}}


@pytest.mark.parametrize(
    ("status", "kills"),
    [
        (pod(), []),
        (pod(last=terminated("Error", T1)), []),
        (pod(last=terminated("OOMKilled", T1)), [OomKill(T1, "hello-1", "function")]),
        (pod(state=terminated("OOMKilled", T2)), [OomKill(T2, "hello-1", "function")]),
        (
            pod(state=terminated("OOMKilled", T2), last=terminated("OOMKilled", T1)),
            [OomKill(T1, "hello-1", "function"), OomKill(T2, "hello-1", "function")],
        ),
        ({"metadata": {"name": "p"}}, []),
    ],
    ids=["running", "crashed", "last-oom", "oom-now", "twice", "no-status"],
)
def test_kills_a_pod_shows(status: Any, kills: list[OomKill]) -> None:
    assert oom_kills(status) == kills


A, B, C = (
    OomKill(T1, "hello-1", "function"),
    OomKill(T2, "hello-2", "function"),
    OomKill(T3, "hello-1", "function"),
)
RECORDED = {"kills": 2, "lastKill": T2, "pod": "hello-2", "container": "function", "memory": "64Mi"}


@pytest.mark.parametrize(
    ("previous", "seen", "memory", "kills", "last"),
    [
        (None, [], "64Mi", None, None),
        (None, [A], "64Mi", 1, T1),
        (None, [A, B, A], "64Mi", 2, T2),
        (RECORDED, [A, B], "64Mi", 2, T2),  # seen again (a later pod event): counted once
        (RECORDED, [B, C], "64Mi", 3, T3),
        (RECORDED, [C], "256Mi", 3, T3),  # the count goes on across a memory change
    ],
    ids=["none", "first", "two-pods", "seen-again", "one-more", "after-memory-change"],
)
def test_counting(
    previous: dict[str, Any] | None, seen: list[OomKill], memory: str, kills: int | None, last: str | None
) -> None:
    block = count_kills(previous, seen, memory)
    if kills is None:
        assert block is None
        return
    assert block is not None
    assert (block["kills"], block["lastKill"]) == (kills, last)


@pytest.mark.parametrize(
    ("block", "memory", "status", "reason", "words"),
    [
        (None, "64Mi", False, "NoOOMKill", "no container"),
        (
            {**RECORDED, "kills": 1},
            "64Mi",
            True,
            "OOMKilled",
            "ran out of memory: it used more than its 64Mi limit",
        ),
        (
            RECORDED,
            "64Mi",
            True,
            "OOMKilled",
            "killed (OOMKilled) 2 times, last at 2026-12-04T12:00:05Z in pod hello-2",
        ),
        (RECORDED, "256Mi", False, "MemoryChanged", "2 times with 64Mi; spec.memory is now 256Mi"),
    ],
)
def test_the_condition_says_why_in_words(
    block: dict[str, Any] | None, memory: str, status: bool, reason: str, words: str
) -> None:
    condition = oom_condition(block, memory)
    assert (condition.status, condition.reason) == (status, reason)
    assert words in condition.message


def test_status_keeps_the_count_and_adds_the_condition_only_once_killed() -> None:
    deployment = built("Deployment", replicas=1)
    clean = function_status("hello", NS, Observed(1, deployment, memory="64Mi"), "u", None, NOW)
    assert "outOfMemory" not in clean
    assert "OutOfMemory" not in {c["type"] for c in clean["conditions"]}
    killed = function_status(
        "hello", NS, Observed(1, deployment, oom_kills=(A,), memory="64Mi"), "u", clean, NOW
    )
    assert killed["outOfMemory"]["kills"] == 1
    (oom,) = [c for c in killed["conditions"] if c["type"] == "OutOfMemory"]
    assert (oom["status"], oom["reason"]) == ("True", "OOMKilled")
    # A later status write that sees no pod at all (scaled to zero) keeps the record.
    later = function_status("hello", NS, Observed(1, deployment, memory="64Mi"), "u", killed, NOW)
    assert later["outOfMemory"] == killed["outOfMemory"]


def test_a_pod_event_with_an_oom_kill_is_counted_once_with_an_event() -> None:
    """What the operator does when the kubelet writes lastState OOMKilled into a pod."""
    kube = MemoryKube().add(function(memory="64Mi")).add(built("Deployment", replicas=1, memory="64Mi"))
    sync = FunctionSync(kube, OperatorSettings())
    killed = pod(last=terminated("OOMKilled", T1))
    kube.add(killed)
    fn = function(memory="64Mi")
    sync.on_pod(fn, killed, deleted=False)
    sync.on_pod(fn, killed, deleted=False)  # the same pod again (readiness flips): no second count
    (status,) = kube.statuses()
    assert status["outOfMemory"] == {
        "kills": 1,
        "lastKill": T1,
        "pod": "hello-1",
        "container": "function",
        "memory": "64Mi",
    }
    assert [e for e in kube.events() if "OOMKilled" in e] == [
        "Warning OOMKilled: " + next(c for c in status["conditions"] if c["type"] == "OutOfMemory")["message"]
    ]
    # The periodic resync lists the pods and sees the same kill: still once.
    sync.sync_function(kube.get_function(NS, "hello") or {})
    assert kube.get_function(NS, "hello")["status"]["outOfMemory"]["kills"] == 1  # type: ignore[index]


def test_a_resync_from_a_stale_cache_keeps_the_kills_counted_since() -> None:
    """The resync walks the operator's cache, which may not have caught up with a status the pod
    path just wrote: reconciling that copy must not take the count back."""
    kube = MemoryKube().add(function(memory="64Mi")).add(built("Deployment", replicas=1, memory="64Mi"))
    sync = FunctionSync(kube, OperatorSettings())
    stale = function(memory="64Mi")  # the cache's copy, from before any kill
    first = pod(last=terminated("OOMKilled", T1))
    kube.add(first)
    sync.on_pod(stale, first, deleted=False)
    second = pod(last=terminated("OOMKilled", T2))  # the kubelet replaces lastState
    kube.add(second)
    sync.on_pod(stale, second, deleted=False)
    assert kube.get_function(NS, "hello")["status"]["outOfMemory"]["kills"] == 2  # type: ignore[index]

    sync.sync_function(stale, refresh=True)
    assert kube.get_function(NS, "hello")["status"]["outOfMemory"]["kills"] == 2  # type: ignore[index]


def test_a_status_built_on_an_older_copy_is_built_again_on_the_current_one() -> None:
    """A handler may run on a copy of the Function from before the kill was counted (kopf's
    event for an earlier change): its status write names that copy's version, the API refuses
    it, and the status is built again on what the Function has now: the kill counts once."""
    current = function(memory="64Mi")
    current["metadata"]["resourceVersion"] = "7"
    kube = MemoryKube().add(current).add(built("Deployment", replicas=1, memory="64Mi"))
    sync = FunctionSync(kube, OperatorSettings())
    stale = function(memory="64Mi")
    stale["metadata"]["resourceVersion"] = "7"
    killed = pod(last=terminated("OOMKilled", T1))
    kube.add(killed)
    sync.on_pod(stale, killed, deleted=False)  # counted: the Function is at version 8 now

    sync.sync_function(stale)  # the older copy, no refresh

    assert kube.get_function(NS, "hello")["status"]["outOfMemory"]["kills"] == 1  # type: ignore[index]
    assert kube.count("conflict", "Function") == 1
    assert len([e for e in kube.events() if "OOMKilled" in e]) == 1


@pytest.mark.parametrize(
    "seen_as",
    [
        "2026-12-04T12:00:01Z",  # a pod from a watch event: the API's text
        "2026-12-04T12:00:01+00:00",  # a pod read through the client and back to a dict
        datetime.datetime(2026, 12, 4, 12, 0, 1, tzinfo=datetime.UTC),  # the client's own object
    ],
)
@pytest.mark.parametrize("recorded_as", ["2026-12-04T12:00:01Z", "2026-12-04T12:00:01+00:00"])
def test_one_kill_reads_the_same_from_every_path(seen_as: Any, recorded_as: str) -> None:
    """The same kill reached the operator once from a pod event and once from a pod list, its
    time written two ways: it was counted twice."""
    recorded = {
        "kills": 1,
        "lastKill": recorded_as,
        "pod": "hello-1",
        "container": "function",
        "memory": "64Mi",
    }
    seen = oom_kills(pod(last={"terminated": {"reason": "OOMKilled", "finishedAt": seen_as}}))
    assert seen == [OomKill("2026-12-04T12:00:01Z", "hello-1", "function")]
    assert count_kills(recorded, seen, "64Mi") == recorded
