"""Credential Secrets from Kubernetes, kept current by watches (rotation needs no restart).

One list-then-watch per referenced Secret (field selector ``metadata.name=<name>``), started the
first time a Function's access check needs it and stopped by ``retain`` when no Function
references it any more. The gateway therefore holds only the Secrets Functions name, never every
Secret of a namespace. Watches run in threads (the official client blocks) and hand each
change to the event loop; the RBAC needed is get/list/watch on Secrets in the served
namespaces (the chart's ``gateway.rbac.readSecrets``).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client

from wisp.gateway.kube.watch import Obj, WatchThread
from wisp.security.secrets import SecretName, SecretStore

log = logging.getLogger("wisp.security.secrets")


@dataclass
class _Watched:
    thread: WatchThread
    started: float
    ready: asyncio.Event = field(default_factory=asyncio.Event)


class KubernetesSecretSource(SecretStore):
    def __init__(self, api_client: client.ApiClient, *, first_sync_timeout: float = 5.0) -> None:
        super().__init__()
        self._core = client.CoreV1Api(api_client)
        self._timeout = first_sync_timeout
        self._watched: dict[SecretName, _Watched] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()

    async def stop(self) -> None:
        watched = list(self._watched.values())
        self._watched.clear()
        for entry in watched:
            entry.thread.stop()
        await asyncio.gather(*(asyncio.to_thread(w.thread.join, 15) for w in watched))

    async def ensure(self, namespace: str, names: Collection[str]) -> None:
        waits = [self._watch(namespace, name) for name in names]
        pending = [w for w in waits if not w.ready.is_set()]
        if not pending:
            return
        now = time.monotonic()
        for entry in pending:
            remaining = entry.started + self._timeout - now
            if remaining <= 0:
                continue  # this watch never synced (RBAC? API down?); calls are refused meanwhile
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(remaining):
                    await entry.ready.wait()

    def retain(self, wanted: Collection[SecretName]) -> None:
        keep = set(wanted)
        for key in [k for k in self._watched if k not in keep]:
            self._watched.pop(key).thread.stop()
            self.remove(*key)

    @property
    def watched(self) -> frozenset[SecretName]:
        return frozenset(self._watched)

    def _watch(self, namespace: str, name: str) -> _Watched:
        key = (namespace, name)
        entry = self._watched.get(key)
        if entry is not None:
            return entry
        loop = self._loop or asyncio.get_running_loop()
        thread = WatchThread(
            f"secret/{namespace}/{name}",
            self._core.list_namespaced_secret,
            {"namespace": namespace, "field_selector": f"metadata.name={name}"},
            loop,
            lambda items: self._snapshot(key, items),
            lambda kind, obj: self._event(key, kind, obj),
        )
        entry = _Watched(thread, time.monotonic())
        self._watched[key] = entry
        thread.start()
        return entry

    def _snapshot(self, key: SecretName, items: list[Obj]) -> None:
        entry = self._watched.get(key)
        if entry is None:
            return
        if items:
            self._store(key, items[0])
        else:
            self.remove(*key)
            log.warning("Secret %s/%s named in a Function's access does not exist", *key)
        entry.ready.set()

    def _event(self, key: SecretName, kind: str, obj: Obj) -> None:
        if key not in self._watched:
            return
        if kind == "DELETED":
            self.remove(*key)
        elif kind in ("ADDED", "MODIFIED"):
            self._store(key, obj)

    def _store(self, key: SecretName, obj: dict[str, Any]) -> None:
        data: dict[str, bytes] = {}
        for k, v in (obj.get("data") or {}).items():
            with contextlib.suppress(ValueError, TypeError):
                data[k] = base64.b64decode(v)
        self.put(key[0], key[1], data)
