"""One consumer: reads a subscription, calls the function, settles each delivery.

Two loops per consumer. The reader fetches new deliveries while fewer than ``max_in_flight``
are owned (a backlog never floods the function). The maintenance loop moves due retries onto
the retry stream, renews the leases of deliveries still being worked on, takes over deliveries
that a dead consumer abandoned (visibility timeout), and refreshes the pending gauge. A broker
outage (unreachable, or up but refusing writes: out of memory, read-only) pauses both loops with
a growing backoff; deliveries being settled wait for it to come back, or stay pending and are
reclaimed later: nothing is acknowledged that did not succeed. An outage is logged once per
consumer when it starts and once when it ends, not on every retry.

A consumer with ``idle_after`` (an async invocation stream's: one per Function) sleeps once it
has found nothing for that long and its stream holds nothing (ready, in flight anywhere, or
waiting for a retry): no reads, no upkeep, no broker connection, so ten thousand idle Functions
cost the broker and the gateway nothing. It starts asleep. ``wake`` starts it again: the
``QueueManager`` wakes it when this replica puts an event on its stream, and when a look over
the sleeping ones finds a stream holding events that another replica left.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from prometheus_client import Counter, Histogram

from wisp.queue import metrics, names
from wisp.queue.batches import batch_body, batch_headers, failed_items
from wisp.queue.broker import Append, Backlog, BrokerUnavailable, Delivery, RecordUpdate, Subscription
from wisp.queue.destinations import OutcomeRouting, outcome_append
from wisp.queue.events import Rejection, Request
from wisp.queue.invoker import InvocationResult, Invoker
from wisp.queue.policy import (
    CallOutcome,
    DeadLetterReason,
    Decision,
    Outcome,
    RetryPolicy,
    decide,
    stop_reason,
)
from wisp.queue.settings import DeliverySettings

log = logging.getLogger(__name__)


class EventKind(Protocol):
    """What differs between queue triggers and async invocations."""

    def request(self, delivery: Delivery) -> Request | Rejection: ...

    def record(
        self, request: Request, delivery: Delivery, result: InvocationResult, decision: Decision
    ) -> RecordUpdate | None:
        """The record update (and callback) written atomically with the delivery's settlement."""


@dataclass(frozen=True)
class ConsumerConfig:
    function_key: str
    label: str
    max_in_flight: int
    batch_size: int
    retry: RetryPolicy
    delivery: DeliverySettings = field(default_factory=DeliverySettings)
    # Events older than this (seconds since first accepted) are dropped, never run late.
    max_event_age: float | None = None
    # Where outcomes go (spec.async.onSuccess/onFailure, a Trigger's onFailure).
    routing: OutcomeRouting | None = None
    # Batches (a queue Trigger's batchWindow): up to ``batch_size`` messages per call, waiting
    # at most this long to fill one. None: one message per call.
    batch_window: float | None = None
    # The version or alias a queue Trigger's deliveries go to (its spec.qualifier); "" is $LATEST.
    qualifier: str = ""
    # Sleep after this many seconds without work (see the module's docstring); None: never.
    idle_after: float | None = None

    @property
    def target(self) -> str:
        """What the invoker is called with for this consumer's deliveries."""
        return names.qualified_target(self.function_key, self.qualifier)


async def cancel_and_wait(task: asyncio.Task[None]) -> None:
    """Cancel ``task`` until it is done: a cancellation racing a client's own timeout can be
    turned into a timeout error (and retried) instead of stopping the task."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if not task.cancelled() and task.exception() is not None:
        log.error("task %s failed", task.get_name(), exc_info=task.exception())


class Backoff:
    """Reconnect delays: doubling from ``initial`` to ``maximum``, reset on success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial, self.maximum, self.current = initial, maximum, initial

    def next(self) -> float:
        delay, self.current = self.current, min(self.maximum, self.current * 2)
        return delay

    def reset(self) -> None:
        self.current = self.initial


