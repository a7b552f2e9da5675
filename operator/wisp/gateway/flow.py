"""Write flow control for the gateway's own protocols (the caller's connection on the fast
path, the pod's in ``connections``): asyncio's ``pause_writing``/``resume_writing`` turned into
an awaitable ``drain``, as asyncio's ``FlowControlMixin`` does for its streams."""

from __future__ import annotations

import asyncio


class WriteFlow:
    """For an ``asyncio.Protocol`` with ``loop`` and ``transport``; ``gone()`` is the error a
    wait ends with once the connection is closed."""

    loop: asyncio.AbstractEventLoop
    transport: asyncio.Transport | None
    _writing_paused = False
    _drain: asyncio.Future[None] | None = None

    def gone(self) -> Exception:
        raise NotImplementedError

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_result(None)

    async def drain(self) -> None:
        """Wait until the socket takes more (at once unless its buffer is full)."""
        if not self._writing_paused:
            return
        if self.transport is None:
            raise self.gone()
        self._drain = self.loop.create_future()
        try:
            await self._drain
        finally:
            self._drain = None

    def end_drain(self) -> None:
        """The connection is lost: a wait for it ends with ``gone()``."""
        drain = self._drain
        if drain is not None and not drain.done():
            drain.set_exception(self.gone())
