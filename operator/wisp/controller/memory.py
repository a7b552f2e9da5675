"""Out-of-memory kills of a Function's containers, as its status reports them: pure.

The kubelet records a container killed for exceeding its memory limit as ``terminated`` with
reason ``OOMKilled``, in the container's ``state`` until it restarts and in its ``lastState``
after. Nothing else keeps a history, so the operator counts the kills it sees in the Function's
status (``status.outOfMemory``):

    outOfMemory: {kills: 3, lastKill: 2026-12-04T13:00:02Z, pod: hello-7d9-x2b, container: function,
                  memory: 64Mi}

A kill counts once: only kills that finished after the recorded last one (ordered by finish time,
then pod and container name) are added. ``memory`` is the limit the function had at its last
kill, so the ``OutOfMemory`` condition is True while the function still runs with that limit and
turns False (``MemoryChanged``) once the user has changed ``spec.memory``.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wisp.controller.conditions import Condition, ConditionType

OOM_REASON = "OOMKilled"


@dataclass(frozen=True, order=True)
class OomKill:
    finished_at: str  # RFC 3339 as the kubelet wrote it (UTC, so text order is time order)
    pod: str
    container: str


def oom_kills(pod: Mapping[str, Any]) -> list[OomKill]:
    """The OOM kills a pod's status still shows (at most two per container: now and last)."""
    meta = pod.get("metadata") or {}
    status = pod.get("status") or {}
    kills = set()
    for cs in [*(status.get("initContainerStatuses") or ()), *(status.get("containerStatuses") or ())]:
        for state in (cs.get("state"), cs.get("lastState")):
            terminated = (state or {}).get("terminated") or {}
            if terminated.get("reason") == OOM_REASON:
                finished = utc_stamp(terminated.get("finishedAt") or terminated.get("startedAt"))
                kills.add(OomKill(finished, str(meta.get("name", "")), str(cs.get("name", ""))))
    return sorted(kills)


def utc_stamp(value: object) -> str:
    """A kubelet timestamp as ``YYYY-MM-DDTHH:MM:SSZ``, however it reached us.

    A pod from a watch event carries the API's text (``…Z``); one read through the Kubernetes
    client and turned back into a dict carries a ``datetime`` or its ``isoformat`` (``…+00:00``).
    Kills are ordered by this text, so one kill must read the same from every path.
    """
    if isinstance(value, datetime.datetime):
        moment = value
    else:
        text = str(value or "")
        try:
            moment = datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            return text
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _last(block: Mapping[str, Any]) -> OomKill:
    return OomKill(
        utc_stamp(block.get("lastKill")), str(block.get("pod", "")), str(block.get("container", ""))
    )


def count_kills(
    previous: Mapping[str, Any] | None, seen: Iterable[OomKill], memory: str
) -> dict[str, Any] | None:
    """``status.outOfMemory`` after seeing ``seen`` kills; ``previous`` is the recorded block."""
    block = dict(previous) if previous else None
    last = _last(block) if block else None
    new = sorted(k for k in set(seen) if last is None or k > last)
    if not new:
        return block
    latest = new[-1]
    return {
        "kills": int((block or {}).get("kills", 0) or 0) + len(new),
        "lastKill": latest.finished_at,
        "pod": latest.pod,
        "container": latest.container,
        "memory": memory,
    }


def oom_condition(block: Mapping[str, Any] | None, memory: str) -> Condition:
    if not block:
        return Condition(ConditionType.OUT_OF_MEMORY, False, "NoOOMKill", "no container ran out of memory")
    kills = int(block.get("kills", 0) or 0)
    times = "once" if kills == 1 else f"{kills} times"
    limit = str(block.get("memory", ""))
    if limit != memory:
        return Condition(
            ConditionType.OUT_OF_MEMORY,
            False,
            "MemoryChanged",
            f"killed for running out of memory {times} with {limit}; spec.memory is now {memory}",
        )
    return Condition(
        ConditionType.OUT_OF_MEMORY,
        True,
        OOM_REASON,
        f"the function ran out of memory: it used more than its {memory} limit and was killed "
        f"(OOMKilled) {times}, last at {block.get('lastKill')} in pod {block.get('pod')}; "
        "raise spec.memory or make the handler use less",
    )
