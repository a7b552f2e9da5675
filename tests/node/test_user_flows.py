"""What a user does with wisp on the real node beyond the first Function: a Java Function and a
Go Lambda function (aws-lambda-go on the provided runtime) from their own images, a Python
Function whose dependencies come from the company's package index, a schedule that fires, the
``wisp`` command and the console against the chart's platform, and a function scaled out by 20
concurrent callers and back to zero."""

from __future__ import annotations

import base64
import concurrent.futures
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster.fixtures import wait_for
from tests.node import index
from tests.node.chart import FUNCTIONS, SYSTEM, Wisp
from tests.node.node import NODE_IP, ROOT

pytestmark = [pytest.mark.node, pytest.mark.cluster, pytest.mark.timeout(900)]

WISP = str(ROOT / ".venv" / "bin" / "wisp")


def example(path: str, **spec: Any) -> str:
    """The example's Function manifest with ``spec`` fields replaced (what differs on this node)."""
    docs = list(yaml.safe_load_all((ROOT / "examples" / path).read_text()))
    for doc in docs:
        if doc["kind"] == "Function":
            doc["spec"].update(spec)
    return yaml.safe_dump_all(docs)


def test_java_example_from_its_image_answers_through_the_gateway(wisp: Wisp) -> None:
    # examples/java-hello's image, built FROM the Java runtime image as its README says (here
    # with Debian's OpenJDK 17, hence java17).
    manifest = example(
        "java-hello/function.yaml",
        runtime="java17",
        code={"image": "wisp/java-hello:dev"},
    )
    wisp.apply(manifest)
    wisp.wait_ready("java-hello")
    status, body = wisp.call("java-hello", {"name": "node"})
    assert status == 200, body
    assert body["greeting"] == "hello, node"
    assert body["requestId"]


def test_go_lambda_example_from_its_image_answers_through_the_gateway(wisp: Wisp) -> None:
    # examples/go-lambda's image: its aws-lambda-go bootstrap (go build on the host, as its README
    # says) FROM the provided runtime image the chart's runtimeImages.provided names.
    wisp.apply(example("go-lambda/function.yaml", code={"image": "wisp/go-lambda:dev"}))
    wisp.wait_ready("go-lambda")
    status, body = wisp.call("go-lambda", {"name": "node"})
    assert status == 200, body
    assert body["greeting"] == "hello, node"
    assert body["functionName"] == "go-lambda"
    assert body["requestId"]
    again_status, again = wisp.call("go-lambda", {})
    assert again_status == 200, again
    assert again["greeting"] == "hello, world"
    assert again["requestId"] != body["requestId"]


def test_java_source_function_compiles_in_the_jdk_image(wisp: Wisp) -> None:
    wisp.apply(JAVA_SOURCE)
    wisp.wait_ready("java-source")
    status, body = wisp.call("java-source", {"name": "jdk"})
    assert status == 200, body
    assert body == {"echo": "jdk"}


JAVA_SOURCE = """apiVersion: wisp.dev/v1alpha1
kind: Function
metadata:
  name: java-source
spec:
  runtime: java17
  handler: example.Echo::handle
  code:
    inline: |
      package example;

      import java.util.Map;

      public class Echo {
          public Map<String, Object> handle(Map<String, Object> event) {
              return Map.of("echo", event.get("name"));
          }
      }
  memory: 256Mi
  timeout: 30s
  access:
    public: true
  scale:
    min: 0
    max: 1
"""


# -- a package index a company would run, reachable from pods (they never reach the internet) --
PACKAGES = ["humanize==4.11.0"]  # examples/python-deps/requirements.txt


@pytest.fixture(scope="module")
def company_index() -> Iterator[str]:
    with index.company_index(PACKAGES) as url:
        yield url


def test_python_dependency_example_installs_from_the_companys_index(
    wisp: Wisp, company_index: str, tmp_path: Path
) -> None:
    # The folder as a user has it, the index named in its function.yaml as a company would.
    folder = tmp_path / "python-deps"
    shutil.copytree(ROOT / "examples" / "python-deps", folder)
    manifest = yaml.safe_load((folder / "function.yaml").read_text())
    manifest["spec"]["env"] = [
        {"name": "PIP_INDEX_URL", "value": company_index},
        {"name": "PIP_TRUSTED_HOST", "value": NODE_IP},
    ]
    (folder / "function.yaml").write_text(yaml.safe_dump(manifest))
    deployed = wisp_cli(wisp, "deploy", str(folder), "--timeout", "240", timeout=260)
    assert deployed.returncode == 0, deployed.stdout + deployed.stderr
    status, body = wisp.call("sizes", {"bytes": 123456789})
    assert status == 200, body
    assert body == {"bytes": 123456789, "human": "123.5 MB"}
    assert any(path.startswith("/simple/humanize/") for path in index.QuietFiles.requested)


def test_schedule_example_fires_on_the_node(wisp: Wisp) -> None:
    # The example's Trigger every minute instead of every five: the same path, a shorter wait.
    docs = list(yaml.safe_load_all(example("schedule.yaml")))
    for doc in docs:
        if doc["kind"] == "Trigger":
            doc["spec"]["schedule"]["cron"] = "* * * * *"
    wisp.apply(yaml.safe_dump_all(docs))
    wisp.wait_ready("report")

    def fired() -> bool:
        logs = wisp.kubectl(
            "logs", "-l", "wisp.dev/function=report", "--tail=-1", namespace=FUNCTIONS, check=False
        ).stdout
        return "usage report at" in logs

    wait_for(fired, timeout=240, interval=2, what="the scheduled call in the function's logs")


