"""The event path in the gateway app: async calls, queue Triggers and backlog scaling, against a
real redis-server, real runtime processes and the security layer in front, as ``wisp gateway``
wires them (``wisp.queue.extension``)."""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.gateway.conftest import GatewayFactory, GatewayUnderTest, Runtimes, info, make_function
from tests.support import wait
from tests.support.redis import RedisServer, redis_server, redis_server_factory  # noqa: F401 (fixture)
from wisp.api.function import Function
from wisp.api.trigger import parse_trigger
from wisp.gateway.static import StaticBackend
from wisp.queue import DeliverySettings, RedisSettings
from wisp.queue.extension import NOT_CONFIGURED, QUEUE, EventSettings, events_from_env, queue_extension
from wisp.queue.policy import RetryPolicy
from wisp.security.extension import security_extension
from wisp.security.secrets import StaticSecretSource
from wisp.security.settings import SecuritySettings

pytestmark = pytest.mark.redis

ADMIN = {"Authorization": "Bearer admin-secret"}
FAST = DeliverySettings(
    visibility_timeout=2.0,
    poll_interval=0.05,
    read_block=0.5,
    defer_delay=0.1,
    async_retry=RetryPolicy(max_retries=2, initial=0.05, maximum=0.2, jitter=0.0),
    reconnect_initial=0.05,
    reconnect_max=0.5,
)

# Appends every event it gets to a file (one JSON line), then answers like the echo handler.
RECORDING = textwrap.dedent(
    """
    import json, os, time

    def handler(event, context):
        if isinstance(event, dict) and event.get("data", {}).get("sleep"):
            time.sleep(event["data"]["sleep"])
        with open(EVENTS_FILE, "a") as out:
            out.write(json.dumps(event) + "\\n")
        return {"echo": event, "pid": os.getpid()}
    """
)


# Events here go through the gateway, whose functions may start from zero: 30 s, not 20.
eventually = functools.partial(wait.eventually, timeout=30.0)


@pytest.fixture
async def redis_url(redis_server: RedisServer) -> AsyncIterator[str]:  # noqa: F811
    client = aioredis.Redis.from_url(redis_server.url)
    await client.flushall()
    await client.aclose()
    yield redis_server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def group_exists(client: aioredis.Redis, stream: str) -> bool:
    """Whether the consumers have created their group on ``stream`` (so an XADD is theirs)."""
    try:
        return bool(await client.xinfo_groups(stream))
    except aioredis.ResponseError:  # no such key: the stream does not exist yet
        return False


def recording_function(tmp_path: Path, name: str, **spec: Any) -> Function:
    code = RECORDING.replace("EVENTS_FILE", repr(str(tmp_path / f"{name}.events")))
    return make_function(name, code={"inline": code}, **spec)


def recorded(tmp_path: Path, name: str) -> list[Any]:
    path = tmp_path / f"{name}.events"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def scaling_backend(runtimes: Runtimes, functions: list[Function]) -> StaticBackend:
    """A backend whose ``scale()`` starts real runtimes until the function has that many."""
    by_key = {fn.key: fn for fn in functions}
    lock = asyncio.Lock()

    async def on_scale(key: str, replicas: int) -> None:
        async with lock:
            running = list(backend.endpoints.get(key, ()))
            while len(running) < replicas:
                running.append((await runtimes.start(by_key[key])).endpoint)
            backend.set_endpoints(key, tuple(running))

    backend = StaticBackend(on_scale=on_scale)
    for fn in functions:
        backend.functions[fn.key] = info(fn)
    return backend


async def events_gateway(
    gateway_factory: GatewayFactory, backend: StaticBackend, redis_url: str, **settings: Any
) -> GatewayUnderTest:
    security = SecuritySettings(admin_token="admin-secret")
    events = queue_extension(EventSettings(RedisSettings(url=redis_url), FAST, schedules=False))
    return await gateway_factory(
        backend,
        extensions=[security_extension(security, StaticSecretSource(), redact_logs=False), events],
        **settings,
    )


