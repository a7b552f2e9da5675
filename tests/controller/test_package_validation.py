"""``spec.code.archive`` at apply time: the API server refuses a bad one naming the field, and
``wisp.api`` (``wisp deploy``'s local check, ``wisp dev``) refuses the same ones."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from tests.cluster.fixtures import Kubectl
from tests.controller.test_crd_validation import GOOD_FUNCTION, with_spec
from wisp.api import parse_function
from wisp.api.function import SpecError

pytestmark = pytest.mark.cluster

DIGEST = "sha256:" + "c3" * 32


def archive(**fields: Any) -> dict[str, Any]:
    return with_spec(GOOD_FUNCTION, code={"archive": fields})


INVALID = [
    ("no digest", archive(repository="reg.example.com/p"), "spec.code.archive.digest"),
    ("digest not sha256", archive(digest="md5:" + "a" * 32), "spec.code.archive.digest"),
    ("digest too short", archive(digest="sha256:abc"), "spec.code.archive.digest"),
    ("url not https", archive(digest=DIGEST, url="http://files.example.com/a.zip"), "spec.code.archive.url"),
    (
        "repository without path",
        archive(digest=DIGEST, repository="reg.example.com"),
        "spec.code.archive.repository",
    ),
    (
        "repository with a tag",
        archive(digest=DIGEST, repository="reg.io/p:1"),
        "spec.code.archive.repository",
    ),
    (
        "repository and url",
        archive(digest=DIGEST, repository="reg.io/p", url="https://x.io/a.zip"),
        "spec.code.archive",
    ),
    (
        "archive beside inline",
        with_spec(GOOD_FUNCTION, code={"inline": "x", "archive": {"digest": DIGEST}}),
        "spec.code",
    ),
]


@pytest.mark.parametrize(("case", "obj", "field"), INVALID, ids=[c[0] for c in INVALID])
def test_a_bad_archive_is_refused_at_apply_time_naming_the_field(
    kubectl: Kubectl, namespace: str, case: str, obj: dict[str, Any], field: str
) -> None:
    proc = kubectl("apply", "-f", "-", input=yaml.safe_dump(obj), namespace=namespace, check=False)
    assert proc.returncode != 0, f"{case}: accepted"
    assert field in proc.stderr, f"{case}: {proc.stderr}"
    with pytest.raises(SpecError) as info:
        parse_function(obj)
    assert info.value.field.startswith(field), case


@pytest.mark.parametrize(
    "fields",
    [
        {"digest": DIGEST},
        {"digest": DIGEST, "repository": "10.250.0.1:5000/wisp/packages"},
        {"digest": DIGEST, "url": "https://files.example.com/releases/app.zip?X-Amz-Signature=abc"},
    ],
    ids=["store", "repository", "url"],
)
def test_a_good_archive_is_accepted(kubectl: Kubectl, namespace: str, fields: dict[str, Any]) -> None:
    obj = archive(**fields)
    kubectl("apply", "-f", "-", input=yaml.safe_dump(obj), namespace=namespace)
    stored = json.loads(kubectl("get", "function", "f", "-o", "json", namespace=namespace).stdout)
    assert stored["spec"]["code"] == {"archive": fields}
    parse_function(obj)
