"""Lambda's Invoke API on the gateway, called with the AWS SDKs themselves (boto3, and the SDK
for JavaScript v3's Lambda client), against real Python and Node.js runtimes: the payload both
ways exactly, function errors, ARNs and qualifiers, dry runs, client context, Event invocations
and Lambda's API errors."""

from __future__ import annotations

import asyncio
import base64
import importlib
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from aiohttp import web

from tests.gateway.conftest import GatewayFactory, GatewayUnderTest, Runtimes, info, make_function
from tests.support.awssdk import boto3_path, js_invoke_command
from tests.support.datapath import BOTH_PATHS
from wisp.api.function import Function
from wisp.gateway.lambda_api import EVENTS
from wisp.gateway.state import Components
from wisp.gateway.static import StaticBackend

pytestmark = BOTH_PATHS

PYTHON = """
def handler(event, context):
    print("working on", event)
    if event.get("fail"):
        raise ValueError("no " + event["fail"])
    custom = context.client_context.custom if context.client_context else None
    return {"statusCode": 201, "body": "not an HTTP answer", "event": event, "custom": custom,
            "arn": context.invoked_function_arn}
"""
NODE = """
exports.handler = async (event, context) => {
  console.log('working on', event);
  if (event.fail) throw new TypeError('no ' + event.fail);
  const custom = context.clientContext ? context.clientContext.custom : null;
  return { statusCode: 201, body: 'not an HTTP answer', event, custom, arn: context.invokedFunctionArn };
};
"""


def _function(runtime: str) -> Function:
    if runtime == "python":
        return make_function("orders", code={"inline": PYTHON})
    return make_function("orders", runtime="nodejs20", handler="index.handler", code={"inline": NODE})


def _client(gw: GatewayUnderTest) -> Any:
    boto3_path()
    boto3 = importlib.import_module("boto3")
    config = importlib.import_module("botocore.config")
    return boto3.client(
        "lambda",
        endpoint_url=gw.url("/"),
        region_name="us-east-1",
        aws_access_key_id="wisp",
        aws_secret_access_key="unused",
        config=config.Config(retries={"max_attempts": 1}),
    )


async def _gateway(
    gateway_factory: GatewayFactory, runtimes: Runtimes, runtime: str, **kwargs: Any
) -> GatewayUnderTest:
    fn = _function(runtime)
    started = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (started.endpoint,))
    return await gateway_factory(backend, **kwargs)


async def _in_thread(call: Callable[..., Any], **kwargs: Any) -> Any:
    return await asyncio.to_thread(call, **kwargs)


@pytest.mark.parametrize("runtime", ["python", "node"])
async def test_request_response_returns_the_value_itself(
    gateway_factory: GatewayFactory, runtimes: Runtimes, runtime: str
) -> None:
    gw = await _gateway(gateway_factory, runtimes, runtime)
    client = _client(gw)
    context = base64.b64encode(json.dumps({"custom": {"tenant": "t1"}}).encode()).decode()
    answer = await _in_thread(
        client.invoke, FunctionName="orders", Payload=b'{"id": 42}', ClientContext=context, LogType="Tail"
    )
    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in answer
    log = base64.b64decode(answer["LogResult"]).decode()
    assert "working on" in log
    assert len(base64.b64decode(answer["LogResult"])) <= 4096
    value = json.loads(answer["Payload"].read())
    assert value == {
        "statusCode": 201,  # data, not an HTTP answer: the SDK's caller gets what was returned
        "body": "not an HTTP answer",
        "event": {"id": 42},
        "custom": {"tenant": "t1"},
        "arn": "arn:aws:lambda:us-east-1:default:function:orders",
    }


@pytest.mark.parametrize("runtime", ["python", "node"])
async def test_a_handler_error_is_lambdas_function_error(
    gateway_factory: GatewayFactory, runtimes: Runtimes, runtime: str
) -> None:
    gw = await _gateway(gateway_factory, runtimes, runtime)
    answer = await _in_thread(_client(gw).invoke, FunctionName="orders", Payload=b'{"fail": "stock"}')
    assert answer["StatusCode"] == 200
    assert answer["FunctionError"] == "Unhandled"
    error = json.loads(answer["Payload"].read())
    assert error["errorMessage"] == "no stock"
    assert error["errorType"] == ("ValueError" if runtime == "python" else "TypeError")
    assert isinstance(error["stackTrace"], list)


