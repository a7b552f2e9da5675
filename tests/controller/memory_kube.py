"""The operator's Kubernetes port (``wisp.controller.kube.KubePort``) as an in-memory table.

Not a fake API server: it keeps objects by (kind, namespace, name), records every call in order
so a test can say what was read and written, and raises ``ApiException`` where a test induces a
failure. Apply keeps what the operator does not own (replicas, status, uid), as server-side apply
does for fields another manager set.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.rest import ApiException

Key = tuple[str, str, str]  # kind, namespace, name
Obj = dict[str, Any]


@dataclass(frozen=True)
class Call:
    verb: str  # read, create, apply, delete, scale, patch_status, conflict, event, list_pods, get
    kind: str
    name: str
    detail: Any = None  # what was written: a manifest, replicas, a status, an event's reason


@dataclass
class MemoryKube:
    objects: dict[Key, Obj] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    # (verb, kind) -> HTTP status to raise once; InduceFailure in Knative's tables.
    failures: dict[tuple[str, str], int] = field(default_factory=dict)
    _uids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    # -- set-up ----------------------------------------------------------------------------------
    def add(self, obj: Mapping[str, Any]) -> MemoryKube:
        meta = obj["metadata"]
        self.objects[(obj["kind"], meta.get("namespace", "default"), meta["name"])] = copy.deepcopy(dict(obj))
        return self

    def fail(self, verb: str, kind: str, status: int) -> MemoryKube:
        self.failures[(verb, kind)] = status
        return self

    # -- what happened ---------------------------------------------------------------------------
    def count(self, verb: str, kind: str | None = None) -> int:
        return sum(1 for c in self.calls if c.verb == verb and (kind is None or c.kind == kind))

    def writes(self) -> list[tuple[str, str, str]]:
        """(verb, kind, name) of every write to a child, in order."""
        return [
            (c.verb, c.kind, c.name) for c in self.calls if c.verb in ("create", "apply", "delete", "scale")
        ]

    def statuses(self) -> list[Obj]:
        return [c.detail for c in self.calls if c.verb == "patch_status"]

    def events(self) -> list[str]:
        return [c.detail for c in self.calls if c.verb == "event"]

    def get(self, kind: str, namespace: str, name: str) -> Obj | None:
        return self.objects.get((kind, namespace, name))

    # -- the port --------------------------------------------------------------------------------
    def _record(self, verb: str, kind: str, name: str, detail: Any = None) -> None:
        self.calls.append(Call(verb, kind, name, detail))
        status = self.failures.pop((verb, kind), None)
        if status is not None:
            raise ApiException(status=status, reason=f"induced {verb} {kind} failure")

    def read(self, kind: str, namespace: str, name: str) -> Obj | None:
        self._record("read", kind, name)
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found)

    def create(self, manifest: Mapping[str, Any]) -> Obj:
        kind, meta = manifest["kind"], manifest["metadata"]
        self._record("create", kind, meta["name"], copy.deepcopy(dict(manifest)))
        key = (kind, meta["namespace"], meta["name"])
        if key in self.objects:
            raise ApiException(status=409, reason="AlreadyExists")
        obj = copy.deepcopy(dict(manifest))
        obj["metadata"].update(uid=f"uid-{next(self._uids)}", generation=1)
        self.objects[key] = obj
        return copy.deepcopy(obj)

    def apply(self, manifest: Mapping[str, Any]) -> Obj:
        kind, meta = manifest["kind"], manifest["metadata"]
        self._record("apply", kind, meta["name"], copy.deepcopy(dict(manifest)))
        key = (kind, meta["namespace"], meta["name"])
        live = self.objects.get(key) or {"metadata": {"uid": f"uid-{next(self._uids)}", "generation": 0}}
        obj = copy.deepcopy(dict(manifest))
        obj["metadata"] = {**live["metadata"], **obj["metadata"]}
        if "spec" in live and isinstance(obj.get("spec"), dict) and "replicas" in live["spec"]:
            obj["spec"].setdefault("replicas", live["spec"]["replicas"])
        if "status" in live:
            obj["status"] = live["status"]
        if obj.get("spec") != live.get("spec") or obj.get("data") != live.get("data"):
            obj["metadata"]["generation"] = int(live["metadata"].get("generation") or 0) + 1
        self.objects[key] = obj
        return copy.deepcopy(obj)

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        self._record("delete", kind, name, uid)
        live = self.objects.get((kind, namespace, name))
        if live is not None and uid is not None and live["metadata"].get("uid") != uid:
            raise ApiException(status=409, reason="Precondition failed: UID in precondition")
        self.objects.pop((kind, namespace, name), None)

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        self._record("scale", "Deployment", name, replicas)
        self.objects[("Deployment", namespace, name)].setdefault("spec", {})["replicas"] = replicas

    def config_map_data(self, namespace: str, name: str) -> dict[str, str] | None:
        obj = self.read("ConfigMap", namespace, name)
        return None if obj is None else dict(obj.get("data") or {})

    def secret_exists(self, namespace: str, name: str) -> bool:
        self._record("read", "Secret", name)
        return ("Secret", namespace, name) in self.objects

    def secret_metadata(self, namespace: str, name: str) -> Obj | None:
        self._record("read", "Secret", name)
        found = self.objects.get(("Secret", namespace, name))
        return None if found is None else {"metadata": copy.deepcopy(found["metadata"])}

    def read_secret(self, namespace: str, name: str) -> Obj | None:
        self._record("read_values", "Secret", name)
        return copy.deepcopy(self.objects.get(("Secret", namespace, name)))

    def list_pods(self, namespace: str, selector: str) -> list[Obj]:
        self._record("list_pods", "Pod", selector)
        label, _, value = selector.partition("=")
        return [
            copy.deepcopy(obj)
            for (kind, ns, _), obj in sorted(self.objects.items())
            if kind == "Pod" and ns == namespace and (obj["metadata"].get("labels") or {}).get(label) == value
        ]

    def patch_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        resource_version: str | None = None,
    ) -> bool:
        """A merge of ``status``; refused (False) when ``resource_version`` is not the object's."""
        kind = {"functions": "Function", "triggers": "Trigger", "functionversions": "FunctionVersion"}[plural]
        obj = self.objects.get((kind, namespace, name))
        current = None if obj is None else obj["metadata"].get("resourceVersion")
        if resource_version and current and resource_version != current:
            self._record("conflict", kind, name, resource_version)
            return False
        self._record("patch_status", kind, name, copy.deepcopy(dict(status)))
        if obj is not None:
            obj["status"] = {**(obj.get("status") or {}), **copy.deepcopy(dict(status))}
            if current:
                obj["metadata"]["resourceVersion"] = str(int(current) + 1)
        return True

    def get_function(self, namespace: str, name: str) -> Obj | None:
        self._record("get", "Function", name)
        return copy.deepcopy(self.objects.get(("Function", namespace, name)))

    def list_versions(self, namespace: str, function: str) -> list[Obj]:
        self._record("list", "FunctionVersion", function)
        return [
            copy.deepcopy(obj)
            for (kind, ns, _), obj in sorted(self.objects.items())
            if kind == "FunctionVersion" and ns == namespace and obj["spec"]["function"] == function
        ]

    def get_trigger(self, namespace: str, name: str) -> Obj | None:
        self._record("get", "Trigger", name)
        return copy.deepcopy(self.objects.get(("Trigger", namespace, name)))

    def get_peering(self, name: str, namespace: str | None) -> Obj | None:
        kind = "ClusterKopfPeering" if namespace is None else "KopfPeering"
        self._record("get", kind, name)
        return copy.deepcopy(self.objects.get((kind, namespace or "", name)))

    def post_event(
        self, involved: Mapping[str, Any], kind: str, reason: str, note: str, warning: bool = False
    ) -> None:
        name = (involved.get("metadata") or {}).get("name", "")
        self.calls.append(Call("event", kind, name, f"{'Warning' if warning else 'Normal'} {reason}: {note}"))
