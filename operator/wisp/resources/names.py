"""Names, labels and owner of a Function's children (the label and annotation keys themselves
are ``wisp.api.names``')."""

from __future__ import annotations

from dataclasses import dataclass

from wisp.api.function import Function
from wisp.api.names import API_VERSION, FUNCTION_LABEL, MANAGED_BY

CONTAINER_NAME = "function"


@dataclass(frozen=True)
class Names:
    deployment: str
    service: str
    configmap: str

    @classmethod
    def of(cls, fn: Function) -> Names:
        return cls(deployment=fn.name, service=fn.name, configmap=f"{fn.name}-code")


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
