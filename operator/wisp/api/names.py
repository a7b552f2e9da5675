"""The names wisp is known by in the Kubernetes API and in its own routes, in one place.

The API group and version of the CRDs (crds/), their plurals, the labels and annotations the
operator puts on a Function's children (and the gateway selects their pods by), and the
``name.namespace`` key by which the gateway's routes, metrics and the console name a function.
"""

from __future__ import annotations

GROUP = "wisp.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
FUNCTIONS = "functions"  # the plurals, as in the CRDs' names
TRIGGERS = "triggers"
FUNCTION_VERSIONS = "functionversions"

FUNCTION_LABEL = f"{GROUP}/function"  # on every child of a Function, and on its pods
LAYER_LABEL = f"{GROUP}/layer"  # on a layer's ConfigMap (wisp deploy --layer): the layer's name
# On a FunctionVersion: the Function it is a version of (its children's FUNCTION_LABEL names the
# version's own object, as a Function's children name the Function), and its number.
VERSION_OF_LABEL = f"{GROUP}/version-of"
VERSION_LABEL = f"{GROUP}/version"
SNAPSHOT_ANNOTATION = f"{GROUP}/snapshot-hash"
# On a Function: a request to publish a version (wisp publish writes a fresh value); kopf
# ignores changes of annotations under its own prefix (wisp.dev/), so this one is not.
PUBLISH_ANNOTATION = f"publish.{GROUP}/request"
CONFIG_HASH_ANNOTATION = f"{GROUP}/config-hash"
# On each child the operator applies: a hash of the manifest it last applied (wisp.controller.reconcile).
APPLIED_ANNOTATION = f"{GROUP}/applied-hash"
SCALE_BOUNDS_ANNOTATION = f"{GROUP}/scale-bounds"
RUNTIME_ANNOTATION = f"{GROUP}/runtime"
# On a pod started with boosted CPU: the CPU limit the gateway resizes it to once it is Ready.
CPU_AFTER_START_ANNOTATION = f"{GROUP}/cpu-after-start"
MANAGED_BY = "wisp-operator"
# On the operator's copy of the installation's package pull secret in a function namespace
# (wisp.resources.pullsecret): the label marks it as the copy; the annotations name its source
# and hash what was copied, so the copy is compared without reading its values.
PULL_SECRET_COPY_LABEL = f"{GROUP}/pull-secret-copy"
COPIED_FROM_ANNOTATION = f"{GROUP}/copied-from"
COPIED_HASH_ANNOTATION = f"{GROUP}/copied-hash"

# Warm pool pods (docs/warm-pool.md): which pool a pod is of (``python``, ``node``), whether it
# is free, claimed or specialised, for which function (its name: the pod's namespace is the
# function's) and since when (epoch seconds).
POOL_LABEL = f"{GROUP}/pool"
POOL_STATE_LABEL = f"{GROUP}/pool-state"
POOL_FUNCTION_LABEL = f"{GROUP}/pool-function"
POOL_CLAIMED_AT_ANNOTATION = f"{GROUP}/pool-claimed-at"
# On a pool's Deployment: the bounds of its size, which the gateways move with the claims.
POOL_MIN_SIZE_ANNOTATION = f"{GROUP}/pool-min-size"
POOL_MAX_SIZE_ANNOTATION = f"{GROUP}/pool-max-size"


def function_key(name: str, namespace: str) -> str:
    """``name.namespace``: one function across namespaces (a DNS label holds no dot)."""
    return f"{name}.{namespace}"


def split_key(key: str) -> tuple[str, str]:
    """``(name, namespace)`` from a ``name.namespace`` key."""
    name, _, namespace = key.partition(".")
    return name, namespace
