"""Which interpreter serves each runtime version locally, and what wisp dev says when the
version a Function asks for is not on the machine."""

from __future__ import annotations

import sys

import pytest

from wisp.api.runtimes import Runtime
from wisp.dev.localversions import version_note
from wisp.launcher import dependencies_command, node_for, python_for, running_python, runtime_command


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
