"""The console's source in a cluster: Functions through the Kubernetes API.

Creates and updates Functions with server-side apply (field manager ``wisp-console``), so the
operator does the rest and RBAC governs who may; the API server's validation errors come back
field by field (``spec.memory: Invalid value ...``). Saved test events live in a ConfigMap per
function (``<name>-test-events``, owned by the Function so it goes with it). Logs are read from
the function's pods (``pods/log``, all pods merged); ``PodLogs`` is the seam for that read.

The official client is blocking: every call runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Mapping
from typing import Any, Protocol

from aiohttp import web
from kubernetes import client
from kubernetes.client.rest import ApiException

from wisp.api.names import (
    API_VERSION,
    FUNCTION_LABEL,
    FUNCTION_VERSIONS,
    FUNCTIONS,
    GROUP,
    VERSION,
    VERSION_OF_LABEL,
)
from wisp.console.live import GatewayView
from wisp.console.logs import parse_line, select
from wisp.console.manifests import EVENT_NAME, editable
from wisp.console.releases import versions_document
from wisp.console.source import (
    FieldError,
    LogLine,
    Manifest,
    Mode,
    NotFound,
    SourceError,
    ValidationFailed,
)
from wisp.console.usage import price_per_gb_second
from wisp.gateway.state import Components
from wisp.resources.names import CONTAINER_NAME

FIELD_MANAGER = "wisp-console"
CONSOLE_API = "/ui/api/"
APPLY = "application/apply-patch+yaml"
EVENTS_LABEL = "wisp.dev/test-events-for"


class PodLogs(Protocol):
    """Reads the last ``tail`` lines of a pod's function container (blocking; runs in a thread)."""

    def read(self, namespace: str, pod: str, tail: int) -> str: ...


class KubeletPodLogs:
    """``pods/log`` through the API server (which asks the pod's kubelet)."""

    def __init__(self, core: client.CoreV1Api) -> None:
        self.core = core

    def read(self, namespace: str, pod: str, tail: int) -> str:
        text: str = self.core.read_namespaced_pod_log(
            pod, namespace, container=CONTAINER_NAME, tail_lines=tail, timestamps=True
        )
        return text


def field_errors(exc: ApiException) -> list[FieldError]:
    """The field-named causes of a 422 (or the whole message when it names none)."""
    try:
        status = json.loads(exc.body or "{}")
    except ValueError:
        status = {}
    causes = (status.get("details") or {}).get("causes") or []
    errors = [
        FieldError(str(c.get("field") or ""), str(c.get("message") or c.get("reason") or "")) for c in causes
    ]
    return errors or [FieldError("", str(status.get("message") or exc.reason or "invalid"))]


def _message(exc: ApiException) -> str:
    try:
        return str(json.loads(exc.body or "{}").get("message") or exc.reason)
    except ValueError:
        return str(exc.reason)


