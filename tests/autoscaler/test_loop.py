"""The loop applying decisions through a Backend, with time injected (no sleeping)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from typing import Any

from tests.support.wait import eventually
from wisp.api.function import parse_function
from wisp.autoscaler.activity import ActivityIndex
from wisp.autoscaler.decider import Observation
from wisp.autoscaler.exchange import LocalExchange, Summaries
from wisp.autoscaler.loop import Autoscaler, Scaled
from wisp.autoscaler.meter import ConcurrencyMeter
from wisp.autoscaler.port import Scaler
from wisp.gateway.static import StaticBackend


def _fn(name: str = "f", **spec: object):  # type: ignore[no-untyped-def]
    return parse_function(
        {
            "metadata": {"name": name},
            "spec": {
                "runtime": "python3.12",
                "handler": "main.handler",
                "code": {"inline": "x"},
                "scale": {"target": 10, "idleTimeout": "30s"},
                **spec,
            },
        }
    )


def autoscaler(backend: Scaler, items: Callable[[], Iterable[Scaled]], **kwargs: Any) -> Autoscaler:
    """An ``Autoscaler`` over ``items``, every one of them woken (as the gateway's registry wakes
    each Function it is told of)."""
    activity = ActivityIndex()
    for item in items():
        activity.wake(item.function.key)

    def lookup(key: str) -> Scaled | None:
        return next((item for item in items() if item.function.key == key), None)

    return Autoscaler(backend, lookup, activity=activity, **kwargs)


class Leader:
    def __init__(self, leader: bool = True) -> None:
        self.is_leader = leader

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class TwoReplicas(LocalExchange):
    """This replica's summaries plus a fixed report from a peer."""

    def __init__(self, peer: Summaries) -> None:
        super().__init__()
        self.peer = peer

    async def collect(self) -> list[Summaries]:
        return [*(await super().collect()), self.peer]


async def _tick(scaler: Autoscaler, wall: float) -> None:
    """One tick and the writes it decided."""
    await scaler.tick(wall)
    await scaler.writes_done()


async def test_scales_with_load_then_to_zero_after_idle() -> None:
    fn = _fn()
    backend = StaticBackend()
    backend.replicas[fn.key] = 1
    meter = ConcurrencyMeter(0.0)
    ready = {"n": 1}
    recorded: dict[str, int] = {}

    def functions() -> Iterable[Scaled]:
        return [Scaled(fn, ready["n"], meter)]

    scaler = autoscaler(
        backend,
        functions,
        election=Leader(),
        record=lambda key, state, value: recorded.__setitem__(state, value),
    )
    wall = 1_000.0
    for _ in range(25):  # 25 calls in flight for 10 s
        meter.started(0.0)
    for second in range(1, 11):
        scaler.sample(float(second), wall + second)
        if second % 2 == 0:
            await _tick(scaler, wall + second)
    assert backend.scale_calls[0] == (fn.key, 3)  # 25 in flight / 10 per pod
    ready["n"] = 3
    for _ in range(25):
        meter.finished(10.5)
    second = 10
    while backend.replicas[fn.key] != 0 and second < 200:
        second += 1
        scaler.sample(float(second), wall + second)
        if second % 2 == 0:
            await _tick(scaler, wall + second)
    assert backend.replicas[fn.key] == 0
    assert second >= 10 + 30  # not before the idle timeout
    assert [r for _, r in backend.scale_calls][-1] == 0
    assert recorded["desired"] == 0
    assert backend.statuses[fn.key].desired_replicas is not None


async def test_only_the_leader_scales_and_it_sums_all_replicas() -> None:
    fn = _fn()
    peer = {fn.key: Observation(stable_concurrency=40, panic_concurrency=40, in_flight=40, last_active=1.0)}
    for leader, expected in ((False, []), (True, [(fn.key, 4)])):
        backend = StaticBackend()
        backend.replicas[fn.key] = 2
        meter = ConcurrencyMeter(0.0)
        scaler = autoscaler(
            backend,
            lambda meter=meter: [Scaled(fn, 2, meter)],
            exchange=TwoReplicas(peer),
            election=Leader(leader),
        )
        scaler.sample(1.0, 1.0)
        await _tick(scaler, 1.0)
        assert backend.scale_calls == expected


