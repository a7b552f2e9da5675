"""Dead letters for operators: list, show, redrive and purge, per Function or queue Trigger.

Each Function's async invocations dead-letter to ``wisp:async:<namespace>:<name>:dead`` and each
queue Trigger to its ``deadLetter`` stream. ``DeadLetters`` reads them through the ``Broker``
(``dead_letters``, ``redrive``, ``purge``) for the admin API (``wisp.queue.admin``), which the
``wisp dlq`` command and the console call. A redrive moves an entry back to the subscription that
gave up on it (its private retry stream: other consumer groups of a user's stream never see it
again), with its original id, attempt 1 and its age counted from the redrive; an async
invocation's record says ``queued`` again and counts the redrive.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from wisp.api.function import Function
from wisp.api.trigger import Trigger
from wisp.queue import names
from wisp.queue.broker import Broker, DeadLetter, RecordUpdate
from wisp.queue.invocations import rfc3339_ms
from wisp.queue.settings import DeliverySettings

PAGE = 500
MOST = 10_000  # entries one redrive or purge of "all" touches; run it again for more

Sources = Callable[[], tuple[Mapping[str, Function], Mapping[str, Trigger]]]


class SourceKind(enum.Enum):
    FUNCTION = "functions"
    TRIGGER = "triggers"


@dataclass(frozen=True)
class Source:
    kind: SourceKind
    key: str  # name.namespace
    stream: str

    @property
    def namespace(self) -> str:
        return self.key.rpartition(".")[2]  # a namespace is a DNS label: no dots

    def describe(self) -> dict[str, str]:
        return {
            "kind": self.kind.value.rstrip("s"),
            "name": self.key,
            "namespace": self.namespace,
            "stream": self.stream,
        }


def _text(value: bytes | None) -> str:
    return "" if value is None else value.decode("utf-8", "replace")


def entry_document(entry: DeadLetter) -> dict[str, Any]:
    """A dead letter as the admin API shows it: why and when it failed, and the event."""
    fields = entry.fields
    failed_at = _text(fields.get("wisp.failed-at"))
    doc: dict[str, Any] = {
        "id": entry.entry_id,
        "originalId": _text(fields.get("wisp.id")),
        "stream": _text(fields.get("wisp.stream")),
        "reason": _text(fields.get("wisp.reason")),
        "error": _text(fields.get("wisp.error")),
        "attempts": int(_text(fields.get("wisp.attempts")) or 0),
        "failedAt": rfc3339_ms(int(failed_at)) if failed_at.isdigit() else "",
        "redrives": int(_text(fields.get("wisp.redrives")) or 0),
        "subscription": _text(fields.get("wisp.subscription")),
    }
    if "invocation" in fields:  # an async invocation: its id and body
        doc["invocationId"] = _text(fields["invocation"])
        doc["body"] = _text(fields.get("body"))
    else:
        doc["message"] = {k: _text(v) for k, v in fields.items() if not k.startswith("wisp.")}
    return doc


class DeadLetters:
    def __init__(
        self,
        broker: Broker,
        settings: DeliverySettings,
        sources: Sources,
        *,
        clock: Callable[[], float] = time.time,
        redriven: Callable[[str], None] | None = None,
    ) -> None:
        """``redriven`` is told the async stream a redrive put events back on."""
        self._broker = broker
        self._settings = settings
        self._sources = sources
        self._clock = clock
        self._redriven = redriven

    def sources(self) -> list[Source]:
        functions, triggers = self._sources()
        found = [Source(SourceKind.FUNCTION, key, names.async_dead_letter(key)) for key in sorted(functions)]
        for key in sorted(triggers):
            queue = triggers[key].queue
            if queue is not None:
                found.append(Source(SourceKind.TRIGGER, key, queue.dead_letter))
        return found

    def source(self, kind: SourceKind, key: str) -> Source | None:
        return next((s for s in self.sources() if s.kind is kind and s.key == key), None)

    async def summary(self) -> list[dict[str, Any]]:
        """Every source with how many dead letters it holds."""
        rows = []
        for source in self.sources():
            rows.append({**source.describe(), "count": await self._broker.count_dead_letters(source.stream)})
        return rows

    async def entries(
        self, source: Source, *, after: str = "-", count: int = 100, reason: str | None = None
    ) -> list[dict[str, Any]]:
        entries = await self._broker.dead_letters(source.stream, after=after, count=count)
        return [entry_document(e) for e in entries if reason is None or _reason(e) == reason]

    async def show(self, source: Source, entry_id: str) -> dict[str, Any] | None:
        entries = await self._broker.dead_letters(source.stream, after=_before(entry_id), count=1)
        if not entries or entries[0].entry_id != entry_id:
            return None
        return entry_document(entries[0])

    async def select(self, source: Source, ids: list[str] | None, reason: str | None) -> list[DeadLetter]:
        """The entries named by ``ids`` (None: all), narrowed to ``reason`` if given."""
        entries = await self._all(source)
        if ids is not None:
            wanted = set(ids)
            entries = [e for e in entries if e.entry_id in wanted]
        return [e for e in entries if reason is None or _reason(e) == reason]

    async def redrive(self, source: Source, ids: list[str] | None, reason: str | None = None) -> list[str]:
        """Redrive the selected entries; returns the dead-letter ids moved back."""
        entries = await self.select(source, ids, reason)
        now = self._clock()
        moved = []
        for entry in entries:
            records = {}
            invocation = entry.fields.get("invocation")
            if invocation is not None:  # an async invocation: its record says queued again
                redrives = int(_text(entry.fields.get("wisp.redrives")) or 0) + 1
                fields = {
                    "status": "queued",
                    "error": "",
                    "reason": "",
                    "redrives": str(redrives),
                    "redrivenAt": rfc3339_ms(int(now * 1000)),
                }
                records[entry.entry_id] = RecordUpdate(_text(invocation), fields, self._settings.retention)
            if await self._broker.redrive(source.stream, [entry.entry_id], now=now, records=records):
                moved.append(entry.entry_id)
        if moved and source.kind is SourceKind.FUNCTION and self._redriven is not None:
            self._redriven(names.async_stream(source.key))
        return moved

    async def purge(self, source: Source, ids: list[str] | None, reason: str | None = None) -> int:
        entries = await self.select(source, ids, reason)
        return await self._broker.purge(source.stream, [e.entry_id for e in entries])

    async def _all(self, source: Source) -> list[DeadLetter]:
        entries: list[DeadLetter] = []
        after = "-"
        while len(entries) < MOST:
            page = await self._broker.dead_letters(source.stream, after=after, count=PAGE)
            entries += page
            if len(page) < PAGE:
                break
            after = page[-1].entry_id
        return entries[:MOST]


def _reason(entry: DeadLetter) -> str:
    return _text(entry.fields.get("wisp.reason"))


def _before(entry_id: str) -> str:
    """The id just before ``entry_id`` (``after`` is exclusive), or ``-``."""
    ms, _, seq = entry_id.partition("-")
    if not ms.isdigit() or not (seq or "0").isdigit():
        return "-"
    if seq and int(seq) > 0:
        return f"{ms}-{int(seq) - 1}"
    return f"{int(ms) - 1}-18446744073709551615" if int(ms) > 0 else "-"
