"""Java's entry in the shared runtime contract table (``tests/runtimes/languages.py``).

The table's Java handlers (``tests/runtimes/handlers/java/``, a Maven project) are static methods
of ``handlers.Handlers`` named like the Python fixtures, so ``echo`` becomes
``handlers.Handlers::echo``; a capitalised name is a handler class (``handlers.EchoHandler``).

The runtime jar and the handler jar are built the first time the table starts a Java runtime
(not at import, so collecting tests stays fast): the table's ``start`` fixture reads
``language.extra_env``, which for Java is a mapping that builds on first use, or skips the test
with the reason when ``java``/``mvn`` are missing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.runtimes.java.javabuild import build_handlers, build_runtime, cache_root, missing_tools
from wisp.api import Runtime

if TYPE_CHECKING:
    from tests.runtimes.languages import Language

CODE_DIR = cache_root() / "contract-code"
SOURCE = Path(__file__).resolve().parents[1] / "handlers" / "java"


class BuiltOnFirstUse(Mapping[str, str]):
    """No extra environment; reading it builds the jars into ``code_dir`` (once per session)."""

    def __init__(self, source: Path, code_dir: Path) -> None:
        self._source = source
        self._code_dir = code_dir
        self._built = False

    def _ensure_built(self) -> dict[str, str]:
        if not self._built:
            reason = missing_tools()
            if reason:
                pytest.skip(reason)
            build_runtime()
            jar = build_handlers(self._source).jar
            self._code_dir.mkdir(parents=True, exist_ok=True)
            installed = self._code_dir / "handlers.jar"
            partial = installed.with_suffix(f".{os.getpid()}.tmp")
            shutil.copy2(jar, partial)
            partial.replace(installed)
            self._built = True
        return {}

    def __getitem__(self, key: str) -> str:
        return self._ensure_built()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._ensure_built())

    def __len__(self) -> int:
        return len(self._ensure_built())


SLOW_LOAD = """\
import dev.wisp.runtime.Context;
import dev.wisp.runtime.RequestHandler;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

public class Slow implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    static {
        try {
            Thread.sleep(500);
            Files.createFile(Path.of(System.getenv("WISP_CODE_DIR"), "loaded"));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        return event;
    }
}
"""


def java_language() -> Language:
    """The table's Java entry (a function: languages.py calls it once its classes exist)."""
    from tests.runtimes.languages import Language

    class JavaLanguage(Language):
        def handler(self, name: str) -> str:
            if name[:1].isupper():
                return f"handlers.{name}"
            return f"handlers.Handlers::{name}"

    return JavaLanguage(
        name="java",
        runtime=Runtime.JAVA17,
        handlers_dir=CODE_DIR,
        echo_styles=("echo", "echo_object", "EchoHandler"),
        # Java's counterpart of a file that does not parse: a class file that is not bytecode.
        syntax_error_files={"Broken.class": "this is not a class file\n"},
        syntax_error_handler="Broken",
        syntax_error_mentions="Broken.class",
        # Java functions bring their dependencies inside their jar: no install step to test.
        deps_files={},
        deps_handler="",
        # handlers.Handlers::sleep ignores interrupts, so it stays a runaway, as in Python.
        blocked_call_fails_liveness=True,
        json_protocol_errors=False,
        # A source the runtime compiles at start; its static initialiser is the slow load.
        slow_load_files={"Slow.java": SLOW_LOAD},
        slow_load_handler="Slow",
        extra_env=BuiltOnFirstUse(SOURCE, CODE_DIR),
    )
