"""The Lambda library suite (tests/lambdasuite/cases.py) on the real node: its Python functions
(Powertools for AWS Lambda) deployed with ``wisp deploy`` from their folders as a Lambda user has
them, their pinned dependencies installed by the pods' init step from a company index, and every
case answered through the gateway Service's HTTP Triggers as AWS answers it. (The Node.js
functions need npm's registry in the pod, which a pod here cannot reach; they run on wisp dev.)"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.cluster.fixtures import wait_for
from tests.lambdasuite.cases import CASES, FUNCTIONS, Case, check, send
from tests.node import index
from tests.node.chart import Wisp
from tests.node.node import NODE_IP
from tests.node.test_user_flows import wisp_cli

pytestmark = [pytest.mark.node, pytest.mark.cluster, pytest.mark.timeout(900)]

PYTHON_CASES = [case for case in CASES if case.python]


def requirements() -> list[str]:
    """Every pinned requirement of the suite's Python functions."""
    found: set[str] = set()
    for case in PYTHON_CASES:
        lines = (FUNCTIONS / case.function / "requirements.txt").read_text().splitlines()
        found |= {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    return sorted(found)


@pytest.fixture(scope="module")
def deployed(wisp: Wisp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wisp]:
    with index.company_index(requirements()) as url:
        for function in sorted({case.function for case in PYTHON_CASES}):
            folder = tmp_path_factory.mktemp("lambda-suite") / function
            shutil.copytree(FUNCTIONS / function, folder)
            # The index named in the Function as a company would (the only change to the folder).
            docs = list(yaml.safe_load_all((folder / "function.yaml").read_text()))
            for doc in docs:
                if doc["kind"] == "Function":
                    doc["spec"]["env"] = [
                        {"name": "PIP_INDEX_URL", "value": url},
                        {"name": "PIP_TRUSTED_HOST", "value": NODE_IP},
                    ]
            (folder / "function.yaml").write_text(yaml.safe_dump_all(docs))
            result = wisp_cli(wisp, "deploy", str(folder), "--timeout", "300", timeout=320)
            assert result.returncode == 0, result.stdout + result.stderr
        # The gateways learn a Trigger from their watch: its route appears within moments.
        for function in sorted({case.function for case in PYTHON_CASES}):
            first = next(c for c in PYTHON_CASES if c.function == function and c.status == 200)
            wait_for(
                lambda first=first: answer(wisp, first)[0] == 200,
                timeout=120,
                interval=0.5,
                what=f"{first.method} {first.path} through its Trigger",
            )
        yield wisp


def answer(wisp: Wisp, case: Case) -> tuple[int, dict[str, str], list[str], bytes]:
    gateway = urlsplit(wisp.gateway)
    assert gateway.hostname is not None and gateway.port is not None
    return send(case, gateway.hostname, gateway.port)


@pytest.mark.parametrize("case", PYTHON_CASES, ids=lambda case: case.id)
def test_answers_as_on_aws(deployed: Wisp, case: Case) -> None:
    status, headers, cookies, body = answer(deployed, case)
    gateway = urlsplit(deployed.gateway).netloc
    check(case, status, headers, cookies, body, host=gateway, source=NODE_IP)


def test_suite_has_python_functions() -> None:
    assert {case.function for case in PYTHON_CASES} == {"powertools-http", "powertools-rest"}
    assert Path(FUNCTIONS / "powertools-http" / "requirements.txt").exists()
