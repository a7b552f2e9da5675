"""The cluster side of the ``wisp`` command: kubeconfig like kubectl, and errors as one line.

``connect(args)`` reads ``--kubeconfig`` / ``KUBECONFIG`` / ``~/.kube/config`` and
``--context``, and takes the namespace from ``-n`` or the context (else ``default``).
``Cluster`` wraps the few API calls the verbs need; every ``ApiException`` or connection error
becomes a ``CliError`` whose message says what went wrong and what to do.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client, config
from kubernetes.client.rest import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from wisp.api.names import FUNCTION_LABEL, FUNCTIONS, GROUP, POOL_FUNCTION_LABEL, TRIGGERS, VERSION
from wisp.cli.errors import CliError
from wisp.kubeconfig import load_api_client

FIELD_MANAGER = "wisp-cli"
APPLY = "application/apply-patch+yaml"


def add_arguments(parser: argparse.ArgumentParser, *, output: bool = False) -> None:
    parser.add_argument("-n", "--namespace", help="namespace (default: the context's, else default)")
    parser.add_argument("--context", help="kubeconfig context to use (default: the current one)")
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube/config)")
    if output:
        parser.add_argument("-o", "--output", choices=("json", "yaml"), help="print for scripts")


def kubeconfig_path(explicit: str | None) -> str:
    candidates = (
        [explicit]
        if explicit
        else [*(os.environ.get("KUBECONFIG") or "").split(os.pathsep), str(Path.home() / ".kube" / "config")]
    )
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate
    looked = explicit or " or ".join(c for c in candidates if c)
    raise CliError(
        f"no kubeconfig found (looked at {looked}): pass --kubeconfig or set KUBECONFIG "
        "to your cluster's; to run without a cluster use `wisp dev`"
    )


@dataclass
class Cluster:
    api: client.ApiClient
    namespace: str
    server: str

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    # -- Functions and Triggers ------------------------------------------------------------------

    def get(self, plural: str, name: str) -> dict[str, Any]:
        with self.errors(f"{plural[:-1]} {name}"):
            obj: dict[str, Any] = self.custom.get_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, name
            )
            return obj

    def list_all(self, plural: str, selector: str | None = None) -> list[dict[str, Any]]:
        with self.errors(plural):
            kwargs = {"label_selector": selector} if selector else {}
            listed = self.custom.list_namespaced_custom_object(
                GROUP, VERSION, self.namespace, plural, **kwargs
            )
            return list(listed.get("items") or [])

    def list_visible(self, plural: str) -> tuple[list[dict[str, Any]], list[str] | None]:
        """Every namespace's objects this credential may list, and the namespaces looked at.

        Cluster-wide when the credential may (namespaces ``None``: all of them). Otherwise
        namespace by namespace, leaving out those it may not list; a credential that may not even
        list namespaces (a tenant's, bound in its own namespace only) sees its context's
        namespace, like ``wisp list`` without ``-A``.
        """
        with self.errors(plural):
            everywhere = _unless_forbidden(
                lambda: self.custom.list_cluster_custom_object(GROUP, VERSION, plural)
            )
            if everywhere is not None:
                return list(everywhere.get("items") or []), None
            namespaces = _unless_forbidden(self.core.list_namespace)
            names = (
                [ns.metadata.name for ns in namespaces.items] if namespaces is not None else [self.namespace]
            )
            items: list[dict[str, Any]] = []
            seen: list[str] = []
            for namespace in names:
                listed = _unless_forbidden(
                    functools.partial(
                        self.custom.list_namespaced_custom_object, GROUP, VERSION, namespace, plural
                    )
                )
                if listed is not None:
                    items += listed.get("items") or []
                    seen.append(namespace)
            return items, seen

    def apply(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        plural = FUNCTIONS if manifest["kind"] == "Function" else TRIGGERS
        name = manifest["metadata"]["name"]
        body = {**manifest, "metadata": {**manifest["metadata"], "namespace": self.namespace}}
        with self.errors(f"{manifest['kind']} {name}"):
            # The generated client does not decode apply answers of custom objects: read it raw.
            response = self.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                plural,
                name,
                body,
                field_manager=FIELD_MANAGER,
                force=True,
                field_validation="Strict",
                _content_type=APPLY,
                _preload_content=False,
            )
            obj: dict[str, Any] = json.loads(response.data)
            return obj

    def apply_config_map(self, manifest: Mapping[str, Any]) -> dict[str, Any]:
        """Server-side apply of a ConfigMap (a layer) in the namespace."""
        name = manifest["metadata"]["name"]
        body = {**manifest, "metadata": {**manifest["metadata"], "namespace": self.namespace}}
        with self.errors(f"ConfigMap {name}"):
            response = self.core.patch_namespaced_config_map(
                name,
                self.namespace,
                body,
                field_manager=FIELD_MANAGER,
                force=True,
                field_validation="Strict",
                _content_type=APPLY,
                _preload_content=False,
            )
            obj: dict[str, Any] = json.loads(response.data)
            return obj

    def patch(self, plural: str, name: str, body: Mapping[str, Any]) -> dict[str, Any]:
        """A JSON merge patch (``kubectl patch --type=merge``)."""
        with self.errors(f"{plural[:-1]} {name}"):
            obj: dict[str, Any] = self.custom.patch_namespaced_custom_object(
                GROUP,
                VERSION,
                self.namespace,
                plural,
                name,
                body,
                field_manager=FIELD_MANAGER,
                _content_type="application/merge-patch+json",
            )
            return obj

    def delete(self, plural: str, name: str) -> None:
        with self.errors(f"{plural[:-1]} {name}"):
            self.custom.delete_namespaced_custom_object(GROUP, VERSION, self.namespace, plural, name)

    # -- pods and events -------------------------------------------------------------------------

    def pods(self, function: str) -> list[Any]:
        with self.errors("pods"):
            return list(
                self.core.list_namespaced_pod(
                    self.namespace, label_selector=f"{FUNCTION_LABEL}={function}"
                ).items
            )

    def pool_pods(self, function: str) -> list[Any]:
        """Warm pool pods claimed for the function (docs/warm-pool.md); [] without a pool or rights."""
        try:
            return list(
                self.core.list_namespaced_pod(
                    self.namespace, label_selector=f"{POOL_FUNCTION_LABEL}={function}"
                ).items
            )
        except ApiException:
            return []

    def events(self, kind: str, name: str) -> list[Any]:
        with self.errors("events"):
            selector = f"involvedObject.kind={kind},involvedObject.name={name}"
            return list(self.core.list_namespaced_event(self.namespace, field_selector=selector).items)

    # -- errors ----------------------------------------------------------------------------------

    def errors(self, what: str) -> _Translate:
        return _Translate(self, what)


class _Translate:
    """Turns API failures inside a ``with`` block into one-line ``CliError``s."""

    def __init__(self, cluster: Cluster, what: str) -> None:
        self.cluster = cluster
        self.what = what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if isinstance(exc, ApiException):
            raise api_error(exc, self.what, self.cluster.namespace) from None
        if isinstance(exc, Urllib3Error | OSError):
            raise CliError(
                f"cannot reach the Kubernetes API server at {self.cluster.server}: "
                f"{_short(exc)}; check the cluster is up and the kubeconfig points at it"
            ) from None


def _unless_forbidden(call: Callable[[], Any]) -> Any:
    """``call()``, or None when the API server answers 403 (other failures raise)."""
    try:
        return call()
    except ApiException as exc:
        if exc.status == 403:
            return None
        raise


def _short(exc: BaseException) -> str:
    text = str(exc)
    return text.split(": ", 1)[-1][:200] if text else exc.__class__.__name__


def api_error(exc: ApiException, what: str, namespace: str) -> CliError:
    status = _status_body(exc)
    message = str(status.get("message") or exc.reason or "")
    if exc.status == 404:
        details = status.get("details") or {}
        if not status or not details.get("name"):
            return CliError(
                "the wisp CRDs are not installed in this cluster (no wisp.dev/v1alpha1 "
                "resources): kubectl apply -f crds/ or helm install wisp deploy/helm/wisp"
            )
        return CliError(
            f"{what} not found in namespace {namespace} (`wisp list -n {namespace}` shows what exists)"
        )
    # Server-side apply reports fields the schema does not declare as a 500 "typed patch" error.
    if exc.status in (400, 422) or "not declared in schema" in message:
        return CliError(f"the API server rejected {what}: {message}")
    if exc.status in (401, 403):
        return CliError(f"not allowed: {message} (check your kubeconfig's user and its RBAC)")
    if exc.status == 409:
        return CliError(f"conflict on {what}: {message}")
    return CliError(f"the API server answered {exc.status} for {what}: {message or exc.body}")


def status_message(exc: ApiException) -> str:
    """The message of the API's Status answer, else its reason."""
    return str(_status_body(exc).get("message") or exc.reason or exc.body or exc.status)


def _status_body(exc: ApiException) -> dict[str, Any]:
    try:
        body = json.loads(exc.body or "")
    except (TypeError, ValueError):
        return {}
    return body if isinstance(body, dict) and body.get("kind") == "Status" else {}


def connect(args: argparse.Namespace) -> Cluster:
    path = kubeconfig_path(getattr(args, "kubeconfig", None))
    context_name = getattr(args, "context", None)
    try:
        contexts, current = config.list_kube_config_contexts(config_file=path)
    except (config.ConfigException, OSError, ValueError) as exc:
        raise CliError(f"cannot read kubeconfig {path}: {exc}") from None
    chosen = current
    if context_name:
        chosen = next((c for c in contexts if c["name"] == context_name), None)
        if chosen is None:
            names = ", ".join(c["name"] for c in contexts) or "none"
            raise CliError(f"no context {context_name!r} in {path} (contexts: {names})")
    try:
        api = load_api_client(path, context=context_name)
    except (config.ConfigException, OSError, ValueError) as exc:
        raise CliError(f"cannot use kubeconfig {path}: {exc}") from None
    namespace = (
        getattr(args, "namespace", None)
        or ((chosen or {}).get("context") or {}).get("namespace")
        or "default"
    )
    return Cluster(api, namespace, api.configuration.host)


def conditions(obj: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    yield from ((obj.get("status") or {}).get("conditions") or ())


def condition(obj: Mapping[str, Any], kind: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions(obj) if c.get("type") == kind), None)
