"""The cluster verbs end to end against the real control plane: init, deploy, list, invoke
through a real gateway process, describe, logs, delete, and their one-line errors."""

from __future__ import annotations

import datetime
import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cli.conftest import GatewayProcess, Wisp
from tests.cluster.fixtures import ROOT, Kubectl, OperatorProcess, wait_for
from wisp.api.runtimes import newest

pytestmark = pytest.mark.cluster

# What `wisp init --runtime python` writes: the newest Python a new Function may use today.
INIT_PYTHON = newest("python", datetime.date.today()).value


def kube_args(kubeconfig: Path, namespace: str) -> list[str]:
    return ["--kubeconfig", str(kubeconfig), "-n", namespace]


def test_a_function_from_init_to_delete(
    wisp: Wisp,
    kubeconfig: Path,
    namespace: str,
    kubectl: Kubectl,
    operator: OperatorProcess,
    node_agent: Any,
    gateway: GatewayProcess,
    tmp_path: Path,
) -> None:
    k = kube_args(kubeconfig, namespace)
    init = wisp("init", "greeter", "--runtime", "python")
    assert init.returncode == 0, init.stderr
    assert sorted(p.name for p in (tmp_path / "greeter").iterdir()) == [
        "README.md",
        "function.yaml",
        "main.py",
        "test_main.py",
    ]

    deployed = wisp("deploy", "greeter", *k)
    assert deployed.returncode == 0, deployed.stderr
    assert "function/greeter applied" in deployed.stdout
    assert f"greeter: http://gateway.test/function/greeter.{namespace}" in deployed.stdout
    assert "greeter: Ready" in deployed.stderr  # the progress display ends on Ready
    fn = json.loads(kubectl("get", "fn", "greeter", "-o", "json", namespace=namespace).stdout)
    assert "def handler" in fn["spec"]["code"]["inline"]  # one source file: inline code

    listed = wisp("list", *k)
    assert listed.returncode == 0, listed.stderr
    header, row = listed.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "RUNTIME", "READY", "REPLICAS", "URL", "INVOCATIONS"]
    assert row.split()[:3] == ["greeter", INIT_PYTHON, "True"]

    called = wisp("invoke", "greeter", "--data", '{"name": "cli"}', "--gateway", gateway.url)
    assert called.returncode == 0, called.stderr + gateway.log.read_text()[-2000:]
    assert json.loads(called.stdout) == {"hello": "cli"}
    (tmp_path / "event.json").write_text('{"name": "file"}')
    from_file = wisp("invoke", "greeter", "-d", "@event.json", env={"WISP_GATEWAY_URL": gateway.url})
    assert json.loads(from_file.stdout) == {"hello": "file"}

    rows = json.loads(wisp("list", *k, "-o", "json", "--admin-url", gateway.admin_url).stdout)
    assert rows[0]["name"] == "greeter" and rows[0]["invocations"] == 2
    assert rows[0]["readyReplicas"] == 1

    described = wisp("describe", "greeter", *k)
    assert described.returncode == 0, described.stderr
    assert f"Runtime:      {INIT_PYTHON}" in described.stdout
    assert "Code:         inline" in described.stdout
    ready_row = next(line for line in described.stdout.splitlines() if line.strip().startswith("Ready"))
    assert ready_row.split()[1] == "True"
    as_yaml = yaml.safe_load(wisp("describe", "greeter", *k, "-o", "yaml").stdout)
    assert as_yaml["function"]["metadata"]["name"] == "greeter"

    # All pods of the function, merged, each line prefixed with its pod's name.
    logs = wisp("logs", "greeter", *k)
    assert logs.returncode == 0, logs.stderr
    lines = logs.stdout.strip().splitlines()
    assert lines and all(line.startswith("greeter-") for line in lines), logs.stdout
    assert any("hello cli" in line for line in lines), logs.stdout
    # --level keeps the records at or above it: the call's INFO lines are not errors.
    errors = wisp("logs", "greeter", *k, "--level", "error")
    assert errors.returncode == 0, errors.stderr
    assert not any("hello cli" in line for line in errors.stdout.splitlines()), errors.stdout
    refused = wisp("logs", "greeter", *k, "--level", "loud")
    assert refused.returncode != 0 and "--level" in refused.stderr

    deleted = wisp("delete", "greeter", *k)
    assert deleted.returncode == 0, deleted.stderr
    wait_for(
        lambda: kubectl("get", "fn", "greeter", namespace=namespace, check=False).returncode != 0,
        what="the Function to be gone",
    )
    gone = wisp("invoke", "greeter", "--gateway", gateway.url)
    # A deleted function is not called; the gateway does not say whether it ever existed.
    assert gone.returncode == 1
    assert json.loads(gone.stdout)["errorType"] in ("FunctionNotFound", "Unauthorized")


