"""The Deployment replica cache the autoscaler's leader reads every tick: pure, no cluster."""

from __future__ import annotations

from typing import Any

from wisp.gateway.kube.replicas import ReplicaCache


def _deploy(name: str, replicas: int | None, version: str) -> dict[str, Any]:
    spec = {} if replicas is None else {"replicas": replicas}
    return {"metadata": {"name": name, "namespace": "ns", "resourceVersion": version}, "spec": spec}


def test_events_snapshots_and_deletions() -> None:
    cache, scope = ReplicaCache(), set[str]()
    cache.snapshot(scope, [_deploy("a", 2, "10"), _deploy("b", None, "11")])
    assert (cache.get("a.ns"), cache.get("b.ns"), cache.get("c.ns")) == (2, 1, None)
    cache.event(scope, "MODIFIED", _deploy("a", 0, "12"))
    assert cache.get("a.ns") == 0
    cache.event(scope, "DELETED", _deploy("b", 1, "13"))
    assert cache.get("b.ns") is None
    cache.snapshot(scope, [_deploy("c", 3, "20")])  # a re-list: a is gone
    assert (cache.get("a.ns"), cache.get("c.ns"), scope) == (None, 3, {"c.ns"})


def test_an_event_older_than_our_own_write_does_not_undo_it() -> None:
    """Otherwise the leader would take its own scale to zero for somebody's wake-up."""
    cache, scope = ReplicaCache(), set[str]()
    cache.event(scope, "ADDED", _deploy("a", 1, "10"))
    cache.wrote("a.ns", 0, "15")
    cache.event(scope, "MODIFIED", _deploy("a", 1, "12"))  # in flight before the write
    assert cache.get("a.ns") == 0
    cache.event(scope, "MODIFIED", _deploy("a", 2, "16"))  # a later scale by someone else
    assert cache.get("a.ns") == 2
    cache.wrote("a.ns", 3, None)  # no version to compare: the write wins
    assert cache.get("a.ns") == 3
