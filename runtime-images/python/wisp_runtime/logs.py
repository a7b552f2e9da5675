"""Structured logs: one JSON object (or, in the Text format, one tab-separated line) per line on
stdout, tagged with the current request id, below the Function's levels dropped.

The runtime's own lines, the handler's ``print`` output (``sys.stdout``/``sys.stderr`` are
replaced by line-buffering streams) and records of the ``logging`` module all go through one
``LogWriter`` that writes whole lines to file descriptor 1. Which request a line belongs to
comes from a context variable set per invocation; sync handlers run in a worker thread inside a
copy of the request's context, so ``print`` there is tagged too.
"""

from __future__ import annotations

import base64
import contextlib
import contextvars
import json
import logging
import os
import sys
import threading
import time
from collections.abc import Mapping
from typing import Any, TextIO


class RequestScope:
    """What log lines of one invocation share; ``pending`` holds unfinished print output."""

    __slots__ = ("pending", "request_id", "tail")

    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.pending: dict[str, str] = {}
        # The call's log lines, kept when its caller asked for them (X-Wisp-Log-Tail).
        self.tail: list[str] | None = None


current_scope: contextvars.ContextVar[RequestScope | None] = contextvars.ContextVar(
    "wisp_request_scope", default=None
)


TAIL_BYTES = 4096


def tail_header(lines: list[str]) -> str:
    """The X-Wisp-Log-Tail answer: base64 of the last 4 KB of a call's log lines (Lambda's
    ``LogResult``)."""
    text = "\n".join(lines).encode("utf-8", "replace")
    return base64.b64encode(text[-TAIL_BYTES:]).decode("ascii")