class ClusterSource:
    mode = Mode.CLUSTER

    def __init__(
        self,
        live: GatewayView,
        api_client: client.ApiClient,
        pod_logs: PodLogs | None = None,
    ) -> None:
        self.live = live
        self.api = api_client
        self.custom = client.CustomObjectsApi(api_client)
        self.core = client.CoreV1Api(api_client)
        self.pod_logs = pod_logs or KubeletPodLogs(self.core)

    def namespaces(self) -> list[str]:
        config = self.live.parts.config
        return list(config.namespaces) or [config.default_namespace]

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except ApiException as exc:
            if exc.status == 404:
                raise NotFound(_message(exc)) from None
            if exc.status == 422:
                raise ValidationFailed(field_errors(exc)) from None
            raise SourceError(_message(exc), exc.status if exc.status in (400, 403, 409) else 502) from None

    async def _get(self, namespace: str, name: str) -> dict[str, Any]:
        obj: dict[str, Any] = await self._call(
            self.custom.get_namespaced_custom_object, GROUP, VERSION, namespace, FUNCTIONS, name
        )
        return obj

    async def _patch(
        self, namespace: str, name: str, body: Mapping[str, Any], content_type: str, **kwargs: Any
    ) -> Any:
        return await self._call(
            self.custom.patch_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            FUNCTIONS,
            name,
            body,
            field_manager=FIELD_MANAGER,
            _content_type=content_type,
            **kwargs,
        )

    async def get_function(self, namespace: str, name: str) -> Manifest:
        obj = await self._get(namespace, name)
        return Manifest(editable(obj), status=obj.get("status") or {})

    async def apply_function(self, body: Mapping[str, Any]) -> Manifest:
        clean = editable({**body, "apiVersion": API_VERSION})
        meta = clean["metadata"]
        name = meta.get("name")
        if not isinstance(name, str) or not name:
            raise ValidationFailed([FieldError("metadata.name", "Required value")])
        namespace = meta.get("namespace") or self.namespaces()[0]
        meta["namespace"] = namespace
        response = await self._patch(namespace, name, clean, APPLY, force=True, _preload_content=False)
        # Read raw: the client does not deserialize an apply-patch answer for custom objects.
        obj: dict[str, Any] = json.loads(response.data)
        return Manifest(editable(obj), status=obj.get("status") or {})

    async def delete_function(self, namespace: str, name: str) -> None:
        await self._call(
            self.custom.delete_namespaced_custom_object, GROUP, VERSION, namespace, FUNCTIONS, name
        )

    async def versions(self, namespace: str, name: str) -> dict[str, Any]:
        function = await self._get(namespace, name)
        listed = await self._call(
            self.custom.list_namespaced_custom_object,
            GROUP,
            VERSION,
            namespace,
            FUNCTION_VERSIONS,
            label_selector=f"{VERSION_OF_LABEL}={name}",
        )
        return versions_document(function, listed.get("items") or [])

    async def set_alias(self, namespace: str, name: str, alias: str, body: Mapping[str, Any] | None) -> None:
        # A merge patch of one alias, as ``wisp alias`` makes: the API server checks the versions
        # (CEL) and RBAC whether this gateway's account may patch Functions here.
        await self._patch(
            namespace, name, {"spec": {"aliases": {alias: body}}}, "application/merge-patch+json"
        )

    async def logs(self, namespace: str, name: str, request_id: str, tail: int) -> list[LogLine]:
        pods = await self._call(
            self.core.list_namespaced_pod, namespace, label_selector=f"{FUNCTION_LABEL}={name}"
        )
        # A call's lines may be anywhere in a busy pod's output: read more when filtering.
        read = tail if not request_id else max(tail, 2000)

        def one(pod: str) -> list[LogLine]:
            try:
                text = self.pod_logs.read(namespace, pod, read)
            except (ApiException, OSError):
                return []  # a pod that has not started (or is gone) has no logs to show
            return [parse_line(raw, pod) for raw in text.splitlines() if raw.strip()]

        names = [p.metadata.name for p in pods.items]
        chunks = await asyncio.gather(*(asyncio.to_thread(one, pod) for pod in names))
        return select([line for chunk in chunks for line in chunk], request_id, tail)

    # -- test events -----------------------------------------------------------------------------

    @staticmethod
    def _events_name(name: str) -> str:
        return f"{name}-test-events"

    async def test_events(self, namespace: str, name: str) -> dict[str, Any]:
        try:
            cm = await self._call(self.core.read_namespaced_config_map, self._events_name(name), namespace)
        except NotFound:
            return {}
        out: dict[str, Any] = {}
        for key, text in (cm.data or {}).items():
            try:
                out[key] = json.loads(text)
            except ValueError:
                out[key] = text
        return out

    async def _write_events(self, namespace: str, name: str, data: Mapping[str, str | None]) -> None:
        fn = await self._get(namespace, name)
        owner = {"apiVersion": API_VERSION, "kind": "Function", "name": name, "uid": fn["metadata"]["uid"]}
        body = {"metadata": {"labels": {EVENTS_LABEL: name}, "ownerReferences": [owner]}, "data": data}
        try:
            await self._call(self.core.patch_namespaced_config_map, self._events_name(name), namespace, body)
        except NotFound:
            body["metadata"]["name"] = self._events_name(name)  # type: ignore[index]
            body["data"] = {k: v for k, v in data.items() if v is not None}
            await self._call(self.core.create_namespaced_config_map, namespace, body)

    async def save_test_event(self, namespace: str, name: str, event_name: str, event: Any) -> None:
        if not EVENT_NAME.match(event_name):
            raise ValidationFailed([FieldError("name", "letters, digits, '-', '_' and '.' only")])
        await self._write_events(namespace, name, {event_name: json.dumps(event, indent=2)})

    async def delete_test_event(self, namespace: str, name: str, event_name: str) -> None:
        if event_name not in await self.test_events(namespace, name):
            raise NotFound(f"no saved event {event_name}")
        await self._write_events(namespace, name, {event_name: None})


def tenants_from_env(env: Mapping[str, str] | None = None) -> bool:
    """``WISP_CONSOLE_TENANTS`` (default true): whether Kubernetes bearer tokens may sign in."""
    raw = (os.environ if env is None else env).get("WISP_CONSOLE_TENANTS", "")
    return raw.strip().lower() not in ("0", "false", "no", "off")


def add_cluster_console(
    admin_app: web.Application,
    parts: Components,
    api_client: client.ApiClient,
    admin_token: str | None,
    *,
    pod_logs: PodLogs | None = None,
    tenants: bool = True,
    also_signed_in: tuple[str, ...] = (),
) -> ClusterSource:
    """The console on the gateway's admin listener: its API needs the admin bearer token, or
    (with ``tenants``) a Kubernetes bearer token, which sees what its user's RBAC allows
    (``wisp.security.kubeauth``); the static page itself holds no data. The same sign-in guards
    the paths under ``also_signed_in`` (the dead letters the console shows)."""
    from wisp.console.routes import add_console_routes
    from wisp.security.kubeauth import caller_auth, make_reviews

    reviews = make_reviews(api_client) if tenants else None
    # Outermost, so the admin app's own guard of /system/ sees who signed in.
    admin_app.middlewares.insert(0, caller_auth(admin_token, reviews, (CONSOLE_API, *also_signed_in)))
    source = ClusterSource(GatewayView(parts, price_per_gb_second()), api_client, pod_logs)
    add_console_routes(admin_app, source)
    return source
