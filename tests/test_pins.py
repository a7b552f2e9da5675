"""Installs that cannot drift: what wisp's images and builds install is pinned, file by file.

Python packages come from uv.lock (``make lint`` checks the lock and the images' exported
requirement files); these tests keep the other ways in shut: a Dockerfile that pip-installs
without hashes, a Node.js runtime that grows npm dependencies, a Maven plugin or dependency
without a version.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
POM = "{http://maven.apache.org/POM/4.0.0}"
DOCKERFILES = sorted(p for p in ROOT.glob("**/Dockerfile") if ".venv" not in p.parts)
POMS = sorted(
    p
    for p in [*ROOT.glob("runtime-images/java/**/pom.xml"), *ROOT.glob("examples/**/pom.xml")]
    if "target" not in p.parts
)


def _commands(dockerfile: Path) -> list[str]:
    """Each RUN's shell text, continuation lines joined, split at && and ;."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    runs = [line[len("RUN") :] for line in text.splitlines() if line.startswith("RUN")]
    return [part.strip() for run in runs for part in re.split(r"&&|;", run)]


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_dockerfiles_install_python_packages_only_by_hash(dockerfile: Path) -> None:
    for command in _commands(dockerfile):
        if "pip install" not in command:
            continue
        # Nothing is resolved in the image: every package is named in a hashed file, and wisp's
        # own package (a local path) brings no dependency of its own.
        assert "--no-deps" in command, f"{dockerfile}: {command}"
        if " -r " in f" {command} " or "--requirement" in command:
            assert "--require-hashes" in command, f"{dockerfile}: {command}"
    assert "npm install" not in dockerfile.read_text(), f"{dockerfile} installs npm packages"


def test_the_nodejs_runtime_has_no_npm_dependencies() -> None:
    package = json.loads((ROOT / "runtime-images" / "node" / "package.json").read_text())
    kinds = ("dependencies", "devDependencies", "optionalDependencies", "peerDependencies")
    assert not [kind for kind in kinds if package.get(kind)], "lock them (package-lock.json) or keep none"
    assert not (ROOT / "runtime-images" / "node" / "node_modules").exists()


def _versioned(elements: list[ET.Element]) -> set[str]:
    return {e.findtext(f"{POM}artifactId", "") for e in elements if e.find(f"{POM}version") is not None}


def _managed_plugins(pom: ET.Element) -> set[str]:
    return _versioned(pom.findall(f"./{POM}build/{POM}pluginManagement/{POM}plugins/{POM}plugin"))


def _managed_dependencies(pom: ET.Element) -> set[str]:
    return _versioned(pom.findall(f"./{POM}dependencyManagement/{POM}dependencies/{POM}dependency"))


@pytest.mark.parametrize("path", POMS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_maven_plugin_and_dependency_has_a_version(path: Path) -> None:
    pom = ET.parse(path).getroot()
    parent_path = path.parent.parent / "pom.xml"
    parent = ET.parse(parent_path).getroot() if pom.find(f"{POM}parent") is not None else pom
    plugins_managed = _managed_plugins(parent) | _managed_plugins(pom)
    deps_managed = _managed_dependencies(parent) | _managed_dependencies(pom)
    for plugin in pom.iter(f"{POM}plugin"):
        name = plugin.findtext(f"{POM}artifactId", "")
        assert plugin.find(f"{POM}version") is not None or name in plugins_managed, f"{path}: {name}"
    for dependency in pom.iter(f"{POM}dependency"):
        name = dependency.findtext(f"{POM}artifactId", "")
        assert dependency.find(f"{POM}version") is not None or name in deps_managed, f"{path}: {name}"


def test_the_java_runtime_build_refuses_an_unpinned_plugin() -> None:
    """The enforcer rule that makes Maven itself fail on a plugin without a version."""
    pom = (ROOT / "runtime-images" / "java" / "pom.xml").read_text()
    assert "<requirePluginVersions>" in pom and "<artifactId>maven-enforcer-plugin</artifactId>" in pom


def test_the_aws_sdks_of_the_runtime_images_are_locked() -> None:
    """The SDKs the images carry for functions (docs/lambda.md): every Python package pinned
    with hashes, every npm package at an exact version with its integrity in the lock."""
    requirements = (ROOT / "runtime-images" / "python" / "aws-sdk-requirements.txt").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+) \\$", requirements, re.MULTILINE)
    assert {name for name, _ in pins} >= {"boto3", "botocore", "s3transfer", "jmespath"}, pins
    assert requirements.count("--hash=sha256:") >= len(pins)
    sdk = ROOT / "runtime-images" / "node" / "aws-sdk"
    wanted = json.loads((sdk / "package.json").read_text())["dependencies"]
    assert "@aws-sdk/client-s3" in wanted
    assert all(re.fullmatch(r"\d+\.\d+\.\d+", version) for version in wanted.values()), wanted
    packages = json.loads((sdk / "package-lock.json").read_text())["packages"]
    installed = {key: value for key, value in packages.items() if key}
    assert installed and all(value.get("integrity", "").startswith("sha512-") for value in installed.values())
