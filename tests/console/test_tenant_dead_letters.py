"""Dead letters per tenant (docs/tenancy.md), against the real control plane and a real Redis: a
gateway put together as ``wisp gateway`` does (``equip_admin_port``), serving a failing Function
in each of two namespaces, and a ServiceAccount token per namespace. On the admin port each
tenant lists, inspects, redrives and purges its own namespace's dead letters; the other's are left
out of the list and answer a JSON 404 as a source that is not there; a tenant who may only read
gets a JSON 403 naming the verb it lacks (through ``wisp dlq`` too); the invocation port's
``/system/`` stays the admin's; and in Chromium a tenant signed in with its token sees and
redrives its own dead letter only."""

from __future__ import annotations

import asyncio
import json
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
from tests.console.test_tenants import TENANT_RULES, tenant_token, tenants_gateway_config, wisp
from tests.support.redis import RedisServer, redis_server  # noqa: F401
from wisp.gateway.kube import KubernetesBackend
from wisp.queue import DeliverySettings, RedisSettings
from wisp.queue.extension import EventSettings, queue_extension
from wisp.security.extension import security_extension
from wisp.security.settings import SecuritySettings
from wisp.startup.cluster import equip_admin_port
from wisp.startup.process import make_apps

pytestmark = [pytest.mark.browser, pytest.mark.cluster, pytest.mark.redis]

ADMIN = "dead-letters-test-admin-token"
BASE = "/system/dead-letters"
READ_ONLY = [{"apiGroups": ["wisp.dev"], "resources": ["functions"], "verbs": ["get", "list"]}]


def broken() -> str:
    """A Function whose every async call fails for good at once (no retries)."""
    return yaml.safe_dump(
        {
            "apiVersion": "wisp.dev/v1alpha1",
            "kind": "Function",
            "metadata": {"name": "broken"},
            "spec": {
                "runtime": "python3.12",
                "handler": "main.handler",
                "code": {"inline": "def handler(event, context):\n    raise ValueError('still broken')\n"},
                "access": {"public": True},
                "async": {"maxRetries": 0},
            },
        }
    )


@dataclass
class Gateway:
    admin: TestServer
    invocation: TestServer
    namespaces: tuple[str, str]  # a, b
    tokens: dict[str, str]  # namespace -> its tenant's token
    reader: str  # may get and list a's Functions, nothing more

    def url(self, path: str, server: TestServer | None = None) -> str:
        return str((server or self.admin).make_url(path))

    async def request(
        self, method: str, path: str, token: str | None, server: TestServer | None = None, **kwargs: Any
    ) -> tuple[int, Any]:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, self.url(path, server), headers=headers, **kwargs) as resp,
        ):
            return resp.status, await resp.json(content_type=None)

    async def entries(self, namespace: str, token: str = ADMIN) -> list[dict[str, Any]]:
        status, body = await self.request("GET", f"{BASE}/functions/broken.{namespace}", token)
        assert status == 200, body
        found: list[dict[str, Any]] = body["entries"]
        return found


