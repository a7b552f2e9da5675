"""The languages the runtime contract tests run against, with each one's handler fixtures.

Every contract test is parametrized over ``LANGUAGES``. A new runtime joins the table by adding
a ``Language`` whose handler fixtures (``handlers/<name>/``) implement the same behaviours under
the same names (see handlers/python/handlers.py for what each one does).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from tests.runtimes.java.contract import java_language
from wisp.api import Runtime
from wisp.dev.localversions import local_version

HANDLERS = Path(__file__).parent / "handlers"


@dataclass(frozen=True)
class Language:
    name: str
    runtime: Runtime
    handlers_dir: Path
    # Handler names that all echo their event, one per handler style the language supports.
    echo_styles: tuple[str, ...]
    # A code dir whose handler file does not parse, and what the error must point at.
    syntax_error_files: Mapping[str, str]
    syntax_error_handler: str
    syntax_error_mentions: str
    # A code dir that needs a package from the registry; its handler, called with
    # {"n": 5, "s": "x"}, returns {"ok": true, "location": <file the package was loaded from>}.
    deps_files: Mapping[str, str]
    deps_handler: str
    # Whether a call that blocks its thread past the timeout fails /livez (Python: the thread
    # cannot be stopped) or is cleaned up (Node.js: the worker is terminated and replaced).
    blocked_call_fails_liveness: bool
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # A code dir whose module takes half a second to load and then creates the file ``loaded``
    # in the code dir; empty where the table has no such fixture.
    slow_load_files: Mapping[str, str] = field(default_factory=dict)
    slow_load_handler: str = ""
    # Whether requests that are not HTTP/1.1, or have heads past 64 KiB, get the contract's
    # JSON 400/431 (the JDK's HttpServer answers them itself, with HTML).
    json_protocol_errors: bool = True
    # Whether the runtime gives Lambda's context, environment and payload 1.0/2.0 HTTP events
    # (test_lambda.py); the handler fixtures then include the Lambda-shaped ones.
    lambda_parity: bool = False

    def handler(self, name: str) -> str:
        return f"handlers.{name}"

    def __str__(self) -> str:
        return self.runtime.value


PYTHON = Language(
    name="python",
    runtime=Runtime.PYTHON311,
    handlers_dir=HANDLERS / "python",
    echo_styles=("echo", "async_echo"),
    syntax_error_files={"broken.py": "def handler(event, context):\n    return {\n"},
    syntax_error_handler="broken.handler",
    syntax_error_mentions="broken.py",
    # markupsafe's wheel carries a compiled extension: native code loads from the deps dir too.
    deps_files={
        "requirements.txt": "six\nmarkupsafe\n",
        "main.py": (
            "import six\nfrom markupsafe import _speedups\n\n\ndef handler(event, context):\n"
            "    native = _speedups.__file__\n"
            "    ok = six.moves is not None and native.endswith('.so') and six.__file__.startswith(\n"
            "        native.rsplit('/markupsafe/', 1)[0]\n"
            "    )\n"
            "    return {'ok': ok, 'location': native}\n"
        ),
    },
    deps_handler="main.handler",
    blocked_call_fails_liveness=True,
    slow_load_files={
        "slow.py": (
            "import time\n\ntime.sleep(0.5)\nopen('loaded', 'w').close()\n\n\n"
            "def handler(event, context):\n    return event\n"
        ),
    },
    slow_load_handler="slow.handler",
    lambda_parity=True,
)

NODE = Language(
    name="node",
    runtime=Runtime.NODEJS24,
    handlers_dir=HANDLERS / "node",
    echo_styles=("echo", "sync_echo", "callback_echo"),
    syntax_error_files={"broken.js": "exports.handler = async (event) => {\n  return {;\n};\n"},
    syntax_error_handler="broken.handler",
    syntax_error_mentions="broken.js",
    deps_files={
        "package.json": '{"name": "fn", "version": "1.0.0", "dependencies": {"is-number": "^7.0.0"}}',
        "index.js": (
            "const isNumber = require('is-number');\n"
            "exports.handler = async (event) => ({\n"
            "  ok: isNumber(event.n) && !isNumber(event.s),\n"
            "  location: require.resolve('is-number'),\n"
            "});\n"
        ),
    },
    deps_handler="index.handler",
    blocked_call_fails_liveness=False,
    slow_load_files={
        "slow.js": (
            "Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);\n"
            "require('node:fs').writeFileSync('loaded', '');\n"
            "exports.handler = async (event) => event;\n"
        ),
    },
    slow_load_handler="slow.handler",
    lambda_parity=True,
)


def versions_here(language: Language) -> tuple[Language, ...]:
    """``language`` once per runtime of the table whose language version is on this machine
    (Python: ``WISP_PYTHON_<X>_<Y>`` or ``python<X.Y>`` on PATH, with the runtime's
    requirements; Node.js: ``WISP_NODE_<N>`` or ``node`` on PATH; Java: ``WISP_JAVA_<N>``,
    ``JAVA_HOME`` or ``java`` on PATH), so the contract runs on every version that can run
    here; the table's newest version when none is (the local one then serves it)."""
    versions = [
        replace(language, runtime=runtime)
        for runtime in Runtime
        if runtime.language == language.runtime.language and runtime.versioned
        if local_version(runtime) == runtime.version
    ]
    return tuple(versions) or (language,)


LANGUAGES = (*versions_here(PYTHON), *versions_here(NODE), *versions_here(java_language()))


# Each handler answers with the version of the language its process runs.
VERSION_SOURCES = {
    "python": (
        "main.handler",
        "import sys\n\n\ndef handler(event, context):\n"
        "    return {'version': '%d.%d' % sys.version_info[:2]}\n",
    ),
    "node": (
        "index.handler",
        "exports.handler = async () => ({ version: process.versions.node.split('.')[0] });\n",
    ),
    "java": (
        "example.Version::handle",
        "package example;\n\nimport java.util.Map;\n\npublic class Version {\n"
        "    public Map<String, Object> handle(Map<String, Object> event) {\n"
        '        return Map.of("version", String.valueOf(Runtime.version().feature()));\n'
        "    }\n}\n",
    ),
}
