"""Every function Deployment's ``spec.replicas``, as the Deployment watch last said.

The autoscaler's leader compares what it wants with this count on every tick (level-triggered,
as Kubernetes controllers are), so a count moved by anyone else — another gateway replica's
activator, ``kubectl scale``, the operator re-creating a Deployment, a write that failed or landed
late — is corrected without a GET per function per tick.

The gateway's own successful writes are recorded too, with the resourceVersion the API server
answered, so that a watch event older than the write cannot make the leader take its own
scale-down for someone else's scale-up. resourceVersions are compared as integers (what etcd
gives); one that does not parse always wins, which is what a plain cache would do.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


@dataclass(frozen=True)
class _Entry:
    replicas: int
    version: int | None


def _version(meta: Any) -> int | None:
    try:
        return int(str((meta or {}).get("resourceVersion")))
    except ValueError:
        return None


def _key(meta: Any) -> str:
    meta = meta or {}
    return f"{meta.get('name')}.{meta.get('namespace') or 'default'}"


class ReplicaCache:
    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        # Told of every count above zero (the autoscaler's ActivityIndex.wake): a function
        # scaled up by anyone gets the leader's attention, an idle one at zero none.
        self.on_scaled_up: Callable[[str], None] | None = None

    def get(self, function_key: str) -> int | None:
        """The Deployment's ``spec.replicas``; None when the watch has not seen it (yet)."""
        entry = self._entries.get(function_key)
        return None if entry is None else entry.replicas

    def snapshot(self, scope: set[str], items: list[Obj]) -> None:
        """A full listing of one watch scope: ``scope`` holds the keys it delivered before."""
        seen = set()
        for obj in items:
            seen.add(_key(obj.get("metadata")))
            self.event(scope, "ADDED", obj)
        for key in scope - seen:
            scope.discard(key)
            self._entries.pop(key, None)

    def event(self, scope: set[str], kind: str, obj: Obj) -> None:
        meta = obj.get("metadata") or {}
        key = _key(meta)
        if kind == "DELETED":
            scope.discard(key)
            self._entries.pop(key, None)
            return
        spec = obj.get("spec") or {}
        replicas = spec.get("replicas")
        self._put(key, 1 if replicas is None else int(replicas), _version(meta))
        scope.add(key)

    def wrote(self, function_key: str, replicas: int, version: str | None) -> None:
        """The gateway's own scale write succeeded; ``version`` is what the API server answered."""
        try:
            parsed = int(str(version))
        except ValueError:
            parsed = None
        self._put(function_key, replicas, parsed)

    def _put(self, key: str, replicas: int, version: int | None) -> None:
        known = self._entries.get(key)
        if known is not None and _older(version, known.version):
            return  # a write of ours already superseded it
        self._entries[key] = _Entry(replicas, version)
        if replicas > 0 and self.on_scaled_up is not None:
            self.on_scaled_up(key)


def _older(version: int | None, than: int | None) -> bool:
    return version is not None and than is not None and version < than
