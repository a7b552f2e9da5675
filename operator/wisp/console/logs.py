"""Function log lines: parsing the runtime's JSON lines, merging pods, filtering by request id,
and ``LogBook``, the in-memory tail that ``wisp dev`` fills from its local processes.

Runtimes write one JSON object per line (``{"time", "level", "requestId", "function",
"message"}``, docs/runtime-contract.md), or in the Text format (docs/logging.md) tab-separated
time, request id, level and message; anything else (a custom image's plain text) is kept as an
INFO line without a request id.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from wisp.api.logconfig import LEVEL_VALUES
from wisp.api.names import function_key
from wisp.console.source import LogLine

BOOK_LINES = 2000  # per function


def parse_line(raw: str, pod: str, fallback_time: str = "") -> LogLine:
    text = raw.rstrip("\r\n")
    stamp = fallback_time
    if text[:4].isdigit() and " " in text[:40]:  # "2024-...Z {json}" from the API's timestamps=true
        head, _, rest = text.partition(" ")
        if head.endswith("Z") and "T" in head:
            stamp, text = head, rest
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            record = None
        if isinstance(record, dict):
            return LogLine(
                time=str(record.get("time") or stamp),
                pod=pod,
                level=str(record.get("level") or "INFO"),
                request_id=str(record.get("requestId") or ""),
                message=str(record.get("message", text)),
            )
    fields = text.split("\t", 3)
    if len(fields) == 4 and fields[0][:1].isdigit() and fields[2].upper() in LEVEL_VALUES:
        # spec.logging.format Text: time, request id, level, message (docs/logging.md).
        return LogLine(time=fields[0], pod=pod, level=fields[2], request_id=fields[1], message=fields[3])
    return LogLine(time=stamp, pod=pod, level="INFO", request_id="", message=text)


def _function_field(raw: str) -> str:
    if '"function"' not in raw:
        return ""
    try:
        record = json.loads(raw)
    except ValueError:
        return ""
    return str(record.get("function") or "") if isinstance(record, dict) else ""


def select(lines: Iterable[LogLine], request_id: str, tail: int) -> list[LogLine]:
    """Lines in time order (stable for equal times), one call's only if ``request_id`` is set."""
    chosen = [line for line in lines if not request_id or line.request_id == request_id]
    chosen.sort(key=lambda line: line.time)
    return chosen[-tail:] if tail > 0 else chosen


def now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LogBook:
    """The last lines of every function's processes, by function key (``name.namespace``).

    ``sink(key, pod)`` is a line callback for ``wisp.launcher.LaunchSpec.log_sink``; it may be
    called from any thread.
    """

    def __init__(self, lines_per_function: int = BOOK_LINES) -> None:
        self._lines: dict[str, deque[LogLine]] = {}
        self._size = lines_per_function
        self._lock = threading.Lock()

    def sink(self, function_key: str, pod: str) -> Callable[[str], None]:
        def write(raw: str) -> None:
            self.add(function_key, parse_line(raw, pod, now_iso()))

        return write

    def replica_sink(self, namespace: str) -> Callable[[str, str], None]:
        """A ``(replica name, line)`` callback (``wisp dev``'s ``LocalBackend(on_line=...)``).

        The function comes from the line's ``function`` field (every wisp runtime writes it),
        else from the replica's name (``<function>-<n>``).
        """

        def write(replica: str, raw: str) -> None:
            line = parse_line(raw, replica, now_iso())
            name = _function_field(raw) or replica.rsplit("-", 1)[0]
            self.add(function_key(name, namespace), line)

        return write

    def add(self, function_key: str, line: LogLine) -> None:
        with self._lock:
            book = self._lines.get(function_key)
            if book is None:
                book = self._lines[function_key] = deque(maxlen=self._size)
            book.append(line)

    def lines(self, function_key: str) -> list[LogLine]:
        with self._lock:
            return list(self._lines.get(function_key, ()))

    def forget(self, function_key: str) -> None:
        with self._lock:
            self._lines.pop(function_key, None)
