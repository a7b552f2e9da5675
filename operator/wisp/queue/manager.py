"""Keeps the running consumers and schedules in line with the Functions and Triggers that exist.

The gateway feeds ``update_functions`` and ``update_triggers`` from its watch (``wisp dev`` and
the standalone worker from their own sources). Each Function gets a consumer of its async stream;
each queue Trigger whose Function exists gets a consumer of its stream; schedule Triggers go to
the ``Scheduler``. While any Function exists, one more consumer sends async invocations'
callbacks (``wisp.queue.callbacks``), apart from every function's deliveries. ``pending_demand``
reports backlogs to the autoscaler.

A Function's async consumer sleeps while its stream is empty (``Consumer``'s ``idle_after``):
idle Functions cost no reads. This replica wakes it when it puts an event on that stream (an
async invocation, a schedule's tick, a destination, a redrive); so that events another replica
left (it died holding them) are not left behind, ``holding`` looks over every sleeping stream in
one pass of the broker's, at once for consumers new to this replica and every
``sweep_interval`` after.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from wisp.api.asyncspec import Destination
from wisp.api.function import Function
from wisp.api.names import function_key
from wisp.api.trigger import Trigger
from wisp.queue import names
from wisp.queue.broker import Backlog, Broker, BrokerUnavailable, Delivery, RecordUpdate, SubscriptionSpec
from wisp.queue.callbacks import CallbackEvents, CallbackInvoker
from wisp.queue.consumer import Backoff, Consumer, ConsumerConfig, EventKind, cancel_and_wait
from wisp.queue.deadletters import DeadLetters
from wisp.queue.destinations import OutcomeRouting
from wisp.queue.events import Rejection, Request, queue_request
from wisp.queue.invocations import AsyncEvents, AsyncInvocations
from wisp.queue.invoker import InvocationResult, Invoker
from wisp.queue.policy import Decision, RetryPolicy, in_flight_limit
from wisp.queue.schedule import Scheduler, utc_now
from wisp.queue.settings import DeliverySettings

log = logging.getLogger(__name__)


def consumer_name() -> str:
    """Unique per process start: a restarted gateway never mistakes old deliveries for its own."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


class QueueEvents:
    """Queue-trigger deliveries: the producer's message becomes a ``wisp.queue`` event."""

    def __init__(self, max_event_bytes: int) -> None:
        self._max = max_event_bytes

    def request(self, delivery: Delivery) -> Request | Rejection:
        return queue_request(delivery, self._max)

    def record(
        self, request: Request, delivery: Delivery, result: InvocationResult, decision: Decision
    ) -> RecordUpdate | None:
        return None


# What a consumer is made from: when it changes, the consumer is made anew.
Signature = tuple[SubscriptionSpec, ConsumerConfig]


@dataclass(frozen=True)
class _Running:
    consumer: Consumer
    signature: Signature


