"""``wisp dev`` end to end, as a subprocess on free ports: every example answers, edits reload
only their function, idle functions go to zero, load scales out, and no process outlives it."""

from __future__ import annotations

import datetime
import json
import re
import signal
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from tests.dev.process import WispDev, alive, http
from tests.runtimes.java.javabuild import build_runtime, missing_tools
from tests.runtimes.languages import VERSION_SOURCES
from tests.support.wait import wait_for
from wisp.api.runtimes import supported
from wisp.dev.localversions import local_version

pytestmark = pytest.mark.redis

Start = Callable[..., WispDev]


def test_every_example_answers_through_the_gateway(examples_copy: Path, wisp_dev: Start) -> None:
    dev = wisp_dev(examples_copy)
    banner = dev.output()
    for name in ("hello", "node-hello", "orders", "report", "sizes", "welcome"):
        assert re.search(rf"^\s+{name}\s", banner, re.M), banner
    assert "/orders [GET,POST]" in banner and "queue stream signups" in banner
    assert f'curl -s -d \'{{"name": "wisp"}}\' {dev.url}/function/hello' in banner

    hello = dev.call("/function/hello", {"name": "dev"})
    assert hello.status == 200 and hello.json()["hello"] == "dev"
    assert hello.headers.get("X-Wisp-Cold-Start") == "true"  # it started from zero
    node = dev.call("/function/node-hello", {"name": "node"})
    assert node.status == 200 and node.json()["runtime"].startswith("node ")
    sizes = dev.call("/function/sizes", {"bytes": 3_000_000})  # humanize, from requirements.txt
    assert sizes.status == 200 and sizes.json() == {"bytes": 3_000_000, "human": "3.0 MB"}
    order = dev.call("/orders/42?verbose=1", method="GET")
    assert order.status == 200 and order.json() == {"id": 42, "item": "tea", "verbose": True}
    created = dev.call("/orders", {"item": "tea"})
    assert created.status == 201 and created.headers["Location"] == "/orders/1"
    assert dev.call("/orders", method="DELETE").status == 405
    report = dev.call(
        "/function/report",
        {"source": "wisp.schedule", "data": {"kind": "daily"}, "time": "2026-01-01T00:00:00Z"},
    )
    assert report.json() == {"report": "daily", "at": "2026-01-01T00:00:00Z"}

    # The queue trigger: a message on the stream reaches the function through the embedded Redis.
    url = re.search(r"embedded redis-server \((redis://[0-9.:]+/0)", banner)
    assert url is not None, banner
    client = redis.Redis.from_url(url.group(1))
    client.xadd("signups", {"data": json.dumps({"email": "ada@example.com"})})
    client.close()
    dev.wait_for_output("welcome mail to ada@example.com")

    # An async call: 202 at once, its record completes.
    accepted = dev.call("/async-function/hello", {"name": "later"})
    assert accepted.status == 202
    record = f"{dev.url}/invocations/{accepted.json()['invocationId']}"
    done = wait_for(
        lambda: http("GET", record).json().get("status") == "succeeded" and http("GET", record),
        what="the async invocation to succeed",
    )
    assert done.status == 200

    metrics = http("GET", f"{dev.admin_url}/metrics").body.decode()
    assert 'wisp_invocations_total{code="200",function="hello",namespace="default"}' in metrics
    assert 'wisp_cold_starts_total{function="hello",namespace="default"}' in metrics


def write_hello(directory: Path, greeting: str, *, idle: str = "30s", extra: str = "") -> Path:
    path = directory / "hello.yaml"
    path.write_text(f"""
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata: {{name: hello}}
spec:
  runtime: python3.12
  handler: main.handler
  code:
    inline: |
      import time
      def handler(event, context):
          time.sleep(event.get("sleep", 0))
          return {{"{greeting}": event.get("name", "world")}}
  scale: {{idleTimeout: {idle}{extra}}}
""")
    return path