def test_deploy_a_folder_of_several_files_with_triggers(
    wisp: Wisp,
    kubeconfig: Path,
    namespace: str,
    kubectl: Kubectl,
    operator: OperatorProcess,
    node_agent: Any,
) -> None:
    k = kube_args(kubeconfig, namespace)
    deployed = wisp("deploy", str(ROOT / "examples" / "python-deps"), *k, "-o", "json")
    assert deployed.returncode == 0, deployed.stderr
    fn = json.loads(deployed.stdout)[0]
    assert sorted(fn["spec"]["code"]["files"]) == ["main.py", "requirements.txt"]
    orders = wisp("deploy", str(ROOT / "examples" / "http-trigger.yaml"), *k)
    assert orders.returncode == 0, orders.stderr
    assert "trigger/orders-http applied" in orders.stdout
    described = wisp("describe", "orders", *k)
    assert "orders-http   http   /orders" in described.stdout
    deleted = wisp("delete", "orders", *k)
    assert deleted.stdout.splitlines() == [
        "trigger/orders-http deleted",
        f"function/orders deleted (namespace {namespace})",
    ]


def test_errors_are_one_line_with_what_to_do(
    wisp: Wisp, kubeconfig: Path, namespace: str, tmp_path: Path
) -> None:
    k = kube_args(kubeconfig, namespace)
    no_config = wisp("list", env={"KUBECONFIG": str(tmp_path / "missing"), "HOME": str(tmp_path)})
    assert no_config.returncode == 1
    assert no_config.stderr.startswith("wisp: no kubeconfig found") and "KUBECONFIG" in no_config.stderr

    missing = wisp("describe", "nope", *k)
    assert missing.returncode == 1
    assert missing.stderr == (
        f"wisp: function nope not found in namespace {namespace} "
        f"(`wisp list -n {namespace}` shows what exists)\n"
    )

    typo = tmp_path / "typo.yaml"
    typo.write_text(
        "apiVersion: wisp.dev/v1alpha1\nkind: Function\nmetadata: {name: typo}\n"
        "spec: {runtime: python3.12, handler: main.handler, code: {inline: 'x = 1'}, "
        "memroy: 128Mi}\n"
    )
    rejected = wisp("deploy", str(typo), *k)
    assert rejected.returncode == 1
    assert rejected.stderr.startswith("wisp: the API server rejected Function typo:")
    assert "memroy" in rejected.stderr

    local = tmp_path / "bad.yaml"
    local.write_text(
        "apiVersion: wisp.dev/v1alpha1\nkind: Function\nmetadata: {name: bad}\n"
        "spec: {runtime: python3.12, handler: main, code: {inline: 'x = 1'}}\n"
    )
    checked = wisp("deploy", str(local), *k)
    assert checked.returncode == 1
    assert checked.stderr.startswith("wisp: bad.yaml: spec.handler: for python3.12 must be module.function")

    context = wisp("list", *k, "--context", "nope")
    assert context.returncode == 1 and "no context 'nope'" in context.stderr


def test_every_example_is_accepted_by_the_api_server(kubectl: Kubectl, namespace: str) -> None:
    for path in sorted((ROOT / "examples").glob("*.yaml")):
        applied = kubectl("apply", "--dry-run=server", "-f", str(path), namespace=namespace, check=False)
        assert applied.returncode == 0, f"{path.name}: {applied.stderr}"


