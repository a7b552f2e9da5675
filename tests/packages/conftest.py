"""The real registry the package tests push to and fetch from (one per session)."""

from tests.support.registry import registry  # noqa: F401 (fixture)
