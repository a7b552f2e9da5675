"""Names, labels and owner of a Function's children (the label and annotation keys themselves
are ``wisp.api.names``')."""

from __future__ import annotations

from dataclasses import dataclass

from wisp.api.function import Function
from wisp.api.names import API_VERSION, FUNCTION_LABEL, MANAGED_BY

CONTAINER_NAME = "function"
# The account of every Function without an identity of its own: no permissions, no token.
DEFAULT_SERVICE_ACCOUNT = "wisp-function"


@dataclass(frozen=True)
class Names:
    deployment: str
    service: str
    configmap: str
    identity: str  # the ServiceAccount, Role and RoleBinding of spec.role
    network_policy: str

    @classmethod
    def of(cls, fn: Function) -> Names:
        own = f"wisp-fn-{fn.name}"
        return cls(
            deployment=fn.name,
            service=fn.name,
            configmap=f"{fn.name}-code",
            identity=own,
            network_policy=own,
        )

    @staticmethod
    def service_account(fn: Function) -> str:
        """The account the Function's pods run as."""
        if fn.spec.service_account_name is not None:
            return fn.spec.service_account_name
        if fn.spec.role is not None:
            return Names.of(fn).identity
        return DEFAULT_SERVICE_ACCOUNT


def function_labels(fn: Function) -> dict[str, str]:
    return {
        FUNCTION_LABEL: fn.name,
        "app.kubernetes.io/name": fn.name,
        "app.kubernetes.io/component": "function",
        "app.kubernetes.io/managed-by": MANAGED_BY,
        "app.kubernetes.io/part-of": "wisp",
    }


def selector_labels(fn: Function) -> dict[str, str]:
    return {FUNCTION_LABEL: fn.name}


def owner_reference(fn: Function) -> dict[str, object]:
    return {
        "apiVersion": API_VERSION,
        "kind": fn.kind,
        "name": fn.name,
        "uid": fn.uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def child_metadata(fn: Function, name: str) -> dict[str, object]:
    return {
        "name": name,
        "namespace": fn.namespace,
        "labels": function_labels(fn),
        "ownerReferences": [owner_reference(fn)],
    }
