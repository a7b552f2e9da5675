"""Reconcile a Function's children: a list of same-shaped phases.

Each phase reads its child, creates it if missing, refuses to touch one the Function does not
own, and otherwise applies the desired manifest when the child differs from it (server-side
apply: a correction when someone edited a field wisp owns). Every manifest carries a hash of
itself (``APPLIED_ANNOTATION``), so a child that has that hash and every field of the manifest
with the manifest's values is what an apply would leave as it is, and is not written: the
resync and the child events of a settled Function cost the API reads only. A manifest that
leaves out a field an earlier one had has another hash, and is applied. Replicas are written only at
creation and when the Function's scale bounds change; the autoscaler owns them otherwise.

A Function reconciled for the first time (``first``: its status has no observedGeneration) has
no children yet: each is created without being read first (a conflict falls back to the read),
and nothing an earlier spec made is looked for. A bulk apply of thousands of Functions costs the
API about half the calls it would otherwise.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client.rest import ApiException
from kubernetes.utils import parse_quantity

from wisp.api.function import Function
from wisp.api.identity import ungranted
from wisp.api.names import APPLIED_ANNOTATION, SCALE_BOUNDS_ANNOTATION
from wisp.controller.kube import KubePort
from wisp.controller.settings import OperatorSettings
from wisp.resources import make_code_configmap, make_deployment, make_service
from wisp.resources.deployment import config_hash, initial_replicas, pull_secret, scale_bounds
from wisp.resources.identity import make_default_service_account, make_identity
from wisp.resources.layers import LayerData
from wisp.resources.names import DEFAULT_SERVICE_ACCOUNT, Names
from wisp.resources.network import make_network_policy
from wisp.resources.pullsecret import copy_is_current, credentials, is_copy, make_pull_secret_copy
from wisp.resources.service import service_kind


class ReconcileError(Exception):
    """A condition that waiting will not fix: reported in status, not retried in a hot loop."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass
class SeenRecently:
    """Names seen to exist in the last ``ttl`` seconds: a namespace's default ServiceAccount,
    which every Function of the namespace needs, is read once a period, not once a reconcile.
    One deleted by hand is made again at most ``ttl`` later (by the next reconcile after that)."""

    ttl: float
    clock: Callable[[], float] = time.monotonic
    _seen: dict[str, float] = field(default_factory=dict)

    def __contains__(self, name: object) -> bool:
        seen = self._seen.get(str(name))
        return seen is not None and self.clock() - seen < self.ttl

    def add(self, name: str) -> None:
        self._seen[name] = self.clock()


@dataclass
class Reconciliation:
    fn: Function
    api: KubePort
    settings: OperatorSettings
    actions: list[str] = field(default_factory=list)
    deployment: dict[str, Any] | None = None
    code_file_names: tuple[str, ...] = ()
    code_hash_extra: dict[str, str] = field(default_factory=dict)
    layers: tuple[LayerData, ...] = ()
    first: bool = False  # never reconciled before: no children to read or retire
    # Namespaces whose default ServiceAccount was seen lately (shared between reconciles).
    accounts: SeenRecently | None = None
    created: set[str] = field(default_factory=set)  # kinds this reconcile created
    # Why the package's registry credentials are missing (reported once the Deployment is in place).
    package_access: str | None = None
    _live: dict[tuple[str, str], dict[str, Any] | None] = field(default_factory=dict)

    @property
    def code_hash(self) -> str:
        return config_hash(self.fn, self.code_hash_extra)

    def live(self, kind: str, name: str) -> dict[str, Any] | None:
        """A child as the API has it, read at most once per reconcile."""
        key = (kind, name)
        if key not in self._live:
            self._live[key] = self.api.read(kind, self.fn.namespace, name)
        return self._live[key]

    def forget(self, kind: str, name: str) -> None:
        """The child is gone (we deleted it): the next ``live`` says so without a read."""
        self._live[(kind, name)] = None


Phase = Callable[[Reconciliation], None]


def _owned(obj: Mapping[str, Any], fn: Function) -> bool:
    refs = (obj.get("metadata") or {}).get("ownerReferences") or ()
    return any(ref.get("uid") == fn.uid for ref in refs)


