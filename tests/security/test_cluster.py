"""Secret rotation against the real control plane: the Kubernetes Secret source watches the
Secrets a Function names, so a rotated token or key takes effect without restarting anything."""

from __future__ import annotations

import base64
from dataclasses import replace

import pytest
from kubernetes import client

from tests.security.conftest import GatewayMaker
from tests.security.support import function
from tests.support.wait import eventually
from wisp.api.function import SecretKey
from wisp.gateway.backend import Endpoint
from wisp.security.extension import SECURITY
from wisp.security.kube_secrets import KubernetesSecretSource

pytestmark = [pytest.mark.cluster, pytest.mark.asyncio(loop_scope="module")]


def _secret(name: str, **data: str) -> dict[str, object]:
    return {
        "metadata": {"name": name},
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in data.items()},
    }


async def test_source_follows_create_rotate_delete(kube_api: client.ApiClient, namespace: str) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_secret(namespace, _secret("callers", token="token-one"))
    source = KubernetesSecretSource(kube_api)
    seen: list[bytes] = []
    source.add_observer(seen.append)
    await source.start()
    ref = SecretKey("callers", "token")
    try:
        await source.ensure(namespace, ["callers", "not-there"])
        assert source.value(namespace, ref) == b"token-one"
        assert source.value(namespace, SecretKey("not-there", "token")) is None
        core.replace_namespaced_secret("callers", namespace, _secret("callers", token="token-two"))
        await eventually(lambda: source.value(namespace, ref) == b"token-two", "rotation")
        core.create_namespaced_secret(namespace, _secret("not-there", token="late"))
        await eventually(
            lambda: source.value(namespace, SecretKey("not-there", "token")) == b"late", "creation"
        )
        core.delete_namespaced_secret("callers", namespace)
        await eventually(lambda: source.value(namespace, ref) is None, "deletion")
        assert b"token-two" in seen  # values reach the log redactor
        source.retain({(namespace, "not-there")})
        assert source.watched == {(namespace, "not-there")}
    finally:
        await source.stop()


async def test_rotation_through_a_running_gateway(
    kube_api: client.ApiClient, namespace: str, runtime_endpoint: Endpoint, make_gateway: GatewayMaker
) -> None:
    core = client.CoreV1Api(kube_api)
    core.create_namespaced_secret(namespace, _secret("callers", token="old-token-value"))
    gw = await make_gateway()
    source = KubernetesSecretSource(kube_api)
    await source.start()
    # The same gateway, but with Secrets from the cluster instead of the in-memory source.
    gw.security.guard.secrets = source
    gw.app[SECURITY].secrets = source
    fn = function("private", {"tokenSecrets": [{"name": "callers"}]})
    gw.add(replace(fn, namespace=namespace))
    path = f"/function/private.{namespace}"

    async def status(token: str) -> int:
        return (await gw.call(path, json={}, headers={"Authorization": f"Bearer {token}"}))[0]

    try:
        assert await status("old-token-value") == 200
        assert await status("new-token-value") == 403
        core.replace_namespaced_secret("callers", namespace, _secret("callers", token="new-token-value"))
        await eventually(
            lambda: source.value(namespace, SecretKey("callers", "token")) == b"new-token-value", "rotation"
        )
        assert await status("new-token-value") == 200
        assert await status("old-token-value") == 403
    finally:
        await source.stop()
