"""A runtime started generic (a warm pool pod, docs/warm-pool.md): ready with no function,
given one over ``POST /_wisp/specialise`` with the pool token, once in its life; Python, Node.js
and Java alike (Java's cases are marked ``java``: they need a JDK and Maven)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.runtimes.java.javabuild import build_runtime, missing_tools
from tests.support import wait
from wisp.api import Runtime
from wisp.launcher import LaunchSpec, Readiness, RuntimeProcess, start_runtime

TOKEN = "pool-secret"
SPECIALISE = "/_wisp/specialise"
ECHO = """import os
import time

GREETING_AT_LOAD = os.environ.get("GREETING")

def handler(event, context):
    return {
        "function": context.function_name,
        "version": context.function_version,
        "arn": context.invoked_function_arn,
        "log_stream": context.log_stream_name,
        "version_variable": os.environ.get("AWS_LAMBDA_FUNCTION_VERSION"),
        "log_stream_variable": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
        "greeting": os.environ.get("GREETING"),
        "greeting_at_load": GREETING_AT_LOAD,
        "utc_offset_minutes": -time.localtime().tm_gmtoff // 60,
        "token": os.environ.get("WISP_POOL_TOKEN"),
        "token_file": os.environ.get("WISP_POOL_TOKEN_FILE"),
        "cwd": os.getcwd(),
        "task_root": os.environ.get("LAMBDA_TASK_ROOT"),
        "event": event,
    }
"""

NODE_ECHO = """const os = require('node:os');

const GREETING_AT_LOAD = process.env.GREETING ?? null;

exports.handler = async (event, context) => ({
  function: context.functionName,
  version: context.functionVersion,
  arn: context.invokedFunctionArn,
  log_stream: context.logStreamName,
  version_variable: process.env.AWS_LAMBDA_FUNCTION_VERSION ?? null,
  log_stream_variable: process.env.AWS_LAMBDA_LOG_STREAM_NAME ?? null,
  greeting: process.env.GREETING ?? null,
  greeting_at_load: GREETING_AT_LOAD,
  utc_offset_minutes: new Date(Date.UTC(2026, 0, 1)).getTimezoneOffset(),
  token: process.env.WISP_POOL_TOKEN ?? null,
  token_file: process.env.WISP_POOL_TOKEN_FILE ?? null,
  cwd: process.cwd(),
  task_root: process.env.LAMBDA_TASK_ROOT ?? null,
  event,
});
"""
# Java code given inline or as files is sources, compiled by the runtime (stored as Handler.java
# whatever class it declares). A JVM cannot change its working directory: a Java function finds
# its files through LAMBDA_TASK_ROOT or its class path (docs/warm-pool.md).
JAVA_ECHO = """package echo;

import dev.wisp.runtime.Context;
import dev.wisp.runtime.RequestHandler;
import java.nio.file.Path;
import java.time.Instant;
import java.util.HashMap;
import java.util.Map;
import java.util.TimeZone;

public class Echo implements RequestHandler<Map<String, Object>, Map<String, Object>> {
    private static final String GREETING_AT_LOAD = System.getenv("GREETING");

    @Override
    public Map<String, Object> handleRequest(Map<String, Object> event, Context context) {
        Map<String, Object> out = new HashMap<>();
        out.put("function", context.getFunctionName());
        out.put("version", context.getFunctionVersion());
        out.put("arn", context.getInvokedFunctionArn());
        out.put("log_stream", context.getLogStreamName());
        out.put("version_variable", System.getenv("AWS_LAMBDA_FUNCTION_VERSION"));
        out.put("log_stream_variable", System.getenv("AWS_LAMBDA_LOG_STREAM_NAME"));
        out.put("greeting", System.getenv("GREETING"));
        out.put("greeting_at_load", GREETING_AT_LOAD);
        long offset = TimeZone.getDefault().getOffset(Instant.parse("2026-01-01T00:00:00Z").toEpochMilli());
        out.put("utc_offset_minutes", -offset / 60_000);
        out.put("token", System.getenv("WISP_POOL_TOKEN"));
        out.put("token_file", System.getenv("WISP_POOL_TOKEN_FILE"));
        out.put("cwd", Path.of("").toAbsolutePath().toString());
        out.put("task_root", System.getenv("LAMBDA_TASK_ROOT"));
        out.put("event", event);
        return out;
    }
}
"""
JAVA_BROKEN = """package echo;

