"""Gateway replicas agreeing on one autoscaler, with no infrastructure beyond the API server.

* **Leader election**: one ``coordination.k8s.io/v1`` Lease (``WISP_LEASE_NAME`` in
  ``WISP_LEASE_NAMESPACE``), renewed every ``RENEW_SECONDS``, held for ``LEASE_SECONDS``; a
  replica takes it when it is free or expired (optimistic concurrency on resourceVersion makes
  the take atomic). A stopping leader releases it, so a rolling update hands over at once; a
  crashed leader's lease expires within ``LEASE_SECONDS``.
* **Sample exchange**: every replica also keeps a member Lease ``<lease>-<pod>`` labelled
  ``wisp.dev/gateway-lease=<lease>`` whose annotation ``wisp.dev/samples`` holds its
  per-function window summaries (JSON, see ``wisp.autoscaler.exchange.encode``) and whose
  renewTime is its heartbeat. While it leads, a replica keeps the members from a watch (listed
  once, then changed as they are written), so a tick reads them from memory and never waits on
  the API server; it ignores any member whose heartbeat is older than ``STALE_SECONDS``. Until
  the watch has listed them (the first tick after taking the lead), ``collect`` lists them
  itself. One small write per replica per tick; nothing for the leader to reach over the
  network but the API server.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import json
import logging
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from kubernetes import client

from wisp.autoscaler.exchange import Summaries, decode, encode
from wisp.gateway.config import GatewayConfig
from wisp.gateway.kube.watch import Obj, WatchThread

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


@dataclass(frozen=True)
class _Member:
    """One replica's member Lease as the API server last gave it (its JSON, not a client model:
    the watch delivers JSON, and decoding a model per write would cost the leader for nothing)."""

    renewed: datetime.datetime | None
    samples: str

    @classmethod
    def of(cls, lease: Obj) -> _Member:
        renew = (lease.get("spec") or {}).get("renewTime")
        try:
            renewed = datetime.datetime.fromisoformat(renew) if renew else None
        except ValueError:
            renewed = None
        annotations = (lease.get("metadata") or {}).get("annotations") or {}
        return cls(renewed, annotations.get(SAMPLES_ANNOTATION) or "{}")

    def fresh(self, now: datetime.datetime) -> bool:
        return self.renewed is not None and (now - self.renewed).total_seconds() <= STALE_SECONDS

    @cached_property
    def summaries(self) -> Summaries:
        """Decoded once per write of the lease, however many ticks read it."""
        try:
            data = json.loads(self.samples)
        except ValueError:
            return {}
        return decode(data) if isinstance(data, dict) else {}


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
        self._selector = f"{MEMBER_LABEL}={self.name}"
        self._members_watch: WatchThread | None = None
        self._members: dict[str, _Member] | None = None  # None: not listed by the watch yet

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
        self._follow_members(False)
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
        self._follow_members(leader)

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

    def _follow_members(self, leading: bool) -> None:
        """Watch the member leases while this replica leads; a follower never reads them."""
        if leading and self._members_watch is None:
            thread = WatchThread(
                f"lease/{self.namespace}/{self._selector}",
                self.api.list_namespaced_lease,
                {"namespace": self.namespace, "label_selector": self._selector},
                asyncio.get_running_loop(),
                lambda items: self._listed(thread, items),
                lambda kind, lease: self._changed(thread, kind, lease),
            )
            self._members_watch = thread
            thread.start()
        elif not leading and self._members_watch is not None:
            self._members_watch.stop()
            self._members_watch = None
            self._members = None

    def _listed(self, thread: WatchThread, items: list[Obj]) -> None:
        if thread is self._members_watch:  # not a stopped watch's late delivery
            self._members = _members_of(items)

    def _changed(self, thread: WatchThread, kind: str, lease: Obj) -> None:
        if thread is not self._members_watch or self._members is None:
            return
        if kind == "DELETED":
            self._members.pop(_name(lease), None)
        else:
            self._members[_name(lease)] = _Member.of(lease)

    async def collect(self) -> list[Summaries]:
        members = self._members
        if members is None:
            try:
                members = await asyncio.to_thread(self._list_members)
            except Exception as exc:
                log.warning("collecting samples: %s", exc)
                return []
        now = _now()
        return [member.summaries for member in members.values() if member.fresh(now)]

    def _list_members(self) -> dict[str, _Member]:
        # resourceVersion "0": from the API server's watch cache, not a read through to etcd.
        response = self.api.list_namespaced_lease(
            self.namespace, label_selector=self._selector, resource_version="0", _preload_content=False
        )
        return _members_of(json.loads(response.data).get("items") or [])


def _members_of(leases: list[Obj]) -> dict[str, _Member]:
    return {_name(lease): _Member.of(lease) for lease in leases}


def _name(lease: Obj) -> str:
    return str((lease.get("metadata") or {}).get("name", ""))
