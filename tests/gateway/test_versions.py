"""Versions and aliases through a running gateway: ``/function/NAME:QUALIFIER``, Triggers and
Lambda's ``Qualifier`` reach a version's own upstream; a weighted alias splits calls by the
registry's draw (a deterministic sequence here); ``X-Wisp-Version`` says who served."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections import Counter
from typing import Any

from tests.gateway.conftest import GatewayFactory, GatewayUnderTest, Runtimes, make_function
from tests.gateway.test_lambda_invoke import _client, _in_thread
from tests.support.datapath import BOTH_PATHS
from wisp.api.function import Function
from wisp.api.trigger import parse_trigger
from wisp.gateway.backend import FunctionInfo
from wisp.gateway.static import StaticBackend

pytestmark = BOTH_PATHS


def code(label: str) -> dict[str, Any]:
    return {"inline": f"def handler(event, context):\n    return {{'served': {label!r}}}\n"}


def hello(**aliases: Any) -> Function:
    return make_function("hello", code=code("latest"), aliases=aliases)


async def versioned_gateway(gateway_factory: GatewayFactory, runtimes: Runtimes) -> GatewayUnderTest:
    """hello ($LATEST) with versions 1 and 2 as upstreams of their own, each a runtime."""
    backend = StaticBackend()
    latest = hello(prod={"version": 1, "additionalVersionWeights": {"2": 10}})
    backend.set_function(FunctionInfo(latest))
    backend.set_endpoints(latest.key, ((await runtimes.start(latest)).endpoint,))
    for number in (1, 2):
        fn = make_function(f"hello-v{number}", code=code(str(number)))
        backend.set_function(FunctionInfo(fn, version=str(number)))
        backend.set_endpoints(fn.key, ((await runtimes.start(fn)).endpoint,))
    return await gateway_factory(backend)


def sequence_draw(gw: GatewayUnderTest) -> None:
    """Draws 0.00, 0.01, ..., 0.99, again and again: exactly the weights, per hundred calls."""
    draws = itertools.cycle([i / 100 for i in range(100)])
    gw.parts.registry.draw = lambda: next(draws)


async def call(gw: GatewayUnderTest, path: str) -> tuple[int, str, dict[str, Any]]:
    async with gw.session.post(gw.url(path), data=b"{}") as resp:
        return resp.status, resp.headers.get("X-Wisp-Version", ""), await resp.json()


async def test_qualifiers_reach_versions_and_say_which_served(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await versioned_gateway(gateway_factory, runtimes)
    for path, version in (
        ("/function/hello", "$LATEST"),
        ("/function/hello:$LATEST", "$LATEST"),
        ("/function/hello.default:1", "1"),
        ("/function/hello:2/sub/path", "2"),
    ):
        status, served, body = await call(gw, path)
        assert (status, served) == (200, version), (path, body)
        assert body == {"served": "latest" if version == "$LATEST" else version}
    for path, message in (
        ("/function/hello:3", "version 3 of hello.default not found"),
        ("/function/hello:beta", "function hello.default has no alias or version beta"),
        ("/function/hello-v1", "not found"),  # a version is reached through its Function only
        ("/function/hello:no!", "DNS labels"),
    ):
        status, _, body = await call(gw, path)
        assert status == 404 and message in body["errorMessage"], (path, body)


async def test_a_weighted_alias_splits_by_the_draw(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await versioned_gateway(gateway_factory, runtimes)
    sequence_draw(gw)
    served: Counter[str] = Counter()
    for _ in range(20):
        answers = await asyncio.gather(*(call(gw, "/function/hello:prod") for _ in range(100)))
        served.update(version for status, version, _ in answers if status == 200)
    assert served == {"1": 1800, "2": 200}


async def test_an_alias_change_applies_to_the_next_call(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await versioned_gateway(gateway_factory, runtimes)
    assert (await call(gw, "/function/hello:prod"))[1] in ("1", "2")
    gw.backend.set_function(FunctionInfo(hello(prod={"version": 2})))
    answers = await asyncio.gather(*(call(gw, "/function/hello:prod") for _ in range(50)))
    assert {(status, version) for status, version, _ in answers} == {(200, "2")}


async def test_a_trigger_and_lambdas_qualifier_name_versions(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await versioned_gateway(gateway_factory, runtimes)
    gw.backend.set_trigger(
        parse_trigger(
            {
                "metadata": {"name": "canary", "namespace": "default"},
                "spec": {"function": "hello", "qualifier": "2", "http": {"path": "/canary"}},
            }
        )
    )
    async with gw.session.get(gw.url("/canary")) as resp:
        assert resp.status == 200 and resp.headers["X-Wisp-Version"] == "2"
    client = _client(gw)
    answer = await _in_thread(client.invoke, FunctionName="hello", Qualifier="1", Payload=b"{}")
    assert json.loads(answer["Payload"].read()) == {"served": "1"}
    assert answer["ExecutedVersion"] == "1"
    answer = await _in_thread(client.invoke, FunctionName="hello:2", Payload=b"{}")
    assert answer["ExecutedVersion"] == "2"
    dry = await _in_thread(client.invoke, FunctionName="hello", Qualifier="2", InvocationType="DryRun")
    assert dry["StatusCode"] == 204
    for kwargs in ({"Qualifier": "7"}, {"Qualifier": "beta"}):
        try:
            await _in_thread(client.invoke, FunctionName="hello", Payload=b"{}", **kwargs)
        except client.exceptions.ResourceNotFoundException:
            continue
        raise AssertionError(f"{kwargs} was found")


async def test_metrics_count_each_version_under_its_function(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await versioned_gateway(gateway_factory, runtimes)
    for path in ("/function/hello", "/function/hello:1", "/function/hello:2", "/function/hello:2"):
        assert (await call(gw, path))[0] == 200
    async with gw.session.get(gw.admin_url("/metrics")) as resp:
        text = await resp.text()
    lines = {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line[:1] != "#"
    }
    series = 'wisp_version_invocations_total{code="200",function="hello",namespace="default",version="%s"}'
    assert [lines[series % v] for v in ("$LATEST", "1", "2")] == [1, 1, 2]
    assert lines['wisp_invocations_total{code="200",function="hello",namespace="default"}'] == 4
    assert not any(line.startswith("wisp_invocations_total") and "hello-v" in line for line in lines)
