"""Namespaces as tenants in the cluster console (docs/tenancy.md), against the real control
plane: a gateway serving two namespaces, a Function in each, and a ServiceAccount per namespace
whose token is that tenant's credential. Each tenant's list, details, logs and usage hold its own
namespace only; asking for the other's function is a JSON 404, as for one that does not exist;
the admin token still sees both; and in Chromium a tenant signed in with its token sees only its
own functions."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp.test_utils import TestServer
from kubernetes import client

from tests.cluster.fixtures import Kubectl
from tests.console.browser import browser_page, expect
from tests.console.test_browser_cluster import NodeAgentLogs
from wisp.console.cluster import add_cluster_console
from wisp.gateway.admin import make_admin_app
from wisp.gateway.app import make_app
from wisp.gateway.config import GatewayConfig
from wisp.gateway.kube import KubernetesBackend
from wisp.gateway.state import COMPONENTS

pytestmark = [pytest.mark.browser, pytest.mark.cluster]

ADMIN = "tenants-test-admin-token"
CODE = 'def handler(event, context):\n    print("served", event)\n    return {"ok": True}\n'
# What a tenant's team gets in its namespace: Functions to read and change, their pods' logs.
TENANT_RULES = [
    {
        "apiGroups": ["wisp.dev"],
        "resources": ["functions"],
        "verbs": ["get", "list", "watch", "create", "patch"],
    },
    {"apiGroups": [""], "resources": ["pods", "pods/log"], "verbs": ["get", "list"]},
]


def function(name: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "wisp.dev/v1alpha1",
            "kind": "Function",
            "metadata": {"name": name},
            "spec": {"runtime": "python3.12", "handler": "main.handler", "code": {"inline": CODE}},
        }
    )


def tenants_gateway_config(kubeconfig: Path, a: str, b: str, pod_name: str) -> GatewayConfig:
    """A gateway serving the Functions of two tenants' namespaces, ``a`` and ``b``."""
    return GatewayConfig(
        host="127.0.0.1",
        namespaces=(a, b),
        default_namespace=a,
        lease_namespace=a,
        kubeconfig=str(kubeconfig),
        pod_name=pod_name,
        autoscale_tick=1.0,
        cold_start_timeout=90,
    )


def tenant_token(kube_api: client.ApiClient, kubectl: Kubectl, namespace: str, rules: list[Any]) -> str:
    """A ServiceAccount of ``namespace`` bound to ``rules`` there, and a token of it."""
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "team"}}
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "team"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "team"},
        "subjects": [{"kind": "ServiceAccount", "name": "team", "namespace": namespace}],
    }
    kubectl("create", "serviceaccount", "team", namespace=namespace)
    kubectl("apply", "-f", "-", input=yaml.safe_dump({**role, "rules": rules}), namespace=namespace)
    kubectl("apply", "-f", "-", input=yaml.safe_dump(binding), namespace=namespace)
    request = client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    answer = client.CoreV1Api(kube_api).create_namespaced_service_account_token("team", namespace, request)
    return str(answer.status.token)


@dataclass
class Tenancy:
    admin: TestServer
    invocation: TestServer
    namespaces: tuple[str, str]  # a, b
    tokens: dict[str, str]  # namespace -> its tenant's token

    def url(self, path: str) -> str:
        return str(self.admin.make_url(path))

    async def get(self, path: str, token: str, **kwargs: Any) -> tuple[int, Any]:
        return await self.request("GET", path, token, **kwargs)

    async def request(self, method: str, path: str, token: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url(path), headers=headers, **kwargs) as resp,
        ):
            return resp.status, await resp.json(content_type=None)


@pytest.fixture
async def tenancy(
    kubeconfig: Path,
    kube_api: client.ApiClient,
    kubectl: Kubectl,
    namespace: str,
    operator: Any,
    node_agent: Any,
) -> AsyncIterator[Tenancy]:
    a, b = namespace, f"{namespace}-b"
    kubectl("create", "namespace", b)
    tokens = {}
    for ns, name in ((a, "alpha"), (b, "beta")):
        kubectl("apply", "-f", "-", input=function(name), namespace=ns)
        tokens[ns] = await asyncio.to_thread(tenant_token, kube_api, kubectl, ns, TENANT_RULES)
    config = tenants_gateway_config(kubeconfig, a, b, "tenants-test")
    app = make_app(config, KubernetesBackend(kube_api, config))
    admin = make_admin_app(app[COMPONENTS])
    add_cluster_console(admin, app[COMPONENTS], kube_api, ADMIN, pod_logs=NodeAgentLogs(node_agent))
    invocation = TestServer(app, host="127.0.0.1")
    await invocation.start_server()
    admin_server = TestServer(admin, host="127.0.0.1")
    await admin_server.start_server()
    yield Tenancy(admin_server, invocation, (a, b), tokens)
    await admin_server.close()
    await invocation.close()
    kubectl("delete", "namespace", b, "--wait=false")


