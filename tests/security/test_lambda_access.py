"""Access to Lambda's Invoke API: an AWS SDK's SigV4 signature proves a wisp token (the access
key id names the Function's token Secret, the secret key is one of its tokens), checked by the
gateway with the SDK's own signer on the other side; a bearer token works too."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from typing import Any

import pytest

from tests.security.support import SecuredGateway, function
from tests.support.awssdk import boto3_path, js_invoke_command
from tests.support.datapath import BOTH_PATHS
from wisp.gateway.fastpath import FastServer
from wisp.security import sigv4

pytestmark = [pytest.mark.asyncio(loop_scope="module"), BOTH_PATHS]

TOKEN_ACCESS = {"tokenSecrets": [{"name": "callers", "key": "token"}]}
INVOKE = "/2015-03-31/functions/{}/invocations"


def _client(gw: SecuredGateway, key_id: str, secret: str) -> Any:
    boto3_path()
    boto3 = importlib.import_module("boto3")
    config = importlib.import_module("botocore.config")
    return boto3.client(
        "lambda",
        endpoint_url=gw.url("/"),
        region_name="eu-west-1",
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        config=config.Config(retries={"max_attempts": 1}),
    )


async def _status(client: Any, **kwargs: Any) -> int:
    def call() -> int:
        try:
            answer = client.invoke(**kwargs)
        except client.exceptions.ClientError as exc:
            return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])
        return int(answer["StatusCode"])

    return await asyncio.to_thread(call)


async def test_sdk_signatures_prove_a_token(gateway: SecuredGateway, fast_path: bool) -> None:
    gateway.add(function("private", TOKEN_ACCESS))
    gateway.secrets.put("default", "callers", {"token": "old-token\nnew-token\n"})
    for secret in ("old-token", "new-token"):
        client = _client(gateway, "callers", secret)
        answer = await asyncio.to_thread(
            client.invoke, FunctionName="private", Payload=b'{"n": 1}', Qualifier="$LATEST"
        )
        assert answer["StatusCode"] == 200
        assert json.loads(answer["Payload"].read()) == {"echo": {"n": 1}}
    arn = "arn:aws:lambda:eu-west-1:default:function:private"
    assert await _status(_client(gateway, "callers", "new-token"), FunctionName=arn, Payload=b"{}") == 200
    # A wrong secret, a key id that names no token Secret of the function, an unknown function.
    assert await _status(_client(gateway, "callers", "wrong"), FunctionName="private", Payload=b"{}") == 403
    assert await _status(_client(gateway, "other", "new-token"), FunctionName="private", Payload=b"{}") == 403
    assert await _status(_client(gateway, "callers", "new-token"), FunctionName="ghost", Payload=b"{}") == 403
    assert (
        await _status(
            _client(gateway, "callers", "new-token"), FunctionName="private", InvocationType="DryRun"
        )
        == 204
    )
    if fast_path:
        server = gateway.server.runner.server if gateway.server.runner is not None else None
        assert isinstance(server, FastServer)
        # Every call but the unknown function's was the fast path's (signed, a percent-encoded
        # ARN and all); a function the gateway does not know is answered by aiohttp's path.
        assert server.handed_off == 1


async def test_a_stale_signature_is_refused(gateway: SecuredGateway) -> None:
    gateway.add(function("private", TOKEN_ACCESS))
    gateway.secrets.put("default", "callers", {"token": "tok"})
    guard = gateway.security.guard
    guard.wall_clock = lambda: time.time() + sigv4.TOLERANCE + 60
    try:
        assert await _status(_client(gateway, "callers", "tok"), FunctionName="private", Payload=b"{}") == 403
    finally:
        guard.wall_clock = time.time


async def test_no_credentials_and_bearer_tokens(gateway: SecuredGateway) -> None:
    gateway.add(function("private", TOKEN_ACCESS))
    gateway.secrets.put("default", "callers", {"token": "tok"})
    status, _, _ = await gateway.call(INVOKE.format("private"), data=b"{}")
    assert status == 401
    status, body, headers = await gateway.call(
        INVOKE.format("private"), data=b"{}", headers={"Authorization": "Bearer tok"}
    )
    assert status == 200
    assert body == {"echo": {}}
    assert headers["X-Amz-Executed-Version"] == "$LATEST"
    status, _, _ = await gateway.call(
        INVOKE.format("private"), data=b"{}", headers={"Authorization": "Bearer no"}
    )
    assert status == 403
    # A garbled SigV4 header is a credential that does not fit.
    garbled = {"Authorization": "AWS4-HMAC-SHA256 Credential=callers/x, Signature=zz"}
    status, _, _ = await gateway.call(INVOKE.format("private"), data=b"{}", headers=garbled)
    assert status == 403


async def test_a_signature_covers_the_payload(gateway: SecuredGateway) -> None:
    """A signed request replayed with another payload is refused."""
    gateway.add(function("private", TOKEN_ACCESS))
    gateway.secrets.put("default", "callers", {"token": "tok"})
    boto3_path()
    auth = importlib.import_module("botocore.auth")
    awsrequest = importlib.import_module("botocore.awsrequest")
    credentials = importlib.import_module("botocore.credentials")
    url = gateway.url(INVOKE.format("private"))
    request = awsrequest.AWSRequest(method="POST", url=url, data=b'{"n": 1}')
    auth.SigV4Auth(credentials.Credentials("callers", "tok"), "lambda", "us-east-1").add_auth(request)
    headers = dict(request.headers.items())
    status, body, _ = await gateway.call(INVOKE.format("private"), data=b'{"n": 1}', headers=headers)
    assert (status, body) == (200, {"echo": {"n": 1}})
    status, _, _ = await gateway.call(INVOKE.format("private"), data=b'{"n": 2}', headers=headers)
    assert status == 403


async def test_the_javascript_sdks_signature_proves_a_token(gateway: SecuredGateway) -> None:
    gateway.add(function("private", TOKEN_ACCESS))
    gateway.secrets.put("default", "callers", {"token": "tok"})
    for secret, expected in (("tok", 200), ("wrong", 403)):
        request = {"FunctionName": "private", "Payload": '{"n": 3}', "Qualifier": "$LATEST"}
        command = await asyncio.to_thread(js_invoke_command, gateway.url("/"), "callers", secret, request)
        process = await asyncio.create_subprocess_exec(*command, stdout=asyncio.subprocess.PIPE)
        out, _ = await process.communicate()
        answer = json.loads(out)
        assert answer.get("StatusCode", answer.get("status")) == expected, answer
        if expected == 200:
            assert json.loads(answer["Payload"]) == {"echo": {"n": 3}}


async def test_refusals_carry_lambdas_error_types(gateway: SecuredGateway) -> None:
    gateway.add(function("private", TOKEN_ACCESS))
    gateway.secrets.put("default", "callers", {"token": "tok"})
    client = _client(gateway, "callers", "wrong")

    def code(name: str) -> str:
        try:
            client.invoke(FunctionName=name, Payload=b"{}")
        except client.exceptions.ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "none"

    assert await asyncio.to_thread(code, "private") == "AccessDeniedException"
    assert await asyncio.to_thread(code, "Not_A_Name") == "ResourceNotFoundException"
    _, _, headers = await gateway.call(INVOKE.format("private"), data=b"{}")
    assert headers["x-amzn-ErrorType"] == "UnrecognizedClientException"
    _, _, headers = await gateway.call("/function/private", data=b"{}")
    assert "x-amzn-ErrorType" not in headers  # only the Invoke API speaks Lambda
