"""Queue Triggers with a batch window: one call per batch, and Lambda's partial batch response
retries only the items the function names."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
import redis.asyncio as aioredis

from tests.queue.conftest import Managers, function, queue_trigger
from tests.queue.runtime import RuntimeProcess
from tests.support.wait import eventually
from wisp.queue.batches import failed_items

pytestmark = pytest.mark.redis


async def test_a_batch_with_two_failing_items_retries_only_those(
    redis_url: str, redis_client: aioredis.Redis, runtimes: Callable[..., RuntimeProcess], managers: Managers
) -> None:
    runtime = runtimes("events.batch")
    ids = []
    for n in range(5):
        data = {"n": n, "fail": n in (1, 3)}
        ids.append((await redis_client.xadd("orders", {"data": json.dumps(data)})).decode())
    manager = managers(redis_url, {"orders.default": runtime.url})
    manager.update_functions([function("orders", "events.batch")])
    trigger = queue_trigger(
        "on-order",
        "orders",
        "orders",
        batchSize=10,
        batchWindow="200ms",
        backoff={"initial": "10ms", "max": "10ms"},
    )
    manager.update_triggers([trigger])

    def handled() -> list[tuple[str, int]]:
        return [(item[0], item[1]) for call in runtime.records("batch") for item in call["items"]]

    await eventually(lambda: len(handled()) == 7, "five items, then the two failed ones again")

    async def settled() -> bool:
        return (await redis_client.xpending("orders", "wisp.default.on-order"))["pending"] == 0

    await eventually(settled)
    first_calls = [call for call in runtime.records("batch") if all(a == 1 for _, a in call["items"])]
    assert sorted(i for call in first_calls for i, _ in call["items"]) == sorted(ids)
    assert len(first_calls) < 5  # batched, not one call each
    assert sorted(i for i, attempt in handled() if attempt == 2) == sorted([ids[1], ids[3]])
    assert await redis_client.xlen("orders.dead") == 0


def test_a_partial_batch_response_is_read_as_lambda_reads_it() -> None:
    ids = ["1-0", "2-0", "3-0"]
    assert failed_items(True, b'{"batchItemFailures": [{"itemIdentifier": "2-0"}]}', ids) == {"2-0"}
    assert failed_items(True, b'{"batchItemFailures": []}', ids) == set()
    assert failed_items(True, b'{"ok": true}', ids) == set()
    assert failed_items(True, b"", ids) == set()
    assert failed_items(False, b"", ids) == set(ids)  # an error fails the whole batch
    unknown = b'{"batchItemFailures": [{"itemIdentifier": "9-0"}]}'
    assert failed_items(True, unknown, ids) == set(ids)  # so does an id not in the batch
    assert failed_items(True, b'{"batchItemFailures": [{}]}', ids) == set(ids)