@pytest.fixture
async def gateway(
    kubeconfig: Path,
    kube_api: client.ApiClient,
    kubectl: Kubectl,
    namespace: str,
    operator: Any,
    node_agent: Any,
    redis_server: RedisServer,  # noqa: F811
) -> AsyncIterator[Gateway]:
    """Both namespaces' Functions, each with one dead letter (a failed async call)."""
    a, b = namespace, f"{namespace}-b"
    kubectl("create", "namespace", b)
    tokens = {}
    for ns in (a, b):
        kubectl("apply", "-f", "-", input=broken(), namespace=ns)
        tokens[ns] = await asyncio.to_thread(tenant_token, kube_api, kubectl, ns, TENANT_RULES)
    # A reader: an account of its own namespace, bound to read a's Functions only.
    kubectl("create", "namespace", f"{a}-ro")
    reader = await asyncio.to_thread(tenant_token, kube_api, kubectl, f"{a}-ro", [])
    role = {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "reader"}}
    kubectl("apply", "-f", "-", input=yaml.safe_dump({**role, "rules": READ_ONLY}), namespace=a)
    kubectl("create", "rolebinding", "reader", "--role=reader", f"--serviceaccount={a}-ro:team", namespace=a)

    config = tenants_gateway_config(kubeconfig, a, b, "dead-letters-test")
    security = SecuritySettings(admin_token=ADMIN)
    delivery = DeliverySettings(read_block=0.5, poll_interval=0.05)
    events = EventSettings(
        RedisSettings(url=redis_server.url), delivery, default_namespace=a, schedules=False
    )
    apps = make_apps(
        config,
        KubernetesBackend(kube_api, config),
        security,
        [security_extension(security, redact_logs=False), queue_extension(events)],
    )
    equip_admin_port(apps, kube_api, ADMIN, a, tenants=True, pod_logs=NodeAgentLogs(node_agent))
    invocation = TestServer(apps.invocations, host="127.0.0.1")
    await invocation.start_server()
    admin = TestServer(apps.admin, host="127.0.0.1")
    await admin.start_server()
    up = Gateway(admin, invocation, (a, b), tokens, reader)
    try:
        for _ in range(240):  # the gateway's watch has both Functions
            status, body = await up.request("GET", BASE, ADMIN)
            if status == 200 and {f"broken.{a}", f"broken.{b}"} <= {s["name"] for s in body["sources"]}:
                break
            await asyncio.sleep(0.25)
        else:
            pytest.fail(f"the gateway never served both Functions: {body}")
        for ns in (a, b):
            status, body = await up.request("POST", f"/async-function/broken.{ns}", None, invocation, json={})
            assert status == 202, body
        for _ in range(600):  # each call cold-starts a pod, fails and is given up on
            if all([await up.entries(ns) for ns in (a, b)]):
                break
            await asyncio.sleep(0.25)
        else:
            pytest.fail("the failed calls never became dead letters")
        yield up
    finally:
        await admin.close()
        await invocation.close()
        for ns in (b, f"{a}-ro"):
            kubectl("delete", "namespace", ns, "--wait=false")


async def test_each_tenant_sees_and_acts_on_its_own_dead_letters_only(gateway: Gateway) -> None:
    a, b = gateway.namespaces
    ids = {ns: [e["id"] for e in await gateway.entries(ns)] for ns in (a, b)}
    for own, other in ((a, b), (b, a)):
        token = gateway.tokens[own]
        (theirs,) = ids[other]

        # The summary lists its own namespace's sources only.
        status, body = await gateway.request("GET", BASE, token)
        assert status == 200, body
        assert [(s["name"], s["count"]) for s in body["sources"]] == [(f"broken.{own}", 1)]

        # Its own: the entries, one entry.
        mine = await gateway.entries(own, token)
        assert [(e["reason"], e["redrives"]) for e in mine] == [("retries_exhausted", 0)]
        assert "still broken" in mine[0]["error"]
        status, body = await gateway.request("GET", f"{BASE}/functions/broken.{own}/{mine[0]['id']}", token)
        assert (status, body) == (200, mine[0])

        # The other's: every route answers as for a source that is not there.
        nowhere = await gateway.request("GET", f"{BASE}/functions/nothing.{other}", token)
        assert nowhere[0] == 404 and nowhere[1]["error"] == "SourceNotFound", nowhere
        for method, path, kwargs in (
            ("GET", f"{BASE}/functions/broken.{other}", {}),
            ("GET", f"{BASE}/functions/broken.{other}/{theirs}", {}),
            ("POST", f"{BASE}/functions/broken.{other}/redrive", {"json": {"all": True}}),
            ("POST", f"{BASE}/functions/broken.{other}/purge", {"json": {"ids": [theirs]}}),
        ):
            status, body = await gateway.request(method, path, token, **kwargs)
            assert (status, body["error"]) == (404, "SourceNotFound"), (own, method, path, body)
            assert body["message"] == f"no function broken.{other}", body
            assert "entries" not in body and theirs not in str(body)
        assert [e["id"] for e in await gateway.entries(other)] == [theirs]  # untouched

    for own in (a, b):
        token = gateway.tokens[own]
        # Its own, redriven: still broken, it fails again and is back, redriven once; then purged.
        status, body = await gateway.request(
            "POST", f"{BASE}/functions/broken.{own}/redrive", token, json={"ids": ids[own]}
        )
        assert (status, body["redriven"]) == (200, 1), body
        for _ in range(240):
            again = await gateway.entries(own, token)
            if again and again[0]["redrives"] == 1:
                break
            await asyncio.sleep(0.25)
        else:
            pytest.fail(f"the redriven call never came back: {again}")
        status, body = await gateway.request(
            "POST", f"{BASE}/functions/broken.{own}/purge", token, json={"all": True}
        )
        assert (status, body) == (200, {"purged": 1})
        assert await gateway.entries(own, token) == []


