"""Which functions the autoscaler looks at: the active ones, so an idle function costs nothing.

A Function at zero with no calls needs no sample, no decision and no status write, tick after
tick. ``ActivityIndex`` holds the keys that do. Whatever can make a function need attention
wakes it: its meter on the first call after a quiet spell (``ConcurrencyMeter``), the gateway's
registry when a Function appears or its spec changes or it gains endpoints, the backend when its
workload is set above zero replicas (``ReplicaEvents``: ``kubectl scale``, another replica's
activator, the operator), a peer replica's report of traffic and the queue's backlog. The loop
settles a function again once it is at zero, idle and published as such (``Autoscaler``), so the
work per tick grows with the functions in use, never with the functions that exist.
"""

from __future__ import annotations

from collections.abc import Iterator


class ActivityIndex:
    """A set of function keys (``name.namespace``) with the two verbs the loop and its wakers use."""

    __slots__ = ("_active",)

    def __init__(self) -> None:
        self._active: set[str] = set()

    def wake(self, key: str) -> None:
        self._active.add(key)

    def settle(self, key: str) -> None:
        self._active.discard(key)

    def __contains__(self, key: object) -> bool:
        return key in self._active

    def __iter__(self) -> Iterator[str]:
        """A copy: the loop settles and wakers wake while it goes through them."""
        return iter(list(self._active))

    def __len__(self) -> int:
        return len(self._active)