# -- the wisp command and the console against the chart's platform -----------------------------
def wisp_cli(wisp: Wisp, *argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "KUBECONFIG": str(wisp.kubectl.kubeconfig), "NO_COLOR": "1"}
    kube = ("deploy", "list", "describe", "logs", "delete")
    namespace = ["-n", FUNCTIONS] if argv[0] in (*kube, "invoke") else []
    gateway = ["--gateway", wisp.gateway] if argv[0] == "invoke" else []
    return subprocess.run(
        [WISP, *argv, *namespace, *gateway], capture_output=True, text=True, timeout=timeout, env=env
    )


def test_wisp_list_invoke_logs_describe_against_the_chart(wisp: Wisp) -> None:
    wisp.apply(ROOT / "examples" / "hello.yaml")
    wisp.wait_ready("hello")
    listed = wisp_cli(wisp, "list")
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:1] == ["hello"] for line in listed.stdout.splitlines()), listed.stdout

    invoked = wisp_cli(wisp, "invoke", "hello", "--data", '{"name": "cli"}')
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["hello"] == "cli"

    def logged() -> bool:
        out = wisp_cli(wisp, "logs", "hello", "--tail", "200")
        return out.returncode == 0 and "greeting cli" in out.stdout

    wait_for(logged, timeout=60, interval=1, what="the call in `wisp logs hello`")

    described = wisp_cli(wisp, "describe", "hello")
    assert described.returncode == 0, described.stderr
    assert "Ready" in described.stdout
    assert "main.handler" in described.stdout


def test_wisp_describe_says_why_a_handler_does_not_load(wisp: Wisp) -> None:
    wisp.apply(BROKEN)

    def why() -> str | None:
        out = wisp_cli(wisp, "describe", "broken")
        return out.stdout if "NameError" in out.stdout else None

    text = wait_for(why, timeout=120, interval=2, what="the load error in `wisp describe broken`")
    assert "CrashLoopBackOff" in text


BROKEN = """apiVersion: wisp.dev/v1alpha1
kind: Function
metadata:
  name: broken
spec:
  runtime: python3.14
  handler: main.handler
  code:
    inline: |
      undefined_at_import()

      def handler(event, context):
          return {}
  memory: 64Mi
  scale:
    min: 1
    max: 1
"""


async def test_console_signs_in_and_lists_the_functions_of_the_chart(wisp: Wisp) -> None:
    from playwright.async_api import expect

    from tests.console.browser import browser_page

    wisp.apply(ROOT / "examples" / "hello.yaml")
    wisp.wait_ready("hello")
    secret = wisp.kubectl(
        "get", "secret", "wisp-gateway-admin", "-o", "jsonpath={.data.token}", namespace=SYSTEM
    ).stdout
    token = base64.b64decode(secret).decode()
    ip = wisp.kubectl(
        "get", "svc", "wisp-gateway-admin", "-o", "jsonpath={.spec.clusterIP}", namespace=SYSTEM
    ).stdout
    async with browser_page() as page:
        await page.goto(f"http://{ip}:9090/ui/")
        await expect(page.get_by_role("heading", name="Sign in to the wisp console")).to_be_visible()
        await page.get_by_label("Token", exact=True).fill(token)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_text("cluster", exact=True)).to_be_visible()
        await expect(page.get_by_text("hello", exact=True).first).to_be_visible()


# -- scale-out -------------------------------------------------------------------------------
FANOUT = """apiVersion: wisp.dev/v1alpha1
kind: Function
metadata:
  name: fanout
spec:
  runtime: python3.14
  handler: main.handler
  code:
    inline: |
      import time

      def handler(event, context):
          time.sleep(0.3)
          return {"caller": event["caller"], "n": event["n"]}
  memory: 64Mi
  concurrency: 2
  access:
    public: true
  scale:
    min: 0
    max: 4
    idleTimeout: 10s
"""


def test_twenty_callers_scale_a_function_out_and_it_goes_back_to_zero(wisp: Wisp) -> None:
    wisp.apply(FANOUT)
    wisp.wait_ready("fanout")
    assert not wisp.function_pods("fanout")
    most = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            out = wisp.kubectl(
                "get", "deploy", "fanout", "-o", "jsonpath={.status.readyReplicas}", namespace=FUNCTIONS
            ).stdout
            most[0] = max(most[0], int(out or 0))
            time.sleep(0.5)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    def caller(who: int) -> list[tuple[int, Any]]:
        return [wisp.call("fanout", {"caller": who, "n": n}, timeout=120) for n in range(15)]

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=20) as pool:
            answers = [a for batch in pool.map(caller, range(20)) for a in batch]
    finally:
        done.set()
        watcher.join(timeout=10)
    failed = [(status, body) for status, body in answers if status != 200]
    assert not failed, f"{len(failed)} of {len(answers)} failed, e.g. {failed[:3]}"
    assert len(answers) == 300
    assert most[0] > 1, "the Deployment never had more than one ready replica"

    def at_zero() -> bool:
        out = wisp.kubectl(
            "get", "deploy", "fanout", "-o", "jsonpath={.spec.replicas}", namespace=FUNCTIONS
        ).stdout
        return out == "0"

    wait_for(at_zero, timeout=240, interval=2, what="the Deployment back at zero replicas")
