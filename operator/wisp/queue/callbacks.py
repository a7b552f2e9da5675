"""POSTs an async invocation's final record to the caller's ``X-Callback-Url``.

Called before the delivery is acknowledged, so a consumer crash re-runs the call and the
callback (at-least-once, like the invocation itself). A callback endpoint that keeps failing
does not fail the invocation: after ``attempts`` tries the record still says what happened.

Callbacks go through ``wisp.security.ssrf``: loopback, link-local, private and cluster-internal
destinations are refused unless ``WISP_CALLBACK_ALLOW`` permits them, DNS answers are checked
and pinned, and redirects are not followed.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import Mapping
from typing import Any

import aiohttp

from wisp.security.ssrf import CallbackPolicy, CallbackRefused, guarded_session

log = logging.getLogger(__name__)


class CallbackSender:
    def __init__(
        self,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        first_delay: float = 0.5,
        policy: CallbackPolicy | None = None,
    ) -> None:
        self._timeout = timeout
        self.policy = policy if policy is not None else callback_policy_from_env()
        self._attempts = attempts
        self._first_delay = first_delay
        self._session: aiohttp.ClientSession | None = None

    async def send(self, url: str, record: Mapping[str, Any], headers: Mapping[str, str]) -> bool:
        """True once the endpoint answered 2xx."""
        if self._session is None:
            self._session = guarded_session(self.policy, timeout=self._timeout)
        body = json.dumps(dict(record)).encode()
        sent = {"Content-Type": "application/json", **headers}
        delay = self._first_delay
        for attempt in range(1, self._attempts + 1):
            try:
                async with self._session.post(
                    url, data=body, headers=sent, allow_redirects=False
                ) as response:
                    if 200 <= response.status < 300:
                        return True
                    problem = f"HTTP {response.status}"
            except CallbackRefused as exc:
                log.warning("callback %s refused: %s", url, exc)
                return False
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                problem = f"{exc.__class__.__name__}: {exc}"
            log.warning("callback %s failed (attempt %d): %s", url, attempt, problem)
            if attempt < self._attempts:
                await asyncio.sleep(delay)
                delay *= 2
        return False

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def callback_policy_from_env() -> CallbackPolicy:
    """What ``WISP_CALLBACK_ALLOW`` lets callbacks reach despite the guard."""
    return CallbackPolicy.parse(os.environ.get("WISP_CALLBACK_ALLOW"))
