"""``wisp init``: each template gives a folder whose own test passes and whose Function is valid."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import Wisp
from wisp.source import load_file


@pytest.mark.parametrize(
    ("runtime", "test_command", "code"),
    [
        ("python", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], {"inline"}),
        ("node", ["node", "--test"], {"inline"}),
    ],
)
def test_a_new_function_tests_green_and_is_valid(
    wisp: Wisp, tmp_path: Path, runtime: str, test_command: list[str], code: set[str]
) -> None:
    if shutil.which(test_command[0]) is None:
        pytest.skip(f"{test_command[0]} is not installed")
    created = wisp("init", "my-fn", "--runtime", runtime)
    assert created.returncode == 0, created.stderr
    folder = tmp_path / "my-fn"
    own_test = subprocess.run(test_command, cwd=folder, capture_output=True, text=True, check=False)
    assert own_test.returncode == 0, own_test.stdout + own_test.stderr
    loaded = load_file(folder / "function.yaml")
    assert not loaded.errors
    fn = loaded.functions[0].function
    assert fn.name == "my-fn" and {k for k in ("inline", "files") if getattr(fn.spec.code, k)} == code


def test_java_template_is_wired_in(wisp: Wisp, tmp_path: Path) -> None:
    created = wisp("init", "jfn", "--runtime", "java")
    assert created.returncode == 0, created.stderr
    folder = tmp_path / "jfn"
    assert (folder / "src/main/java/function/Handler.java").is_file()
    assert "{{name}}" not in (folder / "pom.xml").read_text()
    loaded = load_file(folder / "function.yaml")
    assert not loaded.errors and loaded.functions[0].function.spec.runtime.language == "java"


def test_bad_names_and_existing_folders_are_refused(wisp: Wisp, tmp_path: Path) -> None:
    bad = wisp("init", "My_Fn")
    assert bad.returncode == 1 and bad.stderr.startswith("wisp: 'My_Fn' is not a valid function name")
    assert wisp("init", "twice").returncode == 0
    again = wisp("init", "twice")
    assert again.returncode == 1 and "already exists" in again.stderr