def write_node(directory: Path) -> None:
    (directory / "node.yaml").write_text("""
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata: {name: node}
spec:
  runtime: nodejs24
  handler: index.handler
  code: {inline: "exports.handler = async (e) => ({node: process.pid});"}
""")


def test_an_edit_reloads_only_that_function(tmp_path: Path, wisp_dev: Start) -> None:
    write_hello(tmp_path, "hello")
    write_node(tmp_path)
    dev = wisp_dev(tmp_path)
    assert dev.call("/function/hello", {"name": "a"}).json() == {"hello": "a"}
    node_pid = dev.call("/function/node").json()["node"]

    write_hello(tmp_path, "bonjour")
    dev.wait_for_output("wisp dev: reloaded hello")
    assert dev.call("/function/hello", {"name": "a"}).json() == {"bonjour": "a"}
    assert dev.call("/function/node").json()["node"] == node_pid  # the other one kept running

    # A broken edit: one line naming the file and field; the last good version is gone, the
    # others keep serving; fixing the file brings it back.
    (tmp_path / "hello.yaml").write_text(
        (tmp_path / "hello.yaml").read_text().replace("python3.12", "python2")
    )
    out = dev.wait_for_output("hello.yaml: spec.runtime: Unsupported value 'python2'")
    assert "wisp dev: removed hello" in out
    # wisp dev is public by default: a function that is gone is simply not found.
    gone = dev.call("/function/hello")
    assert gone.status == 404 and gone.json()["errorType"] == "FunctionNotFound"
    assert dev.call("/function/node").json()["node"] == node_pid
    write_hello(tmp_path, "hallo")
    dev.wait_for_output("wisp dev: added hello")
    assert dev.call("/function/hello", {"name": "b"}).json() == {"hallo": "b"}


def test_invalid_files_are_named_and_the_rest_serve(tmp_path: Path, wisp_dev: Start) -> None:
    write_hello(tmp_path, "hello")
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: wisp.dev/v1alpha1\nkind: Function\n"
        "metadata: {name: bad}\nspec: {runtime: python3.12, "
        "handler: main.handler, code: {inline: 'x = 1'}, memory: 20Gi}\n"
    )
    (tmp_path / "broken.yaml").write_text("kind: Function\nmetadata: {name: [\n")
    (tmp_path / "noload.yaml").write_text(
        "apiVersion: wisp.dev/v1alpha1\nkind: Function\n"
        "metadata: {name: noload}\nspec: {runtime: python3.12, "
        "handler: main.missing, code: {inline: 'x = 1'}}\n"
    )
    dev = wisp_dev(tmp_path)
    out = dev.output()
    assert f"skipped {tmp_path}/bad.yaml: spec.memory: must be between 64Mi and 10Gi, got 20Gi" in out
    assert re.search(rf"skipped {tmp_path}/broken.yaml: is not valid YAML \(line \d+\)", out), out
    assert dev.call("/function/hello").json() == {"hello": "world"}
    failed = dev.call("/function/noload")
    assert failed.status == 503 and failed.json()["errorType"] == "HandlerLoadFailed"
    assert "missing" in failed.json()["errorMessage"]


def test_an_idle_function_goes_to_zero(tmp_path: Path, wisp_dev: Start) -> None:
    write_hello(tmp_path, "hello", idle="1s")
    dev = wisp_dev(tmp_path)
    assert dev.call("/function/hello").status == 200
    runtimes = dev.runtimes()
    assert len(runtimes) == 1 and dev.endpoints("hello")
    wait_for(lambda: not dev.endpoints("hello"), timeout=30, what="hello to scale to zero")
    wait_for(lambda: not any(alive(pid) for pid in runtimes), what="its process to exit")
    again = dev.call("/function/hello", {"name": "back"})
    assert again.json() == {"hello": "back"} and again.headers.get("X-Wisp-Cold-Start") == "true"


