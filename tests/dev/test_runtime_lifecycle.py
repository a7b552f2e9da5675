"""``wisp dev`` applies the runtime lifecycle as the API server's admission policy does: a
Function on a deprecated runtime is refused when loaded (a create), with the date and the
replacement; one about to be deprecated loads with a warning. The day is given, not read from
the clock."""

from __future__ import annotations

import datetime
import io
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from wisp.dev.supervisor import DevServer, DevSettings


def function_yaml(name: str, runtime: str) -> str:
    return (
        "apiVersion: wisp.dev/v1alpha1\nkind: Function\n"
        f"metadata: {{name: {name}}}\n"
        f"spec: {{runtime: {runtime}, handler: index.handler, code: {{inline: 'exports.handler = 1'}}}}\n"
    )


TODAY = datetime.date(2026, 12, 4)


@pytest.fixture
def dev_on(tmp_path: Path) -> Iterator[Callable[[datetime.date], DevServer]]:
    """``wisp dev`` whose lifecycle checks take ``day`` as today."""
    servers: list[DevServer] = []

    def start(day: datetime.date) -> DevServer:
        server = DevServer(DevSettings(directory=tmp_path, today=lambda: day), out=io.StringIO())
        servers.append(server)
        return server

    yield start
    for server in servers:
        server._work.cleanup()


@pytest.fixture
def dev(dev_on: Callable[[datetime.date], DevServer]) -> DevServer:
    return dev_on(TODAY)


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


@pytest.mark.parametrize(
    ("day", "loads", "says"),
    [
        (datetime.date(2026, 10, 31), True, None),  # before the 180 days' warning
        (datetime.date(2026, 11, 1), True, "wisp dev: warning: nodejs22-fn: runtime nodejs22"),
        (datetime.date(2027, 4, 29), True, "wisp dev: warning: nodejs22-fn: runtime nodejs22"),
        (datetime.date(2027, 4, 30), False, "runtime nodejs22 was deprecated on 2027-04-30"),
    ],
)
def test_nodejs22_by_the_day(
    tmp_path: Path,
    dev_on: Callable[[datetime.date], DevServer],
    day: datetime.date,
    loads: bool,
    says: str | None,
) -> None:
    path = tmp_path / "fn.yaml"
    path.write_text(function_yaml("nodejs22-fn", "nodejs22"))
    dev = dev_on(day)
    dev.load(path)
    assert ("nodejs22-fn.default" in dev.owned[path].functions) is loads
    said = dev.out.getvalue() + "\n".join(dev.owned[path].errors)  # type: ignore[attr-defined]
    if says is None:
        assert "warning" not in said and "deprecated" not in said
    else:
        assert says in said and "nodejs24" in said
