"""Versions and weighted aliases end to end: the operator publishes and renders versions, the
test node agent runs their pods, and a ``wisp gateway`` process routes ``NAME:ALIAS`` by the
alias's weights, follows an alias change through its watch with no failed call, and scales
each version's Deployment on its own."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from kubernetes import client

from tests.cluster.fixtures import Kubectl, OperatorProcess, wait_for
from tests.gateway.kube.conftest import GatewayProcess, GatewayStarter
from tests.gateway.kube.test_kube_gateway import deployment_replicas

pytestmark = [pytest.mark.cluster, pytest.mark.controllers]

FUNCTION = """
apiVersion: wisp.dev/v1alpha1
kind: Function
metadata: {{name: hello}}
spec:
  runtime: python3.12
  handler: main.handler
  publish: true
  code:
    inline: |
      def handler(event, context):
          return {{"v": {v}}}
  timeout: 10s
  scale: {{min: 0, max: 4, target: 20, idleTimeout: 3s}}
"""
CALLS = 2000


def publish(kubectl: Kubectl, namespace: str, v: int) -> None:
    kubectl("apply", "-f", "-", input=FUNCTION.format(v=v), namespace=namespace)

    def published() -> bool:
        fn = json.loads(kubectl("get", "fn", "hello", "-o", "json", namespace=namespace).stdout)
        return int((fn.get("status") or {}).get("latestVersion") or 0) == v

    wait_for(published, timeout=60, what=f"version {v} published")


def set_alias(kubectl: Kubectl, namespace: str, alias: dict[str, Any]) -> None:
    patch = json.dumps({"spec": {"aliases": {"prod": alias}}})
    kubectl("patch", "fn", "hello", "--type=merge", "-p", patch, namespace=namespace)


def served_by(gw: GatewayProcess, path: str) -> tuple[int, str]:
    status, headers, body = gw.call(path)
    version = headers.get("X-Wisp-Version", "")
    if status == 200:
        assert json.loads(body) == {"v": int(version)}, body
    return status, version


def test_a_weighted_alias_splits_and_a_shift_under_load_loses_no_call(
    kubectl: Kubectl,
    kube_api: client.ApiClient,
    namespace: str,
    operator: OperatorProcess,
    node_agent: Any,
    start_gateway: GatewayStarter,
) -> None:
    publish(kubectl, namespace, 1)
    publish(kubectl, namespace, 2)
    set_alias(kubectl, namespace, {"version": 1, "additionalVersionWeights": {"2": 10}})
    gw = start_gateway()
    path = f"/function/hello.{namespace}:prod"
    for version in ("1", "2"):  # both versions started once, so the count below is warm calls
        assert served_by(gw, f"/function/hello.{namespace}:{version}") == (200, version), gw.log.read_text()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: served_by(gw, path), range(CALLS)))
    assert {status for status, _ in answers} == {200}
    share = Counter(version for _, version in answers)["2"] / CALLS * 100
    print(f"90/10 alias over {CALLS} calls: {share:.1f}% to version 2")
    assert 7 <= share <= 13, share

    # Shift the whole alias to version 2 while 4 callers keep calling it.
    seen: list[tuple[float, int, str]] = []
    stop = threading.Event()

    def load() -> None:
        while not stop.is_set():
            started = time.monotonic()
            status, version = served_by(gw, path)
            seen.append((started, status, version))

    workers = [threading.Thread(target=load) for _ in range(4)]
    for worker in workers:
        worker.start()
    try:
        wait_for(lambda: len(seen) >= 200, timeout=60, what="calls before the shift")
        set_alias(kubectl, namespace, {"version": 2, "additionalVersionWeights": None})
        shifted_at = time.monotonic()  # the API server has the new alias

        def only_version_2() -> bool:
            after = [version for moment, _, version in seen if moment > shifted_at]
            return len(after) >= 200 and set(after[-100:]) == {"2"}

        wait_for(only_version_2, timeout=60, what="every call served by version 2")
        # Version 1 gets no calls now: the autoscaler takes it to zero while 2 keeps serving.
        wait_for(
            lambda: deployment_replicas(kube_api, namespace, "hello-v1") == 0, timeout=90, what="v1 at 0"
        )
        assert deployment_replicas(kube_api, namespace, "hello-v2") >= 1
    finally:
        stop.set()
        for worker in workers:
            worker.join()
    assert {status for _, status, _ in seen} == {200}, Counter(status for _, status, _ in seen)
    last_v1 = max((moment for moment, _, version in seen if version == "1"), default=shifted_at)
    print(f"shift under load: {len(seen)} calls, none failed; the last call version 1 served "
          f"started {last_v1 - shifted_at:+.2f} s after the patch was stored")  # fmt: skip
