"""One periodic resync for every Function, instead of a kopf timer per Function.

Changes are reconciled from watch events (Function, Deployment, pod handlers); the resync is
only for healing what no event announces (a Service or code ConfigMap edited by hand, a
ConfigMap named by ``configMapRef`` that appeared, a refusal first met on a Deployment event).
One asyncio task walks the operator's own cache (the ``function_bodies`` index) once per
period, spreading the Functions evenly over it, one reconcile at a time: a thousand idle
Functions cost one task and one reconcile every period/1000 seconds, never a burst of
per-object tasks that outlive their deadline. The pace is capped (``WISP_RESYNC_RATE``
reconciles a second): with more Functions a round takes longer, as an informer's resync would.
With peering, only the active replica resyncs.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

log = logging.getLogger("wisp.operator")

Body = dict[str, Any]
Sleep = Callable[[float], Awaitable[None]]


def due_functions(bodies: Iterable[Mapping[str, Any]]) -> list[Body]:
    """The Functions a round visits, in a stable order; those being deleted are left alone."""
    live = [dict(b) for b in bodies if not (b.get("metadata") or {}).get("deletionTimestamp")]
    return sorted(live, key=lambda b: ((b["metadata"].get("namespace") or ""), b["metadata"]["name"]))


def gap(count: int, period: float, rate: float = float("inf")) -> float:
    """Seconds between two reconciles so that ``count`` Functions fill one period, but never more
    than ``rate`` reconciles a second: past ``period * rate`` Functions the round takes longer
    instead of the idle operator's API calls growing with every Function (a full reconcile is a
    handful of calls; at 10,000 Functions and 60 s it would be ~170 reconciles a second)."""
    return max(period / max(1, count), 1.0 / rate)


async def resync_forever(
    functions: Callable[[], Iterable[Mapping[str, Any]]],
    reconcile_one: Callable[[Body], Awaitable[None]],
    period: float,
    active: Callable[[], Awaitable[bool]],
    sleep: Sleep = asyncio.sleep,
    rate: float = float("inf"),
) -> None:
    """Walk every Function once per ``period`` (at most ``rate`` a second), evenly spread, until
    cancelled."""
    while True:
        bodies = due_functions(functions())
        if not bodies or not await _is_active(active):
            await sleep(period)
            continue
        pause = gap(len(bodies), period, rate)
        for body in bodies:
            await sleep(pause)
            try:
                await reconcile_one(body)
            except Exception as exc:  # one Function's trouble never stops the others' resync
                meta = body.get("metadata") or {}
                log.warning("resync of %s/%s failed: %s", meta.get("namespace"), meta.get("name"), exc)


async def _is_active(active: Callable[[], Awaitable[bool]]) -> bool:
    try:
        return await active()
    except Exception as exc:  # the peering object unreadable: skip this round, try the next
        log.warning("resync skipped: cannot tell whether this replica is active: %s", exc)
        return False


def peering_allows(status: Mapping[str, Any] | None, own_priority: int, now: datetime.datetime) -> bool:
    """Whether this replica is the active one: no live peer has a higher priority (kopf's rule
    in ``process_peering_event``; priorities are drawn at random, so they do not tie)."""
    for peer in (status or {}).values():
        if not isinstance(peer, Mapping):
            continue
        try:
            lastseen = datetime.datetime.fromisoformat(str(peer.get("lastseen")))
            lifetime = datetime.timedelta(seconds=int(peer.get("lifetime") or 0))
            priority = int(peer.get("priority") or 0)
        except (TypeError, ValueError):
            continue
        if lastseen.tzinfo is None:
            lastseen = lastseen.replace(tzinfo=datetime.UTC)
        if lastseen + lifetime > now and priority > own_priority:
            return False
    return True
