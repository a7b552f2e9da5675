"""Endpoint pool bookkeeping: least in flight, per-pod caps, FIFO waiters, failed endpoints."""

from __future__ import annotations

from wisp.gateway.backend import Endpoint
from wisp.gateway.pool import FAILED_HOLD, FIRST_CALL_HOLD, FULL_HOLD, EndpointPool

A = Endpoint("10.0.0.1", 8080, "a")
B = Endpoint("10.0.0.2", 8080, "b")
WARM = Endpoint("10.0.0.9", 8080, "wisp-pool-python-x", pool=True)


def test_least_in_flight_and_capacity() -> None:
    pool: EndpointPool[str] = EndpointPool(capacity=2)
    pool.set_endpoints([A, B], now=0)
    picks = [pool.try_acquire() for _ in range(4)]
    assert [p.endpoint.name for p in picks if p] in (["a", "b", "a", "b"], ["a", "b", "b", "a"])
    assert pool.try_acquire() is None  # both at capacity
    assert pool.in_flight == 4


def test_release_hands_capacity_to_the_first_waiter() -> None:
    pool: EndpointPool[str] = EndpointPool(capacity=1)
    pool.set_endpoints([A], now=0)
    slot = pool.try_acquire()
    assert slot is not None
    pool.enqueue("first")
    pool.enqueue("second")
    grants = pool.release(slot)
    assert grants == [("first", slot)]
    assert slot.in_flight == 1
    assert list(pool.waiters) == ["second"]


def test_new_endpoints_wake_waiters_up_to_capacity() -> None:
    pool: EndpointPool[str] = EndpointPool(capacity=2)
    for name in "wxyz":
        pool.enqueue(name)
    assert not pool.has_endpoints
    grants = pool.set_endpoints([A], now=0)
    assert [w for w, _ in grants] == ["w", "x"]
    assert list(pool.waiters) == ["y", "z"]
    assert [w for w, _ in pool.set_capacity(3)] == ["y"]


def test_failed_endpoint_leaves_rotation_until_ready_again() -> None:
    pool: EndpointPool[str] = EndpointPool(capacity=10)
    pool.set_endpoints([A, B], now=0)
    slot_a = pool.slots[A.address]
    pool.mark_failed(slot_a, now=1.0)
    assert all(pool.try_acquire().endpoint == B for _ in range(3))  # type: ignore[union-attr]
    pool.set_endpoints([A, B], now=1.5)  # re-delivered too soon: still out
    assert not slot_a.healthy
    pool.set_endpoints([B], now=1.6)  # gone from the ready set...
    pool.set_endpoints([A, B], now=1.7)  # ...and back: it was re-probed ready
    assert pool.slots[A.address].healthy
    pool.mark_failed(pool.slots[A.address], now=2.0)
    pool.set_endpoints([A, B], now=2.0 + FAILED_HOLD)
    assert pool.slots[A.address].healthy


def test_removed_endpoint_finishes_its_calls_but_gets_no_more() -> None:
    pool: EndpointPool[str] = EndpointPool(capacity=1)
    pool.set_endpoints([A], now=0)
    slot = pool.try_acquire()
    assert slot is not None
    pool.enqueue("w")
    pool.set_endpoints([], now=1)
    assert pool.release(slot) == []  # not handed on: A is gone
    assert list(pool.waiters) == ["w"]
    pool.discard("w")
    assert pool.drain_waiters() == []


def test_failed_endpoint_still_in_the_set_is_revived_after_the_hold() -> None:
    pool: EndpointPool[str] = EndpointPool(capacity=10)
    pool.set_endpoints([A], now=0)
    slot = pool.try_acquire()
    assert slot is not None
    pool.mark_failed(slot, now=1.0)
    pool.release(slot)
    pool.enqueue("held")
    assert not pool.has_endpoints
    assert pool.revive(now=1.0 + FAILED_HOLD / 2) == []
    assert pool.revive(now=1.0 + FAILED_HOLD) == [("held", slot)]
    assert pool.has_endpoints


def test_a_pod_that_refused_a_call_takes_only_our_calls_until_the_hold_passes() -> None:
    pool: EndpointPool[str] = EndpointPool(capacity=4)
    pool.set_endpoints([A], now=0)
    slots = [pool.try_acquire() for _ in range(3)]
    refused = slots[2]
    assert refused is not None
    pool.mark_full(refused, now=10)  # others' calls filled it: ours are all it takes
    pool.enqueue("held")
    assert pool.release(refused) == []
    assert pool.try_acquire() is None
    first = slots[0]
    assert first is not None
    assert pool.release(first) == [("held", first)]  # one of ours ended: its place is taken
    assert pool.try_acquire() is None
    assert pool.restore(now=10 + FULL_HOLD / 2) == []
    assert pool.try_acquire() is None
    assert pool.restore(now=10 + FULL_HOLD) == []
    assert pool.try_acquire() is first  # full capacity again


def _four_held() -> EndpointPool[str]:
    """A function at zero with concurrency 4 and four held calls, w to z."""
    pool: EndpointPool[str] = EndpointPool(capacity=4)
    for name in "wxyz":
        pool.enqueue(name)
    return pool


def test_a_fresh_pool_pod_takes_one_call_until_it_has_answered_it() -> None:
    """The held calls of a burst reach a runtime whose code never ran one at a time at first,
    so the first answer does not wait on reading all the others."""
    pool = _four_held()
    grants = pool.set_endpoints([WARM], now=0)
    assert [w for w, _ in grants] == ["w"]
    assert pool.starting and pool.try_acquire() is None
    (slot,) = {s for _, s in grants}
    assert [w for w, _ in pool.release(slot)] == ["x", "y", "z"]  # answered: its whole capacity
    assert not pool.starting


def test_a_fresh_pool_pods_slow_first_call_holds_the_others_back_for_the_hold_at_most() -> None:
    pool = _four_held()
    assert len(pool.set_endpoints([WARM], now=10)) == 1
    assert pool.restore(now=10 + FIRST_CALL_HOLD / 2) == []
    assert [w for w, _ in pool.restore(now=10 + FIRST_CALL_HOLD)] == ["x", "y", "z"]
    assert not pool.starting


def test_a_function_pod_takes_its_whole_capacity_at_once() -> None:
    pool = _four_held()
    assert len(pool.set_endpoints([A], now=0)) == 4
    assert not pool.starting