public class Echo {
    static {
        if (true) throw new IllegalStateException("broken at import");
    }

    public Object handleRequest(Object event) {
        return event;
    }
}
"""
# runtime, the handler file's name, its content, and the content of a file that fails to load
LANGUAGES = {
    "python": (Runtime.PYTHON311, "main.py", ECHO, "raise RuntimeError('broken at import')\n"),
    "node": (Runtime.NODEJS24, "main.js", NODE_ECHO, "throw new Error('broken at import');\n"),
    "java": (Runtime.JAVA17, "Handler.java", JAVA_ECHO, JAVA_BROKEN),
}
HANDLERS = {"python": "main.handler", "node": "main.handler", "java": "echo.Echo"}
# Languages whose runtime changes into the function's code directory (a JVM cannot).
CHANGES_DIRECTORY = {"python", "node"}

Generic = Callable[..., Awaitable[Readiness]]


LANGUAGE_PARAMS = [
    pytest.param(name, marks=[pytest.mark.java] if name == "java" else []) for name in sorted(LANGUAGES)
]


@pytest.fixture(params=LANGUAGE_PARAMS)
def language(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "java":
        reason = missing_tools()
        if reason:
            pytest.skip(reason)
        build_runtime()
    return name


@pytest.fixture
async def generic(tmp_path: Path, language: str) -> AsyncIterator[Generic]:
    started: list[RuntimeProcess] = []
    runtime = LANGUAGES[language][0]

    async def _start(
        token: str = TOKEN, token_file: Path | None = None, image_env: dict[str, str] | None = None
    ) -> Readiness:
        empty = tmp_path / "empty"
        empty.mkdir(exist_ok=True)
        env = {"WISP_DEPS_DIR": str(tmp_path / "deps"), **(image_env or {})}
        if token_file is None:
            env["WISP_POOL_TOKEN"] = token
        else:
            env["WISP_POOL_TOKEN_FILE"] = str(token_file)
        process = await start_runtime(LaunchSpec(runtime=runtime, code_dir=empty, env=env))
        started.append(process)
        return await process.wait_ready(timeout=30)

    yield _start
    for process in started:
        await process.stop(grace=5)


def specialisation(language: str, name: str = "echo", **env: str) -> dict[str, Any]:
    _, filename, content, _ = LANGUAGES[language]
    return {
        "env": {
            "WISP_FUNCTION_NAME": name,
            "WISP_FUNCTION_NAMESPACE": "tests",
            "WISP_HANDLER": HANDLERS[language],
            "WISP_TIMEOUT_SECONDS": "5",
            "WISP_PORT": "1",  # the pod's port stays the pod's
            **env,
        },
        "files": {filename: content},
    }


async def post(
    http: aiohttp.ClientSession, url: str, body: Any, token: str | None = TOKEN
) -> tuple[int, Any]:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    async with http.post(url, json=body, headers=headers) as response:
        return response.status, await response.json()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def test_a_generic_runtime_is_ready_but_refuses_calls(
    generic: Generic, http: aiohttp.ClientSession, language: str
) -> None:
    ready = await generic()
    async with http.get(f"{ready.url}/healthz") as response:
        assert response.status == 200
    status, body = await post(http, ready.url, {"a": 1}, token=None)
    assert status == 503
    assert body["errorType"] == "NotSpecialised"


async def test_specialised_runtime_serves_its_function_with_its_environment(
    generic: Generic, http: aiohttp.ClientSession, language: str
) -> None:
    ready = await generic()
    status, body = await post(http, ready.url + SPECIALISE, specialisation(language, GREETING="hej"))
    assert status == 200, body
    status, body = await post(http, ready.url, {"a": 1}, token=None)
    assert status == 200, body
    assert body["function"] == "echo"
    assert body["greeting"] == "hej"
    assert body["greeting_at_load"] == "hej"  # module-level code sees the function's environment
    assert body["event"] == {"a": 1}
    # The pool's token is not the function's to see, and its code is where it runs.
    assert body["token"] is None
    _, filename, content, _ = LANGUAGES[language]
    assert Path(body["task_root"]).joinpath(filename).read_text() == content
    if language in CHANGES_DIRECTORY:
        assert body["cwd"] == body["task_root"]


@pytest.mark.parametrize("version", ["3", ""], ids=["version 3", "the function's own"])
async def test_a_published_version_served_from_the_pool_names_it(
    generic: Generic, http: aiohttp.ClientSession, language: str, version: str
) -> None:
    """A pool pod given version 3 of a Function (docs/releases.md) says so as that version's own
    pods do: context, ARN qualifier, log stream and Lambda's variables; without it, $LATEST."""
    ready = await generic()
    env = {"WISP_FUNCTION_VERSION": version} if version else {}
    status, body = await post(http, ready.url + SPECIALISE, specialisation(language, "orders", **env))
    assert status == 200, body
    status, body = await post(http, ready.url, {}, token=None)
    assert status == 200, body
    expected = version or "$LATEST"
    assert body["version"] == body["version_variable"] == expected
    qualifier = f":{version}" if version else ""
    assert body["arn"] == f"arn:aws:lambda:us-east-1:tests:function:orders{qualifier}"
    assert body["log_stream"] == body["log_stream_variable"]
    assert re.fullmatch(rf"\d{{4}}/\d{{2}}/\d{{2}}/\[{re.escape(expected)}\]\S+", body["log_stream"])


