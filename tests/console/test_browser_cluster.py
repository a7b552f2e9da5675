"""End to end in real headless Chromium against the console of a gateway on the real control
plane: the console is on the admin listener behind the admin token, Functions are created
through the Kubernetes API (the operator makes their children, the test node agent runs their
pods), and the API server's validation errors show next to the field they name."""

from __future__ import annotations

import asyncio
import datetime
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from kubernetes import client

from tests.cluster.fixtures import wait_for
from tests.console.browser import browser_page, expect, screenshot
from wisp.api.runtimes import newest
from wisp.console.cluster import add_cluster_console
from wisp.gateway.admin import make_admin_app
from wisp.gateway.app import make_app
from wisp.gateway.config import GatewayConfig
from wisp.gateway.kube import KubernetesBackend
from wisp.gateway.state import COMPONENTS

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

TOKEN = "console-test-admin-token"
CODE = """def handler(event, context):
    context.logger.info("greeting %s", event.get("name"))
    return {"greeting": "hi " + event.get("name", "world")}
"""


@dataclass
class NodeAgentLogs:
    """Pod logs as the test node agent (our kubelet) keeps them: one file per pod."""

    agent: Any

    def read(self, namespace: str, pod: str, tail: int) -> str:
        for uid, run in list(self.agent.pods.items()):
            if (run.namespace, run.name) == (namespace, pod):
                path: Path = self.agent.workdir / "pods" / uid / "function.log"
                lines = path.read_text(errors="replace").splitlines() if path.exists() else []
                return "\n".join(lines[-tail:])
        return ""


def _deployment_exists(kube_api: client.ApiClient, namespace: str, name: str) -> bool:
    try:
        client.AppsV1Api(kube_api).read_namespaced_deployment(name, namespace)
    except client.ApiException:
        return False
    return True


@dataclass
class ClusterConsole:
    invocation: TestServer
    admin: TestServer

    def url(self, path: str = "/ui/") -> str:
        return str(self.admin.make_url(path))


@pytest.fixture
async def cluster_console(
    kubeconfig: Path, kube_api: client.ApiClient, namespace: str, operator: Any, node_agent: Any
) -> AsyncIterator[ClusterConsole]:
    config = GatewayConfig(
        host="127.0.0.1",
        namespaces=(namespace,),
        default_namespace=namespace,
        lease_namespace=namespace,
        kubeconfig=str(kubeconfig),
        pod_name="console-test",
        autoscale_tick=1.0,
        cold_start_timeout=90,
    )
    app = make_app(config, KubernetesBackend(kube_api, config))
    admin = make_admin_app(app[COMPONENTS])
    add_cluster_console(admin, app[COMPONENTS], kube_api, TOKEN, pod_logs=NodeAgentLogs(node_agent))
    invocation = TestServer(app, host="127.0.0.1")
    await invocation.start_server()
    admin_server = TestServer(admin, host="127.0.0.1")
    await admin_server.start_server()
    yield ClusterConsole(invocation, admin_server)
    await admin_server.close()
    await invocation.close()


async def test_console_api_needs_the_admin_token(cluster_console: ClusterConsole) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(cluster_console.url("/ui/")) as resp:
            assert resp.status == 200  # the page itself holds no data
        async with session.get(cluster_console.url("/ui/api/functions")) as resp:
            assert resp.status == 401
        headers = {"Authorization": "Bearer wrong"}
        async with session.get(cluster_console.url("/ui/api/functions"), headers=headers) as resp:
            assert resp.status == 403
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with session.get(cluster_console.url("/ui/api/info"), headers=headers) as resp:
            assert resp.status == 200 and (await resp.json())["mode"] == "cluster"


async def test_create_deploy_test_watch_delete_on_the_cluster(
    cluster_console: ClusterConsole, kube_api: client.ApiClient, namespace: str
) -> None:
    custom = client.CustomObjectsApi(kube_api)
    async with browser_page() as page:
        page.on("dialog", lambda dialog: dialog.accept())
        await page.goto(cluster_console.url("/ui/"))
        await expect(page.get_by_role("heading", name="Sign in to the wisp console")).to_be_visible()
        await screenshot(page, "signin")
        await page.get_by_label("Token", exact=True).fill(TOKEN)
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_text("cluster", exact=True)).to_be_visible()
        await expect(page.get_by_role("heading", name="No functions yet")).to_be_visible()

        await page.get_by_role("link", name="Create your first function").click()
        await page.get_by_label("Name", exact=True).fill("greeter")
        await page.get_by_label("Handler code").fill(CODE)
        await page.get_by_label("Memory").fill("lots")
        await page.get_by_role("button", name="Deploy").click()
        # Refused by the API server (the CRD's schema), shown next to the field it names.
        await expect(page.locator("#f-memory-error")).to_contain_text("spec.memory")
        await page.get_by_label("Memory").fill("128Mi")
        await page.get_by_role("button", name="Deploy").click()
        await expect(page).to_have_url(re.compile(rf"#/f/{namespace}/greeter/test$"))
        fn = custom.get_namespaced_custom_object("wisp.dev", "v1alpha1", namespace, "functions", "greeter")
        assert fn["spec"]["memory"] == "128Mi"
        assert any(m["manager"] == "wisp-console" for m in fn["metadata"]["managedFields"])

        # Served once the gateway's watch has it and the operator has made its Deployment (a
        # call before that waits out the cold-start timeout: the activator asks to scale once).
        default_python = newest("python", datetime.date.today()).value  # the editor's default
        await expect(page.locator("dl.summary")).to_contain_text(default_python)
        await asyncio.to_thread(
            wait_for, lambda: _deployment_exists(kube_api, namespace, "greeter"), 60, "the Deployment"
        )
        await page.get_by_label("Event (JSON)").fill('{"name": "ada"}')
        await page.get_by_role("button", name="Test", exact=True).click()
        await expect(page.locator("#result-status")).to_have_text("200", timeout=120_000)
        await expect(page.locator("#result-body")).to_contain_text("hi ada")
        await expect(page.locator("#result-cold")).to_contain_text("yes")
        await expect(page.locator("#result-logs")).to_contain_text("greeting ada")
        await page.get_by_label("Event name").fill("ada")
        await page.get_by_role("button", name="Save event").click()
        await expect(page.get_by_label("Saved events")).to_have_value("ada")
        events = client.CoreV1Api(kube_api).read_namespaced_config_map("greeter-test-events", namespace)
        assert events.metadata.owner_references[0].name == "greeter"

        await page.get_by_role("navigation", name="Main").get_by_role("link", name="Functions").click()
        row = page.locator('tr[data-function="greeter"]')
        await expect(row.locator(".invocations")).to_have_text("1")
        await row.get_by_role("link", name="greeter").click()
        await page.get_by_role("link", name="Monitor").click()
        await expect(page.locator("#chart-invocations rect")).to_have_count(1)

        await page.get_by_role("link", name="Code").click()
        await page.get_by_role("button", name="Delete").click()
        await expect(page.get_by_role("heading", name="No functions yet")).to_be_visible(timeout=60_000)
        with pytest.raises(client.ApiException) as gone:
            custom.get_namespaced_custom_object("wisp.dev", "v1alpha1", namespace, "functions", "greeter")
        assert gone.value.status == 404
