"""Versions and aliases: Lambda's authoring model on wisp's resources. Pure.

A ``FunctionVersion`` is an immutable, numbered snapshot of a Function's spec (its ``template``),
published by the operator; ``$LATEST`` is the Function itself. A version is rendered like a
Function named ``NAME-vN`` (its Deployment, Service and code ConfigMap carry that name), so the
gateway's upstreams, the activator and the autoscaler treat each version as a function of its
own. ``spec.aliases`` on the Function names versions, optionally splitting calls between two by
weight (Lambda's routing config). ``pick_version`` decides where one call goes, with the random
draw passed in.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wisp.api.checks import SpecError, _int_in, _typed
from wisp.api.names import (
    API_VERSION,
    FUNCTION_LABEL,
    MANAGED_BY,
    SNAPSHOT_ANNOTATION,
    VERSION_LABEL,
    VERSION_OF_LABEL,
    function_key,
)

LATEST = "$LATEST"
KIND = "FunctionVersion"
MAX_VERSION = 999_999_999
ALIAS_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")
NUMBER_RE = re.compile(r"^[1-9][0-9]{0,8}$")
# What a version's template leaves out of the Function's spec: how versions are made and named.
NOT_SNAPSHOTTED = ("publish", "aliases")


@dataclass(frozen=True)
class Alias:
    """A name for ``version``; ``weight`` percent of the calls go to ``additional`` instead."""

    name: str
    version: int
    additional: int | None = None
    weight: int = 0

    @property
    def versions(self) -> tuple[int, ...]:
        return (self.version,) if self.additional is None else (self.version, self.additional)


def parse_aliases(value: Any) -> dict[str, Alias]:
    """``spec.aliases`` as the CRD takes it; SpecError names the bad field."""
    if value is None:
        return {}
    _typed(value, Mapping, "spec.aliases", "a map of alias name to {version, additionalVersionWeights}")
    aliases: dict[str, Alias] = {}
    for name, body in value.items():
        path = f"spec.aliases.{name}"
        if not isinstance(name, str) or not ALIAS_RE.match(name):
            raise SpecError(path, "an alias name is a letter, then letters, digits, '-' or '_'")
        _typed(body, Mapping, path, "an object")
        version = _int_in(body.get("version"), f"{path}.version", 1, MAX_VERSION)
        weights = body.get("additionalVersionWeights") or {}
        _typed(weights, Mapping, f"{path}.additionalVersionWeights", "a map of version to percent")
        if len(weights) > 1:
            raise SpecError(f"{path}.additionalVersionWeights", "names at most one version")
        additional, weight = None, 0
        for key, percent in weights.items():
            if not isinstance(key, str) or not NUMBER_RE.match(key):
                raise SpecError(f"{path}.additionalVersionWeights", f"{key!r} is not a version number")
            if int(key) == version:
                raise SpecError(f"{path}.additionalVersionWeights", "must differ from the alias's version")
            additional = int(key)
            weight = _int_in(percent, f"{path}.additionalVersionWeights.{key}", 0, 100)
        aliases[name] = Alias(name, version, additional, weight)
    return aliases


def pick_version(aliases: Mapping[str, Alias], qualifier: str, draw: float) -> str | None:
    """The version a call naming ``qualifier`` goes to: ``$LATEST`` or a number as text; None
    when the qualifier is neither a version number nor an alias. ``draw`` is uniform in [0, 1):
    an alias sends the call to its additional version when ``draw`` falls in its weight."""
    if not qualifier or qualifier == LATEST:
        return LATEST
    if NUMBER_RE.match(qualifier):
        return qualifier
    alias = aliases.get(qualifier)
    if alias is None:
        return None
    if alias.additional is not None and draw * 100 < alias.weight:
        return str(alias.additional)
    return str(alias.version)


def missing_qualifier(aliases: Mapping[str, Alias], qualifier: str, published: Container[int]) -> str | None:
    """Why a Trigger's ``qualifier`` names nothing, or None: an alias the Function does not have,
    or a version number that is not among the ``published`` versions (the FunctionVersions that
    exist: numbers are never reused, but an unreferenced version is deleted after its retention)."""
    if not qualifier or qualifier == LATEST:
        return None
    if NUMBER_RE.match(qualifier):
        published_now = int(qualifier) in published
        return None if published_now else f"version {qualifier} of the Function is not published"
    return None if qualifier in aliases else f"the Function has no alias {qualifier}"


def split_demand(aliases: Mapping[str, Alias], qualifier: str, demand: int) -> dict[str, int]:
    """How ``demand`` waiting events for ``qualifier`` spread over versions (``$LATEST`` or a
    number as text), for the autoscaler: an alias's additional version gets its weight's share
    (rounded), its version the rest; a qualifier naming nothing gets none."""
    if not qualifier or qualifier == LATEST or NUMBER_RE.match(qualifier):
        return {pick_version(aliases, qualifier, 0.0) or LATEST: demand}
    alias = aliases.get(qualifier)
    if alias is None:
        return {}
    extra = 0 if alias.additional is None else round(demand * alias.weight / 100)
    shares = {str(alias.version): demand - extra}
    if alias.additional is not None:
        shares[str(alias.additional)] = extra
    return {version: n for version, n in shares.items() if n > 0}


def referenced_versions(aliases: Mapping[str, Alias], qualifiers: Iterable[str]) -> frozenset[int]:
    """The versions something points at: the aliases, and Triggers' qualifiers (a number, or
    an alias, whose versions count)."""
    out = {v for alias in aliases.values() for v in alias.versions}
    for qualifier in qualifiers:
        if NUMBER_RE.match(qualifier):
            out.add(int(qualifier))
        elif qualifier in aliases:
            out.update(aliases[qualifier].versions)
    return frozenset(out)


def version_name(function: str, number: int) -> str:
    """The FunctionVersion's name, and its children's: ``hello-v3``."""
    return f"{function}-v{number}"


def published_as(name: str) -> tuple[str, str]:
    """A version's object name as its Function's name and number: ``hello-v3`` -> ``(hello, 3)``."""
    function, _, number = name.rpartition("-v")
    return (function, number) if function and NUMBER_RE.match(number) else (name, LATEST)


def function_of(name: str, version: str) -> str:
    """The Function's name from a version's (``hello-v3``, ``"3"`` -> ``hello``); $LATEST's own."""
    return name.removesuffix(f"-v{version}") if version != LATEST else name


