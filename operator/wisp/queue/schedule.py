"""Schedule triggers: cron ticks, enqueued once per tick across gateway replicas.

``ticks_between`` is the pure part (croniter in the trigger's time zone, so daylight-saving
shifts follow the zone's rules). ``Scheduler`` keeps, per trigger, the last instant it looked at;
``fire_due(now)`` enqueues every tick since then through the async path, where a tick key in the
broker (``SET NX``, atomically with the enqueue) lets exactly one replica win. Ticks older than
the misfire grace (all replicas were down) are skipped rather than fired late. A tick the broker
refused (unreachable, out of memory) is tried again with a growing backoff, well within the
grace, and the outage is logged once when it starts and once when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from wisp.api.trigger import Trigger
from wisp.queue import metrics, names
from wisp.queue.broker import BrokerUnavailable
from wisp.queue.consumer import Backoff
from wisp.queue.events import schedule_event_body
from wisp.queue.invocations import AsyncInvocations, rfc3339
from wisp.queue.settings import DeliverySettings

log = logging.getLogger(__name__)
LONGEST_SLEEP = 30.0


def ticks_between(cron: str, timezone: str, after: datetime, until: datetime) -> list[datetime]:
    """The ticks ``t`` with ``after < t <= until``, as UTC datetimes."""
    zone = ZoneInfo(timezone)
    schedule = croniter(cron, after.astimezone(zone))
    ticks: list[datetime] = []
    while True:
        tick: datetime = schedule.get_next(datetime)
        if tick > until:
            return ticks
        ticks.append(tick.astimezone(UTC))


def next_tick(cron: str, timezone: str, after: datetime) -> datetime:
    tick: datetime = croniter(cron, after.astimezone(ZoneInfo(timezone))).get_next(datetime)
    return tick.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Scheduler:
    def __init__(
        self,
        invocations: AsyncInvocations,
        settings: DeliverySettings,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._invocations = invocations
        self._settings = settings
        self._clock = clock
        self._triggers: dict[str, Trigger] = {}
        self._checked: dict[str, datetime] = {}
        self._changed = asyncio.Event()
        self._backoff = Backoff(settings.reconnect_initial, settings.reconnect_max)
        # Seconds until refused ticks are tried again; None while the broker takes them.
        self.retry_in: float | None = None

    def update(self, triggers: Iterable[Trigger]) -> None:
        """Replace the set of schedule triggers; a new one fires from its next tick on."""
        now = self._clock()
        current: dict[str, Trigger] = {}
        for trigger in triggers:
            if trigger.schedule is None:
                continue
            try:
                ZoneInfo(trigger.schedule.timezone)
            except (ZoneInfoNotFoundError, ValueError):
                log.error("trigger %s: unknown time zone %r", trigger.key, trigger.schedule.timezone)
                continue
            current[trigger.key] = trigger
            old = self._triggers.get(trigger.key)
            if old is None or old.schedule != trigger.schedule:
                self._checked[trigger.key] = now
        self._triggers = current
        self._checked = {k: v for k, v in self._checked.items() if k in current}
        self._changed.set()

    async def fire_due(self, now: datetime) -> list[str]:
        """Enqueue the ticks due by ``now``; returns the tick ids this instance enqueued."""
        fired = []
        refused: BrokerUnavailable | None = None
        grace = timedelta(seconds=self._settings.misfire_grace)
        for key, trigger in list(self._triggers.items()):
            schedule = trigger.schedule
            assert schedule is not None
            # A tick exactly ``grace`` old still fires (hence the microsecond).
            after = max(self._checked.get(key, now), now - grace - timedelta(microseconds=1))
            try:
                for tick in ticks_between(schedule.cron, schedule.timezone, after, now):
                    tick_id = names.tick_id(key, tick)
                    body = schedule_event_body(trigger.name, tick_id, rfc3339(tick), schedule.payload)
                    if await self._invocations.submit_tick(
                        trigger.function_key, tick_id, body, trigger.qualifier
                    ):
                        metrics.SCHEDULE_TICKS.labels(key).inc()
                        fired.append(tick_id)
            except BrokerUnavailable as exc:
                refused = exc
                continue  # keep the old checkpoint: the tick is retried within the grace
            self._checked[key] = now
        self._note_outcome(refused)
        return fired

    def _note_outcome(self, refused: BrokerUnavailable | None) -> None:
        if refused is None:
            if self.retry_in is not None:
                log.info("schedules: the broker takes ticks again")
            self.retry_in = None
            self._backoff.reset()
            return
        if self.retry_in is None:
            log.warning("schedules: cannot enqueue ticks (%s); retrying with backoff", refused)
        else:
            log.debug("schedules: still cannot enqueue ticks (%s)", refused)
        self.retry_in = self._backoff.next()

    def seconds_to_next_tick(self, now: datetime) -> float:
        waits = [LONGEST_SLEEP if self.retry_in is None else self.retry_in]
        for trigger in self._triggers.values():
            assert trigger.schedule is not None
            tick = next_tick(trigger.schedule.cron, trigger.schedule.timezone, now)
            waits.append((tick - now).total_seconds())
        return max(0.0, min(waits))

    async def run(self) -> None:
        """Fire ticks as wall-clock time passes (the loop the gateway runs)."""
        while True:
            self._changed.clear()
            now = self._clock()
            await self.fire_due(now)
            wait = self.seconds_to_next_tick(self._clock())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), timeout=wait + 0.01)
