"""Dead letters through the admin API: list per function and trigger, purge, and redrive after a
fix, which runs the fixed function with the event's original id."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from aiohttp.test_utils import TestServer

from tests.queue.conftest import Managers, queue_trigger
from tests.queue.runtime import RuntimeProcess
from tests.support.wait import eventually
from wisp.api.function import parse_function
from wisp.cli import commands
from wisp.queue.admin import add_admin_routes

pytestmark = pytest.mark.redis


async def call(session: aiohttp.ClientSession, method: str, url: Any, body: Any = None) -> Any:
    async with session.request(method, url, json=body) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_dead_letters_are_listed_purged_and_redriven_to_the_fixed_function(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    redis_url: str,
    redis_client: aioredis.Redis,
    runtimes: Callable[..., RuntimeProcess],
    managers: Managers,
) -> None:
    fixed = tmp_path / "fixed"
    runtime = runtimes("events.fixable", env={"FIXED_FILE": str(fixed)})
    manager = managers(redis_url, {"orders.default": runtime.url})
    fn = parse_function(
        {
            "metadata": {"name": "orders"},
            "spec": {
                "runtime": "python3.12",
                "handler": "events.fixable",
                "code": {"image": "unused"},
                "async": {"maxRetries": 0},
            },
        }
    )
    manager.update_functions([fn])
    manager.update_triggers([queue_trigger("on-order", "orders", "orders-in", maxRetries=0)])
    first = await manager.invocations.submit("orders.default", b'{"n": 1}', {})
    second = await manager.invocations.submit("orders.default", b'{"n": 2}', {})
    message_id = await redis_client.xadd("orders-in", {"data": json.dumps({"n": 3})})

    app = web.Application()
    add_admin_routes(app, manager.dead_letters)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = "/system/dead-letters"
    try:
        async with aiohttp.ClientSession() as session:

            async def counts() -> dict[str, int] | None:
                rows = (await call(session, "GET", server.make_url(base)))["sources"]
                found = {row["name"]: row["count"] for row in rows}
                return found if found == {"orders.default": 2, "on-order.default": 1} else None

            await eventually(counts, "three dead letters")
            listed = await call(session, "GET", server.make_url(f"{base}/functions/orders"))
            entries = {e["invocationId"]: e for e in listed["entries"]}
            assert set(entries) == {first, second}
            assert entries[first]["reason"] == "retries_exhausted"
            assert "not fixed yet" in entries[first]["error"]
            assert entries[first]["body"] == '{"n": 1}'
            one = await call(
                session, "GET", server.make_url(f"{base}/functions/orders/{entries[first]['id']}")
            )
            assert one == entries[first]

            purged = await call(
                session,
                "POST",
                server.make_url(f"{base}/functions/orders/purge"),
                {"ids": [entries[second]["id"]]},
            )
            assert purged == {"purged": 1}

            fixed.touch()
            moved = await call(
                session, "POST", server.make_url(f"{base}/triggers/on-order/redrive"), {"all": True}
            )
            assert moved == {"redriven": 1, "ids": [moved["ids"][0]]}
            # The function's through the CLI, as an operator would.
            gateway = str(server.make_url("")).rstrip("/")
            capsys.readouterr()
            listing = ["dlq", "list", "--gateway", gateway]
            assert await asyncio.to_thread(commands.run, listing) == 0
            assert "orders.default" in capsys.readouterr().out
            redrive = ["dlq", "redrive", "--function", "orders", "--all", "--reason", "retries_exhausted"]
            assert await asyncio.to_thread(commands.run, [*redrive, "--gateway", gateway]) == 0
            assert capsys.readouterr().out == "redriven: 1\n"

            await eventually(lambda: len(runtime.records()) == 2, "the redriven events to run")

            async def recorded() -> bool:  # the record is written just after the handler answers
                status = await manager.invocations.status(first)
                return status is not None and status["status"] == "succeeded"

            await eventually(recorded, "the redriven invocation's record to say it succeeded")
            assert (await call(session, "GET", server.make_url(base)))["sources"][0]["count"] == 0
    finally:
        await server.close()

    done = {
        json.dumps(r["event"].get("data", r["event"]), sort_keys=True): r["event"] for r in runtime.records()
    }
    assert set(done) == {'{"n": 1}', '{"n": 3}'}
    assert done['{"n": 3}']["id"] == message_id.decode()  # the queue event keeps its id
    status = await manager.invocations.status(first)
    assert status is not None
    assert status["status"] == "succeeded"
    assert status["redrives"] == 1
