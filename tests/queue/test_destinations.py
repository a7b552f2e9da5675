"""Lambda's destination record, built without I/O: the qualified function ARN it names."""

from __future__ import annotations

import pytest

from wisp.queue.destinations import SUCCESS, destination_record, function_arn
from wisp.queue.events import Request
from wisp.queue.invoker import InvocationResult


@pytest.mark.parametrize(
    ("key", "qualifier", "arn"),
    [
        ("orders.default", "", "wisp:default:function:orders:$LATEST"),
        ("orders.team-a", "$LATEST", "wisp:team-a:function:orders:$LATEST"),
        ("orders.team-a", "3", "wisp:team-a:function:orders:3"),
        ("orders", "prod", "wisp:default:function:orders:prod"),
    ],
)
def test_the_function_arn_is_qualified_as_lambdas_is(key: str, qualifier: str, arn: str) -> None:
    assert function_arn(key, qualifier) == arn


def test_the_record_names_the_qualifier_invoked_and_the_version_that_ran() -> None:
    record = destination_record(
        function_key="orders.default",
        request=Request(b"{}", {}, request_id="r-1", payload=b'{"n": 1}'),
        attempts=1,
        condition=SUCCESS,
        result=InvocationResult(200, body=b'{"ok": true}', version="4"),
        error=None,
        timestamp="2026-12-05T03:00:00.000Z",
        qualifier="prod",
    )
    assert record["requestContext"]["functionArn"] == "wisp:default:function:orders:prod"
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "4"}
