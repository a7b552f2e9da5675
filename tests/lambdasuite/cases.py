"""Lambda handlers as their libraries' documentation writes them, and what AWS answers to them.

Each folder under ``functions/`` is a function as a Lambda user has it, on a library that users of
Lambda run in production, installed from its registry at a pinned version by the function's own
``requirements.txt`` or ``package.json`` (with its lock): Powertools for AWS Lambda (Python and
TypeScript), serverless-http with Express, and Middy. The only wisp-specific file is
``function.yaml``. A case is one request and the answer API Gateway would give for it on AWS:
the status, the JSON body (or text), the headers and cookies the library sets. The same table
runs on ``wisp dev`` (tests/lambdasuite/test_on_dev.py) and, for the Python functions, on the
real node (tests/node/test_lambda_suite.py).
"""

from __future__ import annotations

import http.client
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FUNCTIONS = Path(__file__).parent / "functions"
HOST = "{host}"  # the caller's Host header, filled in per target
SOURCE = "{source}"  # the caller's address as the gateway sees it, filled in per target


@dataclass(frozen=True)
class Case:
    id: str
    function: str
    method: str
    path: str
    status: int
    body: Any  # the JSON body AWS returns, or a str for a text body
    request: Any = None  # a JSON body to send (bytes: sent as they are)
    headers: dict[str, str] = field(default_factory=dict)  # request headers
    expect_headers: dict[str, str] = field(default_factory=dict)
    cookies: tuple[str, ...] = ()  # Set-Cookie values, in order
    ignore: tuple[str, ...] = ()  # body keys whose value differs per call (checked to be present)

    @property
    def python(self) -> bool:
        return (FUNCTIONS / self.function / "requirements.txt").exists()


CASES = [
    # Powertools (Python), APIGatewayHttpResolver: routes, its NotFoundError shape, Response with
    # cookies (payload 2.0 answers them in `cookies`).
    Case(
        "powertools-http-get",
        "powertools-http",
        "GET",
        "/todos/1",
        200,
        {"id": "1", "title": "write the docs", "completed": False, "via": "GET"},
        expect_headers={"Content-Type": "application/json"},
    ),
    Case(
        "powertools-http-not-found",
        "powertools-http",
        "GET",
        "/todos/9",
        404,
        {"statusCode": 404, "message": "todo 9 not found"},
    ),
    Case(
        "powertools-http-post-cookie",
        "powertools-http",
        "POST",
        "/todos/new",
        201,
        {"id": "2", "title": "ship it"},
        request={"title": "ship it"},
        cookies=("session=abc; Secure",),
    ),
    Case(
        "powertools-http-unrouted",
        "powertools-http",
        "GET",
        "/todos/1/comments",
        404,
        {"statusCode": 404, "message": "Not found"},
    ),
    # Powertools (Python), APIGatewayRestResolver: path parameter, query string, the request
    # context (stage, source IP), Lambda's AWS_REGION and CORS for an allowed origin.
    Case(
        "powertools-rest-get",
        "powertools-rest",
        "GET",
        "/hello/ada?greeting=hi",
        200,
        {"message": "hi, ada", "stage": "$default", "sourceIp": SOURCE, "region": "us-east-1"},
        headers={"Origin": "https://example.com"},
        expect_headers={"Access-Control-Allow-Origin": "https://example.com"},
    ),
    # Express through serverless-http (payload 2.0): Express's routing, params, query, the
    # caller's Host, its own headers and cookies, its 404.
    Case(
        "express-get",
        "express",
        "GET",
        "/shop/items/7?q=tea",
        200,
        {"id": "7", "q": "tea", "host": HOST},
        expect_headers={"X-Served-By": "express"},
    ),
    Case(
        "express-post-cookie",
        "express",
        "POST",
        "/shop/items",
        201,
        {"created": {"sku": "t-1"}},
        request={"sku": "t-1"},
        cookies=("cart=1; Path=/; HttpOnly",),
    ),
    Case(
        "express-not-found",
        "express",
        "GET",
        "/shop/nothing",
        404,
        {"error": "no route for GET /shop/nothing"},
    ),
    # Middy (ES module) with Powertools' Logger middleware: the JSON body parser, the error
    # handler's answers for a handler error and for a malformed body (Middy 6 answers 415).
    Case(
        "middy-greet",
        "middy",
        "POST",
        "/greet",
        200,
        {"greeting": "hello, ada", "requestId": None},
        request={"name": "ada"},
        ignore=("requestId",),
    ),
    Case("middy-handler-error", "middy", "POST", "/greet", 422, "name is required", request={}),
    Case(
        "middy-malformed-body",
        "middy",
        "POST",
        "/greet",
        415,
        "Invalid or malformed JSON was provided",
        request=b"{not json",
    ),
]


def check(
    case: Case,
    status: int,
    headers: dict[str, str],
    cookies: list[str],
    body: bytes,
    host: str,
    source: str,
) -> None:
    """Assert the answer is what AWS gives for ``case`` (one message naming what differs), with
    the caller's ``host`` and ``source`` address where the answer names them."""
    assert status == case.status, f"{case.id}: {status} {body[:500]!r}"
    if isinstance(case.body, str):
        assert body.decode() == case.body, case.id
    else:
        got = json.loads(body)
        for key in case.ignore:
            assert got.get(key), f"{case.id}: {key} missing in {got}"
            got[key] = None
        expected = json.loads(json.dumps(case.body).replace(HOST, host).replace(SOURCE, source))
        assert got == expected, case.id
    lowered = {k.lower(): v for k, v in headers.items()}
    for name, value in case.expect_headers.items():
        assert lowered.get(name.lower(), "").startswith(value), f"{case.id}: {name}: {lowered}"
    assert cookies == list(case.cookies), case.id


def send(
    case: Case, host: str, port: int, timeout: float = 120
) -> tuple[int, dict[str, str], list[str], bytes]:
    """``case``'s request to ``host:port``: status, headers, the Set-Cookie values, body."""
    headers = dict(case.headers)
    body = None
    if case.request is not None:
        body = case.request if isinstance(case.request, bytes) else json.dumps(case.request).encode()
        headers.setdefault("Content-Type", "application/json")
    connection = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        connection.request(case.method, case.path, body=body, headers=headers)
        response = connection.getresponse()
        return (
            response.status,
            dict(response.getheaders()),
            response.headers.get_all("Set-Cookie") or [],
            response.read(),
        )
    finally:
        connection.close()
