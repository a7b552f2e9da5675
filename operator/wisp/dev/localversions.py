"""Which language version ``wisp dev`` really runs a Function's runtime on, and a note when it
is not the one the Function asks for.

Locally a runtime is a process on the machine's interpreters: Python from ``python_for``,
Node.js from ``node_for`` and Java from ``java_for`` (the runtime's own version when one is
found, see ``wisp.launcher``). wisp dev does not refuse a Function whose
version is missing here; it says which version serves it instead.
"""

from __future__ import annotations

import functools
import re
import subprocess
import sys

from wisp.api.runtimes import Runtime
from wisp.launcher import java_feature, java_for, node_for, python_for, running_python


@functools.cache
def _version_of(command: tuple[str, ...], pattern: str) -> str | None:
    try:
        proc = subprocess.run(command, capture_output=True, text=True, check=False, timeout=30)
    except OSError:
        return None
    found = re.search(pattern, proc.stdout + proc.stderr)
    return found.group(1) if found else None


def local_version(runtime: Runtime) -> str | None:
    """The language version that would serve ``runtime`` here (None: not found or not versioned)."""
    if runtime.language == "python":
        python = python_for(runtime.version)
        if python == sys.executable:
            return running_python()
        return _version_of((python, "--version"), r"Python (\d+\.\d+)")
    if runtime.language == "node":
        return _version_of((node_for(runtime.version), "--version"), r"v(\d+)\.")
    if runtime.language == "java":
        return java_feature(java_for(runtime.version))
    return None


def version_note(runtime: Runtime) -> str | None:
    """A line for ``wisp dev``'s output when ``runtime`` runs on another version here."""
    if not runtime.versioned:
        return None
    local = local_version(runtime)
    if local == runtime.version:
        return None
    variable = {
        "python": "WISP_PYTHON_" + runtime.version.replace(".", "_"),
        "node": f"WISP_NODE_{runtime.version}",
        "java": f"WISP_JAVA_{runtime.version}",
    }
    hint = f" (set {variable[runtime.language]})" if runtime.language in variable else ""
    here = f"{runtime.language} {local}" if local else f"no {runtime.language} found"
    return f"{runtime.value} is not on this machine{hint}: wisp dev runs it on {here}"