def test_load_scales_out(tmp_path: Path, wisp_dev: Start) -> None:
    write_hello(tmp_path, "hello", extra=", target: 1, max: 4")
    (tmp_path / "hello.yaml").write_text((tmp_path / "hello.yaml").read_text() + "  concurrency: 1\n")
    dev = wisp_dev(tmp_path)
    seen: set[str] = set()
    with ThreadPoolExecutor(6) as pool:
        calls = [pool.submit(dev.call, "/function/hello", {"sleep": 1.5}) for _ in range(6)]
        while not all(c.done() for c in calls):
            seen.update(dev.endpoints("hello"))
            time.sleep(0.1)
    assert all(c.result().status == 200 for c in calls)
    assert len(seen) >= 2, f"one call at a time per replica, six calls: more than one replica ({seen})"


def test_ctrl_c_stops_every_child(examples_copy: Path, wisp_dev: Start) -> None:
    dev = wisp_dev(examples_copy)
    for path in ("/function/hello", "/function/node-hello", "/function/sizes"):
        assert dev.call(path, {}).status == 200
    children = dev.children()
    # Each runtime under its reaper, redis-server, the fork server.
    assert len(dev.runtimes()) == 3 and len(children) == 2 * 3 + 2
    dev.signal(signal.SIGINT)
    assert dev.process is not None and dev.process.wait(timeout=30) == 0
    assert not [pid for pid in children if alive(pid)]
    assert dev.output().rstrip().endswith("wisp dev: stopped")


def test_sigkill_of_wisp_dev_leaves_no_runtime(tmp_path: Path, wisp_dev: Start) -> None:
    write_hello(tmp_path, "hello")
    write_node(tmp_path)
    dev = wisp_dev(tmp_path)
    assert dev.call("/function/hello").status == 200 and dev.call("/function/node").status == 200
    children = dev.children()
    assert len(dev.runtimes()) == 2 and len(children) == 2 * 2 + 2  # and redis-server, the fork server
    dev.signal(signal.SIGKILL)
    assert dev.process is not None and dev.process.wait(timeout=10) == -signal.SIGKILL
    wait_for(
        lambda: not [pid for pid in children if alive(pid)],
        timeout=10,
        what="the runtimes and redis-server to die with wisp dev",
    )


def test_a_busy_port_is_one_clear_line(tmp_path: Path, wisp_dev: Start) -> None:
    write_hello(tmp_path, "hello")
    first = wisp_dev(tmp_path)
    second = wisp_dev(tmp_path, "--port", str(first.port), wait=False)
    second.extra = ()
    assert second.process is not None and second.process.wait(timeout=60) == 1
    assert f"wisp dev: cannot listen on 127.0.0.1:{first.port}" in second.output()
    assert "pass --port" in second.output()


def test_the_security_layer_guards_wisp_dev_but_leaves_the_console_to_this_machine(
    tmp_path: Path, wisp_dev: Start
) -> None:
    write_hello(tmp_path, "hello")
    (tmp_path / "private.yaml").write_text("""
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata: {name: private}
spec:
  runtime: python3.12
  handler: main.handler
  code:
    inline: |
      def handler(event, context):
          return {"secret": True}
  access: {public: false}
""")
    dev = wisp_dev(tmp_path, env={"WISP_ADMIN_TOKEN": "dev-admin"})

    # Public by default, as the banner's curl lines promise; a Function that says otherwise is not.
    assert dev.call("/function/hello", {"name": "dev"}).json() == {"hello": "dev"}
    refused = dev.call("/function/private", {})
    assert refused.status == 401 and refused.json()["errorType"] == "Unauthorized"
    # The input limits of the cluster gateway.
    assert http("GET", f"{dev.url}/function/hello?{'q' * 9000}").status == 414
    # The admin port's /system/ wants the admin token once one is set...
    assert http("GET", f"{dev.admin_url}/system/functions").status == 401
    authorized = {"Authorization": "Bearer dev-admin"}
    assert http("GET", f"{dev.admin_url}/system/functions", headers=authorized).status == 200
    # ...while the console stays open to a browser on this machine (loopback).
    assert http("GET", f"{dev.url}/ui/").status == 200
    info = http("GET", f"{dev.url}/ui/api/info")
    assert info.status == 200 and info.json()["mode"] == "dev"


