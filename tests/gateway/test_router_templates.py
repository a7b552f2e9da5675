"""Templated Trigger paths (API Gateway's path parameters) beside plain prefixes, and Lambda's
FunctionName forms for the Invoke API."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.api.function import SpecError
from wisp.api.trigger import Trigger, parse_trigger
from wisp.gateway.httpevent import route_of
from wisp.gateway.router import FunctionPath, TriggerTable, parse_lambda_name


def _trigger(name: str, path: str, **http: Any) -> Trigger:
    return parse_trigger(
        {"metadata": {"name": name}, "spec": {"function": name, "http": {"path": path, **http}}}
    )


TABLE = TriggerTable(
    [
        _trigger("prefix", "/orders"),
        _trigger("one", "/orders/{id}", methods=["GET"]),
        _trigger("items", "/orders/{id}/items"),
        _trigger("greedy", "/orders/{id}/{rest+}"),
        _trigger("exact", "/orders/special"),
        _trigger("files", "/files/{path+}"),
    ]
)


@pytest.mark.parametrize(
    ("path", "method", "name"),
    [
        ("/orders", "GET", "prefix"),
        ("/orders/42", "GET", "one"),  # a whole-path template beats a prefix
        ("/orders/special", "GET", "exact"),  # a plain Trigger of exactly the path beats both
        ("/orders/42/items", "GET", "items"),  # more literal segments first
        ("/orders/42/items/7", "GET", "greedy"),
        ("/orders/42/x", "POST", "greedy"),
        ("/files/a/b.txt", "GET", "files"),
        ("/files", "GET", None),  # {path+} needs at least one segment
    ],
)
def test_templates_and_prefixes(path: str, method: str, name: str | None) -> None:
    found = TABLE.match("api.example.com", path, method).trigger
    assert (found.name if found else None) == name


def test_a_template_that_does_not_take_the_method_is_405() -> None:
    table = TriggerTable([_trigger("one", "/orders/{id}", methods=["GET"])])
    assert table.match("h", "/orders/1", "DELETE").allowed == ("GET",)


def test_route_and_parameters_of_a_template() -> None:
    http = _trigger("t", "/users/{user}/files/{path+}", methods=["GET"]).http
    assert http is not None
    assert route_of(http, "/users/ann/files/a/b") == (
        "GET /users/{user}/files/{path+}",
        {"user": "ann", "path": "a/b"},
    )


@pytest.mark.parametrize("path", ["/a/{b}{c}", "/a/{p+}/x", "/a/{x}/{x}", "/a/b{c}", "/a/{}", "/a/{1x}"])
def test_malformed_templates_are_refused(path: str) -> None:
    with pytest.raises(SpecError, match="spec"):
        _trigger("t", path)


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("orders", (FunctionPath("orders", "default", "/"), "")),
        ("orders.shop", (FunctionPath("orders", "shop", "/"), "")),
        ("orders:$LATEST", (FunctionPath("orders", "default", "/"), "$LATEST")),
        ("arn:aws:lambda:us-east-1:shop:function:orders", (FunctionPath("orders", "shop", "/"), "")),
        (
            "arn:aws:lambda:us-east-1:123456789012:function:orders:prod",
            (FunctionPath("orders", "default", "/"), "prod"),
        ),
        (
            "arn:aws:lambda:us-east-1:999999999999:function:orders",
            (FunctionPath("orders", "999999999999", "/"), ""),
        ),
        ("arn:aws:s3:::bucket", None),
        ("arn:aws:lambda:us-east-1:shop:function:orders.other", None),
        ("Orders", None),
        ("a:b:c", None),
    ],
)
def test_lambda_function_names(name: str, expected: tuple[FunctionPath, str] | None) -> None:
    assert parse_lambda_name(name, "default", "123456789012") == expected
