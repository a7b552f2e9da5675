"""The activator's bookkeeping for one function: held calls and the single scale-up of a burst.

Pure (takes ``now``): the asyncio side (``activator``) asks ``admit()`` before holding a call and
``should_scale_up(now)`` before asking the backend for a replica; only the first cold call of a
burst gets True, so a burst makes exactly one scale-up (singleflight). If no endpoint appeared
``RESCALE_AFTER`` seconds later (the autoscaler's leader scaled back to zero in between, or the
write failed), the next cold call asks again.
"""

from __future__ import annotations

from dataclasses import dataclass

RESCALE_AFTER = 10.0


@dataclass
class ColdStart:
    max_held: int
    held: int = 0
    scale_requested_at: float | None = None

    def admit(self) -> bool:
        """Whether one more call may be held; counts it if so (pair with ``leave``)."""
        if self.held >= self.max_held:
            return False
        self.held += 1
        return True

    def leave(self) -> None:
        self.held -= 1

    def should_scale_up(self, now: float) -> bool:
        """True for the call that must ask for a replica; False while a request is pending."""
        pending = self.scale_requested_at
        if pending is not None and now - pending < RESCALE_AFTER:
            return False
        self.scale_requested_at = now
        return True

    def endpoints_ready(self) -> None:
        self.scale_requested_at = None

    def scale_failed(self) -> None:
        self.scale_requested_at = None