def test_a_src_layout_with_a_layer_runs_as_deployed(tmp_path: Path, wisp_dev: Start) -> None:
    """Code in sub-folders imports from its folders, and ``--layer NAME=FOLDER`` gives the
    layers a Function's ``spec.layers`` names, under the runtime's /opt."""
    functions, layer = tmp_path / "functions", tmp_path / "shared"
    (functions / "orders" / "src" / "orders").mkdir(parents=True)
    (functions / "orders" / "function.yaml").write_text(
        "apiVersion: wisp.dev/v1alpha1\nkind: Function\nmetadata: {name: orders}\n"
        "spec:\n  runtime: python3.12\n  handler: src.orders.api.handler\n"
        "  layers: [{configMapRef: {name: shared}}]\n"
    )
    (functions / "orders" / "src" / "__init__.py").write_text("")
    (functions / "orders" / "src" / "orders" / "__init__.py").write_text("")
    (functions / "orders" / "src" / "orders" / "api.py").write_text(
        "from shared.money import cents\n\n\ndef handler(event, context):\n"
        "    return {'total': cents(event['total'])}\n"
    )
    (layer / "python" / "shared").mkdir(parents=True)
    (layer / "python" / "shared" / "__init__.py").write_text("")
    (layer / "python" / "shared" / "money.py").write_text(
        "def cents(amount):\n    return round(amount * 100)\n"
    )

    without = wisp_dev(functions)
    without.wait_for_output("--layer shared=FOLDER")
    without.stop()

    dev = wisp_dev(functions, "--layer", f"shared={layer}")
    answer = dev.call("/function/orders", {"total": 12.5})
    assert answer.status == 200, answer.body
    assert answer.json() == {"total": 1250}


@pytest.mark.parametrize("language", ["python", "node", pytest.param("java", marks=pytest.mark.java)])
def test_each_version_found_here_serves_its_functions(language: str, tmp_path: Path, wisp_dev: Start) -> None:
    """A Function runs on the language version its runtime names wherever that interpreter is
    found (WISP_PYTHON_X_Y, e.g. tools/debian-python.sh 3.14; WISP_NODE_N; WISP_JAVA_N): its
    process reports that version. Runtimes past their deprecation date are refused instead."""
    today = datetime.date.today()  # the date the wisp dev subprocess checks against
    found = [
        r
        for r in supported(today)
        if r.language == language and r.versioned and local_version(r) == r.version
    ]
    if language == "python":
        assert found  # at least the interpreter wisp runs on
    if not found:
        pytest.skip(f"no {language} version of the runtime table on this machine")
    if language == "java":
        reason = missing_tools()
        if reason:
            pytest.skip(reason)
        build_runtime()  # wisp dev builds it for a Maven folder, not for inline sources
    handler, source = VERSION_SOURCES[language]
    code = "".join(f"      {line}\n" if line else "\n" for line in source.splitlines())
    for runtime in found:
        name = runtime.value.replace(".", "-")
        (tmp_path / f"{name}.yaml").write_text(
            "apiVersion: wisp.dev/v1alpha1\nkind: Function\n"
            f"metadata: {{name: {name}}}\nspec:\n  runtime: {runtime.value}\n  handler: {handler}\n"
            f"  memory: 512Mi\n  timeout: 60s\n  code:\n    inline: |\n{code}"
        )
    dev = wisp_dev(tmp_path)
    for runtime in found:
        answer = dev.call(f"/function/{runtime.value.replace('.', '-')}")
        assert answer.status == 200, (runtime, answer.body)
        assert answer.json() == {"version": runtime.version}, runtime