def _ensure(
    r: Reconciliation, manifest: dict[str, Any], *, create: dict[str, Any] | None = None
) -> dict[str, Any]:
    """get → create if missing → refuse if not owned → apply if it differs (corrects drift)."""
    kind, name = manifest["kind"], manifest["metadata"]["name"]
    manifest = stamped(manifest)
    if create is not None:
        applied = manifest["metadata"]["annotations"][APPLIED_ANNOTATION]
        create = with_annotation(create, APPLIED_ANNOTATION, applied)
    live = None if r.first else r.live(kind, name)
    if live is None:
        try:
            created = r.api.create(create or manifest)
        except ApiException as exc:
            if exc.status != 409:
                raise
            # Created meanwhile (another replica before peering settled, or a first reconcile
            # that did not finish): treat as existing.
            live = r.api.read(kind, r.fn.namespace, name)
            if live is None:
                raise
        else:
            r.actions.append(f"created {kind} {name}")
            r.created.add(kind)
            return created
    if not _owned(live, r.fn):
        raise ReconcileError(
            "NotOwned", f"a {kind} named {name} already exists and is not owned by this Function"
        )
    if contains(live, manifest):
        return live
    return r.api.apply(manifest)


# The maps whose values are resource quantities: a container's limits and requests, an
# emptyDir's size limit.
QUANTITY_KEYS = frozenset({"limits", "requests", "sizeLimit"})


def stamped(manifest: dict[str, Any]) -> dict[str, Any]:
    """``manifest`` with the hash of itself in ``APPLIED_ANNOTATION``."""
    text = json.dumps(manifest, sort_keys=True, separators=(",", ":"))
    return with_annotation(manifest, APPLIED_ANNOTATION, hashlib.sha256(text.encode()).hexdigest()[:16])


def with_annotation(manifest: dict[str, Any], key: str, value: str) -> dict[str, Any]:
    meta = manifest["metadata"]
    annotations = {**(meta.get("annotations") or {}), key: value}
    return {**manifest, "metadata": {**meta, "annotations": annotations}}


def contains(live: Any, desired: Any, *, quantities: bool = False) -> bool:
    """Whether ``live`` has every field of ``desired`` with its value (lists item by item, of
    the same length): what an apply of ``desired`` would not change. The API leaves out empty
    lists and maps, and writes resource quantities its own way ("1000m" as "1"): under
    ``QUANTITY_KEYS`` quantities are compared by value."""
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return False
        for key, value in desired.items():
            if key not in live:
                if value in ({}, [], None):
                    continue
                return False
            if not contains(live[key], value, quantities=quantities or key in QUANTITY_KEYS):
                return False
        return True
    if isinstance(desired, list):
        return (
            isinstance(live, list)
            and len(live) == len(desired)
            and all(contains(a, b, quantities=quantities) for a, b in zip(live, desired, strict=True))
        )
    if live == desired:
        return True
    if quantities and isinstance(live, str) and isinstance(desired, str):
        try:
            return bool(parse_quantity(live) == parse_quantity(desired))
        except ValueError:
            return False
    return False


def reconcile_code(r: Reconciliation) -> None:
    fn = r.fn
    manifest = make_code_configmap(fn)
    if manifest is not None:
        _ensure(r, manifest)
        return
    name = Names.of(fn).configmap
    own = None if r.first else r.live("ConfigMap", name)
    if own is not None and _owned(own, fn):  # the code moved to an image or the user's ConfigMap
        r.api.delete("ConfigMap", fn.namespace, name)
        r.actions.append(f"deleted ConfigMap {name}")
    if fn.spec.code.config_map is not None:
        data = r.api.config_map_data(fn.namespace, fn.spec.code.config_map)
        if data is None:
            raise ReconcileError(
                "ConfigMapNotFound",
                f"spec.code.configMapRef: ConfigMap {fn.spec.code.config_map} not found in {fn.namespace}",
            )
        r.code_file_names = tuple(sorted(data))
        r.code_hash_extra = data


def read_layers(r: Reconciliation) -> None:
    """The ConfigMaps of ``spec.layers``, which the Deployment mounts under /opt."""
    fn = r.fn
    layers = []
    for i, layer in enumerate(fn.spec.layers):
        data = r.api.config_map_data(fn.namespace, layer.config_map)
        if data is None:
            raise ReconcileError(
                "LayerNotFound", f"spec.layers[{i}]: ConfigMap {layer.config_map} not found in {fn.namespace}"
            )
        layers.append(LayerData(layer.config_map, data))
    r.layers = tuple(layers)


