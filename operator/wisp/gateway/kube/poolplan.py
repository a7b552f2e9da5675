"""The warm pool's decisions, pure (no I/O; the clock is an argument): docs/warm-pool.md.

* ``pool_pod`` reads a pool pod (label ``wisp.dev/pool``) from the gateway's pod watch;
* ``template_facts`` reads what a function's Deployment gives its pods (image, environment,
  init step, ServiceAccount) from the Deployment watch;
* ``pool_plan`` says whether a function may start in a pool pod, and with what (its whole
  environment and its code), or why not (``PoolSkip``: the reason is logged and counted);
* ``pod_token`` is the token a pool pod takes its function with, derived from the pool's key
  and the pod's uid (the pod's init step derives it the same way, docs/warm-pool.md);
* ``choose_free`` picks the pod to claim, ``claim_patch`` is the write that claims it (with the
  pod's resourceVersion as precondition: of two gateways claiming one pod, one gets 409);
* ``retire_reason`` says when a claimed or specialised pod has served its purpose;
* ``pool_size`` says how many free pods a pool should keep, from its recent claims.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wisp.api import contract
from wisp.api.function import Function
from wisp.api.names import (
    POOL_CLAIMED_AT_ANNOTATION,
    POOL_FUNCTION_LABEL,
    POOL_LABEL,
    POOL_STATE_LABEL,
    function_key,
)
from wisp.api.quantities import parse_memory_mib
from wisp.resources.names import CONTAINER_NAME, DEFAULT_SERVICE_ACCOUNT

# A claimed pod not specialised by then was left by a gateway that stopped mid-way.
CLAIM_TIMEOUT = 30.0
# A specialised pod whose function's Deployment is at zero this long after the claim: the
# function went idle again before its own pods came (or its scale-up never happened).
IDLE_AFTER_CLAIM = 60.0
# A specialised pod is retired this long after its function's own pods became ready: every
# gateway has taken it out of rotation by then, and its calls in flight finish at its SIGTERM.
HANDOVER_GRACE = 2.0
# A specialised pod lives at most this long: the Deployment's pods take over well before.
MAX_LIFE = 600.0
# A pool keeps as many free pods as it had claims in this window (within its bounds): as many
# cold starts may come in the next one. Claims older than this let it shrink back.
SIZE_WINDOW = 60.0
# Variables a runtime reads only as its process starts, by language: a pool pod started before
# it had a function, so a Function that sets one would run without it there.
START_VARIABLES = {"java": ("JAVA_TOOL_OPTIONS", "JDK_JAVA_OPTIONS", "_JAVA_OPTIONS")}


class PoolState(enum.Enum):
    FREE = "free"
    CLAIMED = "claimed"
    SPECIALISED = "specialised"


@dataclass(frozen=True)
class PoolPod:
    uid: str
    name: str
    namespace: str
    pool: str  # the pool's name: python, node
    state: PoolState
    function: str  # the function's name once claimed, else ""
    image: str
    memory_mib: int | None  # the runtime container's memory limit
    grace: int  # terminationGracePeriodSeconds: how long a call in flight may finish at retirement
    ip: str
    ready: bool
    gone: bool
    resource_version: str
    claimed_at: float | None

    @property
    def function_key(self) -> str:
        return function_key(self.function, self.namespace) if self.function else ""


def pool_pod(obj: Mapping[str, Any]) -> PoolPod | None:
    """The view of a pool pod; None for a pod without the pool label or a known state."""
    meta = obj.get("metadata") or {}
    labels = meta.get("labels") or {}
    pool = labels.get(POOL_LABEL)
    try:
        state = PoolState(labels.get(POOL_STATE_LABEL))
    except ValueError:
        return None
    if not pool:
        return None
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    containers: list[dict[str, Any]] = list(spec.get("containers") or ())
    container = next(
        (c for c in containers if c.get("name") == CONTAINER_NAME), containers[0] if containers else {}
    )
    memory = ((container.get("resources") or {}).get("limits") or {}).get("memory")
    try:
        memory_mib = None if memory is None else parse_memory_mib(str(memory))
    except ValueError:
        memory_mib = None
    try:
        claimed_at: float | None = float((meta.get("annotations") or {})[POOL_CLAIMED_AT_ANNOTATION])
    except (KeyError, ValueError):
        claimed_at = None
    return PoolPod(
        uid=str(meta.get("uid") or ""),
        name=str(meta.get("name") or ""),
        namespace=str(meta.get("namespace") or "default"),
        pool=str(pool),
        state=state,
        function=str(labels.get(POOL_FUNCTION_LABEL) or ""),
        image=str(container.get("image") or ""),
        memory_mib=memory_mib,
        grace=int(spec.get("terminationGracePeriodSeconds") or 30),
        ip=str(status.get("podIP") or ""),
        ready=any(
            c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or ()
        ),
        gone=bool(meta.get("deletionTimestamp")) or status.get("phase") in ("Succeeded", "Failed"),
        resource_version=str(meta.get("resourceVersion") or ""),
        claimed_at=claimed_at,
    )


@dataclass(frozen=True)
class TemplateFacts:
    """What a function's Deployment gives its pods, as far as a pool pod must match it."""

    image: str
    env: tuple[Mapping[str, Any], ...]
    init_containers: tuple[str, ...]
    service_account: str
    # What the pods read by reference and a pool pod would not have: envFrom, Secret volumes.
    references: tuple[str, ...] = ()


