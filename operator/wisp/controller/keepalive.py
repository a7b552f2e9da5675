"""The peering keep-alive: each replica renews its peering record three times a lifetime.

kopf renews an operator's record only 5-10 s before it expires (its own ``keepalive``). During a
bulk apply of thousands of Functions the API server answers with 429s and refused connections,
and a renewal retried with backoff lands later than that: the standby replica takes the active
one for dead and resumes, both reconcile everything at once on an API server already behind, and
on the real node (10,000 Functions from one apply, 2 cores) both grew past their memory limit
and were killed. Renewing every third of the lifetime leaves two thirds of it for a renewal to
land; a replica that is really gone still hands over after one lifetime.

``install`` puts this keep-alive in kopf's place before ``kopf.run`` (kopf's orchestration calls
``peering.keepalive`` by name); it is kopf's own, renewal interval aside.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, NoReturn

from kopf._core.engines import peering

log = logging.getLogger(__name__)

RENEWALS_PER_LIFETIME = 3


def renewal_interval(lifetime: int, jitter: float) -> float:
    """Seconds between two renewals of a record that lives ``lifetime`` seconds: a third of it,
    less up to a tenth of it by ``jitter`` (0 to 1) so that replicas' renewals spread out."""
    return max(1.0, lifetime / RENEWALS_PER_LIFETIME - jitter * lifetime / 10)


async def keepalive(*, namespace: Any, resource: Any, identity: Any, settings: Any) -> NoReturn:
    try:
        while True:
            await peering.touch(identity=identity, settings=settings, resource=resource, namespace=namespace)
            await asyncio.sleep(renewal_interval(settings.peering.lifetime, random.random()))
    finally:
        try:  # gone from the peering at once: the standby resumes without waiting a lifetime
            await asyncio.shield(
                peering.touch(
                    identity=identity, settings=settings, resource=resource, namespace=namespace, lifetime=0
                )
            )
        except asyncio.CancelledError:
            pass
        except Exception:
            log.exception("could not remove this replica from the peering")


def install() -> None:
    peering.keepalive = keepalive
