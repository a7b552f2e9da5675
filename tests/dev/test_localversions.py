"""Which interpreter serves each runtime version locally, and what wisp dev says when the
version a Function asks for is not on the machine."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from wisp.api.runtimes import Runtime
from wisp.dev.localversions import version_note
from wisp.launcher import (
    dependencies_command,
    java_feature,
    java_for,
    java_start_cache,
    node_for,
    python_for,
    running_python,
    runtime_command,
)


def test_this_interpreter_serves_its_own_version() -> None:
    assert python_for(running_python()) == sys.executable


def test_an_interpreter_per_version_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WISP_PYTHON_3_14", "/opt/py314/bin/python")
    monkeypatch.setenv("WISP_NODE_24", "/opt/node24/bin/node")
    assert runtime_command(Runtime.PYTHON314)[0] == "/opt/py314/bin/python"
    assert dependencies_command(Runtime.PYTHON314) == ["/opt/py314/bin/python", "-m", "wisp_runtime.deps"]
    assert runtime_command(Runtime.NODEJS24)[0] == "/opt/node24/bin/node"
    monkeypatch.delenv("WISP_NODE_24")
    assert node_for("24") == "node"


def test_a_missing_version_is_named_with_what_serves_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WISP_PYTHON_3_14", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no python3.14 to find
    note = version_note(Runtime.PYTHON314)
    assert note is not None and "WISP_PYTHON_3_14" in note and f"python {running_python()}" in note
    assert version_note(Runtime(f"python{running_python()}")) is None
    assert version_note(Runtime.CUSTOM) is None


def test_a_java_per_version_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WISP_JAVA_25", "/opt/jdk-25/bin/java")
    monkeypatch.setenv("JAVA_HOME", "/opt/jdk-17")
    assert java_for("25") == "/opt/jdk-25/bin/java"
    assert java_for("21") == "/opt/jdk-17/bin/java"  # not here: JAVA_HOME's serves it
    monkeypatch.delenv("JAVA_HOME")
    assert java_for("21") == "java"
    note = version_note(Runtime.JAVA21)
    assert note is not None and "WISP_JAVA_21" in note


@pytest.mark.java
def test_each_jdk_gets_the_start_up_cache_made_for_its_feature_release(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """build.sh names each cache by the JDK's feature release; the launcher picks the one of the
    ``java`` it runs: the AOT cache when there is one, else the AppCDS archive, else none."""
    java = shutil.which("java")
    if java is None:
        pytest.skip("no java on PATH")
    monkeypatch.setenv("WISP_RUNTIME_IMAGES_DIR", str(tmp_path))
    target = tmp_path / "java" / "runtime" / "target"
    target.mkdir(parents=True)
    (target / "wisp-runtime.jar").write_bytes(b"PK")
    local_feature = java_feature(java)
    assert local_feature is not None and int(local_feature) >= 17
    assert java_start_cache(java) == []
    (target / f"wisp-runtime-{int(local_feature) + 1}.jsa").write_bytes(b"")  # another JDK's
    assert java_start_cache(java) == []
    jsa = target / f"wisp-runtime-{local_feature}.jsa"
    jsa.write_bytes(b"")
    assert java_start_cache(java) == [f"-XX:SharedArchiveFile={jsa}"]
    aot = target / f"wisp-runtime-{local_feature}.aot"
    aot.write_bytes(b"")
    assert java_start_cache(java) == [f"-XX:AOTCache={aot}"]
    monkeypatch.setenv("WISP_JAVA_25", java)  # whatever its release: its own cache is used
    command = runtime_command(Runtime.JAVA25)
    jvm = command[command.index("--") + 1 :]
    assert jvm[:3] == [java, f"@{tmp_path / 'java' / 'jvm.options'}", f"-XX:AOTCache={aot}"]
