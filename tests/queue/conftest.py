"""Fixtures of the event-path tests: a real redis-server, real Python runtimes, and queue
managers wired to them with short timings (so tests wait for events, never for clocks)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis

from tests.queue.runtime import RuntimeProcess
from tests.support.nats import nats_cluster, nats_server, nats_settings  # noqa: F401
from tests.support.redis import RedisServer, redis_server, redis_server_factory  # noqa: F401
from wisp.api.function import Function, parse_function
from wisp.api.trigger import Trigger, parse_trigger
from wisp.queue.broker import Broker
from wisp.queue.invoker import HttpInvoker
from wisp.queue.manager import QueueManager
from wisp.queue.policy import RetryPolicy
from wisp.queue.redis_broker import RedisBroker
from wisp.queue.settings import DeliverySettings, RedisSettings

FAST = DeliverySettings(
    visibility_timeout=1.0,
    poll_interval=0.05,
    read_block=0.5,
    defer_delay=0.1,
    async_retry=RetryPolicy(max_retries=2, initial=0.05, maximum=0.2, jitter=0.0),
    reconnect_initial=0.05,
    reconnect_max=0.5,
    callback_attempts=2,
)


def function(name: str, handler: str, concurrency: int = 100) -> Function:
    return parse_function(
        {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "runtime": "python3.12",
                "handler": handler,
                "code": {"image": "unused"},
                "concurrency": concurrency,
            },
        }
    )


def queue_trigger(name: str, fn: str, stream: str, **queue: Any) -> Trigger:
    return parse_trigger(
        {
            "metadata": {"name": name, "namespace": "default"},
            "spec": {"function": fn, "queue": {"stream": stream, **queue}},
        }
    )


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:  # noqa: F811
    """The session's redis-server, emptied for this test."""
    import redis

    client = redis.Redis.from_url(redis_server.url)
    client.flushall()
    client.close()
    return redis_server.url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(redis_url)
    yield client
    await client.aclose()


@pytest.fixture
def runtimes(tmp_path: Path) -> Iterator[Callable[..., RuntimeProcess]]:
    """``runtimes("events.record", env={...})`` starts a real runtime; all stop at the end."""
    started: list[RuntimeProcess] = []

    def start(handler: str, env: dict[str, str] | None = None, concurrency: int = 100) -> RuntimeProcess:
        runtime = RuntimeProcess(handler, tmp_path, env, concurrency)
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()


Managers = Callable[..., QueueManager]


@pytest.fixture
async def managers() -> AsyncIterator[Managers]:
    """``managers(redis_url, {"fn.default": url}, settings=...)``: a QueueManager with its own
    Redis connections (another gateway replica, as far as Redis can tell); or with a ``Broker``
    in place of the URL, on that broker (closed at the end too)."""
    opened: list[tuple[QueueManager, HttpInvoker, Broker]] = []

    def make(
        url: str | Broker, endpoints: dict[str, str], settings: DeliverySettings = FAST, **kwargs: Any
    ) -> QueueManager:
        broker = (
            RedisBroker(RedisSettings(url=url), read_block=settings.read_block)
            if isinstance(url, str)
            else url
        )
        invoker = HttpInvoker(endpoints)
        manager = QueueManager(broker, invoker, settings, **kwargs)
        opened.append((manager, invoker, broker))
        return manager

    yield make
    for manager, invoker, broker in opened:
        await manager.close(grace=1.0)
        await invoker.close()
        await broker.close()


@pytest.fixture(autouse=True)
def _callbacks_may_reach_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' callback receivers listen on loopback, which the SSRF guard refuses unless
    allowed (as an operator would allow an internal receiver with WISP_CALLBACK_ALLOW)."""
    monkeypatch.setenv("WISP_CALLBACK_ALLOW", "127.0.0.0/8")
