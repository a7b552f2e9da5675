"""Lambda code unchanged (docs/lambda.md): context, environment, payload 1.0/2.0 HTTP events,
Lambda-shaped responses, and handlers as they are written for AWS, for every runtime that
offers them (Java's runtime has its own interfaces: not applicable there).

The gateway tells the runtime what it knows of an HTTP call in ``X-Wisp-*`` headers
(docs/runtime-contract.md); these tests send those headers themselves.
"""

from __future__ import annotations

import base64
import json
import os
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.runtimes.conftest import Running, Start
from tests.runtimes.languages import Language
from wisp.launcher import base_environment, install_dependencies

# Tests whose handlers every runtime of the table has (``echo``, ``value``) or that need no
# handler of a language's own: they run on Java too. The others use Python/Node.js handler
# fixtures written as AWS's samples write them; Java's AWS interfaces have their own tests
# (tests/runtimes/java/test_aws_*.py), and its environment is the entrypoint's
# (test_java_gets_lambdas_environment_from_its_entrypoint below).
EVERY_RUNTIME = frozenset(
    {
        "test_payload_1_0_is_complete",
        "test_payload_1_0_without_the_gateways_facts",
        "test_payload_2_0",
        "test_payload_2_0_binary_body_and_default_route",
        "test_unknown_payload_format_is_400",
        "test_raw_result_is_the_return_value_itself",
        "test_java_gets_lambdas_environment_from_its_entrypoint",
        "test_a_java_layers_jars_are_on_the_class_path",
        "test_log_tail_hands_back_the_calls_lines",
    }
)


@pytest.fixture(autouse=True)
def _lambda_runtimes_only(language: Language, request: pytest.FixtureRequest) -> None:
    if not language.lambda_parity and request.node.originalname not in EVERY_RUNTIME:
        pytest.skip(f"{language}'s runtime has its own handler interfaces, not Lambda's")


def _b64(value: Any) -> str:
    return base64.b64encode(json.dumps(value).encode()).decode()


async def _call(
    http: aiohttp.ClientSession,
    runtime: Running,
    *,
    method: str = "POST",
    path: str = "/",
    headers: Any = None,
    body: bytes = b"",
) -> tuple[int, Any, Any]:
    async with http.request(method, runtime.url + path, headers=headers, data=body) as response:
        raw = await response.read()
        return response.status, response.headers, json.loads(raw) if raw else None


# -- context and environment -------------------------------------------------------------------


async def test_context_and_environment_are_lambdas(
    start: Start, http: aiohttp.ClientSession, language: Language
) -> None:
    runtime = await start(
        "lambda_context",
        WISP_FUNCTION_NAME="orders",
        WISP_FUNCTION_NAMESPACE="shop",
        WISP_MEMORY_MB="512",
        WISP_REGION="eu-west-1",
    )
    status, _, body = await _call(http, runtime, body=b"{}", headers={"X-Wisp-Request-Id": "req-lc"})
    assert status == 200, body
    assert body["awsRequestId"] == "req-lc"
    assert body["functionName"] == "orders"
    assert body["functionVersion"] == "$LATEST"
    assert body["invokedFunctionArn"] == "arn:aws:lambda:eu-west-1:shop:function:orders"
    assert body["invokedFunctionArn"].split(":")[4] == "shop"  # what code reads as the account
    assert body["memoryLimitInMB"] == "512"
    assert body["logGroupName"] == "/aws/lambda/orders"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\]\S+", body["logStreamName"]), body
    assert 0 < body["remainingMs"] <= 10_000
    assert body["clientContext"] is None
    assert body["identity"] is None
    if language.name == "node":
        assert body["callbackWaitsForEmptyEventLoop"] is True

    env = body["env"]  # as the handler module saw it while it was imported
    flavour = "python" if language.name == "python" else "nodejs"
    assert env["AWS_EXECUTION_ENV"].startswith(f"AWS_Lambda_{flavour}")
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/orders"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == body["logStreamName"]
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["_HANDLER"] == language.handler("lambda_context")
    assert os.path.samefile(env["LAMBDA_TASK_ROOT"], language.handlers_dir)
    assert os.path.isdir(env["LAMBDA_RUNTIME_DIR"])
    assert env["TZ"] == base_environment().get("TZ", ":UTC")