def _delete_owned(r: Reconciliation, kind: str, name: str) -> None:
    if r.first:
        return  # nothing was made before
    live = r.live(kind, name)
    if live is not None and _owned(live, r.fn):
        r.api.delete(kind, r.fn.namespace, name)
        r.actions.append(f"deleted {kind} {name}")
        r.forget(kind, name)


def reconcile_identity(r: Reconciliation) -> None:
    """The account the pods run as: the Function's own (spec.role), the one it names, or the
    namespace's ``wisp-function`` (no permissions, no token)."""
    fn = r.fn
    own = make_identity(fn)
    if fn.spec.role is not None:
        missing = ungranted(fn.spec.role.rules, r.settings.grantable_rules)
        if missing:
            raise ReconcileError(
                "RoleNotGrantable",
                "spec.role.rules: this installation does not let wisp grant "
                + ", ".join(missing[:8])
                + (f" and {len(missing) - 8} more" if len(missing) > 8 else "")
                + " (the chart's functions.identity.grantableRules)",
            )
        for manifest in own:
            _ensure(r, manifest)
        return
    if fn.spec.service_account_name is not None:
        account = fn.spec.service_account_name
        if r.live("ServiceAccount", account) is None:
            raise ReconcileError(
                "ServiceAccountNotFound",
                f"spec.serviceAccountName: ServiceAccount {account} not found in {fn.namespace}",
            )
        return
    if r.accounts is not None and fn.namespace in r.accounts:
        return
    if r.live("ServiceAccount", DEFAULT_SERVICE_ACCOUNT) is None:
        try:
            r.api.create(make_default_service_account(fn.namespace))
        except ApiException as exc:
            if exc.status != 409:
                raise
        else:
            r.actions.append(f"created ServiceAccount {DEFAULT_SERVICE_ACCOUNT}")
    if r.accounts is not None:
        r.accounts.add(fn.namespace)


def retire_identity(r: Reconciliation) -> None:
    """spec.role was removed: its account, Role and binding go once the Deployment no longer
    names them (so its pods are never left naming an account that does not exist)."""
    if r.fn.spec.role is None:
        for kind in ("RoleBinding", "Role", "ServiceAccount"):
            _delete_owned(r, kind, Names.of(r.fn).identity)


def reconcile_deployment(r: Reconciliation) -> None:
    fn = r.fn
    name = Names.of(fn).deployment
    manifest = make_deployment(
        fn,
        r.settings.deployment,
        code_file_names=r.code_file_names,
        code_hash_extra=r.code_hash_extra,
        layers=r.layers,
    )
    live = None if r.first else r.live("Deployment", name)
    if live is not None and _owned(live, fn):
        enforced = ((live.get("metadata") or {}).get("annotations") or {}).get(SCALE_BOUNDS_ANNOTATION)
        if enforced != scale_bounds(fn):
            current = int((live.get("spec") or {}).get("replicas", 0) or 0)
            wanted = bounded_replicas(fn, current)
            if wanted != current:
                r.api.scale_deployment(fn.namespace, name, wanted)
                r.actions.append(f"scaled Deployment {name} from {current} to {wanted} for new bounds")
    # Only the create carries replicas: later applies never own the field (the autoscaler does).
    create = {**manifest, "spec": {**manifest["spec"], "replicas": initial_replicas(fn)}}
    r.deployment = _ensure(r, manifest, create=create)


def bounded_replicas(fn: Function, current: int) -> int:
    """Replicas after the bounds changed: pinned, or the current count clamped to min..max."""
    if fn.spec.replicas is not None:
        return fn.spec.replicas
    return max(fn.spec.scale.min, min(fn.spec.scale.max, current))


def reconcile_service(r: Reconciliation) -> None:
    manifest = make_service(r.fn, cluster_ip=r.settings.function_cluster_ip)
    name = manifest["metadata"]["name"]
    live = None if r.first else r.live("Service", name)
    if live is not None and _owned(live, r.fn) and service_kind(live) != service_kind(manifest):
        # spec.clusterIP is immutable: a Service becomes headless (or gets a cluster IP) only by
        # being replaced; and a selector taken off would leave its Endpoints and EndpointSlices
        # behind (a headless one with a selector is what an earlier operator made). The uid
        # precondition deletes only the Service we just read.
        uid = str((live.get("metadata") or {}).get("uid") or "")
        r.api.delete("Service", r.fn.namespace, name, uid=uid or None)
        r.actions.append(f"deleted Service {name} to replace it ({service_kind(manifest)} now)")
        r.forget("Service", name)
    _ensure(r, manifest)


