"""Gateway replicas agreeing on one autoscaler, with no infrastructure beyond the API server.

* **Leader election**: one ``coordination.k8s.io/v1`` Lease (``WISP_LEASE_NAME`` in
  ``WISP_LEASE_NAMESPACE``), renewed every ``RENEW_SECONDS``, held for ``LEASE_SECONDS``; a
  replica takes it when it is free or expired (optimistic concurrency on resourceVersion makes
  the take atomic). A stopping leader releases it, so a rolling update hands over at once; a
  crashed leader's lease expires within ``LEASE_SECONDS``.
* **Sample exchange**: every replica also keeps a member Lease ``<lease>-<pod>`` labelled
  ``wisp.dev/gateway-lease=<lease>`` whose annotation ``wisp.dev/samples`` holds its
  per-function window summaries (JSON, see ``wisp.autoscaler.exchange.encode``) and whose
  renewTime is its heartbeat. The leader lists the members each tick and ignores any whose
  heartbeat is older than ``STALE_SECONDS``. One small write per replica per tick; nothing
  for the leader to reach over the network but the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
from typing import Any

from kubernetes import client

from wisp.autoscaler.decider import Observation
from wisp.autoscaler.exchange import Summaries, decode, encode
from wisp.gateway.config import GatewayConfig

log = logging.getLogger("wisp.gateway.lease")

RENEW_SECONDS = 2.0
LEASE_SECONDS = 10
STALE_SECONDS = 10.0
MEMBER_LABEL = "wisp.dev/gateway-lease"
SAMPLES_ANNOTATION = "wisp.dev/samples"


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _micro(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaseCoordination:
    """Implements both ``LeaderElection`` and ``SampleExchange``."""

    def __init__(self, api_client: client.ApiClient, cfg: GatewayConfig) -> None:
        self.api = client.CoordinationV1Api(api_client)
        self.name = cfg.lease_name
        self.namespace = cfg.lease_namespace
        self.identity = cfg.pod_name
        self.member = f"{cfg.lease_name}-{cfg.pod_name}"[:253]
        self._leader = False
        self._renewed_at: datetime.datetime | None = None
        self._task: asyncio.Task[None] | None = None

    # -- LeaderElection --------------------------------------------------------------------------

    @property
    def is_leader(self) -> bool:
        if not self._leader or self._renewed_at is None:
            return False
        # Stop acting as soon as our own lease could have expired without a renewal.
        return (_now() - self._renewed_at).total_seconds() < LEASE_SECONDS - RENEW_SECONDS

    async def start(self) -> None:
        await self._elect_once()
        self._task = asyncio.create_task(self._elect_forever(), name="wisp-lease")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._leader:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._release)
        self._leader = False
        with contextlib.suppress(Exception):
            await asyncio.to_thread(self.api.delete_namespaced_lease, self.member, self.namespace)

    async def _elect_forever(self) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            await self._elect_once()

    async def _elect_once(self) -> None:
        try:
            leader = await asyncio.to_thread(self._try_acquire)
        except Exception as exc:
            log.warning("lease %s/%s: %s", self.namespace, self.name, exc)
            return
        if leader != self._leader:
            log.info("%s %s leadership of %s", self.identity, "took" if leader else "lost", self.name)
        self._leader = leader

    def _try_acquire(self) -> bool:
        now = _now()
        try:
            lease = self.api.read_namespaced_lease(self.name, self.namespace)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            body = client.V1Lease(
                metadata=client.V1ObjectMeta(name=self.name, namespace=self.namespace),
                spec=self._spec(now, now, 0),
            )
            try:
                self.api.create_namespaced_lease(self.namespace, body)
            except client.ApiException as create_exc:
                if create_exc.status == 409:
                    return False
                raise
            self._renewed_at = now
            return True
        spec = lease.spec or client.V1LeaseSpec()
        holder = spec.holder_identity or ""
        renewed = spec.renew_time or spec.acquire_time
        duration = spec.lease_duration_seconds or LEASE_SECONDS
        expired = renewed is None or (now - renewed).total_seconds() > duration
        if holder and holder != self.identity and not expired:
            return False
        transitions = (spec.lease_transitions or 0) + (0 if holder == self.identity else 1)
        acquired = spec.acquire_time if holder == self.identity and spec.acquire_time else now
        lease.spec = self._spec(now, acquired, transitions)
        try:
            self.api.replace_namespaced_lease(self.name, self.namespace, lease)
        except client.ApiException as exc:
            if exc.status == 409:  # another replica renewed or took it first
                return False
            raise
        self._renewed_at = now
        return True

    def _spec(
        self, now: datetime.datetime, acquired: datetime.datetime, transitions: int
    ) -> client.V1LeaseSpec:
        return client.V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=LEASE_SECONDS,
            acquire_time=acquired,
            renew_time=now,
            lease_transitions=transitions,
        )

    def _release(self) -> None:
        lease = self.api.read_namespaced_lease(self.name, self.namespace)
        if lease.spec is None or lease.spec.holder_identity != self.identity:
            return
        lease.spec.holder_identity = None
        lease.spec.renew_time = None
        self.api.replace_namespaced_lease(self.name, self.namespace, lease)

    # -- SampleExchange ----------------------------------------------------------------------------

    async def publish(self, summaries: Summaries) -> None:
        try:
            await asyncio.to_thread(self._write_member, json.dumps(encode(summaries), separators=(",", ":")))
        except Exception as exc:
            log.warning("publishing samples: %s", exc)

    def _write_member(self, payload: str) -> None:
        body: dict[str, Any] = {
            "metadata": {
                "name": self.member,
                "labels": {MEMBER_LABEL: self.name},
                "annotations": {SAMPLES_ANNOTATION: payload},
            },
            "spec": {
                "holderIdentity": self.identity,
                "renewTime": _micro(_now()),
                "leaseDurationSeconds": int(STALE_SECONDS),
            },
        }
        try:
            self.api.patch_namespaced_lease(self.member, self.namespace, body)
        except client.ApiException as exc:
            if exc.status != 404:
                raise
            self.api.create_namespaced_lease(self.namespace, body)

    async def collect(self) -> list[Summaries]:
        try:
            # resourceVersion "0": from the API server's watch cache, not a read through to
            # etcd on every tick (the leader's tick waited on it with the API server loaded);
            # the cache is at most moments behind the members' once-a-tick writes.
            leases = await asyncio.to_thread(
                self.api.list_namespaced_lease,
                self.namespace,
                label_selector=f"{MEMBER_LABEL}={self.name}",
                resource_version="0",
            )
        except Exception as exc:
            log.warning("collecting samples: %s", exc)
            return []
        now = _now()
        out: list[Summaries] = []
        for lease in leases.items:
            renewed = lease.spec.renew_time if lease.spec else None
            if renewed is None or (now - renewed).total_seconds() > STALE_SECONDS:
                continue
            raw = (lease.metadata.annotations or {}).get(SAMPLES_ANNOTATION) or "{}"
            try:
                data = json.loads(raw)
            except ValueError:
                continue
            summaries: dict[str, Observation] = decode(data) if isinstance(data, dict) else {}
            out.append(summaries)
        return out
