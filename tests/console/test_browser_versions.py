"""The Versions tab in real headless Chromium, against a gateway's console on the real control
plane with the operator publishing versions, signed in with a team's own Kubernetes token: the
list shows each version's share of an alias's calls, the traffic slider patches the alias when
the token's RBAC lets it patch Functions, and a token that may only read gets the refusal on the
page, with the alias left as it was."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from kubernetes import client

from tests.cluster.fixtures import Kubectl, wait_for
from tests.console.browser import browser_page, expect, screenshot
from tests.console.test_browser_cluster import ClusterConsole, cluster_console  # noqa: F401
from tests.console.test_tenants import tenant_token

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


READ = ["get", "list", "watch"]


def team_token(kube_api: client.ApiClient, kubectl: Kubectl, namespace: str, verbs: list[str]) -> str:
    return tenant_token(
        kube_api, kubectl, namespace, [{"apiGroups": [GROUP], "resources": ["functions"], "verbs": verbs}]
    )


async def sign_in(page: Any, console: ClusterConsole, namespace: str, token: str) -> None:
    await page.goto(console.url(f"/ui/#/f/{namespace}/hello/versions"))
    await page.get_by_label("Token", exact=True).fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Versions")).to_be_visible()


async def test_the_traffic_slider_shifts_an_alias(
    cluster_console: ClusterConsole,  # noqa: F811
    kube_api: client.ApiClient,
    kubectl: Kubectl,
    namespace: str,
) -> None:
    custom = await two_versions_and_an_alias(kube_api, namespace)
    token = team_token(kube_api, kubectl, namespace, [*READ, "patch", "create"])
    async with browser_page() as page:
        await sign_in(page, cluster_console, namespace, token)
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


async def test_the_slider_of_a_token_rbac_lets_only_read_changes_nothing(
    cluster_console: ClusterConsole,  # noqa: F811
    kube_api: client.ApiClient,
    kubectl: Kubectl,
    namespace: str,
) -> None:
    custom = await two_versions_and_an_alias(kube_api, namespace)
    token = team_token(kube_api, kubectl, namespace, READ)
    async with browser_page() as page:
        await sign_in(page, cluster_console, namespace, token)
        await expect(page.locator('tr[data-version="1"] .traffic')).to_have_text("prod 100%")  # it may read
        await page.get_by_label("prod: canary version").select_option("2")
        await expect(page.locator("#alias-prod-error")).to_contain_text(
            f"may not change functions in namespace {namespace}"
        )
        await expect(page.locator('tr[data-version="1"] .traffic')).to_have_text("prod 100%")
    assert read(custom, namespace)["spec"]["aliases"] == {"prod": {"version": 1}}
