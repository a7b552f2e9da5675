"""A function pod without a code volume gets its code in ``WISP_CODE`` (the operator's choice for
small code, docs/warm-pool.md): the Python and Node.js runtimes write it under ``/tmp``, serve it
from there as from a mounted code folder, and keep the variable out of the function's sight; a
variable they cannot use stops them at once, naming it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest

from wisp.api import Runtime
from wisp.launcher import LaunchError, LaunchSpec, Readiness, RuntimeProcess, start_runtime

PYTHON = """import os

with open("greeting.txt") as given:  # a file beside the handler, by a relative path
    GREETING = given.read().strip()

def handler(event, context):
    return {
        "greeting": GREETING,
        "code": os.environ.get("WISP_CODE"),
        "task_root": os.environ.get("LAMBDA_TASK_ROOT"),
        "cwd": os.getcwd(),
        "event": event,
    }
"""
NODE = """const fs = require('node:fs');

const GREETING = fs.readFileSync('greeting.txt', 'utf8').trim();

exports.handler = async (event) => ({
  greeting: GREETING,
  code: process.env.WISP_CODE ?? null,
  task_root: process.env.LAMBDA_TASK_ROOT ?? null,
  cwd: process.cwd(),
  event,
});
"""
LANGUAGES = {
    "python": (Runtime.PYTHON311, {"main.py": PYTHON, "greeting.txt": "hej\n"}),
    "node": (Runtime.NODEJS24, {"main.js": NODE, "greeting.txt": "hej\n"}),
}

Start = Callable[[str], Awaitable[RuntimeProcess]]


@pytest.fixture(params=sorted(LANGUAGES))
def language(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    return name


@pytest.fixture
async def start(tmp_path: Path, language: str) -> AsyncIterator[Start]:
    started: list[RuntimeProcess] = []
    runtime = LANGUAGES[language][0]
    # The image's code folder, which such a pod does not mount: empty here.
    empty = tmp_path / "code"
    empty.mkdir()

    async def _start(code: str) -> RuntimeProcess:
        env = {
            "WISP_FUNCTION_NAME": "inline",
            "WISP_HANDLER": "main.handler",
            "WISP_DEPS_DIR": str(tmp_path / "deps"),
            "WISP_EXIT_ON_LOAD_FAILURE": "true",
            "WISP_CODE": code,
        }
        process = await start_runtime(LaunchSpec(runtime=runtime, code_dir=empty, env=env))
        started.append(process)
        return process

    yield _start
    for process in started:
        await process.stop(grace=5)


async def test_a_runtime_serves_the_code_its_environment_carries(
    start: Start, language: str, tmp_path: Path
) -> None:
    files = LANGUAGES[language][1]
    process = await start(json.dumps(files))
    ready: Readiness = await process.wait_ready(timeout=30)
    assert ready.handler_loaded
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as http,
        http.post(ready.url, json={"a": 1}) as response,
    ):
        assert response.status == 200
        body = await response.json()
    assert body["greeting"] == "hej"
    assert body["event"] == {"a": 1}
    # Its own source is not in its environment; its files are where Lambda code looks for them.
    assert body["code"] is None
    root = Path(body["task_root"])
    assert root.parent == tmp_path
    assert body["cwd"] == str(root)
    assert {p.name: p.read_text() for p in root.iterdir() if p.is_file()} == files


@pytest.mark.parametrize(
    ("code", "named"),
    [
        ("main.py = 1", "WISP_CODE: is not JSON"),
        ('["main.py"]', "WISP_CODE: must be an object of file name to content"),
        ("{}", "WISP_CODE: must be an object of file name to content, not empty"),
        ('{"lib/main.py": "x"}', "WISP_CODE[lib/main.py]: must be a plain file name"),
        ('{"..": "x"}', "WISP_CODE[..]: must be a plain file name"),
        ('{"main.py": 1}', "WISP_CODE[main.py]: must be a string"),
    ],
    ids=["not JSON", "not an object", "empty", "a folder", "dot dot", "not text"],
)
async def test_a_code_variable_the_runtime_cannot_use_stops_it_naming_the_fault(
    start: Start, code: str, named: str
) -> None:
    process = await start(code)
    with pytest.raises(LaunchError):
        await process.wait_ready(timeout=30)
    assert process.returncode == 2
    assert any(named in line and "invalid configuration" in line for line in process.output_tail), (
        process.output_tail
    )
