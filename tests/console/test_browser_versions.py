"""The Versions tab in real headless Chromium, against a gateway's console on the real control
plane with the operator publishing versions: the list shows each version's share of an alias's
calls, the traffic slider patches the alias, and an account RBAC does not let patch Functions
gets the API server's refusal on the page, with the alias left as it was."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from kubernetes import client, config

from tests.cluster.fixtures import wait_for
from tests.console.browser import browser_page, expect, screenshot
from tests.console.test_browser_cluster import TOKEN, ClusterConsole, NodeAgentLogs, cluster_console  # noqa: F401
from wisp.console.cluster import add_cluster_console
from wisp.gateway.admin import make_admin_app
from wisp.gateway.state import COMPONENTS

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

GROUP, VERSION = "wisp.dev", "v1alpha1"
NO_TRAFFIC = "\u2013"  # the page's dash for a version no alias sends calls to


def code(label: str) -> dict[str, Any]:
    return {"inline": f"def handler(event, context):\n    return {{'served': {label!r}}}\n"}


def function(label: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Function",
        "metadata": {"name": "hello"},
        "spec": {"runtime": "python3.12", "handler": "main.handler", "code": code(label), "publish": True},
    }


def read(custom: client.CustomObjectsApi, namespace: str) -> dict[str, Any]:
    obj: dict[str, Any] = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "functions", "hello")
    return obj


def published(custom: client.CustomObjectsApi, namespace: str, n: int) -> None:
    wait_for(
        lambda: (read(custom, namespace).get("status") or {}).get("latestVersion") == n,
        timeout=60,
        what=f"version {n} published",
    )


async def two_versions_and_an_alias(kube_api: client.ApiClient, namespace: str) -> client.CustomObjectsApi:
    custom = client.CustomObjectsApi(kube_api)
    custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "functions", function("one"))
    await asyncio.to_thread(published, custom, namespace, 1)
    new_code = {"spec": {"code": code("two")}}
    custom.patch_namespaced_custom_object(GROUP, VERSION, namespace, "functions", "hello", new_code)
    await asyncio.to_thread(published, custom, namespace, 2)
    custom.patch_namespaced_custom_object(
        GROUP, VERSION, namespace, "functions", "hello", {"spec": {"aliases": {"prod": {"version": 1}}}}
    )
    return custom


async def sign_in(page: Any, console: ClusterConsole, namespace: str) -> None:
    await page.goto(console.url(f"/ui/#/f/{namespace}/hello/versions"))
    await page.get_by_label("Admin token").fill(TOKEN)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Versions")).to_be_visible()


async def test_the_traffic_slider_shifts_an_alias(
    cluster_console: ClusterConsole,  # noqa: F811
    kube_api: client.ApiClient,
    namespace: str,
) -> None:
    custom = await two_versions_and_an_alias(kube_api, namespace)
    async with browser_page() as page:
        await sign_in(page, cluster_console, namespace)
        rows = page.locator("#versions tbody tr")
        await expect(rows).to_have_count(2)
        await expect(rows.nth(0)).to_have_attribute("data-version", "2")  # newest first
        await expect(page.locator('tr[data-version="1"] .traffic')).to_have_text("prod 100%")
        await expect(page.locator('tr[data-version="2"] .traffic')).to_have_text(NO_TRAFFIC)

        # A canary: version 2 gets 30% of prod's calls.
        await page.get_by_label("prod: canary version").select_option("2")
        await page.get_by_label("prod: traffic to the canary").fill("30")
        await expect(page.locator("#alias-prod-split")).to_have_text("70% to version 1, 30% to version 2")
        await expect(page.locator('tr[data-version="2"] .traffic')).to_have_text("prod 30%")
        await expect(page.locator('tr[data-version="1"] .traffic')).to_have_text("prod 70%")
        aliases = read(custom, namespace)["spec"]["aliases"]
        assert aliases == {"prod": {"version": 1, "additionalVersionWeights": {"2": 30}}}
        fn = read(custom, namespace)
        assert any(m["manager"] == "wisp-console" for m in fn["metadata"]["managedFields"])
        await screenshot(page, "versions")

        # Promote: prod is version 2 alone; then the slider back to 0 of a canary is a rollback.
        await page.get_by_label("prod: traffic to the canary").fill("100")
        await expect(page.locator('tr[data-version="2"] .traffic')).to_have_text("prod 100%")
        await page.get_by_label("prod: version", exact=True).select_option("2")
        await page.get_by_label("prod: canary version").select_option("")
        await expect(page.locator('tr[data-version="1"] .traffic')).to_have_text(NO_TRAFFIC)
        assert read(custom, namespace)["spec"]["aliases"] == {"prod": {"version": 2}}


@pytest.fixture
async def viewer_console(
    cluster_console: ClusterConsole,  # noqa: F811
    kubeconfig: Path,
    kube_api: client.ApiClient,
    namespace: str,
    node_agent: Any,
) -> AsyncIterator[ClusterConsole]:
    """A console whose Kubernetes account may read Functions and versions but not change them."""
    rbac = client.RbacAuthorizationV1Api(kube_api)
    client.CoreV1Api(kube_api).create_namespaced_service_account(namespace, {"metadata": {"name": "viewer"}})
    rbac.create_namespaced_role(
        namespace,
        {
            "metadata": {"name": "functions-viewer"},
            "rules": [
                {
                    "apiGroups": [GROUP],
                    "resources": ["functions", "functionversions"],
                    "verbs": ["get", "list", "watch"],
                }
            ],
        },
    )
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "functions-viewer"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "functions-viewer"},
            "subjects": [{"kind": "ServiceAccount", "name": "viewer", "namespace": namespace}],
        },
    )
    viewer = config.new_client_from_config(config_file=str(kubeconfig))
    viewer.set_default_header("Impersonate-User", f"system:serviceaccount:{namespace}:viewer")
    parts = cluster_console.invocation.app[COMPONENTS]
    admin = make_admin_app(parts)
    add_cluster_console(admin, parts, viewer, TOKEN, pod_logs=NodeAgentLogs(node_agent))
    server = TestServer(admin, host="127.0.0.1")
    await server.start_server()
    yield ClusterConsole(cluster_console.invocation, server)
    await server.close()


async def test_the_slider_of_an_account_rbac_does_not_allow_changes_nothing(
    viewer_console: ClusterConsole, kube_api: client.ApiClient, namespace: str
) -> None:
    custom = await two_versions_and_an_alias(kube_api, namespace)
    async with browser_page() as page:
        await sign_in(page, viewer_console, namespace)
        await expect(page.locator('tr[data-version="1"] .traffic')).to_have_text("prod 100%")  # it may read
        await page.get_by_label("prod: canary version").select_option("2")
        await expect(page.locator("#alias-prod-error")).to_contain_text("forbidden")
        await expect(page.locator('tr[data-version="1"] .traffic')).to_have_text("prod 100%")
    assert read(custom, namespace)["spec"]["aliases"] == {"prod": {"version": 1}}
