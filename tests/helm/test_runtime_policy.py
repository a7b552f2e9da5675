"""The chart ships the runtime lifecycle policies generated from the runtime table, named per
release (they are cluster-scoped, so two releases must not collide)."""

from __future__ import annotations

from tests.helm.chart import of_kind, one
from tests.helm.conftest import Render
from wisp.resources.runtimepolicy import AS_OF_ANNOTATION


def test_policies_and_bindings_are_per_release_and_paired(render: Render) -> None:
    objects = render()
    policies = of_kind(objects, "ValidatingAdmissionPolicy")
    assert policies, "the chart ships the runtime lifecycle policies"
    for policy in policies:
        assert policy["metadata"]["name"].startswith("wisp-runtime-lifecycle")
        assert AS_OF_ANNOTATION in policy["metadata"]["annotations"]
        binding = one(objects, "ValidatingAdmissionPolicyBinding", policy["metadata"]["name"])
        assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    deny = one(objects, "ValidatingAdmissionPolicyBinding", "-runtime-lifecycle")
    assert deny["spec"]["validationActions"] == ["Deny"]
    warn = one(objects, "ValidatingAdmissionPolicyBinding", "-runtime-lifecycle-warnings")
    assert warn["spec"]["validationActions"] == ["Warn"]