def reconcile_network(r: Reconciliation) -> None:
    manifest = make_network_policy(r.fn, r.settings.gateway_peer)
    if manifest is None:
        _delete_owned(r, "NetworkPolicy", Names.of(r.fn).network_policy)
        return
    _ensure(r, manifest)


def check_secrets(r: Reconciliation) -> None:
    """A Secret the pods need and that does not exist is said in status, naming the field.

    The Deployment is in place already: its pods start as soon as the Secret appears (the
    kubelet retries), and the resync clears the condition.
    """
    missing = [
        (path, name)
        for path, name in r.fn.spec.secret_names()
        if not r.api.secret_exists(r.fn.namespace, name)
    ]
    if missing:
        path, name = missing[0]
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise ReconcileError("SecretNotFound", f"{path}: Secret {name} not found in {r.fn.namespace}{more}")


_SETTING = "functions.packages.pullSecret"


def reconcile_pull_secret(r: Reconciliation) -> None:
    """The registry credentials of a package, before the Deployment: when the Function pulls with
    the installation's Secret (the chart's ``functions.packages.pullSecret``, in the operator's
    namespace) from another namespace, the operator's copy there is created or brought up to
    date (``wisp.resources.pullsecret``), so the pods find it when they start. A missing Secret
    (the installation's, or the one ``spec.code.archive.pullSecret`` names) is remembered for
    ``check_pull_secret``. Only names reach messages and Events, never the credentials."""
    archive = r.fn.spec.code.archive
    packages = r.settings.deployment.packages
    if archive is None:
        return
    name = pull_secret(archive, packages)
    if not name:
        return
    namespace = r.fn.namespace
    if archive.pull_secret:
        if not r.api.secret_exists(namespace, name):
            r.package_access = f"spec.code.archive.pullSecret: Secret {name} not found in {namespace}"
        return
    source_namespace = packages.pull_secret_namespace
    if not source_namespace or source_namespace == namespace:
        if not r.api.secret_exists(namespace, name):
            where = f"{namespace}, the installation's namespace" if source_namespace else namespace
            r.package_access = f"{_SETTING}: Secret {name} not found in {where}"
        return
    source = r.api.read_secret(source_namespace, name)
    if source is None:
        r.package_access = (
            f"{_SETTING}: Secret {name} not found in {source_namespace}, the installation's namespace, "
            f"so it cannot be copied to {namespace}"
        )
        return
    if credentials(source) is None:
        r.package_access = (
            f"{_SETTING}: Secret {source_namespace}/{name} is not a kubernetes.io/dockerconfigjson "
            "Secret with a .dockerconfigjson key"
        )
        return
    live = r.api.secret_metadata(namespace, name)
    if live is None:
        try:
            r.api.create(make_pull_secret_copy(source, namespace))
        except ApiException as exc:
            if exc.status != 409:
                raise
            return  # another Function of the namespace made it meanwhile; the resync checks it
        r.actions.append(f"copied Secret {name} from {source_namespace}")
    elif is_copy(live) and not copy_is_current(live, source):
        r.api.apply(make_pull_secret_copy(source, namespace))
        r.actions.append(f"updated Secret {name} from {source_namespace}")
    # Otherwise current, or the namespace's own Secret of that name: it is used as it is.


def check_pull_secret(r: Reconciliation) -> None:
    """A missing pull secret, said in status once the Deployment is in place: its pods start as
    soon as the Secret appears, and the resync (which also refreshes copies) clears it."""
    if r.package_access is not None:
        raise ReconcileError("PackageAccessDenied", r.package_access)


PHASES: tuple[Phase, ...] = (
    reconcile_code,
    read_layers,
    reconcile_identity,
    reconcile_pull_secret,
    reconcile_deployment,
    retire_identity,
    reconcile_service,
    reconcile_network,
    check_secrets,
    check_pull_secret,
)


def reconcile(r: Reconciliation) -> Reconciliation:
    """Run every phase in order; a ``ReconcileError`` stops at the phase that raised it."""
    for phase in PHASES:
        phase(r)
    return r
