"""The Lambda library suite (cases.py) on ``wisp dev``: each function folder as a Lambda user has
it, its dependencies installed from their registries by wisp dev's init step, called through the
gateway's HTTP Triggers. Also the libraries' Lambda-specific behaviour: Powertools' loggers read
Lambda's context and environment (function name, request id, cold start)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.dev.process import WispDev
from tests.lambdasuite.cases import CASES, FUNCTIONS, Case, check, send

pytestmark = pytest.mark.redis


@pytest.fixture(scope="module")
def dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WispDev]:
    folder = tmp_path_factory.mktemp("lambda-suite")
    shutil.copytree(FUNCTIONS, folder / "functions")
    server = WispDev(
        folder / "functions",
        folder / "wisp-dev.log",
        env={"WISP_DEV_CACHE": str(folder / "cache")},
    )
    server.start(timeout=300)
    yield server
    server.stop()


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_answers_as_on_aws(dev: WispDev, case: Case) -> None:
    status, headers, cookies, body = send(case, "127.0.0.1", dev.port)
    check(case, status, headers, cookies, body, host=f"127.0.0.1:{dev.port}", source="127.0.0.1")


def json_lines(output: str, key: str, value: str) -> list[dict[str, object]]:
    """The JSON objects in wisp dev's output whose ``key`` is ``value`` (each log line carries
    its function's name as a prefix; the JSON is the rest)."""
    found = []
    for line in output.splitlines():
        start = line.find("{")
        if start < 0 or f'"{key}"' not in line:
            continue
        try:
            record = json.loads(line[start:])
        except ValueError:
            continue
        if isinstance(record, dict) and record.get(key) == value:
            found.append(record)
    return found


def test_powertools_logger_reads_lambdas_context(dev: WispDev) -> None:
    case = next(c for c in CASES if c.id == "powertools-http-post-cookie")
    send(case, "127.0.0.1", dev.port)
    dev.wait_for_output('"creating a todo"')
    (record,) = [r for r in json_lines(dev.output(), "message", "creating a todo")][-1:]
    assert record["service"] == "todos" and record["title"] == "ship it"
    assert record["function_name"] == "powertools-http"
    # wisp's ARN names the namespace where Lambda's names the account (docs/lambda.md).
    assert record["function_arn"] == "arn:aws:lambda:us-east-1:default:function:powertools-http"
    assert record["function_memory_size"] in (128, "128")
    assert record["function_request_id"] and record["correlation_id"]
    assert record["cold_start"] in (True, False)


def test_powertools_typescript_logger_reads_lambdas_context(dev: WispDev) -> None:
    case = next(c for c in CASES if c.id == "middy-greet")
    status, _, _, body = send(case, "127.0.0.1", dev.port)
    assert status == 200
    request_id = json.loads(body)["requestId"]
    dev.wait_for_output(request_id)
    records = [
        r
        for r in json_lines(dev.output(), "message", "greeting")
        if r.get("function_request_id") == request_id
    ]
    assert records, dev.output()[-3000:]
    record = records[-1]
    assert record["service"] == "greeter" and record["name"] == "ada"
    assert record["function_name"] == "middy"
    assert record["function_arn"] == "arn:aws:lambda:us-east-1:default:function:middy"


def test_the_suite_covers_every_function_folder() -> None:
    folders = {path.name for path in FUNCTIONS.iterdir() if (path / "function.yaml").exists()}
    assert folders == {case.function for case in CASES}
    assert all(Path(FUNCTIONS / f / "function.yaml").read_text().startswith("#") for f in folders)
