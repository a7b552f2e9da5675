"""The runtime table is the one place a version is written: the CRD, the chart's policy, the
image choice and the defaults all follow it, and the lifecycle rules decide by date."""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from wisp.api.runtimes import (
    Operation,
    Phase,
    Runtime,
    check_apply,
    deprecation_warning,
    image_tags,
    lifecycle_phase,
    newest,
    supported,
)
from wisp.resources.deployment import ImageSettings

ROOT = Path(__file__).resolve().parents[2]
TODAY = datetime.date(2026, 12, 4)


def crd_runtime_enum(path: Path) -> list[str]:
    crd = yaml.safe_load(path.read_text())
    schema = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    return list(schema["properties"]["spec"]["properties"]["runtime"]["enum"])


CRD_COPIES = ["crds/functions.wisp.dev.yaml", "deploy/helm/wisp/crds/functions.wisp.dev.yaml"]


@pytest.mark.parametrize("crd", CRD_COPIES)
def test_the_crd_enum_is_the_table(crd: str) -> None:
    assert crd_runtime_enum(ROOT / crd) == [r.value for r in Runtime]


def test_no_version_is_written_outside_the_table() -> None:
    """The places that used to list versions by hand now read the table."""
    versions = re.compile(r"\b(python3\.1[0-9]|nodejs[0-9]{2}|java[0-9]{2})\b")
    for path in [
        "operator/wisp/cli/init.py",
        "operator/wisp/console/templates.py",
        "operator/wisp/resources/deployment.py",
        "operator/wisp/api/function.py",
        "operator/wisp/launcher.py",
    ]:
        assert not versions.findall((ROOT / path).read_text()), path


def test_member_names_follow_identifiers() -> None:
    for runtime in Runtime:
        assert runtime.name == runtime.value.replace(".", "").upper()
        if runtime.versioned:
            assert runtime.value.endswith(runtime.version)
            assert runtime.deprecation is not None and runtime.block_update is not None
            assert runtime.deprecation < runtime.block_update
        if runtime.successor is not None:
            assert runtime.replacement is not None and runtime.replacement.language == runtime.language


def test_images_follow_the_version_column() -> None:
    images = ImageSettings()
    assert images.for_runtime(Runtime.PYTHON314) == "wisp/runtime-python:3.14"
    assert images.for_runtime(Runtime.NODEJS24) == "wisp/runtime-node:24"
    assert images.for_runtime(Runtime.JAVA25, source_code=True) == "wisp/runtime-java:25-jdk"
    assert image_tags("node") == ["20", "22", "24"]


@pytest.mark.parametrize(
    ("runtime", "today", "phase"),
    [
        (Runtime.NODEJS24, TODAY, Phase.SUPPORTED),
        (Runtime.NODEJS22, datetime.date(2026, 11, 1), Phase.DEPRECATION_SCHEDULED),  # 180 days before
        (Runtime.NODEJS22, datetime.date(2026, 10, 31), Phase.SUPPORTED),
        (Runtime.NODEJS20, TODAY, Phase.DEPRECATED),
        (Runtime.NODEJS20, datetime.date(2026, 4, 29), Phase.DEPRECATION_SCHEDULED),
        (Runtime.NODEJS20, datetime.date(2027, 3, 1), Phase.UPDATES_BLOCKED),
        (Runtime.CUSTOM, datetime.date(2099, 1, 1), Phase.SUPPORTED),
        (Runtime.PROVIDED, datetime.date(2099, 1, 1), Phase.SUPPORTED),
    ],
)
def test_phase_by_date(runtime: Runtime, today: datetime.date, phase: Phase) -> None:
    assert lifecycle_phase(runtime, today) is phase


def test_create_after_deprecation_is_refused_naming_date_and_replacement() -> None:
    verdict = check_apply(Runtime.NODEJS20, Operation.CREATE, TODAY)
    assert verdict.refusal is not None
    assert "2026-04-30" in verdict.refusal and "nodejs24" in verdict.refusal


def test_deprecated_runtime_can_still_be_updated_with_a_warning() -> None:
    verdict = check_apply(Runtime.NODEJS20, Operation.UPDATE, TODAY, previous_runtime=Runtime.NODEJS20)
    assert verdict.refusal is None
    assert verdict.warnings and "nodejs24" in verdict.warnings[0]


def test_switching_to_a_deprecated_runtime_is_a_create() -> None:
    verdict = check_apply(Runtime.NODEJS20, Operation.UPDATE, TODAY, previous_runtime=Runtime.NODEJS22)
    assert verdict.refusal is not None


def test_after_block_update_edits_are_refused_but_not_metadata_or_a_move_away() -> None:
    day = datetime.date(2027, 3, 2)
    edit = check_apply(Runtime.NODEJS20, Operation.UPDATE, day, previous_runtime=Runtime.NODEJS20)
    assert edit.refusal is not None and "2027-03-01" in edit.refusal
    same = check_apply(
        Runtime.NODEJS20, Operation.UPDATE, day, previous_runtime=Runtime.NODEJS20, spec_changed=False
    )
    assert same.refusal is None
    away = check_apply(Runtime.NODEJS24, Operation.UPDATE, day, previous_runtime=Runtime.NODEJS20)
    assert away.refusal is None and not away.warnings


def test_deprecation_soon_is_only_a_warning() -> None:
    verdict = check_apply(Runtime.NODEJS22, Operation.CREATE, TODAY)
    assert verdict.refusal is None and "2027-04-30" in verdict.warnings[0]


def test_newest_and_supported() -> None:
    assert newest("python", TODAY) is Runtime.PYTHON314
    assert newest("node", TODAY) is Runtime.NODEJS24
    assert newest("java", TODAY) is Runtime.JAVA25
    assert Runtime.NODEJS20 not in supported(TODAY)
    assert Runtime.NODEJS22 in supported(TODAY)


def test_chart_policy_is_generated_from_the_table() -> None:
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen-runtime-policy.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr


def test_deprecation_warning_for_describe_and_the_console() -> None:
    assert deprecation_warning("nodejs24", TODAY) is None
    assert deprecation_warning("cobol", TODAY) is None
    warning = deprecation_warning("nodejs20", TODAY)
    assert warning is not None and "2027-03-01" in warning and "nodejs24" in warning


def test_the_debian_built_versions_are_rows_of_the_table() -> None:
    """runtime-images/debian-bases.txt (the images built from Debian packages here) names only
    versions of the table, each once, from a Debian suite."""
    rows = {(r.language, r.version) for r in Runtime if r.versioned}
    seen = set()
    for line in (ROOT / "runtime-images" / "debian-bases.txt").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            language, version, suite, build = line.split()
            assert (language, version) in rows, line
            assert build in {"default", "on-request"}, line
            assert (language, version) not in seen, line
            assert suite in {"bookworm", "trixie", "forky", "sid"}, line
            seen.add((language, version))
    assert {language for language, _ in seen} == {"python", "node", "java"}
