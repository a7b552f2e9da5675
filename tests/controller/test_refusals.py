"""Which refusals of the API are denials to report and retry, and which only say the namespace
is going: a table of the API server's own Status bodies."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kubernetes.client.rest import ApiException

from wisp.controller.refusals import namespace_terminating, refusal_message

# What kube-apiserver v1.36 answers a create in a Terminating namespace (NamespaceLifecycle).
TERMINATING = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": 'configmaps "alpha-code" is forbidden: unable to create new content in namespace t-1 '
    "because it is being terminated",
    "reason": "Forbidden",
    "details": {
        "name": "alpha-code",
        "kind": "configmaps",
        "causes": [
            {
                "reason": "NamespaceTerminating",
                "message": "namespace t-1 is being terminated",
                "field": "metadata.namespace",
            }
        ],
    },
    "code": 403,
}
# ... and once the namespace is gone.
GONE = {
    "kind": "Status",
    "apiVersion": "v1",
    "metadata": {},
    "status": "Failure",
    "message": 'namespaces "t-1" not found',
    "reason": "NotFound",
    "details": {"name": "t-1", "kind": "namespaces"},
    "code": 404,
}


def refusal(status: int, body: Any) -> ApiException:
    exc = ApiException(status=status, reason="Forbidden" if status == 403 else "Not Found")
    exc.body = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return exc


def status_of(code: int, message: str, **details: Any) -> dict[str, Any]:
    return {"kind": "Status", "status": "Failure", "message": message, "code": code, "details": details}


@pytest.mark.parametrize(
    ("status", "body", "terminating"),
    [
        (403, TERMINATING, True),
        (403, json.dumps(TERMINATING).encode(), True),  # as the client gives it, unread
        (403, {**TERMINATING, "details": {"name": "x", "kind": "configmaps"}}, True),  # no causes
        (404, GONE, True),
        (
            403,
            status_of(
                403,
                'configmaps is forbidden: User "system:serviceaccount:wisp:op" cannot create '
                'resource "configmaps" in API group "" in the namespace "t-1"',
                kind="configmaps",
            ),
            False,
        ),
        (403, status_of(403, 'services "hello" is forbidden: exceeded quota: q', kind="services"), False),
        (403, status_of(403, "no Services in this namespace", kind="services"), False),
        (404, status_of(404, 'configmaps "user-code" not found', name="user-code", kind="configmaps"), False),
        (409, {**TERMINATING, "code": 409}, False),
        (403, "not a Status", False),
        (403, "[]", False),
        (403, None, False),
    ],
    ids=[
        "terminating",
        "terminating-bytes",
        "terminating-message-only",
        "namespace-gone",
        "rbac",
        "quota",
        "admission",
        "child-not-found",
        "conflict",
        "no-json",
        "not-an-object",
        "no-body",
    ],
)
def test_only_a_namespace_being_deleted_is_told_apart(status: int, body: Any, terminating: bool) -> None:
    assert namespace_terminating(refusal(status, body)) is terminating


def test_a_refusal_message_is_the_status_message_else_the_reason() -> None:
    assert refusal_message(refusal(403, TERMINATING)) == TERMINATING["message"]
    assert refusal_message(refusal(403, "[]")) == "Forbidden"
    assert refusal_message(refusal(404, None)) == "Not Found"
