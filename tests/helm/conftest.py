"""Fixtures of the chart tests: helm 3 and helm 4 (every test that takes ``helm`` runs with both)
and a ``render`` function that returns the parsed objects of ``helm template``."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.helm.chart import HELM_MAJORS, Helm, helm_binary, parse, template_args, values_file
from tests.helm.release import components, namespace, other_namespace, release

__all__ = ["components", "namespace", "other_namespace", "release"]  # the cluster tests' fixtures

Render = Callable[..., list[dict[str, Any]]]


@pytest.fixture(scope="session", params=HELM_MAJORS, ids=[f"helm{m}" for m in HELM_MAJORS])
def helm(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Helm:
    major = int(request.param)
    return Helm(helm_binary(major), major, tmp_path_factory.mktemp(f"helm{major}-home"))


@pytest.fixture
def render(helm: Helm, tmp_path: Path) -> Render:
    """``render(values={...}, api_versions=[...], namespace=...)`` -> the rendered objects."""

    def _render(
        values: Mapping[str, Any] | None = None,
        api_versions: Iterable[str] = (),
        namespace: str = "wisp-system",
        release: str = "wisp",
    ) -> list[dict[str, Any]]:
        path = values_file(tmp_path, values) if values is not None else None
        proc = helm.run(*template_args(path, api_versions, namespace, release))
        return parse(proc.stdout)

    return _render
