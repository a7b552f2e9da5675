"""A Function's identity: which ServiceAccount its pods run as and what that account may do.

``spec.serviceAccountName`` names an existing ServiceAccount; ``spec.role`` declares RBAC rules
(and annotations for cloud identity, such as IRSA's ``eks.amazonaws.com/role-arn``) for which the
operator creates a ServiceAccount, Role and RoleBinding of the Function's own. Neither: the
namespace's ``wisp-function`` ServiceAccount, which has no permissions and no token mounted.

The operator may grant only what the installation lists as grantable (``WISP_GRANTABLE_RULES``,
from the chart's ``functions.identity.grantableRules``); ``ungranted`` says what a role asks
beyond that, so the Function is refused with a condition naming it instead of the API server's
escalation check answering 403 on the operator's write.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from wisp.api.checks import SpecError, _require, _typed

_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
_ANNOTATION_KEY = re.compile(r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$")
_VERBS = frozenset({"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection", "*"})
MAX_RULES = 32


@dataclass(frozen=True)
class PolicyRule:
    """One RBAC rule, as in a Role (no nonResourceURLs: a Role cannot hold them)."""

    api_groups: tuple[str, ...]
    resources: tuple[str, ...]
    verbs: tuple[str, ...]
    resource_names: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, list[str]]:
        rule = {
            "apiGroups": list(self.api_groups),
            "resources": list(self.resources),
            "verbs": list(self.verbs),
        }
        if self.resource_names:
            rule["resourceNames"] = list(self.resource_names)
        return rule


@dataclass(frozen=True)
class RoleSpec:
    rules: tuple[PolicyRule, ...] = ()
    annotations: Mapping[str, str] | None = None


def parse_rule(obj: Any, path: str) -> PolicyRule:
    _typed(obj, Mapping, path, "an object")

    def strings(key: str, *, required: bool) -> tuple[str, ...]:
        value = obj.get(key)
        if value is None and not required:
            return ()
        items = _typed(_require(obj, key, path), list, f"{path}.{key}", "a list of strings")
        for i, item in enumerate(items):
            _typed(item, str, f"{path}.{key}[{i}]", "a string")
        return tuple(items)

    groups = strings("apiGroups", required=True)
    resources = strings("resources", required=True)
    verbs = strings("verbs", required=True)
    if not resources:
        raise SpecError(f"{path}.resources", "must name at least one resource")
    if not verbs:
        raise SpecError(f"{path}.verbs", "must name at least one verb")
    for i, verb in enumerate(verbs):
        if verb not in _VERBS:
            raise SpecError(
                f"{path}.verbs[{i}]", f"Unsupported value {verb!r}: one of {', '.join(sorted(_VERBS))}"
            )
    return PolicyRule(groups, resources, verbs, strings("resourceNames", required=False))


def parse_role(role: Any) -> RoleSpec | None:
    if role is None:
        return None
    _typed(role, Mapping, "spec.role", "an object")
    rules = _typed(role.get("rules") or [], list, "spec.role.rules", "a list of RBAC rules")
    if len(rules) > MAX_RULES:
        raise SpecError("spec.role.rules", f"must have at most {MAX_RULES} items")
    annotations = _typed(role.get("annotations") or {}, Mapping, "spec.role.annotations", "a map")
    for key, value in annotations.items():
        if not isinstance(key, str) or not _ANNOTATION_KEY.match(key) or len(key) > 253:
            raise SpecError(f"spec.role.annotations[{key}]", "must be an annotation key (prefix/name)")
        _typed(value, str, f"spec.role.annotations[{key}]", "a string")
    return RoleSpec(
        rules=tuple(parse_rule(r, f"spec.role.rules[{i}]") for i, r in enumerate(rules)),
        annotations=dict(annotations) or None,
    )


def parse_service_account_name(value: Any) -> str | None:
    if value is None:
        return None
    name = _typed(value, str, "spec.serviceAccountName", "a ServiceAccount name")
    if not _DNS_SUBDOMAIN.match(name) or len(name) > 253:
        raise SpecError("spec.serviceAccountName", f"{name!r} is not a valid ServiceAccount name")
    return str(name)


def parse_grantable_rules(rules: Any, source: str) -> tuple[PolicyRule, ...]:
    """The installation's grantable rules (a JSON list of RBAC rules); ``source`` names where
    they came from in errors."""
    _typed(rules, list, source, "a list of RBAC rules")
    return tuple(parse_rule(r, f"{source}[{i}]") for i, r in enumerate(rules))


Permission = tuple[str, str, str, str | None]  # api group, resource, verb, resource name


def _atoms(rule: PolicyRule) -> Iterable[Permission]:
    names: tuple[str | None, ...] = rule.resource_names or (None,)
    for group in rule.api_groups:
        for resource in rule.resources:
            for verb in rule.verbs:
                for name in names:
                    yield group, resource, verb, name


def _covers(rule: PolicyRule, atom: Permission) -> bool:
    group, resource, verb, name = atom

    def has(values: tuple[str, ...], value: str) -> bool:
        return "*" in values or value in values

    return (
        has(rule.api_groups, group)
        and has(rule.resources, resource)
        and has(rule.verbs, verb)
        and (not rule.resource_names or (name is not None and name in rule.resource_names))
    )


def ungranted(rules: Iterable[PolicyRule], grantable: Iterable[PolicyRule]) -> list[str]:
    """What ``rules`` ask that no grantable rule covers, as ``verb group/resource[/name]``.

    The API server's own check (RBAC escalation prevention) works the same way: every
    (group, resource, verb, name) a Role grants must be held by the one who writes it. A
    wildcard asked for is covered only by the same wildcard.
    """
    allowed = tuple(grantable)
    missing: list[str] = []
    for rule in rules:
        for atom in _atoms(rule):
            if not any(_covers(g, atom) for g in allowed):
                group, resource, verb, name = atom
                text = f"{verb} {group or 'core'}/{resource}" + (f"/{name}" if name else "")
                if text not in missing:
                    missing.append(text)
    return missing
