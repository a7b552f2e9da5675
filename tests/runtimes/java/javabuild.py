"""Builds what the Java runtime tests run: the runtime jar (via build.sh) and the handler jar.

The handler project (``handlers/``) is copied into a cache directory keyed by a hash of its
sources and built there with Maven, so a second test run (or session) reuses the jar at once and
the source tree never gets a ``target/`` folder. The cache lives under ``~/.cache/wisp/java-test``
(``WISP_JAVA_TEST_CACHE`` overrides it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from wisp.api import Runtime
from wisp.launcher import java_for, java_start_cache

REPO = Path(__file__).resolve().parents[3]
JAVA_DIR = REPO / "runtime-images" / "java"
BUILD_SCRIPT = JAVA_DIR / "build.sh"
RUNTIME_JAR = JAVA_DIR / "runtime" / "target" / "wisp-runtime.jar"
HANDLERS_SRC = Path(__file__).resolve().parent / "handlers"


def missing_tools() -> str | None:
    """Why the Java tests cannot run here, or None when java and mvn are both present."""
    absent = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if absent:
        return f"{' and '.join(absent)} not on PATH (the Java runtime needs a JDK 17+ and Maven)"
    return None


def cache_root() -> Path:
    configured = os.environ.get("WISP_JAVA_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "wisp" / "java-test"


@dataclass(frozen=True)
class HandlerBuild:
    """The built handlers: a jar, and the same classes as an unpacked ``classes/`` folder."""

    jar: Path
    classes: Path


def build_runtime() -> tuple[Path, Path | None]:
    """Runs build.sh (a no-op when up to date); returns the jar and the start-up cache (AppCDS
    archive or AOT cache) made for the JDK the tests run, if one was made."""
    subprocess.run([str(BUILD_SCRIPT)], check=True, timeout=600)
    cache = java_start_cache(java_for(Runtime.JAVA17.version))
    return RUNTIME_JAR, Path(cache[0].split("=", 1)[1]) if cache else None


def _sources_hash(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file() and "target" not in p.parts):
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_handlers(source: Path = HANDLERS_SRC) -> HandlerBuild:
    """The jar of the Maven project at ``source`` (its finalName must be ``handlers``), built
    unless a build of the same sources is cached."""
    out = cache_root() / f"{source.parent.name}-{source.name}-{_sources_hash(source)}"
    jar = out / "handlers.jar"
    classes = out / "classes"
    if jar.exists() and classes.is_dir():
        return HandlerBuild(jar, classes)
    work = out.with_name(f"{out.name}.build-{os.getpid()}")
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(source, work, ignore=shutil.ignore_patterns("target"))
    args = ["mvn", "-B", "-q", "--no-transfer-progress", "-Dstyle.color=never", "package"]
    offline = subprocess.run(
        [*args[:1], "-o", *args[1:]], cwd=work, capture_output=True, timeout=600, check=False
    )
    if offline.returncode != 0:
        subprocess.run(args, cwd=work, check=True, timeout=600)
    out.mkdir(parents=True, exist_ok=True)
    shutil.copytree(work / "target" / "classes", classes, dirs_exist_ok=True)
    partial = jar.with_suffix(f".{os.getpid()}.tmp")
    shutil.copy2(work / "target" / "handlers.jar", partial)
    partial.replace(jar)  # the jar appears whole, last: its presence means the build is complete
    shutil.rmtree(work, ignore_errors=True)
    return HandlerBuild(jar, classes)