def template_facts(deployment: Mapping[str, Any]) -> TemplateFacts | None:
    pod = ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}
    container = next((c for c in pod.get("containers") or () if c.get("name") == CONTAINER_NAME), None)
    if container is None:
        return None
    return TemplateFacts(
        image=str(container.get("image") or ""),
        env=tuple(dict(e) for e in container.get("env") or ()),
        init_containers=tuple(str(c.get("name")) for c in pod.get("initContainers") or ()),
        service_account=str(pod.get("serviceAccountName") or ""),
        references=(
            *(["envFrom"] if container.get("envFrom") else []),
            *(f"Secret {v['secret'].get('secretName')}" for v in pod.get("volumes") or () if v.get("secret")),
        ),
    )


@dataclass(frozen=True)
class PoolPlan:
    """A function a pool pod can become: the pod must run ``image`` with at least
    ``memory_mib`` and a grace period of at least ``timeout`` seconds; it gets ``env`` and
    ``files``."""

    namespace: str
    image: str
    memory_mib: int
    timeout: float
    env: dict[str, str]
    files: dict[str, str]


@dataclass(frozen=True)
class PoolSkip:
    reason: str


def pool_plan(fn: Function, facts: TemplateFacts | None) -> PoolPlan | PoolSkip:
    """Whether ``fn`` may start in a pool pod; only what its own pods would get goes in."""
    code = fn.spec.code
    if code.image is not None:
        return PoolSkip("its code is an image: only its own pods run it")
    if code.config_map is not None:
        return PoolSkip("its code is in a ConfigMap of its own, which the gateway does not read")
    if fn.spec.layers:
        return PoolSkip("it has layers, which only its own pods mount under /opt")
    nested = next((name for name in fn.spec.code_files() if "/" in name), None)
    if nested is not None:
        return PoolSkip(f"its code has sub-folders ({nested}), which only its own pods lay out")
    if facts is None:
        return PoolSkip("its Deployment is not known yet")
    if facts.init_containers:
        return PoolSkip("its pods install dependencies in an init step")
    # The namespace's wisp-function account has no permissions and no token, as a pool pod.
    if facts.service_account and facts.service_account != DEFAULT_SERVICE_ACCOUNT:
        return PoolSkip(f"its pods run as ServiceAccount {facts.service_account}")
    if facts.references:
        return PoolSkip(f"its pods read {', '.join(facts.references)} by reference")
    if fn.spec.network is not None:
        return PoolSkip("its NetworkPolicy (spec.network) selects its own pods only")
    env: dict[str, str] = {}
    for item in facts.env:
        name = str(item.get("name"))
        if name == contract.CODE_ENV:  # the code goes as files, written as the pod's own are
            continue
        if "valueFrom" in item:
            return PoolSkip(f"its environment variable {name} comes from a reference (valueFrom)")
        env[name] = str(item.get("value") or "")
    started = next((n for n in START_VARIABLES.get(fn.spec.runtime.language, ()) if n in env), None)
    if started is not None:
        return PoolSkip(f"its environment sets {started}, which its runtime reads only as it starts")
    return PoolPlan(
        namespace=fn.namespace,
        image=facts.image,
        memory_mib=fn.spec.memory_mib,
        timeout=fn.spec.timeout,
        env=env,
        files=fn.spec.code_files(),
    )


