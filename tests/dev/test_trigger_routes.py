"""``wisp dev`` refuses an HTTP Trigger whose route another loaded Trigger already holds, naming
both files, and keeps serving the first."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest

from wisp.dev.supervisor import DevServer, DevSettings


def trigger_yaml(name: str, path: str, methods: str = "[POST]") -> str:
    return (
        "apiVersion: wisp.dev/v1alpha1\nkind: Trigger\n"
        f"metadata: {{name: {name}}}\n"
        f"spec: {{function: hello, http: {{path: {path}, methods: {methods}}}}}\n"
    )


@pytest.fixture
def dev(tmp_path: Path) -> Iterator[DevServer]:
    server = DevServer(DevSettings(directory=tmp_path), out=io.StringIO())
    yield server
    server._work.cleanup()


def test_a_second_trigger_on_a_route_is_refused_naming_both_files(tmp_path: Path, dev: DevServer) -> None:
    first, second = tmp_path / "first.yaml", tmp_path / "second.yaml"
    first.write_text(trigger_yaml("orders", "/orders"))
    second.write_text(trigger_yaml("orders-v2", "/orders", "[]") + "---\n" + trigger_yaml("other", "/other"))

    dev.load(first)
    dev.load(second)

    [error] = dev.owned[second].errors
    assert error.startswith(f"{second}: spec.http.path: Trigger orders-v2 claims any method */orders")
    assert f"Trigger orders in {first}" in error
    assert set(dev.owned[first].triggers) == {"orders.default"}
    assert set(dev.owned[second].triggers) == {"other.default"}  # the rest of the file still loads

    # Disjoint methods on the same path are two routes.
    third = tmp_path / "third.yaml"
    third.write_text(trigger_yaml("orders-read", "/orders", "[GET]"))
    dev.load(third)
    assert dev.owned[third].errors == []
