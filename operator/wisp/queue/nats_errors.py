"""NATS failures as ``BrokerUnavailable``: no connection, no answer in time, no JetStream quorum."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import nats.errors
import nats.js.errors

from wisp.queue.broker import BrokerUnavailable

# Errors that mean "not now": no connection, no answer in time, no JetStream quorum.
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionDrainingError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.StaleConnectionError,
    nats.errors.NoServersError,
    nats.js.errors.ServiceUnavailableError,
    nats.js.errors.NoStreamResponseError,
    asyncio.TimeoutError,
    OSError,
)


@asynccontextmanager
async def unavailable_as_broker_error() -> AsyncIterator[None]:
    try:
        yield
    except _UNAVAILABLE as exc:
        raise BrokerUnavailable(f"nats: {exc.__class__.__name__}: {exc}") from exc
    except nats.js.errors.APIError as exc:
        # 503 (no quorum, no JetStream) and 500 (a cluster electing a leader) pass; others are bugs.
        if exc.code in (500, 503) or exc.err_code in (10008, 10023):
            raise BrokerUnavailable(f"nats: {exc}") from exc
        raise


# JetStream's answer to deleting a sequence that is gone (deleted already, or never there).
SEQUENCE_NOT_FOUND = 10043
# A replicated stream answers the same as a failed delete (500) whose description is the store's
# "no message found": a settlement repeated after a failover deletes an entry deleted already.
MESSAGE_DELETE_FAILED = 10057


def deleted_already(error: Mapping[str, object]) -> bool:
    """Whether a message delete's ``error`` only says the message is gone."""
    return error.get("err_code") == MESSAGE_DELETE_FAILED and "no message found" in str(
        error.get("description")
    )


def is_gone(exc: nats.js.errors.APIError) -> bool:
    return isinstance(exc, nats.js.errors.NotFoundError) or exc.err_code == SEQUENCE_NOT_FOUND
