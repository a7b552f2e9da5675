"""The console's view of a Function's releases: its versions with the aliases' traffic, and the
alias bodies the traffic slider sends.

Pure: ``versions_document`` turns the Function and its FunctionVersion objects (as the API
server returns them) into what the page draws; ``alias_body`` checks what the page sends and
makes the ``spec.aliases.<alias>`` value a merge patch writes (the same body ``wisp alias``
writes). The API server still has the last word (the CRD's CEL rules: a version that is not
published, weights out of range), and RBAC decides whether the caller may patch at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from wisp.api.function import SpecError
from wisp.api.version import ALIAS_RE, Alias, parse_aliases, version_ref
from wisp.console.source import FieldError, ValidationFailed


def _condition(obj: Mapping[str, Any], kind: str) -> str:
    for cond in (obj.get("status") or {}).get("conditions") or ():
        if cond.get("type") == kind:
            return str(cond.get("status", "Unknown"))
    return "Unknown"


def alias_json(alias: Alias) -> dict[str, Any]:
    """An alias as the page shows it: its version, and the other version with its percent."""
    return {
        "version": alias.version,
        "additionalVersion": alias.additional,
        "weight": alias.weight if alias.additional is not None else 0,
    }


def traffic(aliases: Mapping[str, Alias], number: int) -> dict[str, int]:
    """Alias name -> the percent of its calls that version ``number`` gets (aliases naming it)."""
    out: dict[str, int] = {}
    for alias in aliases.values():
        if alias.version == number:
            out[alias.name] = 100 - alias.weight if alias.additional is not None else 100
        elif alias.additional == number:
            out[alias.name] = alias.weight
    return dict(sorted(out.items()))


def versions_document(function: Mapping[str, Any], versions: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The Versions tab's data: newest version first, each with the aliases sending it calls."""
    try:
        aliases = parse_aliases((function.get("spec") or {}).get("aliases"))
    except SpecError:
        aliases = {}  # the API server validated it; an unreadable one shows no traffic
    rows: list[dict[str, Any]] = []
    for obj in versions:
        ref = version_ref(obj)
        if ref is None:
            continue
        status = obj.get("status") or {}
        rows.append(
            {
                "version": ref.number,
                "ready": _condition(obj, "Ready"),
                "replicas": int(status.get("replicas") or 0),
                "referenced": bool(status.get("referenced")),
                "code": str(status.get("codeHash") or ""),
                "created": str((obj.get("metadata") or {}).get("creationTimestamp") or ""),
                "traffic": traffic(aliases, ref.number),
            }
        )
    rows.sort(key=lambda row: -row["version"])
    return {
        "supported": True,
        "latestVersion": int((function.get("status") or {}).get("latestVersion") or 0),
        "versions": rows,
        "aliases": {name: alias_json(alias) for name, alias in sorted(aliases.items())},
    }


def _int(value: Any, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValidationFailed([FieldError(field, f"must be a whole number from {lo} to {hi}")])
    return value


def alias_body(alias: str, payload: Any) -> dict[str, Any]:
    """The alias's new ``spec.aliases`` value from the page's ``{version, additionalVersion,
    weight}``: routing to the other version only when its weight is above 0 (a slider moved back
    to 0 ends the canary), else null so the merge patch removes the old routing."""
    if not ALIAS_RE.match(alias):
        raise ValidationFailed(
            [FieldError("alias", "an alias name is a letter, then letters, digits, '-' or '_'")]
        )
    if not isinstance(payload, Mapping):
        raise ValidationFailed([FieldError("", "send {version, additionalVersion, weight}")])
    path = f"spec.aliases.{alias}"
    version = _int(payload.get("version"), f"{path}.version", 1, 10**9)
    body: dict[str, Any] = {"version": version, "additionalVersionWeights": None}
    other = payload.get("additionalVersion")
    if other is None:
        return body
    other = _int(other, f"{path}.additionalVersionWeights", 1, 10**9)
    weight = _int(payload.get("weight"), f"{path}.additionalVersionWeights.{other}", 0, 100)
    if other == version:
        raise ValidationFailed(
            [FieldError(f"{path}.additionalVersionWeights", "must differ from the alias's version")]
        )
    if weight > 0:
        body["additionalVersionWeights"] = {str(other): weight}
    return body
