"""The chart's NATS option against a real nats-server: the bundled server's rendered command
starts JetStream and answers its readiness probe, and the gateway's rendered environment (bundled
server, or an external three-server cluster with ``nats.replicas: 3``) is read by the gateway into
a broker that stores and delivers events there.

The pinned upstream nats-server (tests/support/build-nats.sh) stands in for the image; the
Service's DNS name, which only resolves in a cluster, is replaced by the local server's address.
"""

from __future__ import annotations

import asyncio
import http.client
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.helm.chart import env_of, one
from tests.helm.conftest import Render
from tests.support.nats import NatsCluster, nats_cluster, nats_server_binary  # noqa: F401
from tests.support.net import free_port
from tests.support.wait import wait_for
from wisp.queue.broker import BrokerUnavailable, Delivery, Subscription, SubscriptionSpec
from wisp.queue.brokers import broker_settings_from_env, make_broker
from wisp.queue.nats_broker import NatsBroker
from wisp.queue.settings import DeliverySettings, NatsSettings

pytestmark = pytest.mark.nats

BUNDLED = {"queue": {"broker": "nats"}, "nats": {"enabled": True, "stream": "EVENTS"}}


def gateway_env(objects: list[dict[str, Any]], **overrides: str) -> dict[str, str]:
    """The gateway container's plain environment variables, with ``overrides``."""
    gateway = one(objects, "Deployment", "-gateway")
    env = env_of(gateway["spec"]["template"]["spec"]["containers"][0])
    return {name: str(item["value"]) for name, item in env.items() if "value" in item} | overrides


def probe_answers(port: int, path: str) -> bool:
    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=1)
        connection.request("GET", path)
        return connection.getresponse().status == 200
    except OSError:
        return False


async def fetch_when_led(subscription: Subscription, within: float = 30.0) -> list[Delivery]:
    """One event, retried as the gateway's consumer loop retries: a replicated consumer answers
    "no responders" (BrokerUnavailable) until its group has elected a leader, which takes a
    moment longer on a loaded machine."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await subscription.fetch(1, 5.0)
        except BrokerUnavailable:
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


async def round_trip(env: dict[str, str]) -> NatsSettings:
    """Build the broker the gateway builds from ``env``; publish one event and consume it."""
    settings = broker_settings_from_env(env)
    assert isinstance(settings, NatsSettings)
    broker = make_broker(settings, DeliverySettings())
    assert isinstance(broker, NatsBroker)
    try:
        spec = SubscriptionSpec(stream="wisp:async:default:fn", group="g", dead_letter="dead", consumer="c")
        subscription = broker.subscription(spec)
        await subscription.prepare()
        await broker.publish(spec.stream, {"body": b"hello"}, record_id="r1", record={}, retention=60)
        [delivery] = await fetch_when_led(subscription)
        assert delivery.fields["body"] == b"hello"
        await subscription.ack(delivery)
        js = await broker.js()
        info = await js.stream_info(settings.stream)
        assert info.config.num_replicas == settings.replicas
    finally:
        await broker.close()
    return settings


async def test_the_bundled_server_runs_as_rendered_and_the_gateway_uses_it(
    render: Render, tmp_path: Path
) -> None:
    objects = render(BUNDLED)
    [container] = one(objects, "Deployment", "-nats")["spec"]["template"]["spec"]["containers"]
    port, monitor = free_port(), free_port()
    local = {"/data": str(tmp_path / "data"), "4222": str(port), "8222": str(monitor)}
    args = [local.get(arg, arg) for arg in container["args"]]
    assert container["command"] == ["nats-server"]
    log = (tmp_path / "nats.log").open("wb")
    server = subprocess.Popen([nats_server_binary(), *args], stdout=log, stderr=subprocess.STDOUT)
    try:
        probe = container["readinessProbe"]["httpGet"]
        assert probe["port"] == "monitor"
        wait_for(lambda: probe_answers(monitor, probe["path"]), what="the readiness probe", timeout=20)
        assert server.poll() is None
        settings = await round_trip(gateway_env(objects, WISP_NATS_URL=f"nats://127.0.0.1:{port}"))
        assert (settings.stream, settings.replicas) == ("EVENTS", 1)
        assert (tmp_path / "data" / "jetstream").is_dir()  # JetStream stores on the claim's mount
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


async def test_an_external_cluster_gets_replicated_streams(render: Render, nats_cluster: NatsCluster) -> None:  # noqa: F811
    stream = f"EXT{uuid.uuid4().hex[:10]}"
    objects = render(
        {
            "queue": {"broker": "nats"},
            "nats": {"replicas": 3, "stream": stream, "external": {"url": nats_cluster.url}},
        }
    )
    # Other tests' streams share the cluster: a subject space of this test's own.
    env = gateway_env(objects, WISP_NATS_SUBJECT_PREFIX=stream.lower())
    assert env["WISP_NATS_URL"] == nats_cluster.url
    settings = await round_trip(env)
    assert (settings.stream, settings.replicas, len(settings.servers)) == (stream, 3, 3)