async def test_a_function_that_names_its_time_zone_runs_in_it(
    generic: Generic, http: aiohttp.ClientSession, language: str
) -> None:
    ready = await generic()
    status, body = await post(http, ready.url + SPECIALISE, specialisation(language, TZ="Asia/Tokyo"))
    assert status == 200, body
    status, body = await post(http, ready.url, {}, token=None)
    assert status == 200, body
    assert body["utc_offset_minutes"] == -9 * 60


async def test_a_runtime_is_specialised_once_in_its_life(
    generic: Generic, http: aiohttp.ClientSession, language: str
) -> None:
    ready = await generic()
    assert (await post(http, ready.url + SPECIALISE, specialisation(language, "first")))[0] == 200
    status, body = await post(http, ready.url + SPECIALISE, specialisation(language, "second"))
    assert status == 409
    assert body["errorType"] == "AlreadySpecialised"
    status, body = await post(http, ready.url, {}, token=None)
    assert body["function"] == "first"


@pytest.mark.parametrize("loads", [True, False], ids=["loads", "fails to load"])
async def test_the_same_specialisation_twice_at_once_gets_one_answer_twice(
    generic: Generic, http: aiohttp.ClientSession, language: str, loads: bool
) -> None:
    """Two gateway replicas handing a pool pod the same function in one burst: both are
    answered as the one the runtime took, so both route their calls to it; any other function
    is still refused."""
    ready = await generic()
    wanted = specialisation(language, "both")
    if not loads:
        _, filename, _, broken = LANGUAGES[language]
        wanted["files"] = {filename: broken}
    url = ready.url + SPECIALISE
    answers = await asyncio.gather(post(http, url, wanted), post(http, url, wanted))
    assert answers[0] == answers[1]
    assert answers[0][0] == (200 if loads else 500), answers
    status, body = await post(http, url, specialisation(language, "other"))
    assert (status, body["errorType"]) == (409, "AlreadySpecialised")
    if loads:
        status, body = await post(http, ready.url, {}, token=None)
        assert (status, body["function"]) == (200, "both")


@pytest.mark.parametrize(
    ("token", "expected"),
    [(None, 401), ("wrong", 401)],
    ids=["no token", "wrong token"],
)
async def test_specialisation_needs_the_pool_token(
    generic: Generic, http: aiohttp.ClientSession, language: str, token: str | None, expected: int
) -> None:
    ready = await generic()
    status, body = await post(http, ready.url + SPECIALISE, specialisation(language), token=token)
    assert status == expected
    assert body["errorType"] == "Unauthorized"
    # Still generic: the gateway's own request works afterwards.
    assert (await post(http, ready.url + SPECIALISE, specialisation(language)))[0] == 200


