"""``spec.logging``: a Function's log format and levels, as Lambda's advanced logging controls.

``format`` is ``JSON`` (one JSON object per line: time, level, requestId, message; wisp's
default) or ``Text`` (tab-separated lines). ``applicationLogLevel`` drops the handler's records
below it (Python ``logging``, ``print``; Node.js ``console.*``); ``systemLogLevel`` the
runtime's own. As on Lambda, levels need the JSON format. The runtime reads them from Lambda's
``AWS_LAMBDA_LOG_FORMAT``/``AWS_LAMBDA_LOG_LEVEL`` and wisp's ``WISP_SYSTEM_LOG_LEVEL``
(``logging_environment``).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wisp.api.checks import SpecError
from wisp.api.defaults import FUNCTION_DEFAULTS as DEFAULTS


class LogFormat(enum.Enum):
    JSON = "JSON"
    TEXT = "Text"


class LogLevel(enum.Enum):
    """Lambda's level names, lowest first."""

    TRACE = "TRACE"
    DEBUG = "DEBUG"
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"
    FATAL = "FATAL"


SYSTEM_LEVELS = (LogLevel.DEBUG, LogLevel.INFO, LogLevel.WARN)


@dataclass(frozen=True)
class LoggingSpec:
    format: LogFormat = LogFormat.JSON
    application_level: LogLevel | None = None  # None: the runtime's default (everything, INFO in Python)
    system_level: LogLevel | None = None


def _enum(value: Any, kind: type[enum.Enum], field: str, allowed: tuple[enum.Enum, ...]) -> Any:
    for member in allowed:
        if value == member.value:
            return member
    names = ", ".join(m.value for m in allowed)
    raise SpecError(field, f"Unsupported value {value!r}: one of {names}")


def parse_logging(raw: Any) -> LoggingSpec:
    if raw is None:
        return LoggingSpec()
    if not isinstance(raw, Mapping):
        raise SpecError("spec.logging", "must be an object")
    fmt = _enum(raw.get("format", DEFAULTS.log_format), LogFormat, "spec.logging.format", tuple(LogFormat))
    app = raw.get("applicationLogLevel")
    system = raw.get("systemLogLevel")
    app_level = (
        None if app is None else _enum(app, LogLevel, "spec.logging.applicationLogLevel", tuple(LogLevel))
    )
    system_level = (
        None if system is None else _enum(system, LogLevel, "spec.logging.systemLogLevel", SYSTEM_LEVELS)
    )
    if fmt is LogFormat.TEXT and (app_level or system_level):
        field = "spec.logging.applicationLogLevel" if app_level else "spec.logging.systemLogLevel"
        raise SpecError(field, "log levels need spec.logging.format JSON (as on Lambda)")
    return LoggingSpec(fmt, app_level, system_level)


def logging_environment(spec: LoggingSpec) -> dict[str, str]:
    """The variables a runtime reads its log settings from (none for the defaults)."""
    if spec == LoggingSpec():
        return {}
    env = {"AWS_LAMBDA_LOG_FORMAT": spec.format.value}
    if spec.application_level is not None:
        env["AWS_LAMBDA_LOG_LEVEL"] = spec.application_level.value
    if spec.system_level is not None:
        env["WISP_SYSTEM_LOG_LEVEL"] = spec.system_level.value
    return env


# Every level name a runtime writes (Lambda's and Python's spellings), on one scale.
LEVEL_VALUES = {
    "TRACE": 5,
    "DEBUG": 10,
    "INFO": 20,
    "WARN": 30,
    "WARNING": 30,
    "ERROR": 40,
    "FATAL": 50,
    "CRITICAL": 50,
}
LEVEL_CHOICES = tuple(level.value for level in LogLevel)


def line_level(line: str) -> int | None:
    """The level of one log line as a runtime writes it: a JSON record's ``level``, or the third
    field of a Text-format line (time, request id, level, message); None for any other line."""
    text = line.strip()
    if text.startswith("{"):
        try:
            record = json.loads(text)
        except ValueError:
            return None
        level = record.get("level") if isinstance(record, dict) else None
        return LEVEL_VALUES.get(str(level).upper()) if level is not None else None
    fields = text.split("\t", 3)
    if len(fields) == 4 and fields[0][:1].isdigit():
        return LEVEL_VALUES.get(fields[2].upper())
    return None


class LevelFilter:
    """Keeps the lines of records at or above ``minimum``. A line without a level (the rest of a
    Text-format stack trace, a program's raw output) goes with the record before it."""

    def __init__(self, minimum: str) -> None:
        self.minimum = LEVEL_VALUES[minimum.upper()]
        self._keeping = True

    def keep(self, line: str) -> bool:
        level = line_level(line)
        if level is not None:
            self._keeping = level >= self.minimum
        return self._keeping