class QueueManager:
    def __init__(
        self,
        broker: Broker,
        invoker: Invoker,
        settings: DeliverySettings | None = None,
        *,
        consumer: str | None = None,
        clock: Callable[[], float] = time.time,
        schedule_clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.broker = broker
        self.settings = settings or DeliverySettings()
        self.invocations = AsyncInvocations(broker, self.settings, submitted=self.wake)
        self.scheduler = Scheduler(self.invocations, self.settings, clock=schedule_clock)
        self._invoker = invoker
        self._consumer_name = consumer or consumer_name()
        self._clock = clock
        self._callbacks = CallbackInvoker(timeout=self.settings.callback_timeout)
        self._functions: dict[str, Function] = {}
        self._triggers: dict[str, Trigger] = {}
        self._async_made: dict[str, tuple[Function, Signature]] = {}
        self._callbacks_wanted = self._callback_consumer()
        self._running: dict[str, _Running] = {}
        # The consumers reading now (the autoscaler's demand is theirs), and the labels of the
        # async consumers by stream, for wakes.
        self._reading: dict[str, Consumer] = {}
        self._sleepers: dict[str, str] = {}
        self._stopping: set[asyncio.Task[None]] = set()
        self._scheduler_task: asyncio.Task[None] | None = None
        self._sweeper: asyncio.Task[None] | None = None
        self._sweep_soon = asyncio.Event()
        self.dead_letters = DeadLetters(
            broker, self.settings, self._dead_letter_sources, clock=clock, redriven=self.wake
        )

    def _dead_letter_sources(self) -> tuple[dict[str, Function], dict[str, Trigger]]:
        return self._functions, self._triggers

    def start_schedules(self) -> None:
        """Run the schedule loop on wall-clock time (tests call ``scheduler.fire_due`` instead)."""
        if self._scheduler_task is None:
            self._scheduler_task = asyncio.create_task(self.scheduler.run(), name="schedules")

    def update_functions(self, functions: Iterable[Function]) -> None:
        self.update(functions, self._triggers.values())

    def update_triggers(self, triggers: Iterable[Trigger]) -> None:
        self.update(self._functions.values(), triggers)

    def update(self, functions: Iterable[Function], triggers: Iterable[Trigger]) -> None:
        """Both at once: one reconcile."""
        self._functions = {function_key(f.name, f.namespace): f for f in functions}
        self._triggers = {t.key: t for t in triggers}
        self._reconcile()

    def wake(self, stream: str) -> None:
        """Events were put on ``stream``: its consumer, if asleep, reads again (an unknown
        stream is a Function this replica has not seen yet: the look at its new consumers finds
        them)."""
        label = self._sleepers.get(stream)
        running = None if label is None else self._running.get(label)
        if label is not None and running is not None:
            self._wake(label, running.consumer)

    def _wake(self, label: str, consumer: Consumer) -> None:
        consumer.wake()
        self._reading[label] = consumer

    def _fell_asleep(self, consumer: Consumer) -> None:
        if self._reading.get(consumer.config.label) is consumer:
            del self._reading[consumer.config.label]

    async def _sweep(self) -> None:
        """Wake the sleeping consumers whose streams hold events: at once, when consumers new to
        this replica came, and every ``sweep_interval``."""
        backoff = Backoff(self.settings.reconnect_initial, self.settings.reconnect_max)
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._sweep_soon.wait(), self.settings.sweep_interval)
            self._sweep_soon.clear()
            asleep = [
                (label, running)
                for label, running in self._running.items()
                if running.consumer.config.idle_after is not None and not running.consumer.awake
            ]
            if not asleep:
                continue
            try:
                found = await self.broker.holding([running.signature[0] for _, running in asleep])
            except BrokerUnavailable as exc:
                if backoff.current == backoff.initial:
                    log.warning("could not look for async events left behind: %s; trying again", exc)
                await asyncio.sleep(backoff.next())
                self._sweep_soon.set()
                continue
            backoff.reset()
            for index in found:
                label, running = asleep[index]
                if self._running.get(label) is running:
                    log.info("%s: events waiting, reading", label)
                    self._wake(label, running.consumer)

    def consumer(self, key: str) -> Consumer | None:
        """The running consumer of ``async:<function key>`` or of a queue trigger's key."""
        running = self._running.get(key)
        return running.consumer if running else None

    def backlog(self, function_key: str) -> Backlog:
        """Last observed backlog of every stream feeding ``function_key``."""
        ready = in_flight = delayed = 0
        for running in self._running.values():
            if running.consumer.config.function_key == function_key:
                seen = running.consumer.backlog
                ready, delayed = ready + seen.ready, delayed + seen.delayed
                in_flight += max(seen.in_flight, running.consumer.in_flight)
        return Backlog(ready, in_flight, delayed)

    def pending_demand(self, function_key: str) -> int:
        """Events for ``function_key`` waiting or in flight, across all replicas (not per replica:
        every replica reports the same backlog, so do not sum it over replicas)."""
        return self.backlog(function_key).demand

    def demands(self) -> dict[str, int]:
        """The backlog of every target that has any, in one pass over the consumers (the
        autoscaler's tick: a function with nothing queued is not in it). A target is a function
        key, or ``key:qualifier`` for a queue Trigger naming a version or alias; an async stream
        holds events for any of its Function's versions and counts as the Function's."""
        out: dict[str, int] = {}
        for consumer in self._reading.values():
            seen = consumer.backlog
            demand = seen.ready + max(seen.in_flight, consumer.in_flight)
            if demand > 0:
                key = consumer.config.target
                out[key] = out.get(key, 0) + demand
        return out

    def _wanted(self) -> dict[str, Signature]:
        wanted: dict[str, Signature] = {}
        made: dict[str, tuple[Function, Signature]] = {}
        for key, fn in self._functions.items():
            # The same Function object as last time (the registry's, unchanged) gets the same
            # signature object: an update of thousands builds only what changed.
            known = self._async_made.get(key)
            signature = known[1] if known is not None and known[0] is fn else self._async_wanted(key, fn)
            made[key] = (fn, signature)
            wanted[signature[0].label] = signature
        self._async_made = made
        if self._functions:
            wanted[names.CALLBACK_LABEL] = self._callbacks_wanted
        for key, trigger in self._triggers.items():
            queue = trigger.queue
            target = self._functions.get(trigger.function_key)
            if queue is None or target is None:
                continue
            spec = SubscriptionSpec(
                stream=queue.stream,
                group=queue.group,
                dead_letter=queue.dead_letter,
                consumer=self._consumer_name,
                label=key,
            )
            retry = RetryPolicy(
                queue.max_retries, queue.backoff_initial, queue.backoff_max, queue.backoff_multiplier
            )
            config = replace(
                self._config(trigger.function_key, key, target, queue.max_in_flight, queue.batch_size, retry),
                max_event_age=queue.max_event_age,
                routing=self._routing(trigger.namespace, None, queue.on_failure),
                batch_window=queue.batch_window,
                qualifier=trigger.qualifier,
            )
            wanted[key] = (spec, config)
        return wanted

    def _async_wanted(self, key: str, fn: Function) -> Signature:
        """The signature of the consumer of ``fn``'s async stream."""
        settings = self.settings
        label = names.async_label(key)
        spec = SubscriptionSpec(
            stream=names.async_stream(key),
            group=names.ASYNC_GROUP,
            dead_letter=names.async_dead_letter(key),
            consumer=self._consumer_name,
            owned=True,
            label=label,
        )
        controls = fn.spec.async_config
        retry = settings.async_retry
        if controls.max_retries is not None:
            retry = replace(retry, max_retries=controls.max_retries)
        config = replace(
            self._config(key, label, fn, None, 16, retry),
            max_event_age=controls.max_event_age or settings.max_event_age,
            routing=self._routing(fn.namespace, controls.on_success, controls.on_failure),
            idle_after=settings.idle_after,
        )
        return spec, config

    def _routing(
        self, namespace: str, on_success: Destination | None, on_failure: Destination | None
    ) -> OutcomeRouting | None:
        if on_success is None and on_failure is None:
            return None
        return OutcomeRouting(namespace, on_success, on_failure, self.settings.retention)

    def _callback_consumer(self) -> Signature:
        settings = self.settings
        spec = SubscriptionSpec(
            stream=names.CALLBACK_STREAM,
            group=names.CALLBACK_GROUP,
            dead_letter=names.CALLBACK_DEAD_LETTER,
            consumer=self._consumer_name,
            owned=True,
            label=names.CALLBACK_LABEL,
        )
        retry = RetryPolicy(max(0, settings.callback_attempts - 1), settings.callback_backoff, 60.0, 2.0)
        limit = max(1, settings.callback_concurrency)
        label = names.CALLBACK_LABEL
        return spec, ConsumerConfig(label, label, limit, min(16, limit), retry, settings)

    def _config(
        self,
        key: str,
        label: str,
        fn: Function,
        explicit: int | None,
        batch: int,
        retry: RetryPolicy,
    ) -> ConsumerConfig:
        settings = self.settings
        limit = in_flight_limit(
            explicit, fn.spec.concurrency, settings.in_flight_factor, settings.in_flight_cap
        )
        # A call may run for the function's whole timeout: leases are renewed meanwhile, so the
        # visibility timeout only bounds how long a dead consumer's deliveries wait.
        return ConsumerConfig(key, label, limit, min(batch, limit), retry, settings)

    def _reconcile(self) -> None:
        wanted = self._wanted()
        awake = set()  # a changed consumer that was reading goes on reading
        for label in list(self._running):
            if label not in wanted or self._running[label].signature != wanted[label]:
                if self._running[label].consumer.awake:
                    awake.add(label)
                self._stop(label)
        for label, (spec, config) in wanted.items():
            if label in self._running:
                continue
            kind: EventKind
            invoker: Invoker = self._invoker
            if label == names.CALLBACK_LABEL:
                kind, invoker = CallbackEvents(), self._callbacks
            elif spec.owned:
                kind = AsyncEvents(self.settings)
            else:
                kind = QueueEvents(self.settings.max_event_bytes)
            consumer = Consumer(
                self.broker.subscription(spec),
                invoker,
                kind,
                config,
                clock=self._clock,
                appended=self.wake,
                asleep=self._fell_asleep,
            )
            consumer.start()
            self._running[label] = _Running(consumer, (spec, config))
            if config.idle_after is None:
                self._reading[label] = consumer
                log.info("consuming %s for %s", spec.stream, config.function_key)
            else:
                self._sleepers[spec.stream] = label
                if label in awake:
                    self._wake(label, consumer)
                else:
                    self._sweep_soon.set()  # it may have events from before this replica
        if self._sweeper is None and self._sleepers:
            self._sweeper = asyncio.create_task(self._sweep(), name="async sweep")
        self.scheduler.update(t for t in self._triggers.values() if t.function_key in self._functions)

    def _stop(self, label: str) -> None:
        running = self._running.pop(label)
        self._reading.pop(label, None)
        spec = running.signature[0]
        if self._sleepers.get(spec.stream) == label:
            del self._sleepers[spec.stream]
        task = asyncio.create_task(running.consumer.stop())
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    async def close(self, grace: float = 5.0) -> None:
        if self._scheduler_task is not None:
            await cancel_and_wait(self._scheduler_task)
        if self._sweeper is not None:
            await cancel_and_wait(self._sweeper)
        consumers = [running.consumer for running in self._running.values()]
        self._running.clear()
        self._reading.clear()
        self._sleepers.clear()
        await asyncio.gather(*(c.stop(grace) for c in consumers), *self._stopping)
        await self._callbacks.close()