async def test_an_async_call_completes_and_its_record_needs_the_admin_token(
    gateway_factory: GatewayFactory, runtimes: Runtimes, redis_url: str, tmp_path: Path
) -> None:
    fn = recording_function(tmp_path, "echo", access={"public": True})
    private = make_function("private")
    backend = scaling_backend(runtimes, [fn, private])
    gw = await events_gateway(gateway_factory, backend, redis_url)

    async with gw.session.post(gw.url("/async-function/echo"), json={"order": 7}) as resp:
        assert resp.status == 202
        accepted = await resp.json()
    record_url = gw.url(f"/invocations/{accepted['invocationId']}")

    async with gw.session.get(record_url) as resp:
        assert resp.status == 401  # an admin path: the record may hold the function's answer

    async def succeeded() -> dict[str, Any] | None:
        async with gw.session.get(record_url, headers=ADMIN) as resp:
            assert resp.status == 200
            document: dict[str, Any] = await resp.json()
            return document if document["status"] == "succeeded" else None

    document = await eventually(succeeded)
    assert json.loads(document["result"]["body"])["echo"] == {"order": 7}
    assert recorded(tmp_path, "echo") == [{"order": 7}]
    # It went through the gateway: scaled from zero by the activator, counted like any call.
    assert backend.scale_calls[0] == (fn.key, 1)
    async with gw.session.get(gw.admin_url("/metrics")) as resp:
        metrics = await resp.text()
    assert 'wisp_invocations_total{code="200",function="echo",namespace="default"} 1.0' in metrics

    # /async-function/ follows the function's access rules, like /function/.
    async with gw.session.post(gw.url("/async-function/private"), json={}) as resp:
        assert resp.status == 401
    async with gw.session.post(gw.url("/async-function/missing"), json={}) as resp:
        assert resp.status == 401  # an unknown function looks like a private one


async def test_a_queue_trigger_invokes_its_function_for_a_plain_xadd(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    redis_url: str,
    redis_client: aioredis.Redis,
    tmp_path: Path,
) -> None:
    fn = recording_function(tmp_path, "orders")
    backend = scaling_backend(runtimes, [fn])
    gw = await events_gateway(gateway_factory, backend, redis_url)
    manager = gw.server.app[QUEUE]
    # The Trigger arrives through the backend's watch after the gateway started.
    backend.set_trigger(
        parse_trigger(
            {
                "metadata": {"name": "on-order", "namespace": "default"},
                "spec": {"function": "orders", "queue": {"stream": "orders"}},
            }
        )
    )

    await eventually(lambda: group_exists(redis_client, "orders"))
    entry = await redis_client.xadd("orders", {"data": json.dumps({"order": 1})})

    [event] = await eventually(lambda: recorded(tmp_path, "orders"))
    assert isinstance(entry, bytes)
    assert event["source"] == "wisp.queue" and event["id"] == entry.decode()
    assert event["data"] == {"order": 1}

    # Deleting the Trigger (a watch event) stops its consumer.
    assert manager.consumer("on-order.default") is not None
    backend.delete_trigger("on-order.default")
    await eventually(lambda: manager.consumer("on-order.default") is None)


async def test_a_backlog_scales_a_function_from_zero_and_out_and_drains(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    redis_url: str,
    redis_client: aioredis.Redis,
    tmp_path: Path,
) -> None:
    # One delivery at a time: in-flight calls alone would never ask for more than one replica;
    # the backlog of 100 asks for the maximum.
    fn = recording_function(tmp_path, "work", concurrency=1, scale={"max": 3, "target": 1})
    backend = scaling_backend(runtimes, [fn])
    backend.set_trigger(
        parse_trigger(
            {
                "metadata": {"name": "jobs", "namespace": "default"},
                "spec": {"function": "work", "queue": {"stream": "jobs", "maxInFlight": 1}},
            }
        )
    )
    gw = await events_gateway(gateway_factory, backend, redis_url, autoscale=True, autoscale_tick=0.5)
    manager = gw.server.app[QUEUE]
    await eventually(lambda: manager.consumer("jobs.default") is not None)
    await eventually(lambda: group_exists(redis_client, "jobs"))
    for i in range(100):
        await redis_client.xadd("jobs", {"data": json.dumps({"n": i, "sleep": 0.05})})

    await eventually(lambda: (fn.key, 3) in backend.scale_calls)
    done = await eventually(lambda: len(recorded(tmp_path, "work")) == 100 and recorded(tmp_path, "work"))
    assert sorted(e["data"]["n"] for e in done) == list(range(100))
    assert backend.scale_calls[0][1] >= 1  # scaled from zero
    await eventually(lambda: manager.pending_demand(fn.key) == 0)


