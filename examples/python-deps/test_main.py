"""Run with: python -m pytest examples/python-deps (after pip install -r requirements.txt)."""

from main import handler


def test_sizes_are_human() -> None:
    assert handler({"bytes": 3_000_000}, None) == {"bytes": 3_000_000, "human": "3.0 MB"}
