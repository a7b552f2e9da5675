"""What a child's create owned goes to the operator's applies (all but the replicas), so that a
later apply that leaves a field out removes it (``wisp.controller.kube.handed_over``)."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.controller.kube import CREATE_MANAGER, FIELD_MANAGER, handed_over

T = "2026-12-05T12:00:00Z"


def env(*names: str) -> dict[str, Any]:
    """The fields of a Deployment's function container's variables ``names``."""
    variables = {f'k:{{"name":"{n}"}}': {} for n in names}
    return {"f:template": {"f:spec": {"f:containers": {'k:{"name":"function"}': {"f:env": variables}}}}}


def entry(manager: str, operation: str, fields: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"manager": manager, "operation": operation, "apiVersion": "apps/v1", "time": T,
            "fieldsType": "FieldsV1", "fieldsV1": fields, **extra}  # fmt: skip


CREATED = {"f:spec": {"f:replicas": {}, **env("A")}}
WITHOUT_REPLICAS = {"f:spec": env("A")}
B = {"f:spec": env("B")}
BOTH = {"f:spec": env("A", "B")}
GATEWAY = entry("wisp-gateway", "Update", {"f:spec": {"f:replicas": {}}}, subresource="scale")


@pytest.mark.parametrize(
    ("entries", "after"),
    [
        ([], None),
        ([entry(FIELD_MANAGER, "Apply", B)], None),
        ([entry(CREATE_MANAGER, "Update", CREATED)], [entry(FIELD_MANAGER, "Apply", WITHOUT_REPLICAS)]),
        (
            [entry(CREATE_MANAGER, "Update", CREATED), entry(FIELD_MANAGER, "Apply", B), GATEWAY],
            [entry(FIELD_MANAGER, "Apply", BOTH), GATEWAY],
        ),
        (
            [entry(CREATE_MANAGER, "Update", {"f:status": {}}, subresource="status")],
            None,
        ),
    ],
    ids=["nothing", "applied only", "created only", "created, applied and scaled", "a status write"],
)
def test_the_creates_fields_go_to_the_applies_but_the_replicas(
    entries: list[dict[str, Any]], after: list[dict[str, Any]] | None
) -> None:
    assert handed_over(entries) == after


def test_the_entries_given_are_left_as_they_were() -> None:
    entries = [entry(CREATE_MANAGER, "Update", CREATED), entry(FIELD_MANAGER, "Apply", B)]
    handed_over(entries)
    assert entries == [entry(CREATE_MANAGER, "Update", CREATED), entry(FIELD_MANAGER, "Apply", B)]
