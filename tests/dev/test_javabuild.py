"""``wisp dev`` and Java Function folders: it builds the jar itself when a JDK and Maven are there
(progress shown, a second start builds nothing), and names what to install when they are not."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.dev.process import ROOT, WispDev
from wisp.dev import workspace
from wisp.dev.javabuild import JavaBuild, missing_toolchain, sources_hash
from wisp.dev.watch import fingerprint
from wisp.dev.workspace import Workspace, prepare
from wisp.source import load_file

EXAMPLE = ROOT / "examples" / "java-hello"
NO_TOOLS: dict[str, str | None] = {"javac": None, "mvn": None}
TOOLS: dict[str, str | None] = {"javac": "/usr/bin/javac", "mvn": "/usr/bin/mvn"}


@pytest.fixture
def java_hello(tmp_path: Path) -> Path:
    folder = tmp_path / "java-hello"
    shutil.copytree(EXAMPLE, folder, ignore=shutil.ignore_patterns("target"))
    return folder


def _prepare(folder: Path, tmp_path: Path) -> workspace.PreparedCode:
    source = load_file(folder / "function.yaml").functions[0]
    return prepare(source, Workspace(tmp_path / "work", tmp_path / "cache"))


def test_without_a_jdk_and_maven_it_says_exactly_what_to_install(
    java_hello: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "toolchain", lambda: NO_TOOLS)
    manifest = java_hello / "function.yaml"
    manifest.write_text(re.sub(r"runtime: java\d+", "runtime: java17", manifest.read_text()))
    code = _prepare(java_hello, tmp_path)
    assert code.code_dir is None and code.build is None
    assert "needs a JDK (javac) and Maven (mvn)" in code.unsupported
    assert "`sudo apt-get install openjdk-17-jdk-headless maven`" in code.unsupported
    assert "brew install openjdk@17 maven" in code.unsupported


def test_only_what_is_missing_is_named() -> None:
    assert missing_toolchain("21", {**TOOLS, "mvn": None}).startswith("needs Maven (mvn) to build its jar")
    assert "openjdk-21-jdk-headless" in missing_toolchain("21", {**TOOLS, "javac": None})
    assert missing_toolchain("17", TOOLS) == ""


def test_with_a_jdk_and_maven_the_folder_is_built_before_it_runs(
    java_hello: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "toolchain", lambda: TOOLS)
    code = _prepare(java_hello, tmp_path)
    assert code.unsupported == ""
    assert code.build == JavaBuild(java_hello) and code.code_dir == java_hello / "target"


def test_a_jar_built_by_hand_still_runs_without_the_tools(
    java_hello: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace, "toolchain", lambda: NO_TOOLS)
    (java_hello / "target").mkdir()
    (java_hello / "target" / "java-hello.jar").write_bytes(b"PK")
    code = _prepare(java_hello, tmp_path)
    assert code.unsupported == "" and code.build is None and code.code_dir == java_hello / "target"


def test_the_build_cache_follows_the_sources_not_the_output(java_hello: Path) -> None:
    before = sources_hash(java_hello)
    (java_hello / "target").mkdir()
    (java_hello / "target" / "java-hello.jar").write_bytes(b"PK")
    assert sources_hash(java_hello) == before
    fingerprint_before = fingerprint(java_hello / "function.yaml")
    (java_hello / "target" / "java-hello.jar").write_bytes(b"PK again")
    assert fingerprint(java_hello / "function.yaml") == fingerprint_before  # no reload loop
    source = next((java_hello / "src" / "main").rglob("*.java"))
    source.write_text(source.read_text() + "\n// edited\n")
    assert sources_hash(java_hello) != before


@pytest.mark.java
def test_the_build_shows_progress_and_a_second_start_builds_nothing(java_hello: Path) -> None:
    build = JavaBuild(java_hello)
    lines: list[str] = []
    assert asyncio.run(build.run(lines.append)) is True
    assert (java_hello / "target" / "java-hello.jar").is_file()
    assert f"building {java_hello.name} with mvn package" in lines
    assert any("maven-compiler-plugin" in line for line in lines)
    assert "[INFO] BUILD SUCCESS" in lines and lines[-1] == "built java-hello.jar"

    again: list[str] = []
    assert asyncio.run(build.run(again.append)) is False
    assert again == []

    source = next((java_hello / "src" / "main").rglob("*.java"))
    source.write_text(source.read_text().replace('"hello, "', '"hi, "'))
    assert asyncio.run(build.run(again.append)) is True


@pytest.mark.java
def test_a_compile_error_is_shown_and_fails_the_build(java_hello: Path) -> None:
    source = next((java_hello / "src" / "main").rglob("*.java"))
    source.write_text(source.read_text().replace("return new Greeting", "return new Gretting"))
    lines: list[str] = []
    with pytest.raises(Exception, match=r"mvn -B failed"):
        asyncio.run(JavaBuild(java_hello).run(lines.append))
    assert any(line.startswith("[ERROR]") and "Gretting" in line for line in lines)
    assert not (java_hello / "target" / ".wisp-dev-build").exists()


@pytest.mark.java
@pytest.mark.redis
def test_wisp_dev_builds_and_serves_a_java_folder(tmp_path: Path, wisp_dev: Callable[..., WispDev]) -> None:
    functions = tmp_path / "functions"
    shutil.copytree(EXAMPLE, functions / "java-hello", ignore=shutil.ignore_patterns("target"))
    dev = wisp_dev(functions)
    dev.wait_for_output("java-hello-build", timeout=120)
    assert "CannotRunLocally" not in dev.output()
    reply = dev.call("/function/java-hello", {"name": "dev"}, timeout=180)
    assert reply.status == 200, reply.body
    assert reply.json()["greeting"] == "hello, dev"
    output = dev.output()
    assert "building java-hello with mvn package" in output and "built java-hello.jar" in output
