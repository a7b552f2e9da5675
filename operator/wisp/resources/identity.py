"""The ServiceAccount, Role and RoleBinding a Function with ``spec.role`` runs as, and the
namespace's default account for Functions without an identity of their own.

The per-Function objects are owned by the Function (garbage-collected with it). The default
account is shared by the namespace's Functions, so it has no owner: it holds no permissions and
never mounts a token, so leaving it behind costs nothing.
"""

from __future__ import annotations

from typing import Any

from wisp.api.function import Function
from wisp.api.names import MANAGED_BY
from wisp.resources.names import DEFAULT_SERVICE_ACCOUNT, Names, child_metadata


def make_default_service_account(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": DEFAULT_SERVICE_ACCOUNT,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": MANAGED_BY, "app.kubernetes.io/part-of": "wisp"},
        },
        "automountServiceAccountToken": False,
    }


def make_identity(fn: Function) -> list[dict[str, Any]]:
    """ServiceAccount, Role, RoleBinding for ``spec.role``; empty without it."""
    role = fn.spec.role
    if role is None:
        return []
    name = Names.of(fn).identity
    account_meta = child_metadata(fn, name)
    if role.annotations:  # cloud identity: IRSA, GKE Workload Identity, Azure Workload Identity
        account_meta = {**account_meta, "annotations": dict(role.annotations)}
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": account_meta},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": child_metadata(fn, name),
            "rules": [rule.as_dict() for rule in role.rules],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": child_metadata(fn, name),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": name, "namespace": fn.namespace}],
        },
    ]
