"""The operator's writes and reads, through the official Kubernetes client.

Children are written with server-side apply under one field manager, so a hand edit of a field
wisp owns is taken back and fields wisp does not set (replicas, after creation) are left alone.

A child is created with a plain create (under its own field manager), so that an object of that
name that is not wisp's is refused rather than taken over, and so that a Deployment is created
with its replicas, which the applies never own. Server-side apply removes a field an apply leaves
out only when no other manager owns it: a Deployment's or ConfigMap's create would own its env,
volumes and files for good, and a variable or file taken out of a Function would stay in its
pods. So the first ``apply`` to a child hands what its create set over to the applies
(``handed_over``), all but the replicas, which nobody owns until the gateway scales, and applies
again. A create does not hand over itself: that patch would be one more write of every new
Function's ConfigMap and Deployment in a bulk apply's busiest minutes, for fields that only matter
once a later change leaves one out, and every such change is an apply.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from kubernetes import client
from kubernetes.client.rest import ApiException

from wisp.api.names import (
    API_VERSION,
    FUNCTION_VERSIONS,
    FUNCTIONS,
    GROUP,
    TRIGGERS,
    VERSION,
    VERSION_OF_LABEL,
)
from wisp.controller.refusals import namespace_terminating

FIELD_MANAGER = "wisp-operator"
CREATE_MANAGER = "wisp-operator-create"
APPLY = "application/apply-patch+yaml"
MERGE = "application/merge-patch+json"
METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

log = logging.getLogger("wisp.operator")
audit = logging.getLogger("wisp.operator.api")  # every refused write, at debug level (``-v``)


class KubePort(Protocol):
    """What reconcile, sync and binding need of the API: ``KubeApi`` in a cluster, an in-memory
    table in the unit tests. Reads return None for a missing object; failures are ``ApiException``."""

    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None: ...
    def create(self, manifest: Mapping[str, Any]) -> dict[str, Any]: ...
    def list_versions(self, namespace: str, function: str) -> list[dict[str, Any]]: ...
    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]: ...
    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None: ...
    def scale_deployment(self, namespace: str, name: str, replicas: int) -> None: ...
    def config_map_data(self, namespace: str, name: str) -> dict[str, str] | None: ...
    def secret_exists(self, namespace: str, name: str) -> bool: ...
    def secret_metadata(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]: ...
    def patch_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        resource_version: str | None = None,
    ) -> bool: ...
    def get_function(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def get_trigger(self, namespace: str, name: str) -> dict[str, Any] | None: ...
    def get_peering(self, name: str, namespace: str | None) -> dict[str, Any] | None: ...
    def post_event(
        self, involved: Mapping[str, Any], kind: str, reason: str, note: str, warning: bool = False
    ) -> None: ...


class KubeApi:
    """``KubePort`` over the official client."""

    def __init__(self, api_client: client.ApiClient) -> None:
        self.core = client.CoreV1Api(api_client)
        self.apps = client.AppsV1Api(api_client)
        self.custom = client.CustomObjectsApi(api_client)
        self.events = client.EventsV1Api(api_client)
        self.rbac = client.RbacAuthorizationV1Api(api_client)
        self.networking = client.NetworkingV1Api(api_client)
        self._api_client = api_client

    # -- children -------------------------------------------------------------------------------
    def read(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        if kind == "FunctionVersion":
            return self._get_custom(FUNCTION_VERSIONS, namespace, name)
        reader = {
            "ConfigMap": self.core.read_namespaced_config_map,
            "Service": self.core.read_namespaced_service,
            "Deployment": self.apps.read_namespaced_deployment,
            "ServiceAccount": self.core.read_namespaced_service_account,
            "Role": self.rbac.read_namespaced_role,
            "RoleBinding": self.rbac.read_namespaced_role_binding,
            "NetworkPolicy": self.networking.read_namespaced_network_policy,
        }[kind]
        try:
            obj = reader(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return _json(obj)

    def create(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        kind, ns = manifest["kind"], manifest["metadata"]["namespace"]
        if kind == "FunctionVersion":
            return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
                GROUP, VERSION, ns, FUNCTION_VERSIONS, manifest, field_manager=CREATE_MANAGER
            )
        creator = {
            "ConfigMap": self.core.create_namespaced_config_map,
            "Service": self.core.create_namespaced_service,
            "Deployment": self.apps.create_namespaced_deployment,
            "ServiceAccount": self.core.create_namespaced_service_account,
            "Role": self.rbac.create_namespaced_role,
            "RoleBinding": self.rbac.create_namespaced_role_binding,
            "NetworkPolicy": self.networking.create_namespaced_network_policy,
            "Secret": self.core.create_namespaced_secret,
        }[kind]
        try:
            obj = creator(ns, manifest, field_manager=CREATE_MANAGER, _preload_content=False)
        except ApiException as exc:
            audit.debug(
                "refused: create %s %s/%s: HTTP %s", kind, ns, manifest["metadata"]["name"], exc.status
            )
            raise
        return _json(obj)  # its fields are handed over at its first apply

    def _hand_over(self, kind: str, obj: dict[str, Any]) -> dict[str, Any] | None:
        """``obj`` with its create's fields owned by the applies (``handed_over``); None when its
        create owns nothing (handed over already), or when the API refused (logged, and the fields
        stay the create's until the next apply tries again). The patch holds ``obj``'s
        resourceVersion, so that it replaces no other manager's entry written meanwhile; when the
        object did change meanwhile (a controller's status write), it is read again and the hand
        over tried again: the apply that follows is the only one until the Function changes."""
        for _ in range(HAND_OVER_TRIES):
            meta = obj.get("metadata") or {}
            entries = handed_over(meta.get("managedFields") or [])
            if entries is None:
                return None
            name, namespace = meta["name"], meta["namespace"]
            body = {"metadata": {"managedFields": entries, "resourceVersion": meta.get("resourceVersion")}}
            try:
                patched = self._patcher(kind)(
                    name, namespace, body, _content_type=MERGE, _preload_content=False
                )
            except ApiException as exc:
                again = self.read(kind, namespace, name) if exc.status == 409 else None
                if again is None:
                    log.warning(
                        "%s %s/%s: its fields stay its create's: HTTP %s", kind, namespace, name, exc.status
                    )
                    return None
                obj = again
                continue
            return _json(patched)
        log.warning(
            "%s %s/%s: its fields stay its create's: it kept changing",
            kind,
            obj["metadata"]["namespace"],
            obj["metadata"]["name"],
        )
        return None

    def _patcher(self, kind: str) -> Any:
        """The client's patch of a child ``kind``."""
        return {
            "ConfigMap": self.core.patch_namespaced_config_map,
            "Service": self.core.patch_namespaced_service,
            "Deployment": self.apps.patch_namespaced_deployment,
            "ServiceAccount": self.core.patch_namespaced_service_account,
            "Role": self.rbac.patch_namespaced_role,
            "RoleBinding": self.rbac.patch_namespaced_role_binding,
            "NetworkPolicy": self.networking.patch_namespaced_network_policy,
            "Secret": self.core.patch_namespaced_secret,
        }[kind]

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        kind, ns, name = manifest["kind"], manifest["metadata"]["namespace"], manifest["metadata"]["name"]
        try:
            obj = self._patcher(kind)(
                name,
                ns,
                manifest,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type=APPLY,
                _preload_content=False,
            )
        except ApiException as exc:
            audit.debug("refused: apply %s %s/%s: HTTP %s", kind, ns, name, exc.status)
            raise
        applied = _json(obj)
        if kind in HANDED_OVER and self._hand_over(kind, applied) is not None:
            # Its first apply since its create: now handed over, the same apply again takes out
            # what the manifest leaves out (once: the create owns nothing now).
            return self.apply(manifest)
        return applied

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        """Delete a child (gone already is fine); with ``uid``, only that very object."""
        options = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=uid)) if uid else None
        try:
            if kind == "FunctionVersion":
                self.custom.delete_namespaced_custom_object(
                    GROUP, VERSION, namespace, FUNCTION_VERSIONS, name, body=options
                )
                return
            deleter = {
                "ConfigMap": self.core.delete_namespaced_config_map,
                "Service": self.core.delete_namespaced_service,
                "ServiceAccount": self.core.delete_namespaced_service_account,
                "Role": self.rbac.delete_namespaced_role,
                "RoleBinding": self.rbac.delete_namespaced_role_binding,
                "NetworkPolicy": self.networking.delete_namespaced_network_policy,
            }[kind]
            deleter(name, namespace, body=options)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def scale_deployment(self, namespace: str, name: str, replicas: int) -> None:
        self.apps.patch_namespaced_deployment_scale(
            name,
            namespace,
            {"spec": {"replicas": replicas}},
            field_manager=FIELD_MANAGER,
            _content_type=MERGE,
        )

    def config_map_data(self, namespace: str, name: str) -> dict[str, str] | None:
        obj = self.read("ConfigMap", namespace, name)
        return None if obj is None else dict(obj.get("data") or {})

    def secret_exists(self, namespace: str, name: str) -> bool:
        """Whether the Secret exists, read as metadata only: its values never reach the operator."""
        return self.secret_metadata(namespace, name) is not None

    def secret_metadata(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret's metadata (labels, annotations), without its values; None when missing."""
        try:
            response = self.core.read_namespaced_secret(
                name, namespace, _preload_content=False, _headers={"Accept": METADATA_ONLY}
            )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return _json(response)

    def read_secret(self, namespace: str, name: str) -> dict[str, Any] | None:
        """A Secret with its values: only the installation's package pull secret, to copy it."""
        try:
            response = self.core.read_namespaced_secret(name, namespace, _preload_content=False)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return _json(response)

    def list_pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        pods = _json(
            self.core.list_namespaced_pod(namespace, label_selector=selector, _preload_content=False)
        )
        return list(pods.get("items") or [])

    # -- our resources --------------------------------------------------------------------------
    def patch_status(
        self,
        plural: str,
        namespace: str,
        name: str,
        status: Mapping[str, Any],
        resource_version: str | None = None,
    ) -> bool:
        """Merge ``status`` into the object's; with ``resource_version``, only onto that version of it.

        False when the object changed since that version (409): the caller re-reads and builds the
        status again, so a status computed from an older copy never overwrites a newer one.
        """
        body: dict[str, Any] = {"status": dict(status)}
        if resource_version:
            body["metadata"] = {"resourceVersion": resource_version}
        try:
            self.custom.patch_namespaced_custom_object_status(
                GROUP,
                VERSION,
                namespace,
                plural,
                name,
                body,
                field_manager=FIELD_MANAGER,
                _content_type=MERGE,
            )
        except ApiException as exc:
            if exc.status == 409:
                return False
            if exc.status != 404:  # deleted meanwhile
                raise
        return True

    def get_function(self, namespace: str, name: str) -> dict[str, Any] | None:
        return self._get_custom(FUNCTIONS, namespace, name)

    def list_versions(self, namespace: str, function: str) -> list[dict[str, Any]]:
        found = self.custom.list_namespaced_custom_object(
            GROUP, VERSION, namespace, FUNCTION_VERSIONS, label_selector=f"{VERSION_OF_LABEL}={function}"
        )
        return list(found.get("items") or [])

    def _get_custom(self, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, plural, name)  # type: ignore[no-any-return]
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def get_trigger(self, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, TRIGGERS, name)  # type: ignore[no-any-return]
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def get_peering(self, name: str, namespace: str | None) -> dict[str, Any] | None:
        """kopf's peering object (cluster-wide, or in ``namespace``): who is active."""
        try:
            if namespace is None:
                obj = self.custom.get_cluster_custom_object("kopf.dev", "v1", "clusterkopfpeerings", name)
            else:
                obj = self.custom.get_namespaced_custom_object(
                    "kopf.dev", "v1", namespace, "kopfpeerings", name
                )
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return obj  # type: ignore[no-any-return]

    def post_event(
        self, involved: Mapping[str, Any], kind: str, reason: str, note: str, warning: bool = False
    ) -> None:
        """A Kubernetes Event on a wisp object (best effort: never fails a reconcile)."""
        meta = involved.get("metadata") or {}
        now = datetime.datetime.now(datetime.UTC)
        body = {
            "metadata": {"generateName": f"{meta.get('name', 'wisp')}-", "namespace": meta.get("namespace")},
            "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "reportingController": f"{GROUP}/operator",
            "reportingInstance": "wisp-operator",
            "action": "Reconcile",
            "reason": reason,
            "note": note[:1024],
            "type": "Warning" if warning else "Normal",
            "regarding": {
                "apiVersion": API_VERSION,
                "kind": kind,
                "name": meta.get("name"),
                "namespace": meta.get("namespace"),
                "uid": meta.get("uid"),
                "resourceVersion": meta.get("resourceVersion"),
            },
        }
        try:
            self.events.create_namespaced_event(meta.get("namespace"), body)
        except ApiException as exc:
            if namespace_terminating(exc):  # the object goes with its namespace, its Events too
                log.debug("no event %s on %s: its namespace is being deleted", reason, meta.get("name"))
                return
            log.warning("could not post event %s on %s: %s", reason, meta.get("name"), exc.body)


# The kinds whose create's fields are handed over to the applies: those with fields a Function's
# change may take out (env, volumes, mounts; a code file).
HANDED_OVER = ("ConfigMap", "Deployment")
# How often a hand-over is tried against an object that changed meanwhile.
HAND_OVER_TRIES = 5


def handed_over(entries: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
    """``managedFields`` with the create's entry folded into the applies' (``FIELD_MANAGER``'s
    Apply entry, made if missing), ``spec.replicas`` left to no one; None when the create owns
    nothing."""
    created = [
        e
        for e in entries
        if e.get("manager") == CREATE_MANAGER and e.get("operation") == "Update" and not e.get("subresource")
    ]
    if not created:
        return None
    fields: dict[str, Any] = {}
    for entry in created:
        _merge_fields(fields, entry.get("fieldsV1") or {})
    (fields.get("f:spec") or {}).pop("f:replicas", None)
    kept = [dict(e) for e in entries if e not in created]
    ours = (FIELD_MANAGER, "Apply")
    applied = next((e for e in kept if (e.get("manager"), e.get("operation")) == ours), None)
    if applied is None:
        kept.append(
            {
                "manager": FIELD_MANAGER,
                "operation": "Apply",
                "apiVersion": created[0].get("apiVersion"),
                "time": created[0].get("time"),
                "fieldsType": "FieldsV1",
                "fieldsV1": fields,
            }
        )
    else:
        merged = json.loads(json.dumps(applied.get("fieldsV1") or {}))
        _merge_fields(merged, fields)
        applied["fieldsV1"] = merged
    return kept


def _merge_fields(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    """Adds the field set ``more`` (FieldsV1: nested maps of ``f:``, ``k:``, ``v:`` and ``i:``
    keys) to ``into``."""
    for key, value in more.items():
        if isinstance(value, Mapping) and isinstance(into.get(key), dict):
            _merge_fields(into[key], value)
        else:
            into[key] = json.loads(json.dumps(value))


def _json(response: Any) -> dict[str, Any]:
    """The API's answer as the plain dict it sent: no ``kubernetes`` model objects are built and
    turned back (most of the operator's CPU per write, and fields the client does not know are
    kept)."""
    data = json.loads(response.data)
    return data if isinstance(data, dict) else {}