def version_key(function: str, number: int | str, namespace: str) -> str:
    """The gateway's key of a version's upstream (its children's ``name.namespace``)."""
    return function_key(version_name(function, int(number)), namespace)


def snapshot(spec: Mapping[str, Any], code_files: Mapping[str, str] | None = None) -> dict[str, Any]:
    """A version's template: the Function's spec without publish and aliases. ``code_files``
    (the contents of a ``configMapRef`` ConfigMap) replace the reference, so the version keeps
    the code it was published with."""
    template = {k: v for k, v in spec.items() if k not in NOT_SNAPSHOTTED}
    if code_files is not None:
        template["code"] = {"files": dict(code_files)}
    copied: dict[str, Any] = json.loads(json.dumps(template))  # a deep copy of plain data
    return copied


def snapshot_hash(template: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:16]


def version_manifest(
    function: Mapping[str, Any], number: int, template: Mapping[str, Any], description: str = ""
) -> dict[str, Any]:
    """A new FunctionVersion of ``function`` (an API object), owned by it (deleting the Function
    deletes its versions)."""
    meta = function.get("metadata") or {}
    name = str(meta.get("name"))
    spec: dict[str, Any] = {"function": name, "version": number, "template": dict(template)}
    if description:
        spec["description"] = description[:256]
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": version_name(name, number),
            "namespace": meta.get("namespace") or "default",
            "labels": {
                VERSION_OF_LABEL: name,
                VERSION_LABEL: str(number),
                "app.kubernetes.io/managed-by": MANAGED_BY,
                "app.kubernetes.io/part-of": "wisp",
            },
            "annotations": {SNAPSHOT_ANNOTATION: snapshot_hash(template)},
            "ownerReferences": [
                {
                    "apiVersion": API_VERSION,
                    "kind": "Function",
                    "name": name,
                    "uid": meta.get("uid", ""),
                    "controller": True,
                    "blockOwnerDeletion": False,
                }
            ],
        },
        "spec": spec,
    }


@dataclass(frozen=True)
class VersionRef:
    """Which Function a FunctionVersion object belongs to, and its number."""

    function: str
    namespace: str
    number: int
    name: str

    @property
    def label(self) -> str:
        return str(self.number)


def version_ref(obj: Mapping[str, Any]) -> VersionRef | None:
    """None when the object is not a well-formed FunctionVersion."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    function, number = spec.get("function"), spec.get("version")
    if not isinstance(function, str) or isinstance(number, bool) or not isinstance(number, int):
        return None
    return VersionRef(function, str(meta.get("namespace") or "default"), number, str(meta.get("name")))


def as_function(obj: Mapping[str, Any], *, referenced: bool | None = None) -> dict[str, Any]:
    """A FunctionVersion as the Function its children are rendered from: named as the version,
    its spec the template, its status its own. A version nothing points at (``referenced``,
    by default its ``status.referenced``) may scale to zero whatever its template's
    ``scale.min`` or ``replicas`` say."""
    meta = obj.get("metadata") or {}
    spec = dict((obj.get("spec") or {}).get("template") or {})
    if referenced is None:
        referenced = bool((obj.get("status") or {}).get("referenced"))
    if not referenced:
        spec.pop("replicas", None)
        spec["scale"] = {**(spec.get("scale") or {}), "min": 0}
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {
            "name": meta.get("name"),
            "namespace": meta.get("namespace") or "default",
            "uid": meta.get("uid", ""),
            "generation": meta.get("generation", 0),
            "resourceVersion": meta.get("resourceVersion", ""),
            "labels": {**(meta.get("labels") or {}), FUNCTION_LABEL: meta.get("name")},
        },
        "spec": spec,
        "status": dict(obj.get("status") or {}),
    }