async def test_account_id_and_the_functions_own_region(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("lambda_context", WISP_ACCOUNT_ID="123456789012", AWS_REGION="ap-south-1")
    status, _, body = await _call(http, runtime, body=b"{}")
    assert status == 200, body
    assert body["invokedFunctionArn"] == "arn:aws:lambda:ap-south-1:123456789012:function:contract"
    assert body["env"]["AWS_REGION"] == "ap-south-1"


async def test_default_region(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("lambda_context")
    _, _, body = await _call(http, runtime, body=b"{}")
    assert body["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:tests:function:contract"
    assert body["env"]["AWS_REGION"] == "us-east-1"


async def test_a_published_versions_context_names_it(
    start: Start, http: aiohttp.ClientSession, language: Language
) -> None:
    """The pods of version 3 (docs/releases.md) say so, as Lambda's do."""
    runtime = await start(
        "lambda_context",
        WISP_FUNCTION_NAME="orders",
        WISP_FUNCTION_VERSION="3",
        WISP_FUNCTION_NAMESPACE="shop",
        WISP_REGION="eu-west-1",
    )
    status, _, body = await _call(http, runtime, body=b"{}")
    assert status == 200, body
    assert (body["functionName"], body["functionVersion"]) == ("orders", "3")
    assert body["invokedFunctionArn"] == "arn:aws:lambda:eu-west-1:shop:function:orders:3"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[3\]\S+", body["logStreamName"]), body
    assert body["env"]["AWS_LAMBDA_FUNCTION_VERSION"] == "3"


async def test_client_context_and_identity(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("lambda_context")
    client = {"client": {"installation_id": "inst-1"}, "custom": {"k": "v"}, "env": {"locale": "en"}}
    identity = {"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"}
    headers = {"X-Wisp-Client-Context": _b64(client), "X-Wisp-Identity": _b64(identity)}
    status, _, body = await _call(http, runtime, body=b"{}", headers=headers)
    assert status == 200, body
    assert body["clientContext"] == client
    assert body["identity"] == identity
    status, _, body = await _call(http, runtime, body=b"{}", headers={"X-Wisp-Client-Context": "%%%"})
    assert status == 400
    assert body["errorType"] == "InvalidContextHeader"


# -- HTTP events -------------------------------------------------------------------------------

GATEWAY_HEADERS = {
    "X-Wisp-Event": "http",
    "X-Wisp-Request-Id": "req-http",
    "X-Wisp-Route": "/orders/{id}",
    "X-Wisp-Path-Params": "id=42&tag=a%20b",
    "X-Wisp-Source-Ip": "203.0.113.9",
    "X-Wisp-Host": "api.example.com",
    "X-Forwarded-For": "203.0.113.9, 10.0.0.5",
    "User-Agent": "curl/8.5.0",
    "Content-Type": "application/json",
}


async def test_payload_1_0_is_complete(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("echo")
    status, _, event = await _call(
        http,
        runtime,
        method="PATCH",
        path="/orders/42?a=1&a=2",
        headers=[*GATEWAY_HEADERS.items(), ("X-Multi", "1"), ("X-Multi", "2")],
        body=b'{"qty": 3}',
    )
    assert status == 200, event
    assert event["version"] == "1.0"
    assert event["resource"] == "/orders/{id}"
    assert event["path"] == "/orders/42"
    assert event["httpMethod"] == "PATCH"
    assert event["pathParameters"] == {"id": "42", "tag": "a b"}
    assert event["stageVariables"] is None
    assert event["queryStringParameters"] == {"a": "2"}
    assert event["multiValueQueryStringParameters"] == {"a": ["1", "2"]}
    assert event["headers"]["host"] == "api.example.com"
    assert event["headers"]["x-multi"] == "2"
    assert event["multiValueHeaders"]["x-multi"] == ["1", "2"]
    assert event["multiValueHeaders"]["host"] == ["api.example.com"]
    assert not [h for h in [*event["headers"], *event["multiValueHeaders"]] if h.startswith("x-wisp-")]
    assert event["body"] == '{"qty": 3}'
    assert event["isBase64Encoded"] is False
    context = event["requestContext"]
    assert context["accountId"] == "tests"
    assert context["identity"]["sourceIp"] == "203.0.113.9"
    assert context["identity"]["userAgent"] == "curl/8.5.0"
    assert context["stage"] == "$default"
    assert context["domainName"] == "api.example.com"
    assert context["domainPrefix"] == "api"
    assert context["resourcePath"] == "/orders/{id}"
    assert context["httpMethod"] == "PATCH"
    assert context["requestId"] == "req-http"
    assert context["path"] == "/orders/42"
    assert context["protocol"] == "HTTP/1.1"
    assert isinstance(context["requestTimeEpoch"], int) and context["requestTimeEpoch"] > 0
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", context["requestTime"])


async def test_payload_1_0_without_the_gateways_facts(start: Start, http: aiohttp.ClientSession) -> None:
    """What the headers every gateway already sends give: X-Forwarded-For's last hop (the
    gateway's peer) and X-Forwarded-Host; and with nothing, the connection's own peer."""
    runtime = await start("echo")
    forwarded = {
        "X-Wisp-Event": "http",
        "X-Forwarded-For": "198.51.100.1, 10.0.0.5",
        "X-Forwarded-Host": "shop.example.com",
    }
    _, _, event = await _call(http, runtime, method="GET", path="/items", headers=forwarded)
    assert event["requestContext"]["identity"]["sourceIp"] == "10.0.0.5"
    assert event["headers"]["host"] == "shop.example.com"
    assert event["pathParameters"] is None
    assert event["resource"] == event["requestContext"]["resourcePath"] == "/items"
    _, _, event = await _call(http, runtime, method="GET", path="/items", headers={"X-Wisp-Event": "http"})
    assert event["requestContext"]["identity"]["sourceIp"] == "127.0.0.1"


async def test_payload_2_0(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("echo")
    headers = [
        *GATEWAY_HEADERS.items(),
        ("X-Wisp-Payload-Format", "2.0"),
        ("X-Wisp-Route", "GET /orders/{id}"),
        ("Cookie", "a=1; b=2"),
        ("X-Multi", "1"),
        ("X-Multi", "2"),
    ]
    headers = [(k, v) for k, v in headers if (k, v) != ("X-Wisp-Route", "/orders/{id}")]
    status, _, event = await _call(
        http, runtime, method="GET", path="/orders/42?a=1&a=2&b=x", headers=headers
    )
    assert status == 200, event
    assert event["version"] == "2.0"
    assert event["routeKey"] == "GET /orders/{id}"
    assert event["rawPath"] == "/orders/42"
    assert event["rawQueryString"] == "a=1&a=2&b=x"
    assert event["cookies"] == ["a=1", "b=2"]
    assert "cookie" not in event["headers"]
    assert event["headers"]["x-multi"] == "1,2"
    assert event["headers"]["host"] == "api.example.com"
    assert not [h for h in event["headers"] if h.startswith("x-wisp-")]
    assert event["queryStringParameters"] == {"a": "1,2", "b": "x"}
    assert event["pathParameters"] == {"id": "42", "tag": "a b"}
    assert event["isBase64Encoded"] is False
    assert "body" not in event  # as HTTP APIs leave out what a request does not have
    assert "multiValueHeaders" not in event
    context = event["requestContext"]
    assert context["http"] == {
        "method": "GET",
        "path": "/orders/42",
        "protocol": "HTTP/1.1",
        "sourceIp": "203.0.113.9",
        "userAgent": "curl/8.5.0",
    }
    assert context["routeKey"] == "GET /orders/{id}"
    assert context["stage"] == "$default"
    assert context["requestId"] == "req-http"
    assert context["domainName"] == "api.example.com"
    assert context["accountId"] == "tests"
    assert isinstance(context["timeEpoch"], int)


async def test_payload_2_0_binary_body_and_default_route(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("echo")
    headers = {"X-Wisp-Event": "http", "X-Wisp-Payload-Format": "2.0", "Content-Type": "image/png"}
    _, _, event = await _call(http, runtime, path="/upload", headers=headers, body=b"\x89PNG\x00")
    assert event["routeKey"] == event["requestContext"]["routeKey"] == "$default"
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\x89PNG\x00"
    assert "queryStringParameters" not in event and "cookies" not in event
    assert event["rawQueryString"] == ""


async def test_unknown_payload_format_is_400(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("echo")
    headers = {"X-Wisp-Event": "http", "X-Wisp-Payload-Format": "3.0"}
    status, _, body = await _call(http, runtime, headers=headers)
    assert status == 400
    assert body["errorType"] == "InvalidPayloadFormat"


# -- responses ---------------------------------------------------------------------------------


async def test_cookies_and_a_numeric_string_status(start: Start, http: aiohttp.ClientSession) -> None:
    runtime = await start("value")
    value = {
        "statusCode": "201",
        "headers": {"Content-Type": "text/plain"},
        "multiValueHeaders": {"X-Tag": ["a", "b"]},
        "cookies": ["session=abc; Path=/; HttpOnly", "theme=dark"],
        "body": "made",
    }
    async with http.post(runtime.url, json={"value": value}) as response:
        assert response.status == 201
        assert await response.read() == b"made"
        assert response.headers.getall("Set-Cookie") == ["session=abc; Path=/; HttpOnly", "theme=dark"]
        assert response.headers.getall("X-Tag") == ["a", "b"]
    # A statusCode that is no number leaves the value what it was: data, sent as JSON.
    data = {"statusCode": "pending", "n": 1}
    async with http.post(runtime.url, json={"value": data}) as response:
        assert response.status == 200
        assert await response.json() == data


async def test_raw_result_is_the_return_value_itself(start: Start, http: aiohttp.ClientSession) -> None:
    """``X-Wisp-Raw-Result: 1`` (Lambda's Invoke API): the value comes back as JSON, even one
    shaped like an HTTP response; errors stay the contract's."""
    runtime = await start("value")
    value = {"statusCode": 404, "headers": {"X-Tag": "a"}, "body": "gone"}
    headers = {"X-Wisp-Raw-Result": "1"}
    async with http.post(runtime.url, json={"value": value}, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("application/json")
        assert "X-Tag" not in response.headers
        assert json.loads(await response.read()) == value
    async with http.post(runtime.url, json={"value": "text"}, headers=headers) as response:
        assert await response.read() == b'"text"'
    async with http.post(runtime.url, json={"value": value}) as response:
        assert response.status == 404  # without the header: shaped, as before
    boom = await start("boom")
    status, response_headers, body = await _call(http, boom, body=b'{"fail": true}', headers=headers)
    assert status == 500
    assert response_headers["X-Wisp-Error"] == "Unhandled"
    assert body["errorType"] in ("ValueError", "RangeError")


async def test_log_tail_hands_back_the_calls_lines(start: Start, http: aiohttp.ClientSession) -> None:
    """``X-Wisp-Log-Tail: 1`` (Lambda's ``LogType: Tail``): base64 of the last 4 KB of the call's
    log lines, in the same header; none without the header."""
    runtime = await start("echo_log")
    headers = {"X-Wisp-Log-Tail": "1", "X-Wisp-Request-Id": "req-tail"}
    async with http.post(runtime.url, json={"say": "x" * 3000}, headers=headers) as response:
        assert response.status == 200
        tail = base64.b64decode(response.headers["X-Wisp-Log-Tail"])
    assert len(tail) <= 4096
    lines = tail.decode().splitlines()
    assert all(json.loads(line)["requestId"] == "req-tail" for line in lines[1:])
    assert "end of call" in json.loads(lines[-1])["message"]
    async with http.post(runtime.url, json={"say": "y"}) as response:
        assert "X-Wisp-Log-Tail" not in response.headers


# -- Lambda code as it is written for AWS ------------------------------------------------------


async def test_aws_blueprint_microservice(start: Start, http: aiohttp.ClientSession) -> None:
    """AWS's microservice-http-endpoint blueprint: string status codes, payload 1.0."""
    runtime = await start("blueprint_microservice")
    headers = {"X-Wisp-Event": "http", "Content-Type": "application/json"}
    item = {"id": "1", "name": "lamp"}
    status, response_headers, body = await _call(
        http, runtime, headers=headers, body=json.dumps(item).encode()
    )
    assert status == 200, body
    assert response_headers["Content-Type"] == "application/json"
    status, _, body = await _call(http, runtime, method="GET", path="/?TableName=items", headers=headers)
    assert status == 200, body
    assert body["Items"] == [item]
    assert body["Query"] == {"TableName": "items"}
    async with http.put(runtime.url, headers=headers, data=b"{}") as response:
        assert response.status == 400
        text = await response.text()  # the Node.js blueprint sends it JSON-encoded, Python's not
        assert text in ('Unsupported method "PUT"', json.dumps('Unsupported method "PUT"'))


async def test_http_api_resolver_shape(start: Start, http: aiohttp.ClientSession) -> None:
    """What Powertools' APIGatewayHttpResolver reads of a 2.0 event and how it answers."""
    runtime = await start("http_api_resolver")
    headers = {
        **GATEWAY_HEADERS,
        "X-Wisp-Payload-Format": "2.0",
        "X-Wisp-Route": "GET /todos/{id}",
        "X-Wisp-Path-Params": "id=7",
        "Cookie": "visited=1",
    }
    async with http.get(runtime.url + "/todos/7?verbose=1", headers=headers) as response:
        assert response.status == 200, await response.text()
        assert response.headers.getall("Set-Cookie") == ["session=abc; Path=/; HttpOnly", "theme=dark"]
        body = await response.json()
    assert body == {
        "todo": "7",
        "cookies": ["visited=1"],
        "query": {"verbose": "1"},
        "sourceIp": "203.0.113.9",
        "userAgent": "curl/8.5.0",
        "host": "api.example.com",
        "wisp": [],
    }


async def test_event_loop_idioms_of_sync_handlers(
    start: Start, http: aiohttp.ClientSession, language: Language
) -> None:
    if language.name != "python":
        pytest.skip("a Python idiom")
    runtime = await start("loop_styles", WISP_CONCURRENCY="1")  # one thread: each call reuses it
    for n, style in enumerate(("loop", "run", "loop", "loop")):
        async with http.post(runtime.url, json={"style": style, "n": n}) as response:
            assert response.status == 200, await response.text()
            assert await response.json() == {"result": 2 * n}, style


async def test_callback_without_waiting_for_the_event_loop(
    start: Start, http: aiohttp.ClientSession, language: Language
) -> None:
    if language.name != "node":
        pytest.skip("a Node.js idiom")
    runtime = await start("callback_busy_loop")
    async with http.post(runtime.url, json={}) as response:
        assert response.status == 201
        assert await response.json() == {"pending": True}


async def test_es_module_with_top_level_await(
    start: Start, http: aiohttp.ClientSession, language: Language, tmp_path: Path
) -> None:
    if language.name != "node":
        pytest.skip("a Node.js module form")
    (tmp_path / "app.mjs").write_text(
        "const config = await Promise.resolve({ table: process.env.AWS_LAMBDA_FUNCTION_NAME });\n"
        "export const handler = async (event, context) => ({\n"
        "  ...config, arn: context.invokedFunctionArn, got: event.n,\n"
        "});\n"
    )
    runtime = await start("", code_dir=tmp_path, handler_ref="app.handler")
    async with http.post(runtime.url, json={"n": 1}) as response:
        assert response.status == 200, await response.text()
        assert await response.json() == {
            "table": "contract",
            "arn": "arn:aws:lambda:us-east-1:tests:function:contract",
            "got": 1,
        }


MANGUM_APP = """\
from mangum import Mangum


async def app(scope, receive, send):
    assert scope["type"] == "http"
    request = await receive()
    body = {
        "method": scope["method"],
        "path": scope["path"],
        "query": scope["query_string"].decode(),
        "client": scope["client"][0] if scope.get("client") else None,
        "host": dict(scope["headers"]).get(b"host", b"").decode(),
        "body": request.get("body", b"").decode(),
    }
    import json

    await send({"type": "http.response.start", "status": 201,
                "headers": [(b"content-type", b"application/json"), (b"set-cookie", b"a=1")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


handler = Mangum(app, lifespan="off")
"""


@pytest.mark.parametrize("payload_format", ["1.0", "2.0"])
async def test_mangum_asgi_app(
    start: Start, http: aiohttp.ClientSession, language: Language, tmp_path: Path, payload_format: str
) -> None:
    """FastAPI-on-Lambda's adapter, a plain ``def`` handler that drives the thread's event loop."""
    if language.name != "python":
        pytest.skip("a Python library")
    code_dir = tmp_path / "code"
    deps_dir = tmp_path / "deps"
    code_dir.mkdir()
    (code_dir / "requirements.txt").write_text("mangum==0.22.0\n")
    (code_dir / "main.py").write_text(MANGUM_APP)
    await install_dependencies(language.runtime, code_dir, deps_dir, log_sink=lambda line: None)
    runtime = await start("", code_dir=code_dir, handler_ref="main.handler", WISP_DEPS_DIR=str(deps_dir))
    headers = {**GATEWAY_HEADERS, "X-Wisp-Payload-Format": payload_format}
    async with http.post(runtime.url + "/orders/42?x=1", headers=headers, data=b'{"a": 1}') as response:
        assert response.status == 201, await response.text()
        assert response.headers.getall("Set-Cookie") == ["a=1"]
        body = await response.json()
    assert body == {
        "method": "POST",
        "path": "/orders/42",
        "query": "x=1",
        "client": "203.0.113.9",
        "host": "api.example.com",
        "body": '{"a": 1}',
    }


# -- the AWS SDK, as Lambda's runtimes include it -------------------------------------------------

SDK_HANDLERS = {
    "python": (
        "main.py",
        "import boto3\n\n"
        "s3 = boto3.client('s3')  # at import, as Lambda code builds its clients\n\n\n"
        "def handler(event, context):\n"
        "    return {'version': boto3.__version__, 'region': s3.meta.region_name,\n"
        "            'from': boto3.__file__}\n",
    ),
    "node": (
        "index.js",
        "const { S3Client } = require('@aws-sdk/client-s3');\n"
        "const { DynamoDBDocumentClient } = require('@aws-sdk/lib-dynamodb');\n"
        "const { DynamoDBClient } = require('@aws-sdk/client-dynamodb');\n"
        "const s3 = new S3Client({});\n"
        "DynamoDBDocumentClient.from(new DynamoDBClient({}));\n"
        "exports.handler = async () => ({\n"
        "  version: require('@aws-sdk/client-s3/package.json').version,\n"
        "  region: await s3.config.region(),\n"
        "  from: require.resolve('@aws-sdk/client-s3'),\n"
        "});\n",
    ),
}


def _image_sdk(language: Language) -> Path:
    from tests.support.awssdk import image_node_sdk, image_python_sdk

    return image_python_sdk() if language.name == "python" else image_node_sdk()


async def test_the_aws_sdk_is_there_without_bundling(
    start: Start, http: aiohttp.ClientSession, language: Language, tmp_path: Path
) -> None:
    """``import boto3`` / ``require('@aws-sdk/client-s3')`` in code that does not bring them,
    from the SDK the image installs (WISP_AWS_SDK_DIR), with clients built at import time."""
    sdk = _image_sdk(language)
    name, source = SDK_HANDLERS[language.name]
    (tmp_path / name).write_text(source)
    module = name.split(".")[0]
    runtime = await start(
        "",
        code_dir=tmp_path,
        handler_ref=f"{module}.handler",
        WISP_AWS_SDK_DIR=str(sdk),
        WISP_REGION="eu-west-1",
    )
    status, _, body = await _call(http, runtime, body=b"{}")
    assert status == 200, body
    assert body["region"] == "eu-west-1"
    assert body["from"].startswith(str(sdk)), body
    assert re.fullmatch(r"\d+\.\d+\.\d+", body["version"]), body


async def test_the_sdk_is_an_es_module_import_too(
    start: Start, http: aiohttp.ClientSession, language: Language, tmp_path: Path
) -> None:
    if language.name != "node":
        pytest.skip("a Node.js module form")
    sdk = _image_sdk(language)
    (tmp_path / "app.mjs").write_text(
        "import { S3Client, ListBucketsCommand } from '@aws-sdk/client-s3';\n"
        "const s3 = new S3Client({});\n"
        "export const handler = async () => ({\n"
        "  region: await s3.config.region(), command: new ListBucketsCommand({}).constructor.name,\n"
        "});\n"
    )
    runtime = await start("", code_dir=tmp_path, handler_ref="app.handler", WISP_AWS_SDK_DIR=str(sdk))
    status, _, body = await _call(http, runtime, body=b"{}")
    assert status == 200, body
    assert body == {"region": "us-east-1", "command": "ListBucketsCommand"}


async def test_a_functions_own_sdk_wins(
    start: Start, http: aiohttp.ClientSession, language: Language, tmp_path: Path
) -> None:
    """As on Lambda, a copy the function brings is used rather than the runtime's."""
    sdk = _image_sdk(language)
    if language.name == "python":
        (tmp_path / "boto3").mkdir()
        (tmp_path / "boto3" / "__init__.py").write_text("__version__ = 'bundled'\n")
        (tmp_path / "main.py").write_text(
            "import boto3\n\n\ndef handler(event, context):\n    return {'version': boto3.__version__}\n"
        )
        handler = "main.handler"
    else:
        package = tmp_path / "node_modules" / "@aws-sdk" / "client-s3"
        package.mkdir(parents=True)
        (package / "package.json").write_text('{"name": "@aws-sdk/client-s3", "version": "bundled"}')
        (package / "index.js").write_text("exports.version = 'bundled';\n")
        (tmp_path / "index.js").write_text(
            "exports.handler = async () => ({ version: require('@aws-sdk/client-s3').version });\n"
        )
        handler = "index.handler"
    runtime = await start("", code_dir=tmp_path, handler_ref=handler, WISP_AWS_SDK_DIR=str(sdk))
    status, _, body = await _call(http, runtime, body=b"{}")
    assert status == 200, body
    assert body == {"version": "bundled"}


# -- layers: files under /opt, on the search paths Lambda puts them on ---------------------------


async def test_a_layers_packages_import_from_opt(
    start: Start, http: aiohttp.ClientSession, language: Language, tmp_path: Path
) -> None:
    """A layer's ``python/`` (and ``python/lib/pythonX.Y/site-packages``) are on sys.path, its
    ``nodejs/node_modules`` on NODE_PATH and in ES module resolution; the function's own code
    and the layer's files are both there to read."""
    opt, code = tmp_path / "opt", tmp_path / "code"
    code.mkdir()
    (opt / "etc").mkdir(parents=True)
    (opt / "etc" / "greeting.txt").write_text("hello")
    if language.name == "python":
        (opt / "python" / "shared").mkdir(parents=True)
        (opt / "python" / "shared" / "__init__.py").write_text("def word():\n    return 'from the layer'\n")
        (code / "main.py").write_text(
            "import shared\n\n\ndef handler(event, context):\n"
            "    return {'word': shared.word(), 'file': open('/opt/etc/greeting.txt'.replace('/opt',"
            " __import__('os').environ['WISP_LAYERS_DIR'])).read()}\n"
        )
        handlers = ["main.handler"]
    else:
        package = opt / "nodejs" / "node_modules" / "shared"
        package.mkdir(parents=True)
        (package / "index.js").write_text("exports.word = () => 'from the layer';\n")
        (code / "index.js").write_text(
            "const shared = require('shared');\nconst fs = require('node:fs');\n"
            "exports.handler = async () => ({ word: shared.word(),\n"
            "  file: fs.readFileSync(`${process.env.WISP_LAYERS_DIR}/etc/greeting.txt`, 'utf8') });\n"
        )
        (code / "app.mjs").write_text(
            "import { word } from 'shared';\nimport fs from 'node:fs';\n"
            "export const handler = async () => ({ word: word(),\n"
            "  file: fs.readFileSync(`${process.env.WISP_LAYERS_DIR}/etc/greeting.txt`, 'utf8') });\n"
        )
        handlers = ["index.handler", "app.handler"]
    for handler in handlers:
        runtime = await start("", code_dir=code, handler_ref=handler, WISP_LAYERS_DIR=str(opt))
        status, _, body = await _call(http, runtime, body=b"{}")
        assert status == 200, (handler, body)
        assert body == {"word": "from the layer", "file": "hello"}, handler


async def test_the_functions_own_module_wins_over_a_layers(
    start: Start, http: aiohttp.ClientSession, language: Language, tmp_path: Path
) -> None:
    opt, code = tmp_path / "opt", tmp_path / "code"
    code.mkdir()
    if language.name == "python":
        (opt / "python").mkdir(parents=True)
        (opt / "python" / "shared.py").write_text("WHO = 'layer'\n")
        (code / "shared.py").write_text("WHO = 'function'\n")
        (code / "main.py").write_text(
            "import shared\n\n\ndef handler(event, context):\n    return shared.WHO\n"
        )
        handler = "main.handler"
    else:
        (opt / "nodejs" / "node_modules" / "shared").mkdir(parents=True)
        (opt / "nodejs" / "node_modules" / "shared" / "index.js").write_text("module.exports = 'layer';\n")
        (code / "node_modules" / "shared").mkdir(parents=True)
        (code / "node_modules" / "shared" / "index.js").write_text("module.exports = 'function';\n")
        (code / "index.js").write_text("exports.handler = async () => require('shared');\n")
        handler = "index.handler"
    runtime = await start("", code_dir=code, handler_ref=handler, WISP_LAYERS_DIR=str(opt))
    status, _, body = await _call(http, runtime, body=b"{}")
    assert (status, body) == (200, "function")


JAVA_ENV_HANDLER = """\
import dev.wisp.runtime.Context;
import dev.wisp.runtime.RequestHandler;
import java.util.Map;

public class Env implements RequestHandler<Map<String, Object>, Map<String, String>> {
    @Override
    public Map<String, String> handleRequest(Map<String, Object> event, Context context) {
        return System.getenv();
    }
}
"""


async def test_java_gets_lambdas_environment_from_its_entrypoint(
    start: Start, http: aiohttp.ClientSession, language: Language, tmp_path: Path
) -> None:
    """A JVM cannot set its own environment: the image's entrypoint sets Lambda's reserved
    variables, and a runtime started locally (wisp dev) goes through the same entrypoint."""
    if language.name != "java":
        pytest.skip("Python and Node.js: test_context_and_environment_are_lambdas")
    (tmp_path / "Env.java").write_text(JAVA_ENV_HANDLER)
    runtime = await start(
        "",
        code_dir=tmp_path,
        handler_ref="Env",
        WISP_FUNCTION_NAME="orders",
        WISP_MEMORY_MB="512",
        WISP_REGION="eu-west-1",
    )
    status, _, env = await _call(http, runtime, body=b"{}")
    assert status == 200, env
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_java{language.runtime.version}"
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "orders"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/orders"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\]\S+", env["AWS_LAMBDA_LOG_STREAM_NAME"]), env
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert env["_HANDLER"] == "Env"
    assert env["LAMBDA_TASK_ROOT"] == str(tmp_path)
    assert env["TZ"] == ":UTC"


async def test_a_java_layers_jars_are_on_the_class_path(
    start: Start, http: aiohttp.ClientSession, language: Language, tmp_path: Path
) -> None:
    """Lambda's /opt/java/lib: a layer's jars are on the function's class path, after its own."""
    if language.name != "java":
        pytest.skip("a Java layer")
    import shutil
    import subprocess

    javac, jar = shutil.which("javac"), shutil.which("jar")
    if not javac or not jar:
        pytest.skip("needs a JDK's javac and jar")
    build, opt, code = tmp_path / "build", tmp_path / "opt", tmp_path / "code"
    (build / "shared").mkdir(parents=True)
    (build / "shared" / "Words.java").write_text(
        "package shared;\npublic final class Words {\n"
        '    public static String word() { return "from the layer"; }\n}\n'
    )
    subprocess.run([javac, "-d", str(build / "classes"), str(build / "shared" / "Words.java")], check=True)
    (opt / "java" / "lib").mkdir(parents=True)
    subprocess.run(
        [jar, "cf", str(opt / "java" / "lib" / "shared.jar"), "-C", str(build / "classes"), "."], check=True
    )
    code.mkdir()
    (code / "Uses.java").write_text(
        "import dev.wisp.runtime.Context;\nimport dev.wisp.runtime.RequestHandler;\nimport java.util.Map;\n\n"
        "public class Uses implements RequestHandler<Map<String, Object>, String> {\n"
        "    @Override\n    public String handleRequest(Map<String, Object> event, Context context) {\n"
        "        return shared.Words.word();\n    }\n}\n"
    )
    runtime = await start("", code_dir=code, handler_ref="Uses", WISP_LAYERS_DIR=str(opt))
    status, _, body = await _call(http, runtime, body=b"{}")
    assert (status, body) == (200, "from the layer")