class Consumer:
    def __init__(
        self,
        subscription: Subscription,
        invoker: Invoker,
        kind: EventKind,
        config: ConsumerConfig,
        *,
        clock: Callable[[], float] = time.time,
        appended: Callable[[str], None] | None = None,
        asleep: Callable[[Consumer], None] | None = None,
    ) -> None:
        """``appended`` is told each stream a settled delivery appended to (a destination's);
        ``asleep`` when this consumer goes to sleep."""
        self.subscription = subscription
        self.config = config
        self._invoker = invoker
        self._kind = kind
        self._clock = clock
        self._slots = asyncio.Semaphore(config.max_in_flight)
        self._owned: dict[tuple[str, str], Delivery] = {}
        self._room = asyncio.Event()
        self._room.set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._stopping = False
        # The steps failing for want of the broker (read, maintain, settle): an outage starts when
        # the first fails and ends when none does; reads can work while writes are refused.
        self._failing: set[str] = set()
        self._runner: asyncio.Task[None] | None = None
        self._appended = appended
        self._asleep = asleep
        # Set while the consumer should read: always, without ``idle_after``.
        self._woken = asyncio.Event()
        if config.idle_after is None:
            self._woken.set()
        self._prepared = False
        self._worked = 0.0  # the loop's time of the last delivery, or of the last wake
        self.backlog = Backlog()
        # Labelled metric children, looked up once (``labels()`` costs a lock per call), when the
        # consumer first reads: a Function never called async has no series.
        self._event_age: Histogram | None = None
        self._acked: Counter | None = None

    @property
    def in_flight(self) -> int:
        return len(self._owned)

    @property
    def awake(self) -> bool:
        return self._woken.is_set()

    def wake(self) -> None:
        """Read again (events were put on the stream), for ``idle_after`` at least."""
        self._worked = asyncio.get_running_loop().time()
        self._woken.set()
        self.start()

    def start(self) -> None:
        """Start reading; one that sleeps (``idle_after``) has no task until it is woken."""
        if self._woken.is_set() and self._runner is None and not self._stopping:
            self._runner = asyncio.create_task(self._run(), name=f"consumer {self.config.label}")

    async def stop(self, grace: float = 5.0) -> None:
        """Stop fetching, let calls in flight finish for up to ``grace`` seconds, then cancel.
        Unfinished deliveries stay pending in the broker and are reclaimed by another consumer."""
        self._stopping = True
        if self._runner is not None:
            await cancel_and_wait(self._runner)
        if self._tasks:
            _, late = await asyncio.wait(set(self._tasks), timeout=grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _run(self) -> None:
        while not self._stopping:
            await self._woken.wait()
            if not self._prepared:
                await self._prepare()
            maintenance = asyncio.create_task(self._maintain())
            try:
                await self._read()  # until stopped, or asleep
            finally:
                await cancel_and_wait(maintenance)

    async def _prepare(self) -> None:
        backoff = self._backoff()
        while not self._stopping:
            try:
                await self.subscription.prepare()
                break
            except BrokerUnavailable as exc:
                await self._pause(backoff, exc, "prepare")
        self._works("prepare")
        self._prepared = True
        self._event_age = metrics.EVENT_AGE.labels(self.config.label)
        self._acked = metrics.DELIVERIES.labels(self.config.label, Outcome.ACKED.value)

    async def _sleeps(self) -> bool:
        """True when this consumer may sleep now: nothing owned, nothing found for
        ``idle_after``, nothing held by its stream, and no wake meanwhile."""
        idle_after = self.config.idle_after
        loop = asyncio.get_running_loop()
        if idle_after is None or self._owned or self._tasks or loop.time() - self._worked < idle_after:
            return False
        self._woken.clear()  # a wake from here on keeps it awake
        try:
            backlog = await self.subscription.backlog()
        except BrokerUnavailable:
            backlog = None
        if backlog is None or backlog.total or self._woken.is_set():
            self._woken.set()
            self._worked = loop.time()
            return False
        self.backlog = backlog
        metrics.PENDING.labels(self.config.label).set(0)
        if self._asleep is not None:
            self._asleep(self)
        return True

    async def _read(self) -> None:
        backoff = self._backoff()
        settings = self.config.delivery
        while not self._stopping:
            await self._room.wait()
            free = self.config.max_in_flight - len(self._owned)
            if free <= 0:  # reclaimed deliveries took the room meanwhile
                self._room.clear()
                continue
            try:
                deliveries = await self.subscription.fetch(
                    min(self.config.batch_size, free), settings.read_block
                )
            except BrokerUnavailable as exc:
                await self._pause(backoff, exc, "read")
                continue
            except Exception as exc:
                log.exception("%s: reading failed", self.config.label)
                await self._pause(backoff, exc, "read")
                continue
            backoff.reset()
            self._works("read")
            if deliveries:
                self._worked = asyncio.get_running_loop().time()
            elif await self._sleeps():
                return
            if self.config.batch_window is not None:
                if deliveries:
                    self._dispatch(await self._fill(deliveries, min(self.config.batch_size, free)))
                continue
            for delivery in deliveries:
                self._dispatch([delivery])

    async def _fill(self, batch: list[Delivery], size: int) -> list[Delivery]:
        """More deliveries for ``batch`` until it holds ``size`` or the batch window closed."""
        assert self.config.batch_window is not None
        loop = asyncio.get_running_loop()
        closes = loop.time() + self.config.batch_window
        while len(batch) < size and not self._stopping:
            left = closes - loop.time()
            if left <= 0:
                break
            try:
                batch = batch + await self.subscription.fetch(size - len(batch), left)
            except BrokerUnavailable:
                break  # deliver what there is; the read loop meets the outage next
        return batch

    async def _maintain(self) -> None:
        settings = self.config.delivery
        backoff = self._backoff()
        last_renew = last_reclaim = last_gauge = 0.0
        while not self._stopping:
            now = self._clock()
            try:
                await self.subscription.promote_due(now)
                if self._owned and now - last_renew >= settings.visibility_timeout / 3:
                    await self.subscription.renew(list(self._owned.values()))
                    last_renew = now
                free = self.config.max_in_flight - len(self._owned)
                if free > 0 and now - last_reclaim >= settings.visibility_timeout / 2:
                    reclaimed = await self.subscription.reclaim(settings.visibility_timeout, free)
                    size = 1 if self.config.batch_window is None else max(1, self.config.batch_size)
                    for start in range(0, len(reclaimed), size):
                        self._dispatch(reclaimed[start : start + size])
                    last_reclaim = now
                if now - last_gauge >= max(settings.poll_interval, 2.0):
                    self.backlog = await self.subscription.backlog()
                    metrics.PENDING.labels(self.config.label).set(self.backlog.total)
                    last_gauge = now
                backoff.reset()
                self._works("maintain")
                await asyncio.sleep(settings.poll_interval)
            except BrokerUnavailable as exc:
                await self._pause(backoff, exc, "maintain")
            except Exception as exc:
                log.exception("%s: maintenance failed", self.config.label)
                await self._pause(backoff, exc, "maintain")

    def _dispatch(self, deliveries: list[Delivery]) -> None:
        """Start one task for ``deliveries`` (one call each, or one call for the batch)."""
        batch = [d for d in deliveries if (d.stream, d.entry_id) not in self._owned]
        if not batch:
            return
        for delivery in batch:
            self._owned[(delivery.stream, delivery.entry_id)] = delivery
        if len(self._owned) >= self.config.max_in_flight:
            self._room.clear()
        task = asyncio.create_task(self._deliver(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, batch: list[Delivery]) -> None:
        try:
            async with self._slots:
                if self.config.batch_window is None:
                    await self._deliver_now(batch[0])
                else:
                    await self._deliver_batch_now(batch)
        except asyncio.CancelledError:
            raise
        except Exception:
            # Left pending: another consumer (or this one) reclaims it after the visibility timeout.
            log.exception("delivery %s of %s failed", batch[0].entry_id, self.config.label)
        finally:
            for delivery in batch:
                self._owned.pop((delivery.stream, delivery.entry_id), None)
            self._room.set()

    async def _deliver_batch_now(self, batch: list[Delivery]) -> None:
        """One call for the batch's runnable items; each item then settles on its own, failed if
        the call failed or the answer's ``batchItemFailures`` names it."""
        ready: list[tuple[Delivery, Request]] = []
        for delivery in batch:
            request = await self._admit(delivery)
            if request is not None:
                ready.append((delivery, request))
        if not ready:
            return
        body = batch_body([request.body for _, request in ready])
        headers = batch_headers(ready[0][1].request_id, len(ready), max(d.attempt for d, _ in ready))
        result = await self._invoke(self.config.target, body, headers)
        failed = failed_items(result.succeeded, result.body, [d.origin_id for d, _ in ready])
        for delivery, request in ready:
            outcome = result
            if result.succeeded and delivery.origin_id in failed:
                outcome = InvocationResult(
                    status=500, body=result.body, duration=result.duration, error="named in batchItemFailures"
                )
            elif result.succeeded:
                outcome = InvocationResult(
                    status=result.status, headers=result.headers, duration=result.duration
                )
            await self._conclude(delivery, request, outcome)

    async def _admit(self, delivery: Delivery) -> Request | None:
        """The delivery's request, or None once it was settled without a call (malformed, too
        old, too deep in a chain)."""
        now = self._clock()
        age = max(0.0, now - delivery.first_enqueued_ms / 1000)
        if self._event_age is not None:
            self._event_age.observe(age)
        request = self._kind.request(delivery)
        if isinstance(request, Rejection):
            decision = Decision(Outcome.DEAD_LETTERED, reason=request.reason)
            await self._settle(delivery, decision, request.detail)
            return None
        stopped = stop_reason(age, self.config.max_event_age, request.hops, self.config.delivery.max_hops)
        if stopped is not None:
            reason, detail = stopped
            if reason is DeadLetterReason.RECURSION_LIMIT:
                metrics.RECURSION_STOPPED.labels(self.config.label).inc()
                log.warning("%s: %s: a recursive loop? not run", self.config.label, detail)
            decision = Decision(Outcome.DEAD_LETTERED, reason=reason)
            dropped = InvocationResult(status=0, error=detail)
            record = self._kind.record(request, delivery, dropped, decision)
            appends = self._outcomes(request, delivery, None, decision, detail)
            await self._settle(delivery, decision, detail, record, appends)
            return None
        return request

    async def _invoke(self, target: str, body: bytes, headers: Mapping[str, str]) -> InvocationResult:
        try:
            return await self._invoker(target, body, headers)
        except Exception as exc:
            log.exception("invoking %s failed", self.config.function_key)
            return InvocationResult(status=500, error=f"{exc.__class__.__name__}: {exc}")

    async def _conclude(self, delivery: Delivery, request: Request, result: InvocationResult) -> None:
        """Decide the delivery's fate after its call and settle it, with record and destination."""
        call = CallOutcome(result.status, result.throttled, result.cold_start_pending)
        decision = decide(call, delivery.attempt, self.config.retry, random.random())
        record = self._kind.record(request, delivery, result, decision)
        error = None if result.succeeded else result.describe_error()
        appends = self._outcomes(request, delivery, result, decision, error)
        await self._settle(delivery, decision, error, record, appends)

    async def _deliver_now(self, delivery: Delivery) -> None:
        request = await self._admit(delivery)
        if request is None:
            return
        result = await self._invoke(request.target or self.config.target, request.body, request.headers)
        await self._conclude(delivery, request, result)

    def _outcomes(
        self,
        request: Request,
        delivery: Delivery,
        result: InvocationResult | None,
        decision: Decision,
        error: str | None,
    ) -> tuple[Append, ...]:
        routing = self.config.routing
        if routing is None:
            return ()
        sent = outcome_append(
            routing,
            self.config.function_key,
            request,
            delivery.attempt,
            result,
            decision,
            error,
            qualifier=request.qualifier or self.config.qualifier,
        )
        if sent is None:
            return ()
        append, condition = sent
        metrics.DESTINATIONS.labels(self.config.label, condition).inc()
        return (append,)

    async def _settle(
        self,
        delivery: Delivery,
        decision: Decision,
        error: str | None,
        record: RecordUpdate | None = None,
        appends: tuple[Append, ...] = (),
    ) -> None:
        backoff = self._backoff()
        while True:
            try:
                await self._apply(delivery, decision, error, record, appends)
                self._works("settle")
                break
            except BrokerUnavailable as exc:
                if self._stopping:
                    return  # stays pending; reclaimed after the visibility timeout
                await self._pause(backoff, exc, "settle")
        if self._appended is not None:
            for append in appends:
                self._appended(append.stream)
        if decision.outcome is Outcome.ACKED:
            if self._acked is not None:
                self._acked.inc()
            return
        label = self.config.label
        metrics.DELIVERIES.labels(label, decision.outcome.value).inc()
        if decision.outcome is Outcome.RETRIED:
            metrics.RETRIES.labels(label).inc()
        elif decision.outcome is Outcome.DEAD_LETTERED and decision.reason is not None:
            metrics.DEAD_LETTERED.labels(label, decision.reason.value).inc()

    async def _apply(
        self,
        delivery: Delivery,
        decision: Decision,
        error: str | None,
        record: RecordUpdate | None,
        appends: tuple[Append, ...] = (),
    ) -> None:
        sub = self.subscription
        if decision.outcome is Outcome.ACKED:
            await sub.ack(delivery, record=record, appends=appends)
        elif decision.outcome is Outcome.DEAD_LETTERED:
            reason = decision.reason.value if decision.reason else "unknown"
            await sub.dead_letter(delivery, reason=reason, error=error, record=record, appends=appends)
        else:
            delay = (
                decision.delay if decision.outcome is Outcome.RETRIED else self.config.delivery.defer_delay
            )
            await sub.retry(
                delivery,
                attempt=decision.next_attempt,
                delay=delay,
                error=error,
                now=self._clock(),
                record=record,
            )

    def _backoff(self) -> Backoff:
        settings = self.config.delivery
        return Backoff(settings.reconnect_initial, settings.reconnect_max)

    async def _pause(self, backoff: Backoff, exc: Exception, step: str) -> None:
        delay = backoff.next()
        if self._failing:
            log.debug("%s: %s still failing: %s; retrying in %.1fs", self.config.label, step, exc, delay)
        else:
            log.warning(
                "%s: %s; pausing, retrying with backoff (up to %.1fs) until it works again",
                self.config.label,
                exc,
                self.config.delivery.reconnect_max,
            )
        self._failing.add(step)
        await asyncio.sleep(delay)

    def _works(self, step: str) -> None:
        if step in self._failing:
            self._failing.discard(step)
            if not self._failing:
                log.info("%s: the broker works again; resuming", self.config.label)
