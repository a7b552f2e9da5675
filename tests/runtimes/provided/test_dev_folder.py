"""``wisp dev`` runs provided functions from a folder: a bootstrap script as the folder's code,
or a compiled bootstrap (Go) beside a Function whose ``code.image`` holds it for the cluster."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

from tests.dev.conftest import dev_cache, wisp_dev  # noqa: F401 - the wisp dev fixtures
from tests.dev.process import WispDev
from tests.runtimes.provided.conftest import SCRIPTED
from wisp.dev.workspace import Workspace, prepare
from wisp.source import load_file


def _script_function(folder: Path) -> None:
    folder.mkdir()
    (folder / "function.yaml").write_text(
        "apiVersion: wisp.dev/v1alpha1\nkind: Function\nmetadata: {name: scripted}\n"
        "spec: {runtime: provided, handler: bootstrap}\n"
    )
    bootstrap = folder / "bootstrap"
    bootstrap.write_text(f"#!{sys.executable}\n" + SCRIPTED.read_text())
    bootstrap.chmod(0o755)


def _go_function(folder: Path, go_bootstrap: Path) -> None:
    folder.mkdir()
    (folder / "function.yaml").write_text(
        "apiVersion: wisp.dev/v1alpha1\nkind: Function\nmetadata: {name: hello-go}\n"
        "spec: {runtime: provided, handler: bootstrap, code: {image: example.com/hello-go:1}}\n"
    )
    shutil.copy2(go_bootstrap, folder / "bootstrap")


def test_folders_become_provided_functions(tmp_path: Path, go_bootstrap: Path) -> None:
    _script_function(tmp_path / "scripted")
    source = load_file(tmp_path / "scripted" / "function.yaml").functions[0]
    assert source.function.spec.code.inline == (tmp_path / "scripted" / "bootstrap").read_text()
    workspace = Workspace(tmp_path / "work", tmp_path / "cache")
    assert prepare(source, workspace).code_dir == tmp_path / "scripted"

    _go_function(tmp_path / "go", go_bootstrap)
    source = load_file(tmp_path / "go" / "function.yaml").functions[0]
    assert prepare(source, workspace).code_dir == tmp_path / "go"
    (tmp_path / "go" / "bootstrap").unlink()
    skipped = prepare(source, workspace)
    assert skipped.code_dir is None
    assert "build its bootstrap" in skipped.unsupported


def test_wisp_dev_serves_provided_functions(
    tmp_path: Path,
    go_bootstrap: Path,
    wisp_dev: Callable[..., WispDev],  # noqa: F811 - the imported fixture
) -> None:
    functions = tmp_path / "functions"
    functions.mkdir()
    _script_function(functions / "scripted")
    _go_function(functions / "hello-go", go_bootstrap)
    dev = wisp_dev(functions)
    answer = dev.call("/function/hello-go", {"op": "echo", "data": {"via": "wisp dev"}})
    assert answer.status == 200
    assert answer.json() == {"via": "wisp dev"}
    scripted = dev.call("/function/scripted", {"op": "echo"})
    assert scripted.status == 200
    assert scripted.json()["env"]["AWS_LAMBDA_FUNCTION_NAME"] == "scripted"