def names(listing: dict[str, Any]) -> set[tuple[str, str]]:
    return {(row["namespace"], row["name"]) for row in listing["functions"]}


async def test_each_tenant_sees_its_own_namespace_only(tenancy: Tenancy, kube_api: client.ApiClient) -> None:
    a, b = tenancy.namespaces
    both = {(a, "alpha"), (b, "beta")}

    async def admin_sees_both() -> bool:
        status, body = await tenancy.get("/ui/api/functions", ADMIN)
        return status == 200 and both <= names(body)

    for _ in range(240):  # the gateway's watch has both Functions
        if await admin_sees_both():
            break
        await asyncio.sleep(0.25)
    else:
        pytest.fail("the gateway never served both tenants' Functions")
    # One call each (as the admin, through the console's test pane), for logs and usage.
    for ns, name in ((a, "alpha"), (b, "beta")):
        status, body = await tenancy.request(
            "POST", f"/ui/api/functions/{ns}/{name}/invoke", ADMIN, json={"event": {"n": name}}
        )
        assert status == 200 and body["status"] == 200, body

    for own, other, mine, theirs in ((a, b, "alpha", "beta"), (b, a, "beta", "alpha")):
        token = tenancy.tokens[own]
        status, body = await tenancy.get("/ui/api/functions", token)
        assert (status, names(body)) == (200, {(own, mine)})
        status, body = await tenancy.get("/ui/api/info", token)
        assert status == 200 and body["namespaces"] == [own], body
        assert body["user"] == f"system:serviceaccount:{own}:team"

        # Its own function: details, numbers and logs.
        assert (await tenancy.get(f"/ui/api/functions/{own}/{mine}", token))[0] == 200
        assert (await tenancy.get(f"/ui/api/functions/{own}/{mine}/series", token))[0] == 200
        status, body = await tenancy.get(f"/ui/api/functions/{own}/{mine}/logs", token)
        assert status == 200 and any("served" in line["message"] for line in body["lines"]), body

        # The other's: every route answers as for a function that is not there.
        for method, path in (
            ("GET", f"/ui/api/functions/{other}/{theirs}"),
            ("GET", f"/ui/api/functions/{other}/{theirs}/logs"),
            ("GET", f"/ui/api/functions/{other}/{theirs}/series"),
            ("GET", f"/ui/api/functions/{other}/{theirs}/events"),
            ("POST", f"/ui/api/functions/{other}/{theirs}/invoke"),
            ("DELETE", f"/ui/api/functions/{other}/{theirs}"),
        ):
            kwargs: dict[str, Any] = {"json": {"event": {}}} if method == "POST" else {}
            status, body = await tenancy.request(method, path, token, **kwargs)
            assert status == 404 and "error" in body, (own, method, path, status, body)
            assert theirs not in str(body.get("manifest", "")), body
        status, body = await tenancy.request(
            "PUT", f"/ui/api/functions/{other}/{theirs}", token, json={"spec": {"runtime": "python3.12"}}
        )
        assert status == 404, body

        # Usage: its namespace's calls only; the other namespace is unknown to it.
        status, body = await tenancy.get("/ui/api/usage", token)
        assert status == 200
        assert {(r["namespace"], r["function"]) for r in body["rows"]} == {(own, mine)}
        assert [n["namespace"] for n in body["namespaces"]] == [own]
        status, body = await tenancy.get("/ui/api/usage", token, params={"namespace": other})
        assert status == 404 and "error" in body

    # The admin token sees both tenants' usage; the Functions are untouched.
    status, body = await tenancy.get("/ui/api/usage", ADMIN)
    assert {(r["namespace"], r["function"]) for r in body["rows"]} >= both
    custom = client.CustomObjectsApi(kube_api)
    assert custom.get_namespaced_custom_object("wisp.dev", "v1alpha1", b, "functions", "beta")

    # A token the API server does not accept opens nothing.
    assert (await tenancy.get("/ui/api/functions", "not-a-kubernetes-token"))[0] == 403