async def test_names_arns_qualifiers_and_dry_runs(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await _gateway(gateway_factory, runtimes, "python")
    client = _client(gw)
    for name in ("orders.default", "orders:$LATEST", "arn:aws:lambda:us-east-1:default:function:orders"):
        answer = await _in_thread(client.invoke, FunctionName=name, Payload=b"{}")
        assert json.loads(answer["Payload"].read())["event"] == {}, name
    answer = await _in_thread(client.invoke, FunctionName="orders", Qualifier="$LATEST", Payload=b"{}")
    assert answer["StatusCode"] == 200
    answer = await _in_thread(client.invoke, FunctionName="orders", InvocationType="DryRun")
    assert answer["StatusCode"] == 204
    for kwargs in (
        {"FunctionName": "ghost"},
        {"FunctionName": "orders.elsewhere"},
        {"FunctionName": "arn:aws:lambda:us-east-1:elsewhere:function:orders"},
        {"FunctionName": "orders", "Qualifier": "1"},
        {"FunctionName": "orders:prod"},
        {"FunctionName": "ghost", "InvocationType": "DryRun"},
    ):
        with pytest.raises(client.exceptions.ResourceNotFoundException):
            await _in_thread(client.invoke, Payload=b"{}", **kwargs)


async def test_the_account_id_names_the_default_namespace(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await _gateway(gateway_factory, runtimes, "python", account_id="123456789012")
    client = _client(gw)
    arn = "arn:aws:lambda:eu-west-1:123456789012:function:orders"
    answer = await _in_thread(client.invoke, FunctionName=arn, Payload=b"{}")
    assert answer["StatusCode"] == 200


async def test_a_payload_that_is_not_json_is_invalid_request_content(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await _gateway(gateway_factory, runtimes, "python")
    client = _client(gw)
    with pytest.raises(client.exceptions.InvalidRequestContentException):
        await _in_thread(client.invoke, FunctionName="orders", Payload=b"{not json")


async def test_event_goes_through_the_async_path(gateway_factory: GatewayFactory, runtimes: Runtimes) -> None:
    submitted: list[tuple[str, bytes, dict[str, str]]] = []

    async def submit(
        function_key: str,
        payload: bytes,
        request_headers: Mapping[str, str],
        extra: Mapping[str, str],
        qualifier: str = "",
    ) -> str:
        assert qualifier == ""  # $LATEST
        submitted.append((function_key, payload, dict(extra)))
        return "inv-1"

    def events(app: web.Application, parts: Components) -> None:
        app[EVENTS] = submit  # what the queue's extension installs

    gw = await _gateway(gateway_factory, runtimes, "python", extensions=[events])
    answer = await _in_thread(
        _client(gw).invoke, FunctionName="orders", InvocationType="Event", Payload=b"{}", ClientContext="e30="
    )
    assert answer["StatusCode"] == 202
    [(key, body, headers)] = submitted
    assert (key, body) == ("orders.default", b"{}")
    assert headers["X-Wisp-Client-Context"] == "e30="  # the delivery's client context


async def test_event_without_the_event_path_says_so(
    gateway_factory: GatewayFactory, runtimes: Runtimes
) -> None:
    gw = await _gateway(gateway_factory, runtimes, "python")
    async with gw.session.post(
        gw.url("/2015-03-31/functions/orders/invocations"),
        data=b"{}",
        headers={"X-Amz-Invocation-Type": "Event"},
    ) as resp:
        assert resp.status == 503
        assert resp.headers["x-amzn-ErrorType"] == "ServiceException"


async def _js_invoke(
    gw: GatewayUnderTest, request: dict[str, Any], key: str = "wisp", secret: str = "x"
) -> Any:
    command = await asyncio.to_thread(js_invoke_command, gw.url("/"), key, secret, request)
    process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
    out, _ = await process.communicate()
    assert process.returncode == 0
    return json.loads(out)


@pytest.mark.parametrize("runtime", ["python", "node"])
async def test_the_javascript_sdk_invokes_too(
    gateway_factory: GatewayFactory, runtimes: Runtimes, runtime: str
) -> None:
    gw = await _gateway(gateway_factory, runtimes, runtime)
    answer = await _js_invoke(gw, {"FunctionName": "orders", "Payload": '{"id": 7}'})
    assert answer["StatusCode"] == 200
    assert answer["ExecutedVersion"] == "$LATEST"
    assert json.loads(answer["Payload"])["event"] == {"id": 7}
    answer = await _js_invoke(gw, {"FunctionName": "orders", "Payload": '{"fail": "x"}'})
    assert answer["FunctionError"] == "Unhandled"
    answer = await _js_invoke(gw, {"FunctionName": "ghost", "Payload": "{}"})
    assert answer == {"error": "ResourceNotFoundException", "status": 404}


async def test_each_invoke_runs_the_handler_once(gateway_factory: GatewayFactory, runtimes: Runtimes) -> None:
    fn = make_function(
        "counter",
        code={
            "inline": "CALLS = [0]\n\ndef handler(event, context):\n    CALLS[0] += 1\n    return CALLS[0]\n"
        },
    )
    started = await runtimes.start(fn)
    backend = StaticBackend()
    backend.set_function(info(fn))
    backend.set_endpoints(fn.key, (started.endpoint,))
    gw = await gateway_factory(backend)
    client = _client(gw)
    for expected in (1, 2, 3):
        answer = await _in_thread(client.invoke, FunctionName="counter", Payload=b"{}")
        assert json.loads(answer["Payload"].read()) == expected
