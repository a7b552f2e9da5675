"""The chart passes ``helm lint --strict``, its CRDs match ``crds/``, its README's values table
matches ``values.yaml`` — and the two checking scripts really catch drift."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helm.chart import CHART, ROOT, Helm, values_file

SYNC_CRDS = ROOT / "tools" / "sync-crds.py"
GEN_TABLE = ROOT / "deploy" / "helm" / "gen-values-table.py"

NON_DEFAULT = {
    "watchNamespaces": ["team-a", "team-b"],
    "redis": {
        "enabled": False,
        "external": {"url": "redis://redis.example:6379/0", "existingSecret": "redis-auth"},
    },
    "gateway": {"replicas": 3, "antiAffinity": "hard", "rbac": {"readSecrets": False}},
    "networkPolicy": {"enabled": False},
}


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("values", [None, NON_DEFAULT], ids=["default", "non-default"])
def test_lint_strict(helm: Helm, tmp_path: Path, values: dict[str, object] | None) -> None:
    args = ["lint", "--strict", str(CHART)]
    if values is not None:
        args += ["--values", str(values_file(tmp_path, values))]
    proc = helm.run(*args, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "0 chart(s) failed" in proc.stdout


def test_chart_crds_match_source() -> None:
    proc = run_script(str(SYNC_CRDS), "--check")
    assert proc.returncode == 0, proc.stderr


def test_sync_crds_detects_and_repairs_drift(tmp_path: Path) -> None:
    source, target = tmp_path / "src", tmp_path / "chart-crds"
    shutil.copytree(ROOT / "crds", source)
    shutil.copytree(ROOT / "crds", target)
    (target / "functions.wisp.dev.yaml").write_text("# hand-edited\n")
    (target / "stale.yaml").write_text("# gone from crds/\n")
    check = ["--source", str(source), "--target", str(target), "--check"]

    drifted = run_script(str(SYNC_CRDS), *check)
    assert drifted.returncode == 1
    assert "functions.wisp.dev.yaml: differs" in drifted.stderr
    assert "stale.yaml: not in crds/" in drifted.stderr

    assert run_script(str(SYNC_CRDS), *check[:4]).returncode == 0
    assert run_script(str(SYNC_CRDS), *check).returncode == 0
    assert sorted(p.name for p in target.iterdir()) == sorted(p.name for p in source.iterdir())


def test_values_table_is_current() -> None:
    proc = run_script(str(GEN_TABLE), "--check")
    assert proc.returncode == 0, proc.stderr


def test_values_table_check_catches_undocumented_value_and_stale_readme(tmp_path: Path) -> None:
    chart = tmp_path / "wisp"
    shutil.copytree(CHART, chart)
    values = chart / "values.yaml"
    values.write_text(values.read_text() + "\nsurprise: 1\n")
    undocumented = run_script(str(GEN_TABLE), "--chart", str(chart), "--check")
    assert undocumented.returncode == 1
    assert "surprise: undocumented" in undocumented.stderr

    values.write_text(values.read_text().replace("\nsurprise: 1\n", "\n# -- A new knob.\nsurprise: 1\n"))
    stale = run_script(str(GEN_TABLE), "--chart", str(chart), "--check")
    assert stale.returncode == 1
    assert "out of date" in stale.stderr
    assert run_script(str(GEN_TABLE), "--chart", str(chart)).returncode == 0
    assert "| `surprise` | int | `1` | A new knob. |" in (chart / "README.md").read_text()
