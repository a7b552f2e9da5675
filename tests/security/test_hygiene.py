"""Secrets hygiene: no token, signature, Secret value or Authorization header in logs or metric
labels of a running gateway; function env from Secrets stays a secretKeyRef."""

from __future__ import annotations

import json
import logging
import time

import pytest
from prometheus_client import generate_latest

from tests.security.conftest import GatewayMaker
from tests.security.support import function
from wisp.api.function import parse_function
from wisp.resources.configmap import make_code_configmap
from wisp.resources.deployment import make_deployment
from wisp.security.credentials import sign
from wisp.security.settings import SecuritySettings

TOKEN = "tok-3f9a1c77e2"
HMAC_KEY = "hmac-key-81be2d4c"
ADMIN = "admin-7d1e0b55aa"


@pytest.mark.asyncio(loop_scope="module")
async def test_no_secret_in_logs_or_metrics(
    make_gateway: GatewayMaker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    gw = await make_gateway(SecuritySettings(admin_token=ADMIN))
    gw.secrets.put("default", "callers", {"token": TOKEN})
    gw.secrets.put("default", "hook", {"key": HMAC_KEY})
    gw.add(function("private", {"tokenSecrets": [{"name": "callers"}], "rateLimit": {"rps": 1, "burst": 1}}))
    gw.add(function("hook", {"hmacSecret": {"name": "hook"}}))
    signature = sign(HMAC_KEY.encode(), b"{}", int(time.time()))
    calls = [
        ("/function/private", {"Authorization": f"Bearer {TOKEN}"}),
        ("/function/private", {"Authorization": f"Bearer {TOKEN}"}),  # rate limited
        ("/function/private", {"Authorization": f"Bearer {TOKEN}x"}),
        ("/function/hook", {"X-Wisp-Signature": signature}),
        ("/function/hook", {"X-Wisp-Signature": signature.replace("t=", "t=1")}),
        ("/system/stats", {"Authorization": f"Bearer {ADMIN}"}),
        ("/function/nope", {"Authorization": f"Bearer {ADMIN}"}),
    ]
    statuses = [(await gw.call(path, data=b"{}", headers=headers))[0] for path, headers in calls]
    assert statuses == [200, 429, 403, 200, 403, 404, 403]
    # Whatever code logs a request's headers or a Secret by mistake, the value is masked.
    logging.getLogger("wisp.anything").warning("debug dump %s", json.dumps(dict(calls[0][1])))
    logging.getLogger("wisp.anything").warning("loaded key %s for hook", HMAC_KEY)

    exposition = generate_latest(gw.parts.metrics.registry).decode()
    assert 'wisp_requests_refused_total{reason="forbidden"} 3.0' in exposition
    assert "debug dump" in caplog.text
    for secret in (TOKEN, HMAC_KEY, ADMIN, signature.split("v1=")[1]):
        assert secret not in caplog.text
        assert secret not in exposition
    assert "token:" not in exposition  # principals are never label values


def test_function_env_from_secrets_stays_a_reference() -> None:
    fn = parse_function(
        {
            "metadata": {"name": "uses-secret", "namespace": "team"},
            "spec": {
                "runtime": "python3.12",
                "handler": "main.handler",
                "code": {
                    "files": {"main.py": "def handler(e, c):\n    return 1\n", "requirements.txt": "six\n"}
                },
                "env": [
                    {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}}},
                    {"name": "PLAIN", "value": "visible"},
                ],
            },
        }
    )
    deployment = make_deployment(fn)
    pod = deployment["spec"]["template"]["spec"]
    containers = [*pod.get("initContainers", []), *pod["containers"]]
    assert len(containers) == 2  # the dependency init step sees the same env
    for container in containers:
        env = {e["name"]: e for e in container["env"]}
        assert env["DB_PASSWORD"] == {
            "name": "DB_PASSWORD",
            "valueFrom": {"secretKeyRef": {"name": "db", "key": "password"}},
        }
        assert "value" not in env["DB_PASSWORD"]
    configmap = make_code_configmap(fn)
    assert configmap is not None
    assert "DB_PASSWORD" not in json.dumps(configmap)
    assert "secretKeyRef" not in json.dumps(configmap)
