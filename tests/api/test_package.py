"""``spec.code.archive``: parsed with the CRD's rules, refusals naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.api import parse_function
from wisp.api.function import SpecError
from wisp.api.package import ArchiveSpec, parse_archive

DIGEST = "sha256:" + "ab" * 32


def fn(code: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": "f"},
        "spec": {"runtime": "python3.12", "handler": "main.handler", "code": code},
    }


@pytest.mark.parametrize(
    ("archive", "expected"),
    [
        ({"digest": DIGEST}, ArchiveSpec(DIGEST)),
        (
            {"digest": DIGEST, "repository": "registry.example.com:5000/team/packages"},
            ArchiveSpec(DIGEST, repository="registry.example.com:5000/team/packages"),
        ),
        ({"digest": DIGEST, "repository": "10.0.0.1/p"}, ArchiveSpec(DIGEST, repository="10.0.0.1/p")),
        (
            {"digest": DIGEST, "url": "https://files.example.com/app.zip?sig=1"},
            ArchiveSpec(DIGEST, url="https://files.example.com/app.zip?sig=1"),
        ),
        ({"digest": DIGEST, "pullSecret": "regcred"}, ArchiveSpec(DIGEST, pull_secret="regcred")),
    ],
)
def test_archive_accepted(archive: dict[str, Any], expected: ArchiveSpec) -> None:
    assert parse_archive(archive) == expected
    assert parse_function(fn({"archive": archive})).spec.code.archive == expected
    assert parse_function(fn({"archive": archive})).spec.code.kind == "archive"


@pytest.mark.parametrize(
    ("code", "field"),
    [
        ({"archive": {}}, "spec.code.archive.digest"),
        ({"archive": {"digest": "sha256:abc"}}, "spec.code.archive.digest"),
        ({"archive": {"digest": "md5:" + "a" * 32}}, "spec.code.archive.digest"),
        ({"archive": {"digest": DIGEST.upper()}}, "spec.code.archive.digest"),
        ({"archive": {"digest": DIGEST, "url": "http://files.example.com/a.zip"}}, "spec.code.archive.url"),
        ({"archive": {"digest": DIGEST, "url": "https://"}}, "spec.code.archive.url"),
        (
            {"archive": {"digest": DIGEST, "repository": "registry.example.com"}},
            "spec.code.archive.repository",
        ),
        ({"archive": {"digest": DIGEST, "repository": "reg.io/Team/pkgs"}}, "spec.code.archive.repository"),
        ({"archive": {"digest": DIGEST, "repository": "reg.io/p:1"}}, "spec.code.archive.repository"),
        (
            {"archive": {"digest": DIGEST, "repository": "reg.io/p", "url": "https://x.io/a.zip"}},
            "spec.code.archive",
        ),
        ({"archive": {"digest": DIGEST, "pullSecret": "Reg_Cred"}}, "spec.code.archive.pullSecret"),
        ({"archive": {"digest": DIGEST, "pullSecret": 7}}, "spec.code.archive.pullSecret"),
        (
            {"archive": {"digest": DIGEST, "url": "https://x.io/a.zip", "pullSecret": "regcred"}},
            "spec.code.archive.pullSecret",
        ),
        ({"archive": "sha256:x"}, "spec.code.archive"),
        ({"archive": {"digest": DIGEST}, "inline": "x"}, "spec.code"),
    ],
)
def test_archive_refused_naming_the_field(code: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as info:
        parse_function(fn(code))
    assert info.value.field == field
