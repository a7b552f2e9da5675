"""Building a Java Function folder's jar for ``wisp dev``, so Java runs like Python and Node.js.

A Java function's code is an image in a cluster; locally it runs from ``<folder>/target`` once
its jar is built there. When the folder has a ``pom.xml`` and the machine has a JDK and Maven,
``wisp dev`` builds it itself: first wisp's Java runtime (``runtime-images/java/build.sh``, which
also installs the handler API the function compiles against into the Maven repository), then
``mvn package`` in the folder, its progress shown line by line. A stamp in ``target/`` records a
hash of the sources the jar was built from, so a second start with the same sources builds
nothing. Without a JDK or Maven, ``missing_toolchain`` says exactly what to install.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from wisp.launcher import LaunchError, runtime_images_dir

STAMP = ".wisp-dev-build"
_SKIPPED = frozenset({"target", "node_modules", ".git", ".idea", ".vscode"})
# Maven's lines worth showing as progress: each plugin step, the outcome, and every problem.
_PROGRESS = re.compile(r"^\[(ERROR|WARNING)\]|^\[INFO\] (--- |Building |BUILD |Tests run:)")

Sink = Callable[[str], None] | None


def toolchain() -> dict[str, str | None]:
    """``javac`` (a JDK: a JRE cannot compile) and ``mvn``, as found (None: not found)."""
    java_home = os.environ.get("JAVA_HOME")
    javac = os.path.join(java_home, "bin", "javac") if java_home else shutil.which("javac")
    if javac is not None and not os.access(javac, os.X_OK):
        javac = None
    return {"javac": javac, "mvn": shutil.which("mvn")}


def missing_toolchain(java_version: str, found: dict[str, str | None]) -> str:
    """What to install so ``wisp dev`` can build and run a Java function ("" when nothing)."""
    missing = [what for what, name in (("a JDK (javac)", "javac"), ("Maven (mvn)", "mvn")) if not found[name]]
    if not missing:
        return ""
    jdk = f"openjdk-{java_version}-jdk-headless"
    return (
        f"needs {' and '.join(missing)} to build its jar: install them "
        f"(Debian/Ubuntu: `sudo apt-get install {jdk} maven`; macOS: `brew install openjdk@{java_version} "
        "maven`), then restart wisp dev"
    )


def sources_hash(folder: Path) -> str:
    """A hash of every file the jar is built from (``target/`` and tool folders left out)."""
    digest = hashlib.sha256()
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in _SKIPPED and not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            digest.update(str(path.relative_to(folder)).encode() + b"\0")
            digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


@dataclass(frozen=True)
class JavaBuild:
    """``mvn package`` of one function folder, skipped when its stamp says the jar is current."""

    folder: Path

    @property
    def target(self) -> Path:
        return self.folder / "target"

    def up_to_date(self) -> bool:
        stamp = self.target / STAMP
        try:
            built_from = stamp.read_text().strip()
        except OSError:
            return False
        return built_from == sources_hash(self.folder) and any(self.target.glob("*.jar"))

    async def run(self, log_sink: Sink = None) -> bool:
        """Builds the runtime and the jar if needed; True if anything was built.

        Raises ``LaunchError`` with Maven's last lines when a build fails."""
        emit = log_sink or (lambda _line: None)
        built = False
        runtime = runtime_images_dir() / "java"
        if (runtime / "build.sh").is_file():  # a source tree (an installed wisp brings its jar)
            if not (runtime / "runtime" / "target" / "wisp-runtime.jar").is_file():
                emit(f"building wisp's Java runtime ({runtime / 'build.sh'}), once")
                built = True
            # Idempotent and quick when up to date; it also installs the handler API into ~/.m2.
            await _run(["bash", str(runtime / "build.sh")], runtime, emit, quiet=True)
        if self.up_to_date():
            return built
        want = sources_hash(self.folder)
        emit(f"building {self.folder.name} with mvn package")
        command = ["mvn", "-B", "--no-transfer-progress", "-Dstyle.color=never", "-DskipTests", "package"]
        await _run(command, self.folder, emit, quiet=False)
        if not any(self.target.glob("*.jar")):
            raise LaunchError(f"mvn package in {self.folder} made no jar in {self.target}")
        (self.target / STAMP).write_text(want + "\n")
        emit(f"built {', '.join(sorted(p.name for p in self.target.glob('*.jar')))}")
        return True


async def _run(command: list[str], cwd: Path, emit: Callable[[str], None], *, quiet: bool) -> None:
    """Runs ``command``; progress lines go to ``emit`` (all lines of a failure's tail)."""
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    tail: list[str] = []
    try:
        assert process.stdout is not None
        async for raw in process.stdout:
            line = raw.decode(errors="replace").rstrip()
            tail = [*tail[-29:], line]
            if not quiet and _PROGRESS.match(line):
                emit(line)
        returncode = await process.wait()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    if returncode != 0:
        for line in tail:
            emit(line)
        raise LaunchError(f"{' '.join(command[:2])} failed (exit {returncode}) in {cwd}")