async def test_pinned_replicas_are_left_alone_and_queue_demand_counts() -> None:
    pinned = _fn("pinned", replicas=3)
    queued = _fn("queued")
    backend = StaticBackend()
    backend.replicas[pinned.key] = 3
    backend.replicas[queued.key] = 0
    meters = {pinned.key: ConcurrencyMeter(0.0), queued.key: ConcurrencyMeter(0.0)}
    scaler = autoscaler(
        backend,
        lambda: [Scaled(pinned, 3, meters[pinned.key]), Scaled(queued, 0, meters[queued.key])],
        election=Leader(),
    )
    scaler.queue_demand = lambda: {queued.key: 15}
    scaler.sample(1.0, 1.0)
    await _tick(scaler, 1.0)
    assert backend.scale_calls == [(queued.key, 2)]


class FailingOnce(StaticBackend):
    """A backend whose first scale write raises: lost, or taking effect all the same (a timeout)."""

    def __init__(self, lands: bool) -> None:
        super().__init__()
        self.lands = lands
        self.writes: list[int] = []

    async def scale(self, function_key: str, replicas: int) -> None:
        self.writes.append(replicas)
        if len(self.writes) == 1:
            if self.lands:
                self.replicas[function_key] = replicas
            raise RuntimeError("the API server timed out")
        await super().scale(function_key, replicas)


async def _run(scaler: Autoscaler, start: int, seconds: int, wall: float = 1_000.0) -> None:
    for second in range(start, start + seconds):
        scaler.sample(float(second), wall + second)
        await _tick(scaler, wall + second)


async def test_an_outside_scale_of_an_idle_function_returns_to_zero_after_its_idle_timeout() -> None:
    """``kubectl scale`` (or any other writer) on an idle function: the leader corrects it."""
    fn = _fn(scale={"target": 10, "idleTimeout": "5s"})
    backend = StaticBackend()
    backend.replicas[fn.key] = 0
    scaler = autoscaler(backend, lambda: [Scaled(fn, 0, ConcurrencyMeter(0.0))], election=Leader())
    await _run(scaler, 1, 10)
    assert backend.scale_calls == []
    backend.set_replicas(fn.key, 2)  # someone scaled it at second 10
    await _run(scaler, 11, 4)
    assert backend.replicas[fn.key] > 0  # taken as a wake-up: it keeps its idle timeout
    await _run(scaler, 15, 3)
    assert backend.replicas[fn.key] == 0
    assert backend.scale_calls[-1] == (fn.key, 0)


async def test_a_scale_from_zero_by_another_replica_is_seen_and_undone_when_idle() -> None:
    """A follower's activator woke the function after the leader's first look at it."""
    fn = _fn(scale={"target": 10, "idleTimeout": "3s"})
    backend = StaticBackend()
    backend.replicas[fn.key] = 0
    peer = TwoReplicas({fn.key: Observation(last_active=1_001.5)})
    scaler = autoscaler(
        backend, lambda: [Scaled(fn, 1, ConcurrencyMeter(0.0))], exchange=peer, election=Leader()
    )
    await _run(scaler, 1, 1)  # the leader's first look: zero
    backend.set_replicas(fn.key, 1)  # the follower's activator, for its held call
    await _run(scaler, 2, 10)
    assert backend.replicas[fn.key] == 0
    assert backend.scale_calls == [(fn.key, 0)]


async def test_a_failed_scale_write_is_retried_and_one_that_landed_is_not() -> None:
    fn = _fn()
    for lands, writes in ((False, [3, 3]), (True, [3])):
        backend = FailingOnce(lands)
        backend.replicas[fn.key] = 0
        meter = ConcurrencyMeter(0.0)
        for _ in range(25):
            meter.started(0.0)
        scaler = autoscaler(backend, lambda meter=meter: [Scaled(fn, 0, meter)], election=Leader())  # type: ignore[misc]
        await _run(scaler, 1, 3)
        assert backend.writes == writes, lands
        assert backend.replicas[fn.key] == 3


