"""A ValidatingAdmissionPolicy and its binding, for tests that need the API server itself to
refuse something in one namespace."""

from __future__ import annotations

from typing import Any


def refusing_policy(
    name: str, ns: str, rule: dict[str, Any], validation: dict[str, str]
) -> list[dict[str, Any]]:
    """A policy named ``name`` that fails ``validation`` on every request ``rule`` matches in ``ns``,
    and its binding (apply both; delete both afterwards, they are cluster-wide)."""
    policy = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {"resourceRules": [rule]},
            "validations": [{"expression": "false", **validation}],
        },
    }
    binding = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": name},
        "spec": {
            "policyName": name,
            "validationActions": ["Deny"],
            "matchResources": {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": ns}}},
        },
    }
    return [policy, binding]