async def test_without_redis_the_async_routes_say_events_are_not_configured(
    gateway_factory: GatewayFactory,
) -> None:
    fn = make_function("echo", access={"public": True})
    backend = StaticBackend()
    backend.functions[fn.key] = info(fn)
    gw = await gateway_factory(backend, extensions=[events_from_env("default", env={})])
    async with gw.session.post(gw.url("/async-function/echo"), json={}) as resp:
        assert resp.status == 503
        body = await resp.json()
    assert body == {"errorType": "EventsNotConfigured", "errorMessage": NOT_CONFIGURED}
    assert "WISP_REDIS_URL" in body["errorMessage"]


async def test_redis_out_of_memory_answers_503_json_not_a_500(
    gateway_factory: GatewayFactory,
    runtimes: Runtimes,
    redis_server_factory: Callable[..., RedisServer],  # noqa: F811
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    server = redis_server_factory()
    fn = recording_function(tmp_path, "echo", access={"public": True})
    gw = await events_gateway(gateway_factory, scaling_backend(runtimes, [fn]), server.url)
    client = aioredis.Redis.from_url(server.url)
    try:
        await client.config_set("maxmemory-policy", "noeviction")
        await client.config_set("maxmemory", "1")  # over the limit at once: every write refused
        for _ in range(3):
            async with gw.session.post(gw.url("/async-function/echo"), json={"order": 1}) as resp:
                assert resp.status == 503
                assert resp.headers["Retry-After"] == "1"
                assert (await resp.json())["error"] == "QueueUnavailable"
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no traceback per request
        await client.config_set("maxmemory", "0")
        async with gw.session.post(gw.url("/async-function/echo"), json={"order": 2}) as resp:
            assert resp.status == 202
        assert await eventually(lambda: recorded(tmp_path, "echo")) == [{"order": 2}]
    finally:
        await client.aclose()


async def test_lambda_event_invocations_have_the_async_paths_idempotency_and_hop_limit(
    gateway_factory: GatewayFactory, runtimes: Runtimes, redis_url: str, tmp_path: Path
) -> None:
    fn = recording_function(tmp_path, "echo", access={"public": True})
    gw = await events_gateway(gateway_factory, scaling_backend(runtimes, [fn]), redis_url)
    invoke = gw.url("/2015-03-31/functions/echo/invocations")

    async def event(body: dict[str, Any], **headers: str) -> tuple[int, str]:
        async with gw.session.post(
            invoke, json=body, headers={"X-Amz-Invocation-Type": "Event", **headers}
        ) as resp:
            return resp.status, resp.headers.get("X-Wisp-Invocation-Id") or await resp.text()

    first = await event({"n": 1}, **{"Idempotency-Key": "order-42"})
    again = await event({"n": 2}, **{"Idempotency-Key": "order-42"})
    other = await event({"n": 3})
    assert first[0] == again[0] == other[0] == 202
    assert first[1] == again[1] != other[1]  # the same key answers the first submit's id

    # A function passing on X-Wisp-Hops 16 asks for the 17th call of its chain: stopped.
    looped = await event({"n": 4}, **{"X-Wisp-Hops": "16"})
    assert looped[0] == 202

    async def final(invocation_id: str) -> dict[str, Any] | None:
        async with gw.session.get(gw.url(f"/invocations/{invocation_id}"), headers=ADMIN) as resp:
            document: dict[str, Any] = await resp.json()
            return document if document["status"] in ("succeeded", "failed") else None

    assert (await eventually(lambda: final(looped[1])))["reason"] == "recursion_limit"
    assert (await eventually(lambda: final(first[1])))["status"] == "succeeded"
    await eventually(lambda: final(other[1]))
    assert sorted(e["n"] for e in recorded(tmp_path, "echo")) == [1, 3]  # once per key, never the loop

    status, error = await event({"n": 5}, **{"Idempotency-Key": "k" * 300})
    assert status == 400
    assert "Idempotency-Key" in error