class CountingBackend(StaticBackend):
    """Counts the replica reads the loop makes (the Kubernetes backend's are cached, but each is
    still work done per function per tick)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    async def get_replicas(self, function_key: str) -> int:
        self.reads += 1
        return await super().get_replicas(function_key)


class Fleet:
    """``count`` functions at zero, as the gateway's registry hands them to the loop."""

    def __init__(self, count: int, published: int | None = 0) -> None:
        self.functions = {
            f.key: f for f in (_fn(f"f{i}", scale={"target": 10, "idleTimeout": "5s"}) for i in range(count))
        }
        self.meters = {key: ConcurrencyMeter(0.0) for key in self.functions}
        self.ready = dict.fromkeys(self.functions, 0)
        self.published = published
        self.looked: list[str] = []
        self.backend = CountingBackend()
        self.activity = ActivityIndex()
        for key in self.functions:
            self.backend.replicas[key] = 0
            self.activity.wake(key)  # every Function is woken once when the gateway learns of it
            self.meters[key].on_wake = lambda key=key: self.activity.wake(key)  # type: ignore[misc]

    def lookup(self, key: str) -> Scaled | None:
        self.looked.append(key)
        fn = self.functions.get(key)
        return None if fn is None else Scaled(fn, self.ready[key], self.meters[key], self.published)

    def scaler(self, **kwargs: Any) -> Autoscaler:
        return Autoscaler(self.backend, self.lookup, activity=self.activity, election=Leader(), **kwargs)

    def work(self) -> tuple[int, int, int]:
        """Functions looked up, replica reads and status writes since the last call."""
        done = (len(self.looked), self.backend.reads, len(self.backend.statuses))
        self.looked.clear()
        self.backend.reads = 0
        self.backend.statuses.clear()
        return done


async def test_idle_functions_cost_no_work_per_tick_however_many_there_are() -> None:
    for count in (10, 1_000):
        fleet = Fleet(count)
        scaler = fleet.scaler()
        await _run(scaler, 1, 1)  # the first look at each finds it at zero, idle, published
        assert fleet.work() == (2 * count, count, 0)  # sampled and decided once each
        await _run(scaler, 2, 30)
        assert fleet.work() == (0, 0, 0), count
        assert len(fleet.activity) == 0 and scaler.windows == {} and scaler.tracked == {}
        assert fleet.backend.scale_calls == []


async def test_a_new_idle_function_at_zero_rests_without_a_status_write() -> None:
    fleet = Fleet(50, published=None)  # a status that does not say desiredReplicas yet
    scaler = fleet.scaler()
    await _run(scaler, 1, 1)
    assert fleet.work() == (100, 50, 0)  # looked at once each, nothing written
    assert len(fleet.activity) == 0 and scaler.tracked == {}
    await _run(scaler, 2, 10)
    assert fleet.work() == (0, 0, 0)


async def test_a_new_function_someone_scaled_up_has_its_count_written_when_it_returns_to_zero() -> None:
    fleet = Fleet(1, published=None)
    (key,) = fleet.functions
    fleet.backend.replicas[key] = 2  # scaled before any autoscaler decided for it
    scaler = fleet.scaler()
    second = 1
    while fleet.backend.replicas[key] and second < 60:
        await _run(scaler, second, 1)
        second += 1
    assert fleet.backend.scale_calls[-1] == (key, 0)
    assert fleet.backend.statuses[key].desired_replicas == 0


