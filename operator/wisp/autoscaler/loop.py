"""The autoscaler loop: sample every second, decide every tick, apply through a ``Scaler``.

Every gateway replica samples its own traffic (``ConcurrencyMeter`` per function, owned by the
gateway) into ``SampleWindow``s and publishes their summaries through the ``SampleExchange``.
The leader (``LeaderElection``) merges every replica's summaries, adds the queue's demand,
calls the pure ``decide`` per function and writes changed replica counts with
``Scaler.scale`` and the status with ``Scaler.publish_status`` (``wisp.autoscaler.port``; the
gateway's ``Backend`` is one). Functions whose
``spec.replicas`` is set are pinned and left alone.

A tick only decides; the writes a decision needs run after it, at most ``TICK_WRITERS`` at once,
one at a time per function (a function whose last writes are still under way is decided again
at the next tick after they end). So a tick takes as long as the decisions, not as long as the
API server takes to answer them, and one slow write holds back no other function's decision.

Only the functions in the ``ActivityIndex`` are sampled and decided: a function at zero, idle,
with nothing queued and its status published is settled (out of the index, its meter at rest)
until something wakes it (``wisp.autoscaler.activity``), so an idle function costs no work per
tick on any replica.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial

from wisp.api.function import Function
from wisp.autoscaler.activity import ActivityIndex
from wisp.autoscaler.decider import Decision, Observation, ScaleState, ScaleTarget, Settings, decide
from wisp.autoscaler.exchange import AlwaysLeader, LeaderElection, LocalExchange, SampleExchange
from wisp.autoscaler.meter import ConcurrencyMeter, SampleWindow, merge
from wisp.autoscaler.port import ReplicaEvents, Scaler, StatusUpdate

TICK_WRITERS = 16  # functions whose decisions are being written at once

log = logging.getLogger("wisp.autoscaler")


@dataclass(frozen=True)
class Scaled:
    """What one function looks like to the loop."""

    function: Function
    ready: int
    meter: ConcurrencyMeter
    published: int | None = None  # the desired replicas its status shows (None: unknown)


@dataclass
class _Tracked:
    state: ScaleState
    # Latest activity any replica reported; starts at the time tracking began, so a new leader
    # waits a full idle timeout before taking a function it knows nothing about to zero.
    last_active: float = 0.0
    seen_active: float | None = None  # latest activity actually reported (for status)
    published_desired: int | None = None
    published_active: float | None = None
    last: Decision | None = None
    # The last (from, to) logged, so a count that will not move (a backend that cannot start the
    # function yet) is logged once, not every tick.
    logged: tuple[int, int] | None = None


@dataclass
class LoopSettings:
    tick: float = 2.0
    sample_interval: float = 1.0
    decider: Settings = field(default_factory=Settings)
    status_every: float = 10.0  # least seconds between lastInvocation writes


ReplicaGauge = Callable[[str, str, int], None]  # (function key, "desired"|"ready", value)
Lookup = Callable[[str], Scaled | None]  # function key -> what the loop needs of it, None if gone


class Autoscaler:
    def __init__(
        self,
        backend: Scaler,
        lookup: Lookup,
        *,
        activity: ActivityIndex | None = None,
        exchange: SampleExchange | None = None,
        election: LeaderElection | None = None,
        settings: LoopSettings | None = None,
        record: ReplicaGauge | None = None,
    ) -> None:
        self.backend = backend
        self.lookup = lookup
        self.activity = activity if activity is not None else ActivityIndex()
        if isinstance(backend, ReplicaEvents):
            backend.on_scaled_up(self.activity.wake)
        self.exchange: SampleExchange = exchange or LocalExchange()
        self.election: LeaderElection = election or AlwaysLeader()
        self.settings = settings or LoopSettings()
        self.record = record
        # The queue sets this: function key -> pending + in-flight queue events.
        self.queue_demand: Callable[[], Mapping[str, int]] | None = None
        self.windows: dict[str, SampleWindow] = {}
        self.tracked: dict[str, _Tracked] = {}
        # Told after each of the leader's ticks: (seconds it took, functions in the index).
        self.on_tick: Callable[[float, int], None] | None = None
        # Told as each decision's writes end: seconds from the decision.
        self.on_written: Callable[[float], None] | None = None
        self._writing: dict[str, asyncio.Task[None]] = {}
        self._writers = asyncio.Semaphore(TICK_WRITERS)

    # -- sampling (every replica) --------------------------------------------------------------

    def sample(self, now: float, wall: float) -> None:
        for key in self.activity:
            item = self.lookup(key)
            if item is None:
                self._forget(key)
                continue
            window = self.windows.get(key)
            if window is None:
                d = self.settings.decider
                window = self.windows[key] = SampleWindow(d.stable_window, d.panic_window)
            window.add(item.meter.take(now, wall))

    def summaries(self, wall: float) -> dict[str, Observation]:
        return {key: w.observe(wall) for key, w in self.windows.items() if not w.idle}

    # -- deciding (the leader) -----------------------------------------------------------------

    async def tick(self, wall: float) -> None:
        await self.exchange.publish(self.summaries(wall))
        if not self.election.is_leader:
            self.tracked.clear()  # a new leader starts from the workloads' real counts
            for key in self.activity:
                await self._follow_one(key)
            return
        started = time.perf_counter()
        reports = await self.exchange.collect()
        queue = self.queue_demand() if self.queue_demand is not None else {}
        for report in reports:  # traffic another replica saw
            for key in report:
                self.activity.wake(key)
        for key, demand in queue.items():
            if demand > 0:
                self.activity.wake(key)
        for key in list(self.activity):
            if key in self._writing:
                continue  # decided again once its writes are in
            item = self.lookup(key)
            if item is None:
                self._forget(key)
                continue
            write = await self._decide_one(item, reports, queue, wall)
            if write is not None:
                self._writing[key] = asyncio.create_task(self._write(key, write, time.perf_counter()))
        if self.on_tick is not None:
            self.on_tick(time.perf_counter() - started, len(self.activity))

    async def _write(self, key: str, write: Callable[[], Awaitable[None]], decided: float) -> None:
        try:
            async with self._writers:
                await write()
        except Exception:
            log.exception("writing the decision for %s failed", key)
        finally:
            del self._writing[key]
            if self.on_written is not None:
                self.on_written(time.perf_counter() - decided)

    async def writes_done(self) -> None:
        """Wait for the writes of the decisions made so far."""
        while self._writing:
            await asyncio.gather(*self._writing.values(), return_exceptions=True)

    def _cancel_writes(self) -> None:
        for task in self._writing.values():
            task.cancel()

    async def _follow_one(self, key: str) -> None:
        """A follower keeps the same index as the leader would, so a new leader has it."""
        item = self.lookup(key)
        if item is None:
            self._forget(key)
            return
        try:
            actual = await self.backend.get_replicas(key)
        except Exception:
            return
        if self._at_rest(key, item, actual):
            self._settle(key, item)

    def _at_rest(self, key: str, item: Scaled, actual: int) -> bool:
        """At zero, nothing ready, nothing in flight here and nothing in this replica's window."""
        window = self.windows.get(key)
        return (
            actual == 0 and item.ready == 0 and item.meter.in_flight == 0 and (window is None or window.idle)
        )

    def _settle(self, key: str, item: Scaled) -> None:
        self.activity.settle(key)
        self.windows.pop(key, None)
        self.tracked.pop(key, None)
        item.meter.rest()

    def _forget(self, key: str) -> None:
        self.activity.settle(key)
        self.windows.pop(key, None)
        self.tracked.pop(key, None)

    async def _decide_one(
        self, item: Scaled, reports: list[Mapping[str, Observation]], queue: Mapping[str, int], wall: float
    ) -> Callable[[], Awaitable[None]] | None:
        """Decide for one function; the writes the decision needs, if any, to run after the tick."""
        fn = item.function
        key = fn.key
        if self.record is not None:
            self.record(key, "ready", item.ready)
        try:
            actual = await self.backend.get_replicas(key)
        except Exception as exc:  # a missing workload is the operator's business
            log.debug("cannot read replicas of %s: %s", key, exc)
            return None
        if fn.spec.replicas is not None:
            if self._at_rest(key, item, actual):
                self._settle(key, item)
            return None
        tracked = self.tracked.get(key)
        if tracked is None:
            # Woken from rest (or new to this leader): what its status says was last decided is
            # where it starts, so a count someone else moved is taken for what it is.
            # A status without desiredReplicas (no autoscaler has decided for it: a new Function)
            # says zero for a function that scales to zero: writing 0 would cost every new
            # Function a status write, thousands of them in a bulk apply, and tell a reader
            # nothing new. A count above it is then taken as someone's wake-up, as after a 0 written.
            published = item.published
            if published is None and fn.spec.scale.min == 0:
                published = 0
            start = actual if published is None else published
            tracked = self.tracked[key] = _Tracked(
                ScaleState(desired=start), last_active=wall, published_desired=published
            )
        if actual != tracked.state.desired:
            _adopt(key, tracked, actual, wall)
        observations = [r[key] for r in reports if key in r]
        samples: Observation | None = None
        if reports:
            samples = merge(observations) if observations else Observation()
            if samples.last_active is not None:
                tracked.last_active = max(tracked.last_active, samples.last_active)
                tracked.seen_active = max(tracked.seen_active or 0.0, samples.last_active)
            samples = replace(samples, last_active=tracked.last_active, queue_demand=queue.get(key, 0))
        state = replace(tracked.state, ready=item.ready)
        decision = decide(state, samples, ScaleTarget.of(fn), wall, self.settings.decider)
        tracked.last = decision
        if self.record is not None:
            self.record(key, "desired", decision.desired)
        if decision.desired != actual:
            level = logging.INFO if tracked.logged != (actual, decision.desired) else logging.DEBUG
            tracked.logged = (actual, decision.desired)
            log.log(level, "scaling %s %d -> %d (%s)", key, actual, decision.desired, decision.reason.value)
        # Nothing more will come of it: it may rest once its status says zero and its last call.
        quiet = decision.desired == 0 and not queue.get(key, 0) and not observations
        rests = quiet and self._resting(key, item, tracked, actual)
        unwritten = rests and tracked.seen_active != tracked.published_active
        if (
            decision.desired == actual
            and not unwritten
            and not self._publishing(tracked, decision.state.desired)
        ):
            tracked.state = decision.state  # nothing to write: no task for it
            if rests:
                self._settle(key, item)
            return None
        return partial(self._apply, item, tracked, decision, actual, quiet)

    async def _apply(
        self, item: Scaled, tracked: _Tracked, decision: Decision, actual: int, quiet: bool
    ) -> None:
        """Write a decision: the replica count if it changed, then the status; a quiet function
        at rest leaves the index once its status has its last call."""
        key = item.function.key
        if decision.desired != actual:
            try:
                await self.backend.scale(key, decision.desired)
            except Exception as exc:
                log.warning("scaling %s failed: %s", key, exc)
                return
        tracked.state = decision.state
        await self._publish(key, tracked)
        if quiet and self._resting(key, item, tracked, actual):
            if tracked.seen_active is not None and tracked.seen_active != tracked.published_active:
                tracked.published_active = None  # its last call goes into status before it rests
                await self._publish(key, tracked)
                if tracked.published_active is None:
                    return  # not written: again next tick
            self._settle(key, item)

    def _resting(self, key: str, item: Scaled, tracked: _Tracked, actual: int) -> bool:
        return tracked.published_desired == 0 and self._at_rest(key, item, actual)

    def _publishing(self, tracked: _Tracked, desired: int) -> bool:
        """Whether the status needs a write (``_publish`` would make one)."""
        return desired != tracked.published_desired or self._fresh_active(tracked)

    def _fresh_active(self, tracked: _Tracked) -> bool:
        """The last call seen is news for the status (``status_every`` after the one it shows)."""
        active, previous = tracked.seen_active, tracked.published_active
        return active is not None and (previous is None or active - previous >= self.settings.status_every)

    async def _publish(self, key: str, tracked: _Tracked) -> None:
        desired = tracked.state.desired
        fresh_active = self._fresh_active(tracked)  # _publishing, with the freshness kept for below
        if desired == tracked.published_desired and not fresh_active:
            return
        active = tracked.seen_active
        try:
            await self.backend.publish_status(
                key, StatusUpdate(desired_replicas=desired, last_invocation=active if fresh_active else None)
            )
        except Exception as exc:
            log.debug("status of %s not written: %s", key, exc)
            return
        tracked.published_desired = desired
        if fresh_active:
            tracked.published_active = active

    def note_scaled(self, key: str, replicas: int) -> None:
        """This replica's activator scaled a function from zero: do not undo it before traffic
        shows (the workload's count would tell the leader by its next tick anyway)."""
        self.activity.wake(key)
        tracked = self.tracked.get(key)
        if tracked is not None and tracked.state.desired < replicas:
            _adopt(key, tracked, replicas, time.time())

    # -- running ---------------------------------------------------------------------------------

    async def run(self) -> None:
        """Sample every ``sample_interval`` and decide every ``tick`` until cancelled."""
        interval = self.settings.sample_interval
        next_tick = time.monotonic() + self.settings.tick
        try:
            while True:
                await asyncio.sleep(interval)
                self.sample(time.monotonic(), time.time())
                if time.monotonic() >= next_tick:
                    next_tick += self.settings.tick
                    try:
                        await self.tick(time.time())
                    except Exception:
                        log.exception("autoscaler tick failed")
        finally:
            self._cancel_writes()


def _adopt(key: str, tracked: _Tracked, actual: int, wall: float) -> None:
    """The workload's count is not what the leader last wanted: take it as the starting point.

    Someone else moved it: an activator's scale from zero (on any replica), ``kubectl scale``,
    the operator re-creating the Deployment, or one of the leader's own writes that failed or
    landed late. A count raised from outside is treated as a wake-up (activity now), so it gets
    its idle timeout before it goes back to zero instead of being cut before its caller's traffic
    shows in the samples; the decision then corrects it like any other count.
    """
    if actual > tracked.state.desired:
        tracked.last_active = max(tracked.last_active, wall)
    level = logging.INFO if tracked.logged != (actual, tracked.state.desired) else logging.DEBUG
    log.log(level, "replicas of %s are %d, not %d as decided: correcting", key, actual, tracked.state.desired)
    tracked.state = replace(tracked.state, desired=actual)
