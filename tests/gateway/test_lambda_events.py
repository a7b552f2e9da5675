"""HTTP Triggers send Lambda's proxy events: the Trigger's payload format, its route and path
parameters, the caller's address and host, end to end through the gateway to real Python and
Node.js runtimes; a caller's own ``X-Wisp-*`` headers never reach the runtime."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from tests.gateway.conftest import GatewayFactory, Runtimes, info, make_function
from wisp.api.function import Function
from wisp.api.trigger import parse_trigger
from wisp.gateway.httpevent import route_of
from wisp.gateway.static import StaticBackend
from wisp.security.extension import security_extension
from wisp.security.secrets import StaticSecretSource
from wisp.security.settings import SecuritySettings

PYTHON = """
import json

def handler(event, context):
    return {"statusCode": 200, "body": json.dumps(event)}
"""
NODE = """
exports.handler = async (event) => ({ statusCode: 200, body: JSON.stringify(event) });
"""
FORGED = {
    "X-Wisp-Source-Ip": "6.6.6.6",
    "X-Wisp-Route": "GET /evil",
    "X-Wisp-Path-Params": "proxy=evil",
    "X-Wisp-Payload-Format": "1.0",
    "X-Wisp-Host": "evil.example",
}


def _function(runtime: str) -> Function:
    if runtime == "python":
        return make_function("events", code={"inline": PYTHON})
    return make_function("events", runtime="nodejs20", handler="index.handler", code={"inline": NODE})


def _trigger(path: str, **http: Any) -> Any:
    return parse_trigger(
        {
            "metadata": {"name": "t", "namespace": "default"},
            "spec": {"function": "events", "http": {"path": path, **http}},
        }
    )


async def _event(
    gateway_factory: GatewayFactory, runtimes: Runtimes, runtime: str, trigger: Any, path: str
) -> Any:
    fn = _function(runtime)
    started = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (started.endpoint,))
    backend.set_trigger(trigger)
    gw = await gateway_factory(backend)
    headers = {"Host": "api.example.com", "Cookie": "a=1; b=2", **FORGED}
    async with gw.session.get(gw.url(path), headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return json.loads(await resp.text())


@pytest.mark.parametrize("runtime", ["python", "node"])
async def test_payload_format_2_carries_route_params_source_and_host(
    gateway_factory: GatewayFactory, runtimes: Runtimes, runtime: str
) -> None:
    trigger = _trigger("/orders", payloadFormat="2.0")
    event = await _event(gateway_factory, runtimes, runtime, trigger, "/orders/42/a%20b?x=1")
    assert event["version"] == "2.0"
    assert event["routeKey"] == "ANY /orders/{proxy+}"
    assert event["rawPath"] in ("/orders/42/a%20b", "/orders/42/a b")  # the runtime's choice
    assert event["pathParameters"] == {"proxy": "42/a b"}
    assert event["cookies"] == ["a=1", "b=2"]
    assert event["requestContext"]["http"]["sourceIp"] == "127.0.0.1"
    assert event["requestContext"]["domainName"] == "api.example.com"
    assert event["headers"]["host"] == "api.example.com"
    assert not any(name.startswith("x-wisp-") for name in event["headers"])


@pytest.mark.parametrize("runtime", ["python", "node"])
async def test_payload_format_1_is_the_default_and_reports_the_triggers_route(
    gateway_factory: GatewayFactory, runtimes: Runtimes, runtime: str
) -> None:
    trigger = _trigger("/orders", methods=["GET"])
    event = await _event(gateway_factory, runtimes, runtime, trigger, "/orders/42")
    assert event["version"] == "1.0"
    assert event["resource"] == "/orders/{proxy+}"
    assert event["requestContext"]["resourcePath"] == "/orders/{proxy+}"
    assert event["pathParameters"] == {"proxy": "42"}
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert event["headers"]["host"] == "api.example.com"


async def test_the_triggers_own_path_has_no_path_parameters(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    event = await _event(gateway_factory, runtimes, "python", _trigger("/orders"), "/orders")
    assert event["resource"] == "/orders"
    assert event["pathParameters"] is None


@pytest.mark.parametrize(
    ("trigger_path", "methods", "path", "route", "params"),
    [
        ("/orders", [], "/orders", "ANY /orders", {}),
        ("/orders", ["GET"], "/orders/1/2", "GET /orders/{proxy+}", {"proxy": "1/2"}),
        ("/orders/", ["GET", "POST"], "/orders/1", "ANY /orders/{proxy+}", {"proxy": "1"}),
        ("/orders/", [], "/orders", "ANY /orders/", {}),
        ("/", [], "/", "ANY /", {}),
        ("/", [], "/a/b", "ANY /{proxy+}", {"proxy": "a/b"}),
    ],
)
def test_route_keys(
    trigger_path: str, methods: list[str], path: str, route: str, params: dict[str, str]
) -> None:
    http = _trigger(trigger_path, methods=methods).http
    assert route_of(http, path) == (route, params)


@pytest.mark.parametrize("runtime", ["python", "node"])
async def test_a_path_template_sends_its_parameters(
    gateway_factory: GatewayFactory, runtimes: Runtimes, runtime: str
) -> None:
    trigger = _trigger("/users/{user}/files/{path+}", methods=["GET"], payloadFormat="2.0")
    event = await _event(gateway_factory, runtimes, runtime, trigger, "/users/ann/files/a/b.txt")
    assert event["routeKey"] == "GET /users/{user}/files/{path+}"
    assert event["pathParameters"] == {"user": "ann", "path": "a/b.txt"}


async def test_source_ip_follows_the_trusted_proxy_rules(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    fn = _function("python")
    started = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (started.endpoint,))
    backend.set_trigger(_trigger("/orders"))
    events = []
    for proxies in ((), (ipaddress.ip_network("127.0.0.0/8"),)):
        settings = SecuritySettings(public_by_default=True, trusted_proxies=proxies)
        gw = await gateway_factory(backend, extensions=[security_extension(settings, StaticSecretSource())])
        headers = {"X-Forwarded-For": "203.0.113.9", "X-Wisp-Source-Ip": "6.6.6.6"}
        async with gw.session.get(gw.url("/orders"), headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            events.append(json.loads(await resp.text()))
    untrusted, trusted = events
    assert untrusted["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"
    assert trusted["requestContext"]["identity"]["sourceIp"] == "203.0.113.9"
