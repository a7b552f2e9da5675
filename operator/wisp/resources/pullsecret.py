"""The installation's package pull secret, copied into a function namespace. Pure.

The chart's ``functions.packages.pullSecret`` is one ``kubernetes.io/dockerconfigjson`` Secret in
the installation's namespace; a pod can mount only a Secret of its own namespace, so the operator
keeps a copy, of the same name, in each namespace whose Functions pull packages with it (as the
chart does for the warm pool's token). The copy holds the registry credentials' key only, is
labelled as the operator's, and carries a hash of what it copied: the operator tells whether it
is current from its metadata alone, and replaces it when the source changed. A Secret of that
name that is not a copy is the namespace's own and is never touched.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from wisp.api.names import (
    COPIED_FROM_ANNOTATION,
    COPIED_HASH_ANNOTATION,
    MANAGED_BY,
    PULL_SECRET_COPY_LABEL,
)
from wisp.resources.deployment import DOCKER_CONFIG_KEY

DOCKER_CONFIG_TYPE = "kubernetes.io/dockerconfigjson"


def credentials(source: Mapping[str, Any]) -> str | None:
    """The source's registry credentials (base64, as the API gives a Secret's data), or None when
    it is not a dockerconfigjson Secret."""
    if source.get("type") != DOCKER_CONFIG_TYPE:
        return None
    value = (source.get("data") or {}).get(DOCKER_CONFIG_KEY)
    return value if isinstance(value, str) and value else None


def copied_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def make_pull_secret_copy(source: Mapping[str, Any], namespace: str) -> dict[str, Any]:
    """The copy of ``source`` (a dockerconfigjson Secret, as read) in ``namespace``."""
    meta = source.get("metadata") or {}
    value = credentials(source)
    assert value is not None, "only a dockerconfigjson Secret is copied"
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": meta["name"],
            "namespace": namespace,
            "labels": {
                PULL_SECRET_COPY_LABEL: "true",
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "app.kubernetes.io/part-of": "wisp",
            },
            "annotations": {
                COPIED_FROM_ANNOTATION: f"{meta.get('namespace')}/{meta['name']}",
                COPIED_HASH_ANNOTATION: copied_hash(value),
            },
        },
        "type": DOCKER_CONFIG_TYPE,
        "data": {DOCKER_CONFIG_KEY: value},
    }


def is_copy(live: Mapping[str, Any]) -> bool:
    """Whether a Secret (its metadata is enough) is the operator's copy."""
    return ((live.get("metadata") or {}).get("labels") or {}).get(PULL_SECRET_COPY_LABEL) == "true"


def copy_is_current(live: Mapping[str, Any], source: Mapping[str, Any]) -> bool:
    """Whether the copy (its metadata is enough) holds what ``source`` holds now."""
    value = credentials(source)
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    return value is not None and annotations.get(COPIED_HASH_ANNOTATION) == copied_hash(value)