async def test_a_pool_pods_own_token_comes_from_its_file_and_is_out_of_the_functions_sight(
    generic: Generic, http: aiohttp.ClientSession, language: str, tmp_path: Path
) -> None:
    token_file = tmp_path / "pool-token"
    token_file.write_text("this-pods-own-token\n")
    ready = await generic(token_file=token_file)
    status, body = await post(http, ready.url + SPECIALISE, specialisation(language))
    assert (status, body["errorType"]) == (401, "Unauthorized")  # another pod's token
    own = "this-pods-own-token"
    status, body = await post(http, ready.url + SPECIALISE, specialisation(language), token=own)
    assert status == 200, body
    status, body = await post(http, ready.url, {}, token=None)
    assert status == 200, body
    assert (body["token"], body["token_file"]) == (None, None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"env": {"WISP_HANDLER": "main.handler"}, "files": {"../main.py": "x"}}, "files[../main.py]"),
        ({"env": {}, "files": {"main.py": "x"}}, "env.WISP_HANDLER"),
        ({"env": {"WISP_HANDLER": "main.handler"}, "files": {}}, "files"),
        (
            {
                "env": {"WISP_HANDLER": "main.handler", "WISP_TIMEOUT_SECONDS": "soon"},
                "files": {"main.py": ""},
            },
            "",
        ),
    ],
    ids=["path in a file name", "no handler", "no files", "bad setting"],
)
async def test_a_bad_specialisation_is_refused_naming_the_field(
    generic: Generic, http: aiohttp.ClientSession, language: str, body: dict[str, Any], field: str
) -> None:
    ready = await generic()
    status, answer = await post(http, ready.url + SPECIALISE, body)
    assert status == 400
    assert answer["errorType"] == "InvalidSpecialisation"
    assert field in answer["errorMessage"]


async def test_a_handler_that_fails_to_load_fails_the_specialisation(
    generic: Generic, http: aiohttp.ClientSession, language: str
) -> None:
    ready = await generic()
    _, filename, _, broken = LANGUAGES[language]
    body = specialisation(language)
    body["files"] = {filename: broken}
    status, answer = await post(http, ready.url + SPECIALISE, body)
    assert status == 500
    assert "broken at import" in answer["errorMessage"]


async def test_a_specialised_runtime_writes_logs_as_its_function_asks(
    tmp_path: Path, http: aiohttp.ClientSession, language: str
) -> None:
    if language == "java":
        pytest.skip("the Java runtime writes JSON log lines only")
    runtime = LANGUAGES[language][0]
    empty = tmp_path / "empty"
    empty.mkdir()
    lines: list[str] = []
    env = {"WISP_POOL_TOKEN": TOKEN, "WISP_DEPS_DIR": str(tmp_path / "deps")}
    process = await start_runtime(LaunchSpec(runtime=runtime, code_dir=empty, env=env, log_sink=lines.append))
    try:
        ready = await process.wait_ready(timeout=30)
        wanted = specialisation(language, AWS_LAMBDA_LOG_FORMAT="Text")
        status, body = await post(http, ready.url + SPECIALISE, wanted)
        assert status == 200, body
        async with http.post(ready.url, json={}, headers={"X-Wisp-Request-Id": "req-text"}) as response:
            assert response.status == 200

        async def finished() -> list[str]:
            return [
                line for line in lines if line.split("\t")[1:4] == ["req-text", "INFO", "invocation finished"]
            ]

        assert await wait.eventually(finished, "the call's Text-format line")
    finally:
        await process.stop(grace=5)


# A module in the image's AWS SDK directory, and a handler that imports it.
SDK_MODULE = {
    "python": ("fakesdk.py", "NAME = 'the sdk'\n"),
    "node": ("fakesdk/index.js", "exports.NAME = 'the sdk';\n"),
}
SDK_HANDLER = {
    "python": "import fakesdk\n\ndef handler(event, context):\n    return {'sdk': fakesdk.NAME}\n",
    "node": "const fakesdk = require('fakesdk');\nexports.handler = async () => ({ sdk: fakesdk.NAME });\n",
}


async def test_a_specialised_function_imports_the_images_aws_sdk_as_in_its_own_pod(
    generic: Generic, http: aiohttp.ClientSession, language: str, tmp_path: Path
) -> None:
    # boto3 and @aws-sdk come with the image (WISP_AWS_SDK_DIR), not with the function's code.
    if language not in SDK_MODULE:
        pytest.skip("a Java function brings the AWS SDK in its own jar")
    sdk = tmp_path / "aws-sdk"
    module, content = SDK_MODULE[language]
    (sdk / module).parent.mkdir(parents=True, exist_ok=True)
    (sdk / module).write_text(content)
    ready = await generic(image_env={"WISP_AWS_SDK_DIR": str(sdk)})
    wanted = specialisation(language)
    wanted["files"] = {LANGUAGES[language][1]: SDK_HANDLER[language]}
    status, body = await post(http, ready.url + SPECIALISE, wanted)
    assert status == 200, body
    status, body = await post(http, ready.url, {}, token=None)
    assert status == 200, body
    assert body == {"sdk": "the sdk"}
