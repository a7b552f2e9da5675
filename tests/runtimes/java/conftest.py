"""Fixtures of the Java runtime tests: built jars and runtime processes (stopped at the end).

Every test module here is marked ``java``; its tests skip, with the reason, when ``java`` or
``mvn`` is missing.
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

import pytest

from tests.runtimes.java.javabuild import HandlerBuild, build_handlers, build_runtime, missing_tools
from tests.runtimes.java.process import JavaRuntime, StartJava, java_command, start_runtime

AWS_PROJECTS = Path(__file__).resolve().parent / "aws"


@pytest.fixture(scope="session")
def java_build() -> tuple[Path, Path | None]:
    """The runtime jar and its CDS archive (built by runtime-images/java/build.sh)."""
    reason = missing_tools()
    if reason:
        pytest.skip(reason)
    return build_runtime()


@pytest.fixture(scope="session")
def java_handlers(java_build: tuple[Path, Path | None]) -> HandlerBuild:
    """The test handlers (handlers/), built by Maven once per source change."""
    return build_handlers()


@pytest.fixture(scope="session")
def aws_handlers(java_build: tuple[Path, Path | None]) -> Callable[[str], Path]:
    """The jar of one of the Lambda handler projects under ``aws/`` (``"basic"``, ``"events"``):
    handlers written against AWS's libraries from Maven Central, which the jar carries."""

    def build(project: str) -> Path:
        return build_handlers(AWS_PROJECTS / project).jar

    return build


@pytest.fixture(scope="module")
def start_java(
    java_build: tuple[Path, Path | None],
    java_handlers: HandlerBuild,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[StartJava]:
    """Starts a runtime for ``handler`` on the test handlers' jar (``layout="classes"``: the same
    classes as a ``classes/`` folder; ``files=``: a code dir of those sources instead; ``jar=``:
    another project's jar, see ``aws_handlers``); extra
    keyword arguments become ``WISP_*`` variables (``timeout_seconds=1`` → ``WISP_TIMEOUT_SECONDS``)."""
    started: list[JavaRuntime] = []
    counter = itertools.count()

    def start(
        handler: str,
        *,
        layout: str = "jar",
        files: Mapping[str, str] | None = None,
        jar: Path | None = None,
        **settings: object,
    ) -> JavaRuntime:
        root = tmp_path_factory.mktemp("java-runtime")
        code = root / "code"
        code.mkdir()
        if files is not None:  # sources only, as inline and files code are stored
            for name, text in files.items():
                (code / name).parent.mkdir(parents=True, exist_ok=True)
                (code / name).write_text(text)
        elif layout == "jar":
            shutil.copy2(jar or java_handlers.jar, code / "handlers.jar")
        else:
            shutil.copytree(java_handlers.classes, code / "classes")
        env = {"WISP_HANDLER": handler, "WISP_CODE_DIR": str(code), "WISP_DEPS_DIR": str(root / "deps")}
        env.update({f"WISP_{key.upper()}": str(value) for key, value in settings.items()})
        # Compiled sources go to the JVM's temp dir: keep them in the test's own.
        (root / "tmp").mkdir()
        env["JAVA_TOOL_OPTIONS"] = f"-Djava.io.tmpdir={root / 'tmp'}"
        runtime = start_runtime(java_command(), env, root / f"stderr-{next(counter)}.log")
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()