async def test_a_reader_may_look_but_not_redrive_and_the_invocation_port_is_the_admins(
    gateway: Gateway,
) -> None:
    a, _ = gateway.namespaces
    (entry,) = await gateway.entries(a, gateway.reader)
    status, body = await gateway.request("GET", BASE, gateway.reader)
    assert status == 200 and [s["name"] for s in body["sources"]] == [f"broken.{a}"], body
    for verb, selection in (("redrive", {"all": True}), ("purge", {"ids": [entry["id"]]})):
        status, body = await gateway.request(
            "POST", f"{BASE}/functions/broken.{a}/{verb}", gateway.reader, json=selection
        )
        assert status == 403 and body["error"] == "Forbidden", body
        assert "may not patch functions.wisp.dev in namespace" in body["message"], body
        assert body["message"].startswith(f"system:serviceaccount:{a}-ro:team "), body
    assert [e["id"] for e in await gateway.entries(a)] == [entry["id"]]  # still there

    # The same through wisp dlq, with the reader's token against the admin port.
    dlq = ["--gateway", gateway.url("/").rstrip("/"), "--token", gateway.reader]
    out = await asyncio.to_thread(wisp, "dlq", "list", "-o", "json", *dlq)
    assert out.returncode == 0, out.stderr
    assert [s["name"] for s in json.loads(out.stdout)] == [f"broken.{a}"]
    out = await asyncio.to_thread(wisp, "dlq", "redrive", "--function", "broken", "-n", a, "--all", *dlq)
    assert out.returncode != 0 and "403" in out.stderr and "may not patch functions.wisp.dev" in out.stderr
    assert [e["id"] for e in await gateway.entries(a)] == [entry["id"]]

    # No token, or one the API server does not accept: nothing.
    status, body = await gateway.request("GET", BASE, None)
    assert status == 401 and body["errorType"] == "Unauthorized", body
    status, body = await gateway.request("GET", BASE, "not-a-kubernetes-token")
    assert status == 403 and body["errorType"] == "Forbidden", body
    # The invocation port (which may face the internet) reviews no tokens: the admin's only.
    status, body = await gateway.request("GET", BASE, gateway.tokens[a], gateway.invocation)
    assert status == 403, body
    status, body = await gateway.request("GET", BASE, ADMIN, gateway.invocation)
    assert status == 200 and len(body["sources"]) >= 2, body


async def test_in_the_browser_a_tenant_sees_and_redrives_its_own_dead_letters_only(gateway: Gateway) -> None:
    a, b = gateway.namespaces
    (entry,) = await gateway.entries(b)
    async with browser_page() as page:
        await page.goto(gateway.url("/ui/"))
        await page.get_by_label("Token", exact=True).fill(gateway.tokens[b])
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.locator('tr[data-function="broken"]')).to_have_count(1)

        await page.goto(gateway.url(f"/ui/#/f/{b}/broken/dead-letters"))
        row = page.locator("#dead-letters tbody tr")
        await expect(row).to_have_count(1)
        await expect(row).to_contain_text(entry["invocationId"])
        await row.get_by_role("button", name="Redrive").click()
        await expect(page.locator("#toast")).to_have_text("Redriven 1")
        await expect(row.locator(".redrives")).to_have_text("1")  # failed again, redriven once

        # The other tenant's function: no dead letters shown, as for one that is not there.
        await page.goto(gateway.url(f"/ui/#/f/{a}/broken/dead-letters"))
        await expect(page.locator("#dead-letters")).to_contain_text(f"no function broken.{a}")
        await expect(page.locator("#dead-letters tbody tr")).to_have_count(0)
    assert [e["redrives"] for e in await gateway.entries(a)] == [0]
