"""``spec.logging``: parsing, refusals naming the field, and the runtime's environment."""

from __future__ import annotations

from typing import Any

import pytest

from wisp.api.checks import SpecError
from wisp.api.logconfig import (
    LevelFilter,
    LogFormat,
    LoggingSpec,
    LogLevel,
    line_level,
    logging_environment,
    parse_logging,
)


@pytest.mark.parametrize(
    ("raw", "spec", "env"),
    [
        (None, LoggingSpec(), {}),
        ({}, LoggingSpec(), {}),
        ({"format": "JSON"}, LoggingSpec(), {}),
        ({"format": "Text"}, LoggingSpec(LogFormat.TEXT), {"AWS_LAMBDA_LOG_FORMAT": "Text"}),
        (
            {"applicationLogLevel": "WARN"},
            LoggingSpec(LogFormat.JSON, LogLevel.WARN),
            {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"},
        ),
        (
            {"format": "JSON", "applicationLogLevel": "TRACE", "systemLogLevel": "DEBUG"},
            LoggingSpec(LogFormat.JSON, LogLevel.TRACE, LogLevel.DEBUG),
            {
                "AWS_LAMBDA_LOG_FORMAT": "JSON",
                "AWS_LAMBDA_LOG_LEVEL": "TRACE",
                "WISP_SYSTEM_LOG_LEVEL": "DEBUG",
            },
        ),
    ],
)
def test_logging_settings(raw: Any, spec: LoggingSpec, env: dict[str, str]) -> None:
    parsed = parse_logging(raw)
    assert parsed == spec
    assert logging_environment(parsed) == env


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ("JSON", "spec.logging"),
        ({"format": "json"}, "spec.logging.format"),
        ({"format": "XML"}, "spec.logging.format"),
        ({"applicationLogLevel": "LOUD"}, "spec.logging.applicationLogLevel"),
        ({"applicationLogLevel": "warn"}, "spec.logging.applicationLogLevel"),
        ({"systemLogLevel": "ERROR"}, "spec.logging.systemLogLevel"),
        ({"format": "Text", "applicationLogLevel": "INFO"}, "spec.logging.applicationLogLevel"),
        ({"format": "Text", "systemLogLevel": "INFO"}, "spec.logging.systemLogLevel"),
    ],
)
def test_bad_logging_names_the_field(raw: Any, field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_logging(raw)
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("line", "level"),
    [
        ('{"time": "t", "level": "WARNING", "message": "m"}', 30),
        ('{"time": "t", "level": "WARN", "message": "m"}', 30),
        ('{"time": "t", "level": "debug", "message": "m"}', 10),
        ('{"time": "t", "message": "no level"}', None),
        ('{"time": "t", "level": "LOUD"}', None),
        ("{not json", None),
        ("2026-12-04T10:00:00.000Z\treq-1\tERROR\tboom", 40),
        ("2026-12-04T10:00:00.000Z\t\tINFO\tlistening\tport=8080", 20),
        ("plain output", None),
        ('  File "main.py", line 3, in handler', None),
    ],
)
def test_line_level(line: str, level: int | None) -> None:
    assert line_level(line) == level


def test_the_level_filter_keeps_a_records_continuation_lines() -> None:
    lines = [
        '{"level": "INFO", "message": "a"}',
        "2026-12-04T10:00:00.000Z\tr\tERROR\tboom",
        "Traceback (most recent call last):",
        '  File "main.py", line 3',
        '{"level": "DEBUG", "message": "b"}',
        "raw after debug",
        '{"level": "CRITICAL", "message": "c"}',
    ]
    only = LevelFilter("WARN")
    kept = [line for line in lines if only.keep(line)]
    assert kept == [lines[1], lines[2], lines[3], lines[6]]