def wisp(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WISP_")}
    command = [sys.executable, "-m", "wisp", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=120, check=False)


async def test_wisp_list_and_describe_through_the_gateway_show_what_the_token_may_see(
    tenancy: Tenancy,
) -> None:
    a, b = tenancy.namespaces
    console = ["--console", tenancy.url("/")]
    for _ in range(240):  # the gateway's watch has both Functions
        out = await asyncio.to_thread(wisp, "list", "-A", "-o", "json", *console, "--token", ADMIN)
        if out.returncode == 0 and {(r["namespace"], r["name"]) for r in json.loads(out.stdout)} >= {
            (a, "alpha"),
            (b, "beta"),
        }:
            break
        await asyncio.sleep(0.25)
    else:
        pytest.fail(f"the admin never listed both tenants' Functions: {out.stdout} {out.stderr}")

    for own, other, mine, theirs in ((a, b, "alpha", "beta"), (b, a, "beta", "alpha")):
        token = ["--token", tenancy.tokens[own]]
        out = await asyncio.to_thread(wisp, "list", "-A", "-o", "json", *console, *token)
        assert out.returncode == 0, out.stderr
        assert [(r["namespace"], r["name"]) for r in json.loads(out.stdout)] == [(own, mine)]
        # Without -n: the token's own namespace.
        out = await asyncio.to_thread(wisp, "list", *console, *token)
        assert out.returncode == 0 and mine in out.stdout and theirs not in out.stdout, out
        out = await asyncio.to_thread(wisp, "describe", mine, *console, *token)
        assert out.returncode == 0, out.stderr
        assert f"Namespace:    {own}" in out.stdout and "Runtime:      python3.12" in out.stdout
        assert "Cold starts:  none since the gateway started" in out.stdout  # the gateway's count
        out = await asyncio.to_thread(wisp, "describe", theirs, "-n", other, *console, *token)
        assert out.returncode != 0 and "404" in out.stderr and "not found" in out.stderr, out
        assert "Runtime" not in out.stdout


async def test_a_read_only_tenant_may_look_but_not_change(
    tenancy: Tenancy, kube_api: client.ApiClient, kubectl: Kubectl
) -> None:
    a, _ = tenancy.namespaces
    rules = [{"apiGroups": ["wisp.dev"], "resources": ["functions"], "verbs": ["get", "list"]}]
    kubectl("create", "namespace", f"{a}-ro")
    try:
        reader = await asyncio.to_thread(tenant_token, kube_api, kubectl, f"{a}-ro", [])
        # The reader's account may read a's Functions, and nothing more.
        role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader"}}
        kubectl("apply", "-f", "-", input=yaml.safe_dump({**role, "rules": rules}), namespace=a)
        kubectl(
            "create", "rolebinding", "reader", "--role=reader", f"--serviceaccount={a}-ro:team", namespace=a
        )
        status, body = await tenancy.get(f"/ui/api/functions/{a}/alpha", reader)
        assert status == 200, body
        status, body = await tenancy.request("DELETE", f"/ui/api/functions/{a}/alpha", reader)
        assert status == 403 and "may not delete" in body["error"], body
        status, body = await tenancy.get(f"/ui/api/functions/{a}/alpha/logs", reader)
        assert status == 403, body
    finally:
        kubectl("delete", "namespace", f"{a}-ro", "--wait=false")


async def test_in_the_browser_a_tenant_sees_only_its_own_functions(tenancy: Tenancy) -> None:
    a, b = tenancy.namespaces
    async with browser_page() as page:
        await page.goto(tenancy.url("/ui/"))
        await expect(page.get_by_role("heading", name="Sign in to the wisp console")).to_be_visible()
        await page.get_by_label("Token", exact=True).fill(tenancy.tokens[b])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator('tr[data-function="beta"]')).to_be_visible()
        await expect(page.locator('tr[data-function="alpha"]')).to_have_count(0)
        # The other tenant's function by its address: not found, nothing of it shown.
        await page.goto(tenancy.url(f"/ui/#/f/{a}/alpha/code"))
        await expect(page.get_by_text("manifest is not available here")).to_be_visible()
        await expect(page.get_by_label("Handler code")).to_have_count(0)
