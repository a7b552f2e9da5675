"""Namespaces as tenants at the gateway: a Function's credentials are the Secrets of its own
namespace, so a token of one namespace never calls another namespace's Function, even one of
the same name naming a Secret of the same name, on every path that invokes."""

from __future__ import annotations

from typing import Any

import pytest

from tests.security.support import HANDLER, SecuredGateway
from tests.support.datapath import BOTH_PATHS
from wisp.api.function import Function, parse_function

pytestmark = [pytest.mark.asyncio(loop_scope="module"), BOTH_PATHS]

BODY = b'{"n": 1}'
TOKENS = {"team-a": "team-a-token-value", "team-b": "team-b-token-value"}


def billing(namespace: str) -> Function:
    spec: dict[str, Any] = {
        "runtime": "python3.12",
        "handler": "main.handler",
        "code": {"inline": HANDLER},
        "access": {"tokenSecrets": [{"name": "callers"}]},
    }
    return parse_function({"metadata": {"name": "billing", "namespace": namespace}, "spec": spec})


def paths(namespace: str) -> list[str]:
    return [
        f"/function/billing.{namespace}",
        f"/async-function/billing.{namespace}",
        f"/2015-03-31/functions/arn:aws:lambda:us-east-1:{namespace}:function:billing/invocations",
    ]


async def test_a_token_of_one_namespace_never_calls_another_namespaces_function(
    gateway: SecuredGateway,
) -> None:
    for namespace, token in TOKENS.items():
        gateway.secrets.put(namespace, "callers", {"token": token})
        gateway.add(billing(namespace))

    for caller, token in TOKENS.items():
        for namespace in TOKENS:
            for path in paths(namespace):
                status, body, _ = await gateway.call(
                    path, data=BODY, headers={"Authorization": f"Bearer {token}"}
                )
                if caller == namespace:
                    assert status not in (401, 403), (caller, path, status, body)
                else:
                    assert status == 403, (caller, path, status, body)

    # The sync path of a caller's own namespace is served by the function.
    status, body, _ = await gateway.call(
        "/function/billing.team-a", data=BODY, headers={"Authorization": f"Bearer {TOKENS['team-a']}"}
    )
    assert (status, body) == (200, {"echo": {"n": 1}})
