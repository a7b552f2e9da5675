"""Every command in README.md's ``sh`` blocks is run here, so the front door cannot drift.

Commands are read from README.md itself. Each one must match a case below or the first test
fails, naming it. The local path runs ``make dev``'s own command (``make -n dev``) on free ports
and the README's curl against it; the cluster path runs the ``kubectl`` and ``wisp`` commands
against the real control plane of the test harness (operator and test node agent), with a real
gateway process in place of the port-forward. Docker/kind steps cannot run here: the chart they
install is exercised by tests/helm instead.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli.gateway import GatewayProcess, gateway  # noqa: F401 (fixture)
from tests.cluster.fixtures import ROOT, Kubectl, OperatorProcess
from tests.dev.process import WispDev, http

README = ROOT / "README.md"
CLUSTER_HEADING = re.compile(r"^## .*cluster", re.I | re.M)
LOCAL_PORT, LOCAL_ADMIN = "8080", "9090"

# pattern -> how it is exercised (a test below, or why it cannot run here)
CASES: dict[str, str] = {
    r"make dev": "test_the_local_path",
    r"make test": "this test suite is what it runs",
    r"curl .*http://127\.0\.0\.1:8080/\S*": "test_the_local_path / test_the_cluster_path",
    r"make kind-up images kind-load": "needs Docker and kind; the chart is tested in tests/helm",
    r"make deploy": "needs a kind cluster; the chart is tested in tests/helm",
    r"kubectl -n wisp-system port-forward svc/wisp-gateway 8080:8080 &": "a gateway process instead",
    r"kubectl apply -f examples/\S+": "test_the_cluster_path",
    r"kubectl wait --for=condition=Ready function/\S+": "test_the_cluster_path",
    r"kubectl get wisp": "test_the_cluster_path",
    r"wisp (list|invoke|logs|describe|deploy|delete|init)\b.*": "test_the_cluster_path",
    r"wisp dev( examples/?)?": "test_the_local_path",
}


def halves() -> tuple[str, str]:
    """README's text before the cluster section, and from it on."""
    text = README.read_text()
    split = CLUSTER_HEADING.search(text)
    cut = split.start() if split else len(text)
    return text[:cut], text[cut:]


def sections() -> tuple[list[str], list[str]]:
    """(local commands, cluster commands): shell lines of README's sh blocks, comments dropped."""
    local, cluster = halves()
    return _commands(local), _commands(cluster)


def _commands(text: str) -> list[str]:
    out = []
    for block in re.findall(r"```(?:sh|bash|console)\n(.*?)```", text, re.S):
        for line in block.splitlines():
            command = re.sub(r"\s+#.*$", "", line).strip()
            if command and not command.startswith("#"):
                out.append(command.removeprefix("$ "))
    return out


def case(command: str) -> str | None:
    return next((p for p in CASES if re.fullmatch(p, command)), None)


def test_every_readme_command_is_exercised() -> None:
    local, cluster = sections()
    assert "make dev" in local and any(c.startswith("curl") for c in local)
    unknown = [c for c in local + cluster if case(c) is None]
    assert not unknown, f"README commands no test runs (add them to tests/readme): {unknown}"


@pytest.fixture
def local_dev(tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WispDev]:
    dev = WispDev(
        ROOT / "examples",
        tmp_path / "dev.log",
        env={"WISP_DEV_CACHE": str(tmp_path_factory.getbasetemp() / "readme-dev-cache")},
    )
    dry = subprocess.run(
        ["make", "--no-print-directory", "-n", "dev", f"PORT={dev.port}", f"ADMIN_PORT={dev.admin_port}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        # Run from `make test`, the outer make's flags would leak in.
        env={k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")},
    ).stdout.splitlines()[-1]
    argv = shlex.split(dry)
    expected = ["dev", "examples", "--port", str(dev.port), "--admin-port", str(dev.admin_port)]
    assert argv[0].endswith("/bin/wisp") and argv[1:] == expected, dry
    dev.extra = ("--admin-port", str(dev.admin_port))
    try:
        yield dev.start()
    finally:
        dev.stop()


def run_curl(command: str, replace: Callable[[str], str]) -> Any:
    argv = [replace(arg) for arg in shlex.split(command)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, f"{command}: {done.stderr}"
    return json.loads(done.stdout)


@pytest.mark.redis
def test_the_local_path(local_dev: WispDev) -> None:
    local, _ = sections()

    def on_free_ports(text: str) -> str:
        return text.replace(f":{LOCAL_PORT}", f":{local_dev.port}").replace(
            f":{LOCAL_ADMIN}", f":{local_dev.admin_port}"
        )

    for command in local:
        if command.startswith("curl"):
            sent = json.loads(re.search(r"-d '([^']*)'", command).group(1))  # type: ignore[union-attr]
            answer = run_curl(command, on_free_ports)
            assert answer.get("hello") == sent["name"] and answer["requestId"], answer
    # The URLs the README sends people to answer.
    for url in set(re.findall(r"http://127\.0\.0\.1:\d+/[\w/]*", halves()[0])):
        if "/function/" in url:
            continue
        assert http("GET", on_free_ports(url)).status == 200, url


@pytest.mark.cluster
def test_the_cluster_path(
    kubectl: Kubectl,
    kubeconfig: Path,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    gateway: GatewayProcess,  # noqa: F811
) -> None:
    _, cluster = sections()
    env = {**os.environ, "KUBECONFIG": str(kubeconfig), "WISP_GATEWAY_URL": gateway.url}
    ran = []
    for command in cluster:
        if command.startswith(("kubectl apply", "kubectl wait")) or command == "kubectl get wisp":
            args = shlex.split(command)[1:]
            if args[0] == "wait":
                args.append("--timeout=120s")
            done = kubectl(*args, namespace=namespace, timeout=150)
            assert done.returncode == 0
        elif command.startswith("curl"):
            sent = json.loads(re.search(r"-d '([^']*)'", command).group(1))  # type: ignore[union-attr]
            answer = run_curl(command, lambda a: a.replace("http://127.0.0.1:8080", gateway.url))
            assert answer.get("hello") == sent["name"], answer
        elif command.startswith("wisp "):
            argv = [sys.executable, "-m", "wisp", *shlex.split(command)[1:]]
            if argv[3] not in ("invoke", "init"):
                argv += ["-n", namespace]
            done = subprocess.run(
                argv, capture_output=True, text=True, env=env, timeout=180, check=False, cwd=ROOT
            )
            assert done.returncode == 0, f"{command}: {done.stderr}"
            if argv[3] == "logs":  # the lines of every pod, prefixed with the pod's name
                assert done.stdout.startswith("hello-") and "invocation finished" in done.stdout, done.stdout
        else:
            continue
        ran.append(command)
    assert any(c.startswith("kubectl apply") for c in ran) and any(c.startswith("curl") for c in ran)
