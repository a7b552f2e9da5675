"""The admission policies that apply the runtime lifecycle at ``kubectl apply`` time.

Built from the runtime table (``wisp.api.runtimes``) as it stands on one day, ``as_of``: the
Kubernetes API server has no clock in CEL, so which runtimes are refused and which are warned
about is decided when the manifest is generated (``tools/gen-runtime-policy.py``, run by each
release; the chart ships the result as ``templates/runtime-lifecycle.yaml``). The operator's
``RuntimeDeprecated`` condition uses the real date, so a date that passes between releases still
shows in status.

Two ``ValidatingAdmissionPolicy`` objects (admissionregistration.k8s.io/v1), each with its
binding: one with ``validationActions: [Deny]`` (creates of a deprecated runtime, switches to
one, spec edits of a blocked one) and one with ``[Warn]`` (any apply of a runtime that is
deprecated or will be within ``WARNING_WINDOW``: kubectl prints the warning).
"""

from __future__ import annotations

import datetime
from typing import Any

from wisp.api.names import GROUP
from wisp.api.runtimes import Operation, Phase, Runtime, lifecycle_phase, refusal_message, warning_message

DENY_POLICY = "wisp-runtime-lifecycle"
WARN_POLICY = "wisp-runtime-lifecycle-warnings"
AS_OF_ANNOTATION = f"{GROUP}/runtime-table-as-of"
_API_VERSION = "admissionregistration.k8s.io/v1"

_VARIABLES = [
    {"name": "runtime", "expression": "has(object.spec.runtime) ? object.spec.runtime : ''"},
    {
        # An update that moves a Function to another runtime is, for that runtime, a new Function.
        "name": "switched",
        "expression": (
            "request.operation == 'UPDATE' && "
            "(!has(oldObject.spec.runtime) || oldObject.spec.runtime != variables.runtime)"
        ),
    },
]


def _policy(name: str, as_of: datetime.date, validations: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": _API_VERSION,
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {"name": name, "annotations": {AS_OF_ANNOTATION: as_of.isoformat()}},
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [GROUP],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["functions"],  # not functions/status: the operator's writes pass
                    }
                ]
            },
            "variables": _VARIABLES,
            "validations": validations,
        },
    }


def _binding(policy: str, action: str) -> dict[str, Any]:
    return {
        "apiVersion": _API_VERSION,
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {"name": policy},
        "spec": {"policyName": policy, "validationActions": [action]},
    }


def refusals(as_of: datetime.date) -> list[dict[str, Any]]:
    """The Deny policy's validations: one per refused runtime and operation."""
    rules: list[dict[str, Any]] = []
    for runtime in Runtime:
        phase = lifecycle_phase(runtime, as_of)
        if phase in (Phase.DEPRECATED, Phase.UPDATES_BLOCKED):
            rules.append(
                {
                    "expression": f"variables.runtime != '{runtime.value}' || "
                    "(request.operation == 'UPDATE' && !variables.switched)",
                    "message": refusal_message(runtime, Operation.CREATE),
                    "reason": "Forbidden",
                }
            )
        if phase is Phase.UPDATES_BLOCKED:
            rules.append(
                {
                    # Metadata-only updates (finalizers, labels, deletion) stay possible.
                    "expression": f"variables.runtime != '{runtime.value}' || "
                    "request.operation != 'UPDATE' || object.spec == oldObject.spec",
                    "message": refusal_message(runtime, Operation.UPDATE),
                    "reason": "Forbidden",
                }
            )
    return rules


def warnings(as_of: datetime.date) -> list[dict[str, Any]]:
    """The Warn policy's validations: one per runtime deprecated or about to be."""
    return [
        {"expression": f"variables.runtime != '{runtime.value}'", "message": warning_message(runtime)}
        for runtime in Runtime
        if lifecycle_phase(runtime, as_of) is not Phase.SUPPORTED
    ]


def make_runtime_policies(as_of: datetime.date) -> list[dict[str, Any]]:
    """The policies and bindings for the table as it stands on ``as_of`` (none when empty)."""
    manifests: list[dict[str, Any]] = []
    for name, action, validations in (
        (DENY_POLICY, "Deny", refusals(as_of)),
        (WARN_POLICY, "Warn", warnings(as_of)),
    ):
        if validations:
            manifests += [_policy(name, as_of, validations), _binding(name, action)]
    return manifests