async def test_a_call_wakes_only_its_function_which_rests_again_after_its_idle_timeout() -> None:
    fleet = Fleet(200)
    scaler = fleet.scaler()
    await _run(scaler, 1, 1)
    fleet.work()
    busy = "f7.default"
    meter = fleet.meters[busy]
    for _ in range(25):
        meter.started(1.5)  # 25 calls held at zero: the meter wakes its function
    assert list(fleet.activity) == [busy]
    await _run(scaler, 2, 2)
    assert fleet.backend.scale_calls == [(busy, 3)]
    assert set(fleet.looked) == {busy}
    fleet.ready[busy] = 3
    for _ in range(25):
        meter.finished(3.5)
    second = 4
    while fleet.backend.replicas[busy] and second < 100:
        await _run(scaler, second, 1)
        second += 1
    assert fleet.backend.scale_calls[-1] == (busy, 0)
    assert busy in fleet.activity  # its pods are still going away
    fleet.ready[busy] = 0
    await _run(scaler, second, 1)
    assert len(fleet.activity) == 0 and meter.dormant
    assert fleet.backend.statuses[busy].desired_replicas == 0
    fleet.work()
    await _run(scaler, second + 1, 20)
    assert fleet.work() == (0, 0, 0)


async def test_replicas_set_elsewhere_a_peers_traffic_and_a_backlog_wake_a_resting_function() -> None:
    fleet = Fleet(20)
    scaled, peer_busy, queued = "f1.default", "f2.default", "f3.default"
    peer = {
        peer_busy: Observation(stable_concurrency=30, panic_concurrency=30, in_flight=30, last_active=1_002.0)
    }
    exchange = TwoReplicas({})
    scaler = fleet.scaler(exchange=exchange)
    await _run(scaler, 1, 1)
    assert len(fleet.activity) == 0
    fleet.work()
    fleet.backend.set_replicas(scaled, 2)  # kubectl scale, or another replica's activator
    exchange.peer = peer
    scaler.queue_demand = lambda: {queued: 15}
    await _run(scaler, 2, 1)
    assert set(fleet.activity) == {scaled, peer_busy, queued}
    assert dict(fleet.backend.scale_calls) == {scaled: 1, peer_busy: 3, queued: 2}  # 2 -> 1 -> ... 0
    assert set(fleet.looked) == {scaled, peer_busy, queued}


async def test_a_deleted_function_leaves_the_index() -> None:
    fleet = Fleet(3)
    scaler = fleet.scaler()
    fleet.meters["f0.default"].started(0.5)
    del fleet.functions["f0.default"]
    await _run(scaler, 1, 2)
    assert len(fleet.activity) == 0 and scaler.windows == {} and scaler.tracked == {}


class HeldWrites(StaticBackend):
    """A backend whose scale writes for ``held`` wait until the test lets them through."""

    def __init__(self, held: str) -> None:
        super().__init__()
        self.held = held
        self.release = asyncio.Event()

    async def scale(self, function_key: str, replicas: int) -> None:
        if function_key == self.held:
            self.scale_calls.append((function_key, replicas))  # asked for, not yet answered
            await self.release.wait()
            self.replicas[function_key] = replicas
            return
        await super().scale(function_key, replicas)


async def test_a_slow_write_holds_back_neither_the_tick_nor_other_functions_and_is_not_repeated() -> None:
    slow, fast = _fn("slow"), _fn("fast")
    backend = HeldWrites(slow.key)
    meters = {fn.key: ConcurrencyMeter(0.0) for fn in (slow, fast)}
    for meter in meters.values():
        for _ in range(25):
            meter.started(0.0)
    backend.replicas.update({slow.key: 0, fast.key: 0})
    scaler = autoscaler(
        backend, lambda: [Scaled(fn, 0, meters[fn.key]) for fn in (slow, fast)], election=Leader()
    )
    scaler.sample(1.0, 1_001.0)
    async with asyncio.timeout(10):  # a tick that waits for the write fails here, not hangs
        await scaler.tick(1_001.0)  # returns with the slow write still unanswered
    await eventually(lambda: backend.replicas[fast.key] == 3, what="the other function's write")
    for second in (2, 3):
        scaler.sample(float(second), 1_000.0 + second)
        await scaler.tick(1_000.0 + second)
    assert backend.scale_calls.count((slow.key, 3)) == 1  # not decided again while under way
    assert backend.replicas[slow.key] == 0
    backend.release.set()
    await scaler.writes_done()
    assert backend.replicas[slow.key] == 3