def test_deploy_a_src_layout_with_a_layer(
    wisp: Wisp,
    kubeconfig: Path,
    namespace: str,
    kubectl: Kubectl,
    operator: OperatorProcess,
    node_agent: Any,
    gateway: GatewayProcess,
    tmp_path: Path,
) -> None:
    """Code in sub-folders deploys whole and imports; ``--layer`` publishes a folder whose
    ``python/`` the function imports from /opt, as a Lambda layer."""
    k = kube_args(kubeconfig, namespace)
    app = tmp_path / "orders"
    (app / "src" / "orders").mkdir(parents=True)
    (app / "function.yaml").write_text(
        "apiVersion: wisp.dev/v1alpha1\nkind: Function\nmetadata: {name: orders}\n"
        "spec: {runtime: python3.12, handler: src.orders.api.handler}\n---\n"
        "apiVersion: wisp.dev/v1alpha1\nkind: Trigger\nmetadata: {name: orders-http}\n"
        "spec: {function: orders, http: {path: '/orders/{id}', methods: [GET], payloadFormat: '2.0'}}\n"
    )
    (app / "src" / "__init__.py").write_text("")
    (app / "src" / "orders" / "__init__.py").write_text("")
    (app / "src" / "orders" / "models.py").write_text("TABLE = 'orders'\n")
    # Direct invocations get the payload; the HTTP API route (payload 2.0) gets API Gateway's
    # event and answers as an HTTP API handler does (a string statusCode, cookies).
    (app / "src" / "orders" / "api.py").write_text(
        "import json\n\nfrom shared.money import cents\n\nfrom src.orders.models import TABLE\n\n\n"
        "def handler(event, context):\n"
        "    if 'rawPath' not in event:\n"
        "        return {'table': TABLE, 'total': cents(event['total'])}\n"
        "    body = {'id': event['pathParameters']['id'], 'route': event['routeKey'],\n"
        "            'method': event['requestContext']['http']['method'], 'table': TABLE}\n"
        "    return {'statusCode': '200', 'cookies': ['seen=1'], 'body': json.dumps(body)}\n"
    )
    layer = tmp_path / "shared-layer"
    (layer / "python" / "shared").mkdir(parents=True)
    (layer / "python" / "shared" / "__init__.py").write_text("")
    (layer / "python" / "shared" / "money.py").write_text(
        "def cents(amount):\n    return round(amount * 100)\n"
    )

    deployed = wisp("deploy", str(app), "--layer", f"shared={layer}", *k)
    assert deployed.returncode == 0, deployed.stderr
    assert "layer/shared applied" in deployed.stdout
    fn = json.loads(kubectl("get", "fn", "orders", "-o", "json", namespace=namespace).stdout)
    assert sorted(fn["spec"]["code"]["files"]) == [
        "src/__init__.py",
        "src/orders/__init__.py",
        "src/orders/api.py",
        "src/orders/models.py",
    ]
    assert fn["spec"]["layers"] == [{"configMapRef": {"name": "shared"}}]

    called = wisp("invoke", "orders", "-n", namespace, "--data", '{"total": 12.5}', "--gateway", gateway.url)
    assert called.returncode == 0, called.stderr + gateway.log.read_text()[-2000:]
    assert json.loads(called.stdout) == {"table": "orders", "total": 1250}
    with urllib.request.urlopen(f"{gateway.url}/orders/42", timeout=60) as response:
        assert response.status == 200
        assert response.headers.get_all("Set-Cookie") == ["seen=1"]
        assert json.loads(response.read()) == {
            "id": "42",
            "route": "GET /orders/{id}",
            "method": "GET",
            "table": "orders",
        }

    missing = wisp("deploy", str(app), "--layer", str(tmp_path / "nowhere"), *k)
    assert missing.returncode != 0
    assert "--layer" in missing.stderr and "is not a folder" in missing.stderr
