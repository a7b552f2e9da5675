"""Route resolution: the /function forms and the Trigger table."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.api.trigger import parse_trigger
from wisp.gateway.router import FunctionPath, TriggerTable, parse_function_path


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/function/hello", FunctionPath("hello", "default", "/")),
        ("/function/hello/", FunctionPath("hello", "default", "/")),
        ("/function/hello.team-a", FunctionPath("hello", "team-a", "/")),
        ("/function/hello.team-a/a/b", FunctionPath("hello", "team-a", "/a/b")),
        ("/function/hello/x%20y", FunctionPath("hello", "default", "/x%20y")),
        ("/function/Hello", None),
        ("/function/-x", None),
        ("/function/", None),
        ("/function/a.b.c", None),
        ("/function/" + "a" * 64, None),
    ],
)
def test_function_paths(path: str, expected: FunctionPath | None) -> None:
    assert parse_function_path(path, "default") == expected


def _t(name: str, path: str, **http: Any) -> Any:
    return parse_trigger(
        {"metadata": {"name": name}, "spec": {"function": name, "http": {"path": path, **http}}}
    )


TABLE = TriggerTable(
    [
        _t("root", "/"),
        _t("api", "/api"),
        _t("api-v2", "/api/v2/"),
        _t("api-host", "/api", host="api.example.com"),
        _t("api-wild", "/api", host="*.example.com"),
        _t("ro", "/ro", methods=["GET", "HEAD"]),
    ]
)


@pytest.mark.parametrize(
    ("host", "path", "method", "name"),
    [
        ("gw", "/api", "GET", "api"),
        ("gw", "/api/x", "POST", "api"),
        ("gw", "/apix", "GET", "root"),
        ("gw", "/api/v2/items", "GET", "api-v2"),
        ("gw", "/api/v2", "GET", "api"),
        ("api.example.com", "/api/x", "GET", "api-host"),
        ("api.example.com:8080", "/api", "GET", "api-host"),
        ("api.example.com.", "/api", "GET", "api-host"),
        ("api.example.com.:8080", "/api", "GET", "api-host"),
        ("eu.example.com.", "/api", "GET", "api-wild"),
        ("eu.example.com", "/api", "GET", "api-wild"),
        ("example.com", "/api", "GET", "api"),
        ("gw", "/ro/1", "GET", "ro"),
        ("gw", "/elsewhere", "GET", "root"),
    ],
)
def test_trigger_matching(host: str, path: str, method: str, name: str) -> None:
    match = TABLE.match(host, path, method)
    assert match.trigger is not None and match.trigger.name == name


def test_method_mismatch_reports_allowed_methods() -> None:
    table = TriggerTable([_t("ro", "/ro", methods=["GET", "HEAD"])])
    match = table.match("gw", "/ro", "POST")
    assert match.trigger is None and match.allowed == ("GET", "HEAD")
    assert table.match("gw", "/other", "GET").trigger is None


def test_of_triggers_on_one_route_only_the_oldest_is_routed_whatever_the_order() -> None:
    def at(name: str, created: str) -> Any:
        return parse_trigger(
            {
                "metadata": {"name": name, "creationTimestamp": created},
                "spec": {"function": name, "http": {"path": "/orders"}},
            }
        )

    older, newer = at("zz-first", "2026-01-01T00:00:00Z"), at("aa-second", "2026-01-02T00:00:00Z")
    for triggers in ([older, newer], [newer, older]):
        table = TriggerTable(triggers)
        assert table.match("h", "/orders/1", "GET").trigger == older
        assert len(table) == 1