def fits(pod: PoolPod, plan: PoolPlan) -> bool:
    """A free, ready pod of the function's namespace and image, with room enough."""
    return (
        pod.state is PoolState.FREE
        and pod.ready
        and not pod.gone
        and bool(pod.ip)
        and pod.namespace == plan.namespace
        and pod.image == plan.image
        and pod.memory_mib is not None
        and pod.memory_mib >= plan.memory_mib
        and pod.grace >= plan.timeout
    )


def choose_free(
    pods: Iterable[PoolPod], plan: PoolPlan, function: str, exclude: frozenset[str] = frozenset()
) -> PoolPod | None:
    """The pod to claim for ``function`` (its key) among those that fit: the first by a hash of
    the function and the pod (rendezvous hashing). Every gateway replica ranks the pods alike
    for one function, so two that take it in one burst pick the same pod, which takes the same
    specialisation twice and serves both; for two functions the pods are ranked apart, so
    their gateways seldom race for one. ``exclude`` holds uids this gateway tried already."""
    candidates = [p for p in pods if p.uid not in exclude and fits(p, plan)]
    if not candidates:
        return None
    return max(candidates, key=lambda p: hashlib.sha256(f"{function}/{p.uid}".encode()).digest())


# What a pool pod's token is an HMAC of, before its uid: the chart's init step says the same.
POD_TOKEN_PREFIX = "wisp-pool-pod:"  # noqa: S105 (not a secret)


def pod_token(key: str, uid: str) -> str:
    """The token of the pool pod ``uid``: HMAC-SHA256 of its uid under the pool's key, in hex.
    A pod knows its own token only (its init step derives it; the runtime never sees the key),
    so code specialised into one pod cannot specialise another."""
    return hmac.new(key.encode(), (POD_TOKEN_PREFIX + uid).encode(), hashlib.sha256).hexdigest()


def claim_patch(pod: PoolPod, function: str, now: float) -> dict[str, Any]:
    """The merge patch that claims ``pod`` for ``function``: its resourceVersion makes it fail
    (409) if anyone changed the pod since; relabelling takes it out of its ReplicaSet."""
    return {
        "metadata": {
            "resourceVersion": pod.resource_version,
            "labels": {POOL_STATE_LABEL: PoolState.CLAIMED.value, POOL_FUNCTION_LABEL: function},
            "annotations": {POOL_CLAIMED_AT_ANNOTATION: f"{now:.3f}"},
        }
    }


def specialised_patch() -> dict[str, Any]:
    return {"metadata": {"labels": {POOL_STATE_LABEL: PoolState.SPECIALISED.value}}}


def retire_reason(
    pod: PoolPod, now: float, *, function_known: bool, own_since: float | None, replicas: int | None
) -> str | None:
    """Why a claimed or specialised pod should be deleted now, or None to keep it. ``own_since``:
    since when the function has had ready pods of its own (None: it has none)."""
    if pod.state is PoolState.FREE or pod.gone:
        return None
    age = now - (pod.claimed_at if pod.claimed_at is not None else now)
    if pod.state is PoolState.CLAIMED:
        return "claimed but never specialised" if age >= CLAIM_TIMEOUT else None
    if not function_known:
        return "its function is gone"
    if own_since is not None and now - own_since >= HANDOVER_GRACE:
        return "the function's own pods are ready"
    if replicas == 0 and age >= IDLE_AFTER_CLAIM:
        return "the function is at zero again"
    if age >= MAX_LIFE:
        return f"specialised for more than {MAX_LIFE:g} s"
    return None


def pool_size(claimed_at: Iterable[float], now: float, least: int, most: int) -> int:
    """How many free pods a pool should keep: as many as it had claims in the last
    ``SIZE_WINDOW`` seconds, within ``least`` and ``most`` (the chart's ``size`` and ``maxSize``).
    Every gateway sees every claim (its pod watch), so all come to the same answer."""
    recent = sum(1 for at in claimed_at if at >= now - SIZE_WINDOW)
    return max(least, min(max(most, least), recent))
