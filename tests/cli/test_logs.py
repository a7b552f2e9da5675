"""``wisp logs``: the pods' lines merged in time order, filtered by level (pure)."""

from __future__ import annotations

from wisp.cli.logs import merged

A = {
    "fn-a": "\n".join(
        [
            '2026-12-04T10:00:01.000Z {"level": "INFO", "message": "a1"}',
            '2026-12-04T10:00:03.000Z {"level": "ERROR", "message": "a2"}',
        ]
    ),
    "fn-b": "\n".join(
        [
            "2026-12-04T10:00:02.000Z 2026-12-04T10:00:02.000Z\treq\tWARN\tb1",
            "2026-12-04T10:00:02.000Z   at handler (index.js:3)",
            '2026-12-04T10:00:04.000Z {"level": "DEBUG", "message": "b2"}',
        ]
    ),
}


def test_lines_are_merged_in_time_order() -> None:
    assert [line.split(" | ")[0] for line in merged(A)] == ["fn-a", "fn-b", "fn-b", "fn-a", "fn-b"]


def test_a_level_keeps_records_at_or_above_it_with_their_continuations() -> None:
    assert merged(A, "WARN") == [
        "fn-b | 2026-12-04T10:00:02.000Z\treq\tWARN\tb1",
        "fn-b |   at handler (index.js:3)",
        'fn-a | {"level": "ERROR", "message": "a2"}',
    ]
    assert len(merged(A, "TRACE")) == 5