def _timestamp(now: float) -> str:
    whole = int(now)
    millis = int((now - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


# Lambda's level names and Python's, on one scale (Python's numbers; TRACE below DEBUG).
LEVELS = {
    "TRACE": 5,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "CRITICAL": logging.CRITICAL,
}


class LogSettings:
    """How lines are written and which are dropped (``spec.logging``, docs/logging.md)."""

    __slots__ = ("application_level", "system_level", "text")

    def __init__(self, *, text: bool = False, application_level: int = 0, system_level: int = 0) -> None:
        self.text = text
        self.application_level = application_level
        self.system_level = system_level


class LogWriter:
    """Writes log lines to a file descriptor, whole lines at a time, from any thread.

    ``log`` writes the runtime's own records (dropped below the system level), ``app`` the
    handler's (dropped below the application level). A record with an ``event`` field is a
    control line for the launcher (``wisp.runtime.listening``): always written, always JSON.
    """

    def __init__(self, function_name: str, fd: int = 1, settings: LogSettings | None = None) -> None:
        self.function = function_name  # a generic runtime's is set when it is specialised
        self._fd = fd
        self._lock = threading.Lock()
        self.settings = settings or LogSettings()

    def log(self, level: str, message: str, *, request_id: str | None = None, **fields: Any) -> None:
        if "event" not in fields and LEVELS.get(level, logging.INFO) < self.settings.system_level:
            return
        self._write(level, message, request_id, fields)

    def app(self, level: str, message: str, *, request_id: str | None = None, **fields: Any) -> None:
        if LEVELS.get(level, logging.INFO) < self.settings.application_level:
            return
        self._write(level, message, request_id, fields)

    def _write(self, level: str, message: str, request_id: str | None, fields: dict[str, Any]) -> None:
        if request_id is None:
            scope = current_scope.get()
            request_id = scope.request_id if scope is not None else None
        now = _timestamp(time.time())
        if self.settings.text and "event" not in fields:
            line = text_line(now, level, request_id, message, fields)
        else:
            record: dict[str, Any] = {"time": now, "level": level}
            if request_id is not None:
                record["requestId"] = request_id
            record["function"] = self.function
            record["message"] = message
            record.update(fields)
            line = json.dumps(record, ensure_ascii=False, default=str)
        scope = current_scope.get()
        if scope is not None and scope.tail is not None and scope.request_id == request_id:
            scope.tail.append(line)
        self.write_line(line)

    def write_line(self, line: str) -> None:
        data = (line + "\n").encode("utf-8", "replace")
        with self._lock:
            view = memoryview(data)
            while view:
                try:
                    written = os.write(self._fd, view)
                except InterruptedError:
                    continue
                except OSError:
                    return  # stdout is gone (closed pipe): nothing useful left to do
                view = view[written:]


def text_line(now: str, level: str, request_id: str | None, message: str, fields: dict[str, Any]) -> str:
    """A Text-format line: time, request id, level and message, tab-separated as Lambda's;
    other fields follow as ``key=value``, a stack trace on the lines after."""
    extra = " ".join(f"{k}={v}" for k, v in fields.items() if k not in ("stackTrace", "stream"))
    line = f"{now}\t{request_id or ''}\t{level}\t{message}"
    if extra:
        line += f"\t{extra}"
    trace = fields.get("stackTrace")
    if trace:
        line += "\n" + str(trace).rstrip("\n")
    return line


class CapturedStream:
    """Stands in for ``sys.stdout``/``sys.stderr``: each complete line becomes a log record."""

    def __init__(self, writer: LogWriter, level: str, name: str) -> None:
        self._writer = writer
        self._level = level
        self._name = name
        self._lock = threading.Lock()
        self._orphan = ""  # partial line written outside any invocation

    encoding = "utf-8"
    errors = "replace"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        scope = current_scope.get()
        with self._lock:
            buffered = scope.pending.get(self._name, "") if scope else self._orphan
            buffered += text
            *lines, rest = buffered.split("\n")
            if scope is not None:
                scope.pending[self._name] = rest
            else:
                self._orphan = rest
        for line in lines:
            self._emit(line, scope)
        return len(text)

    def flush_scope(self, scope: RequestScope) -> None:
        """Emits what an invocation printed without a final newline."""
        rest = scope.pending.pop(self._name, "")
        if rest:
            self._emit(rest, scope)

    def _emit(self, line: str, scope: RequestScope | None) -> None:
        self._writer.app(self._level, line, request_id=scope.request_id if scope else None, stream=self._name)

    def flush(self) -> None:
        pass

    def writelines(self, lines: list[str]) -> None:
        for line in lines:
            self.write(line)

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        raise OSError("captured stream has no file descriptor")

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return False


class JsonLogHandler(logging.Handler):
    """Sends ``logging`` records (the handler's and its libraries') through the ``LogWriter``."""

    def __init__(self, writer: LogWriter) -> None:
        super().__init__()
        self._writer = writer

    def emit(self, record: logging.LogRecord) -> None:
        try:
            fields: dict[str, Any] = {"logger": record.name}
            if record.exc_info and record.exc_info[0] is not None:
                fields["errorType"] = record.exc_info[0].__name__
                fields["stackTrace"] = logging.Formatter().formatException(record.exc_info)
            self._writer.app(record.levelname, record.getMessage(), **fields)
        except Exception:
            self.handleError(record)


class Capture:
    """The installed capture: the writer plus the two streams, to flush at a call's end."""

    def __init__(self, writer: LogWriter, stdout: CapturedStream, stderr: CapturedStream) -> None:
        self.writer = writer
        self.stdout = stdout
        self.stderr = stderr

    def flush_scope(self, scope: RequestScope) -> None:
        self.stdout.flush_scope(scope)
        self.stderr.flush_scope(scope)

    def apply(self, settings: LogSettings) -> None:
        """Takes on a function's log settings (a generic runtime being specialised)."""
        self.writer.settings = settings
        # Records below the level are not even made; unset, INFO as before levels existed.
        logging.getLogger().setLevel(settings.application_level or logging.INFO)


def settings_from_env(env: Mapping[str, str]) -> LogSettings:
    """``AWS_LAMBDA_LOG_FORMAT``, ``AWS_LAMBDA_LOG_LEVEL`` (as Lambda sets them) and
    ``WISP_SYSTEM_LOG_LEVEL``; unknown values are ignored (the Function's schema refuses them)."""
    text = env.get("AWS_LAMBDA_LOG_FORMAT", "").strip().lower() == "text"
    app = LEVELS.get(env.get("AWS_LAMBDA_LOG_LEVEL", "").strip().upper(), 0)
    system = LEVELS.get(env.get("WISP_SYSTEM_LOG_LEVEL", "").strip().upper(), 0)
    return LogSettings(text=text, application_level=app, system_level=system)


def install(function_name: str, settings: LogSettings | None = None) -> Capture:
    """Routes stdout, stderr and the root logger into log lines on file descriptor 1."""
    settings = settings or LogSettings()
    writer = LogWriter(function_name, fd=os.dup(1), settings=settings)
    out = CapturedStream(writer, "INFO", "stdout")
    err = CapturedStream(writer, "ERROR", "stderr")
    stdout: TextIO = out  # type: ignore[assignment]
    stderr: TextIO = err  # type: ignore[assignment]
    sys.stdout = stdout
    sys.stderr = stderr
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(JsonLogHandler(writer))
    logging.addLevelName(LEVELS["TRACE"], "TRACE")  # Lambda's level below DEBUG
    capture = Capture(writer, out, err)
    capture.apply(settings)
    return capture


def last_words(message: str, path: str) -> None:
    """``message`` as the container's termination message (``path``: the kubelet's
    terminationMessagePath), when there is a place for it: outside a pod the log says it too."""
    with contextlib.suppress(OSError), open(path, "w", encoding="utf-8") as out:
        out.write(message[-4096:])
