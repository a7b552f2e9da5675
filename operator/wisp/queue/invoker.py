"""How the event path calls a function: the ``Invoker`` seam and a direct-HTTP implementation.

Consumers never talk to pods themselves. In the gateway, ``Invoker`` is the gateway's own
``invoke`` (balancing, concurrency, scale-from-zero) adapted to this protocol; ``HttpInvoker``
POSTs straight to a runtime's URL, which is what the standalone worker and the tests use.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp


@dataclass(frozen=True)
class InvocationResult:
    """One call's answer. ``throttled``: the function (or gateway) refused for capacity (429);
    ``cold_start``: the call waited for a replica to start; ``cold_start_pending``: it gave up
    waiting for one (neither counts as a failed attempt)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    duration: float = 0.0
    throttled: bool = False
    cold_start: bool = False
    cold_start_pending: bool = False
    error: str | None = None
    version: str = ""  # the version that ran ($LATEST or a number), when the invoker knows it

    @property
    def succeeded(self) -> bool:
        return 200 <= self.status < 300

    def describe_error(self) -> str:
        """A short, human-readable reason for a failed call (dead-letter entries, records)."""
        if self.error:
            return self.error
        text = self.body[:512].decode("utf-8", "replace")
        return f"HTTP {self.status}: {text}" if text else f"HTTP {self.status}"


class Invoker(Protocol):
    """Calls ``target``: a function key, or ``key:qualifier`` for a version or alias
    (``wisp.queue.names.qualified_target``); the callbacks consumer's invoker takes a URL."""

    async def __call__(self, target: str, body: bytes, headers: Mapping[str, str], /) -> InvocationResult: ...


class HttpInvoker:
    """Calls runtimes directly: ``urls`` maps a function key (``name.namespace``) to a base URL."""

    def __init__(self, urls: Mapping[str, str], *, timeout: float = 900.0) -> None:
        self._urls = dict(urls)
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __call__(self, function_key: str, body: bytes, headers: Mapping[str, str]) -> InvocationResult:
        url = self._urls.get(function_key)
        if url is None:
            return InvocationResult(status=404, error=f"function {function_key} has no endpoint")
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(limit=0)
            )
        started = time.perf_counter()
        try:
            async with self._session.post(url, data=body, headers=dict(headers)) as response:
                payload = await response.read()
                answered = dict(response.headers)
                status = response.status
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return InvocationResult(
                status=502,
                duration=time.perf_counter() - started,
                error=f"cannot reach {function_key}: {exc.__class__.__name__}: {exc}",
            )
        return InvocationResult(
            status=status,
            headers=answered,
            body=payload,
            duration=time.perf_counter() - started,
            throttled=status == 429,
        )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
