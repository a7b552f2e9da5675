"""A Function's versions: publishing them, marking what points at them, rendering each one, and
deleting those nothing has pointed at for the retention period.

``plan_versions`` is the pure decision (the clock passed in); ``Releases`` reads the versions,
publishes, and writes what the plan says through the ``KubePort``. A version is rendered by the
same ``FunctionSync`` as a Function (``wisp.api.version.as_function``): its own Deployment,
Service and code ConfigMap named ``NAME-vN``, owned by the FunctionVersion.
"""

from __future__ import annotations

import datetime
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.rest import ApiException

from wisp.api.function import SpecError, parse_function
from wisp.api.names import FUNCTION_VERSIONS, FUNCTIONS, PUBLISH_ANNOTATION, SNAPSHOT_ANNOTATION
from wisp.api.quantities import parse_duration
from wisp.api.version import (
    as_function,
    parse_aliases,
    referenced_versions,
    snapshot,
    snapshot_hash,
    version_manifest,
    version_ref,
)
from wisp.controller.kube import KubePort
from wisp.controller.refusals import namespace_terminating
from wisp.controller.sync import FunctionSync

log = logging.getLogger("wisp.operator")
PUBLISH_ATTEMPTS = 20  # version numbers tried when another publisher took the next ones


def _timestamp(now: datetime.datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(text: Any) -> datetime.datetime | None:
    try:
        return datetime.datetime.strptime(str(text), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=datetime.UTC)
    except ValueError:
        return None


@dataclass(frozen=True)
class VersionPlan:
    latest: int
    marks: dict[str, dict[str, Any]] = field(default_factory=dict)  # version name -> status patch
    delete: tuple[str, ...] = ()
    idle: tuple[str, ...] = ()  # unreferenced past their idle timeout: scale to zero


def plan_versions(
    versions: Sequence[Mapping[str, Any]],
    referenced: frozenset[int],
    now: datetime.datetime,
    retention: float,
) -> VersionPlan:
    """What each version's status should say, which ones to scale to zero (nothing has pointed
    at them for their ``scale.idleTimeout``: calls routed before the alias moved are done), and
    which ones to delete: those nothing has pointed at for ``retention`` seconds, except the
    newest (whose number the next is counted from)."""
    refs = [(ref, v) for v in versions if (ref := version_ref(v)) is not None]
    latest = max((ref.number for ref, _ in refs), default=0)
    marks: dict[str, dict[str, Any]] = {}
    delete: list[str] = []
    idle: list[str] = []
    for ref, version in refs:
        status = version.get("status") or {}
        if ref.number in referenced:
            if status.get("referenced") is not True or status.get("unreferencedSince"):
                marks[ref.name] = {"referenced": True, "unreferencedSince": None, "parked": None}
            continue
        since = _parse_time(status.get("unreferencedSince"))
        if since is None or status.get("referenced") is not False:
            marks[ref.name] = {"referenced": False, "unreferencedSince": _timestamp(since or now)}
        elif ref.number != latest and (now - since).total_seconds() >= retention:
            delete.append(ref.name)
        elif not status.get("parked") and (now - since).total_seconds() >= _idle_timeout(version):
            idle.append(ref.name)  # once: a direct call by number may start it again
    return VersionPlan(latest, marks, tuple(delete), tuple(idle))


def _idle_timeout(version: Mapping[str, Any]) -> float:
    template = (version.get("spec") or {}).get("template") or {}
    try:
        return parse_duration(str((template.get("scale") or {}).get("idleTimeout") or "60s"))
    except ValueError:
        return 60.0


@dataclass
class Releases:
    api: KubePort
    sync: FunctionSync
    retention: float

    def reconcile(
        self, function: Mapping[str, Any], qualifiers: Iterable[str], now: datetime.datetime
    ) -> None:
        """Publish if asked, then bring every version's status, rendering and existence in line."""
        meta = function.get("metadata") or {}
        namespace, name = str(meta.get("namespace") or "default"), str(meta.get("name"))
        with self.sync.state.guard(namespace, name):  # one publisher per Function at a time
            self._reconcile(function, namespace, name, tuple(qualifiers), now)

    def _reconcile(
        self,
        function: Mapping[str, Any],
        namespace: str,
        name: str,
        qualifiers: Iterable[str],
        now: datetime.datetime,
    ) -> None:
        if not _may_have_versions(function, qualifiers):
            return  # never published, nothing asks for a version: no list per reconcile
        versions = self.api.list_versions(namespace, name)
        status_patch = self._publish_if_asked(function, versions)
        try:
            aliases = parse_aliases((function.get("spec") or {}).get("aliases"))
        except SpecError:
            aliases = {}
        plan = plan_versions(versions, referenced_versions(aliases, qualifiers), now, self.retention)
        if plan.latest != int((function.get("status") or {}).get("latestVersion") or 0):
            status_patch["latestVersion"] = plan.latest
        if status_patch:
            self.api.patch_status(FUNCTIONS, namespace, name, status_patch)
        for version in versions:
            vname = str((version.get("metadata") or {}).get("name"))
            if vname in plan.delete:
                log.info(
                    "%s/%s: deleting version %s, unreferenced past its retention", namespace, name, vname
                )
                self.api.delete("FunctionVersion", namespace, vname)
                continue
            mark = plan.marks.get(vname)
            current = version
            if mark is not None:
                self.api.patch_status(FUNCTION_VERSIONS, namespace, vname, mark)
                current = {**version, "status": {**(version.get("status") or {}), **mark}}
            if mark is not None or "observedGeneration" not in (current.get("status") or {}):
                self.render(current)
            if vname in plan.idle:
                self._scale_to_zero(namespace, vname)
                self.api.patch_status(FUNCTION_VERSIONS, namespace, vname, {"parked": True})

    def _scale_to_zero(self, namespace: str, name: str) -> None:
        deployment = self.api.read("Deployment", namespace, name)
        if deployment is not None and int((deployment.get("spec") or {}).get("replicas") or 0) > 0:
            log.info("%s/%s: scaling the unreferenced version to zero", namespace, name)
            self.api.scale_deployment(namespace, name, 0)

    def render(self, version: Mapping[str, Any]) -> float | None:
        """The version's children and status, as a Function's (seconds to retry, or None)."""
        return self.sync.sync_function(as_function(version))

    def _publish_if_asked(
        self, function: Mapping[str, Any], versions: list[dict[str, Any]]
    ) -> dict[str, Any]:
        """Publish a version when ``spec.publish`` is on or ``wisp publish`` asked, unless the
        newest version already holds this snapshot (Lambda then returns that version).
        Returns the Function status fields to write; appends the new version to ``versions``."""
        meta = function.get("metadata") or {}
        spec = function.get("spec") or {}
        status = function.get("status") or {}
        request = str((meta.get("annotations") or {}).get(PUBLISH_ANNOTATION) or "")
        asked = bool(request) and request != status.get("publishRequest")
        if not spec.get("publish") and not asked:
            return {}
        out: dict[str, Any] = {"publishRequest": request} if asked else {}
        try:
            parse_function(function)
        except SpecError:
            return out  # a spec that cannot run is not published
        code_files = None
        ref = (spec.get("code") or {}).get("configMapRef")
        if ref:
            code_files = self.api.config_map_data(str(meta.get("namespace")), str(ref.get("name")))
            if code_files is None:
                return out  # the operator's status of the Function says the ConfigMap is missing
        template = snapshot(spec, code_files)
        digest = snapshot_hash(template)
        numbered = sorted(
            ((r.number, v) for v in versions if (r := version_ref(v)) is not None), key=lambda p: p[0]
        )
        if numbered and _hash_of(numbered[-1][1]) == digest:
            return out
        number = numbered[-1][0] + 1 if numbered else 1
        for _ in range(PUBLISH_ATTEMPTS):
            try:
                created = self.api.create(version_manifest(function, number, template))
            except ApiException as exc:
                if namespace_terminating(exc):
                    return out  # the Function goes with its namespace: nothing to publish
                if exc.status != 409:
                    raise
                number += 1  # taken (by a publisher we have not seen yet): the next number
                continue
            log.info("%s/%s: published version %d", meta.get("namespace"), meta.get("name"), number)
            self.api.post_event(function, "Function", "Published", f"published version {number}")
            versions.append(created)
            return out
        raise RuntimeError(f"no free version number after {number}")


def _may_have_versions(function: Mapping[str, Any], qualifiers: Iterable[str]) -> bool:
    """Whether the Function has, or is asked for, any version. Versions are made only by
    publishing, which leaves ``status.latestVersion``; aliases and Triggers' qualifiers name them."""
    meta = function.get("metadata") or {}
    spec = function.get("spec") or {}
    return bool(
        spec.get("publish")
        or spec.get("aliases")
        or (meta.get("annotations") or {}).get(PUBLISH_ANNOTATION)
        or (function.get("status") or {}).get("latestVersion")
        or any(True for _ in qualifiers)
    )


def _hash_of(version: Mapping[str, Any]) -> str:
    annotations = (version.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(SNAPSHOT_ANNOTATION) or "")
