"""Every runtime version whose image is built here (runtime-images/debian-bases.txt, from Debian
packages) on the real node: a Function on it, applied with kubectl and called through the gateway,
answers with the language version its process runs, so the image really is that version (a Java
one, from the start-up cache its image made: the JVM is told to refuse to start without it). A
runtime past its deprecation date (Node.js 20, whose image the other node tests use) is refused
at apply time instead, with the date and its replacement."""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.node.chart import FUNCTIONS, Wisp
from tests.node.node import ROOT
from tests.runtimes.languages import VERSION_SOURCES
from wisp.api import Runtime
from wisp.api.runtimes import Phase

pytestmark = [pytest.mark.node, pytest.mark.cluster, pytest.mark.timeout(900)]

BASES = ROOT / "runtime-images" / "debian-bases.txt"


def debian_built(bases: Path = BASES) -> list[tuple[Runtime, bool]]:
    """The runtimes of the table whose image tools/build-images.sh can make from Debian packages,
    and whether it does by default."""
    runtimes = []
    for line in bases.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            language, version, _suite, build = line.split()
            runtime = next(r for r in Runtime if (r.language, r.version) == (language, version))
            runtimes.append((runtime, build == "default"))
    return runtimes


def built_here(runtime: Runtime, by_default: bool) -> bool:
    """Whether this run's images include ``runtime``'s (as WISP_DEBIAN_RUNTIMES chose them)."""
    wanted = os.environ.get("WISP_DEBIAN_RUNTIMES", "")
    if not wanted:
        return by_default
    return wanted == "all" or f"{runtime.language}:{runtime.version}" in wanted.split()


# A JVM refuses to start when the start-up cache its image made is unusable, instead of quietly
# starting slower without it: JDK 25+ images carry an AOT cache, older ones an AppCDS archive.
STRICT_CACHE = {"java": lambda version: "-XX:AOTMode=on" if int(version) >= 25 else "-Xshare:on"}


def manifest(runtime: Runtime) -> tuple[str, str]:
    """The Function's name and manifest."""
    name = "v-" + runtime.value.replace(".", "-")
    handler, source = VERSION_SOURCES[runtime.language]
    code = "".join(f"      {line}\n" if line else "\n" for line in source.splitlines())
    strict = STRICT_CACHE.get(runtime.language)
    env = f"  env:\n    - name: JAVA_TOOL_OPTIONS\n      value: {strict(runtime.version)}\n" if strict else ""
    return name, (
        "apiVersion: wisp.dev/v1alpha1\nkind: Function\n"
        f"metadata:\n  name: {name}\n"
        f"spec:\n  runtime: {runtime.value}\n  handler: {handler}\n"
        f"  code:\n    inline: |\n{code}{env}"
        "  memory: 256Mi\n  timeout: 30s\n  access:\n    public: true\n  scale:\n    min: 0\n    max: 1\n"
    )


@pytest.fixture(scope="module")
def versioned_images(wisp: Wisp) -> Iterator[Wisp]:
    """The chart with its default image templates: each runtime's own version's image."""
    # As --set values: helm applies --set after --set-json, so the session's fixed tags would win.
    wisp.configure(
        values={
            "runtimeImages.python": "wisp/runtime-python:{version}",
            "runtimeImages.node": "wisp/runtime-node:{version}",
            "runtimeImages.java": "wisp/runtime-java:{version}",
            "runtimeImages.javaJdk": "wisp/runtime-java:{version}-jdk",
        }
    )
    yield wisp
    wisp.configure()


@pytest.mark.parametrize(
    ("runtime", "by_default"), [pytest.param(*row, id=row[0].value) for row in debian_built()]
)
def test_function_runs_on_its_runtimes_language_version(
    versioned_images: Wisp, runtime: Runtime, by_default: bool
) -> None:
    if not built_here(runtime, by_default):
        pytest.skip(f"{runtime.value}'s image is built on request (WISP_DEBIAN_RUNTIMES)")
    wisp = versioned_images
    name, function = manifest(runtime)
    if runtime.phase(datetime.date.today()) in (Phase.DEPRECATED, Phase.UPDATES_BLOCKED):
        refused = wisp.kubectl("apply", "-f", "-", input=function, namespace=FUNCTIONS, check=False)
        assert refused.returncode != 0
        assert str(runtime.deprecation) in refused.stderr, refused.stderr
        assert f"use {runtime.successor} instead" in refused.stderr, refused.stderr
        return
    wisp.apply(function)
    wisp.wait_ready(name)
    status, body = wisp.call(name, {})
    assert status == 200, body
    assert body == {"version": runtime.version}
    pod = next(p for p in wisp.function_pods(name) if p["status"]["phase"] == "Running")
    image = pod["spec"]["containers"][0]["image"]
    assert image.rsplit(":", 1)[1].removesuffix("-jdk") == runtime.version
    wisp.kubectl("delete", "function", name, namespace=FUNCTIONS)
