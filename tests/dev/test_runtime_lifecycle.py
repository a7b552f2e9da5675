"""``wisp dev`` applies the runtime lifecycle as the API server's admission policy does: a
Function on a deprecated runtime is refused when loaded (a create), with the date and the
replacement; one about to be deprecated loads with a warning."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from wisp.dev.supervisor import DevServer, DevSettings


def function_yaml(name: str, runtime: str) -> str:
    return (
        "apiVersion: wisp.dev/v1alpha1\nkind: Function\n"
        f"metadata: {{name: {name}}}\n"
        f"spec: {{runtime: {runtime}, handler: index.handler, code: {{inline: 'exports.handler = 1'}}}}\n"
    )


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(DevSettings(directory=tmp_path), out=io.StringIO())
    yield server
    server._work.cleanup()


def test_a_deprecated_runtime_is_refused_naming_the_replacement(tmp_path: Path, dev: DevServer) -> None:
    path = tmp_path / "old.yaml"
    path.write_text(function_yaml("old", "nodejs20") + "---\n" + function_yaml("new", "nodejs24"))
    dev.load(path)
    [error] = dev.owned[path].errors
    assert error.startswith(f"{path}: spec.runtime: runtime nodejs20 was deprecated on 2026-04-30")
    assert "use nodejs24" in error
    assert set(dev.owned[path].functions) == {"new.default"}  # the rest of the file still loads


def test_a_runtime_deprecated_soon_loads_with_a_warning(tmp_path: Path, dev: DevServer) -> None:
    path = tmp_path / "soon.yaml"
    path.write_text(function_yaml("soon", "nodejs22"))
    dev.load(path)
    assert dev.owned[path].errors == [] and set(dev.owned[path].functions) == {"soon.default"}
    out = dev.out.getvalue()  # type: ignore[attr-defined]
    assert "wisp dev: warning: soon: runtime nodejs22" in out and "nodejs24" in out
