"""Two gateway replicas' Lease coordination, in this process, against the real API server.

The leader keeps the replicas' member leases from a watch, so its tick reads every replica's
samples from memory: what a follower publishes reaches it, a replica that stops or falls silent
drops out, and nothing of it waits on the API server once the watch has listed them.
"""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from kubernetes import client

from wisp.autoscaler.decider import Observation
from wisp.autoscaler.exchange import Summaries
from wisp.gateway.config import GatewayConfig
from wisp.gateway.kube.coordination import MEMBER_LABEL, SAMPLES_ANNOTATION, LeaseCoordination

pytestmark = pytest.mark.cluster

LEASE = "wisp-gateway"


def _seen(reports: list[Summaries]) -> dict[str, int]:
    """function key -> in flight, over every replica's report."""
    return {key: o.in_flight for report in reports for key, o in report.items()}


async def _until(
    coordination: LeaseCoordination, check: Callable[[dict[str, int]], bool], what: str
) -> dict[str, int]:
    seen: dict[str, int] = {}
    for _ in range(200):
        seen = _seen(await coordination.collect())
        if check(seen):
            return seen
        await asyncio.sleep(0.05)
    raise AssertionError(f"{what}: the leader saw {seen}")


@pytest.fixture
async def replicas(
    kube_api: client.ApiClient, namespace: str
) -> AsyncIterator[tuple[LeaseCoordination, LeaseCoordination]]:
    def replica(pod: str) -> LeaseCoordination:
        return LeaseCoordination(
            kube_api, GatewayConfig(lease_name=LEASE, lease_namespace=namespace, pod_name=pod)
        )

    leader, follower = replica("gw-a"), replica("gw-b")
    await leader.start()
    await follower.start()
    assert (leader.is_leader, follower.is_leader) == (True, False)
    yield leader, follower
    await follower.stop()
    await leader.stop()


async def test_the_leader_sees_what_each_replica_publishes_from_its_watch(
    replicas: tuple[LeaseCoordination, LeaseCoordination],
) -> None:
    leader, follower = replicas
    await leader.publish({"mine.ns": Observation(in_flight=1)})
    await follower.publish({"theirs.ns": Observation(in_flight=2)})
    await _until(leader, lambda seen: seen == {"mine.ns": 1, "theirs.ns": 2}, "both replicas' samples")

    # From here the tick reads memory: a leader cut off from listing still sees every change.
    def refused(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the tick listed the member leases")

    leader.api.list_namespaced_lease = refused  # type: ignore[method-assign]
    await follower.publish({"theirs.ns": Observation(in_flight=5), "other.ns": Observation()})
    await _until(leader, lambda seen: seen.get("theirs.ns") == 5 and "other.ns" in seen, "the new samples")

    await follower.stop()  # its member lease goes with it
    await _until(leader, lambda seen: seen == {"mine.ns": 1}, "the stopped replica gone")


async def test_a_replica_whose_heartbeat_stopped_is_left_out(
    kube_api: client.ApiClient, namespace: str, replicas: tuple[LeaseCoordination, LeaseCoordination]
) -> None:
    """A gateway that died without deleting its lease: its last samples must not keep its
    functions up for ever."""
    leader, _ = replicas
    silent = datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=60)
    client.CoordinationV1Api(kube_api).create_namespaced_lease(
        namespace,
        {
            "metadata": {
                "name": f"{LEASE}-gone",
                "labels": {MEMBER_LABEL: LEASE},
                "annotations": {SAMPLES_ANNOTATION: '{"ghost.ns":[1,1,1,1,3,null]}'},
            },
            "spec": {"holderIdentity": "gone", "renewTime": silent.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
        },
    )
    await leader.publish({"mine.ns": Observation(in_flight=1)})
    await _until(leader, lambda seen: seen == {"mine.ns": 1}, "the live replica alone")


async def test_a_new_leader_reads_the_samples_at_once(
    replicas: tuple[LeaseCoordination, LeaseCoordination],
) -> None:
    """A rolling update: the leader releases its lease and the other replica's first tick as
    leader already sees the traffic (listed, before its own watch has caught up)."""
    leader, follower = replicas
    await follower.publish({"theirs.ns": Observation(in_flight=3)})
    await leader.stop()
    await follower._elect_once()
    assert follower.is_leader
    assert _seen(await follower.collect()) == {"theirs.ns": 3}
    await follower.publish({"theirs.ns": Observation(in_flight=4)})
    await _until(follower, lambda seen: seen == {"theirs.ns": 4}, "the new leader's watch")
