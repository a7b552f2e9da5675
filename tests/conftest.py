"""Shared test configuration: the real control plane fixtures and test hygiene."""

from __future__ import annotations

pytest_plugins = ["tests.cluster.fixtures"]
