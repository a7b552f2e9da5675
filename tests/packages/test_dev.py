"""``wisp dev`` runs a Function whose code is a package: fetched by digest from the real registry
with the pods' code, unpacked once into its work folder; a changed package does not run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.registry import Registry
from wisp.api import parse_function
from wisp.dev.workspace import Workspace, prepare
from wisp.packages.push import package_folder, push_archive
from wisp.packages.registry import Repository
from wisp.source import FunctionSource

pytestmark = [pytest.mark.registry, pytest.mark.timeout(120)]


def source(code: dict[str, object], path: Path) -> FunctionSource:
    manifest = {
        "metadata": {"name": "pkg"},
        "spec": {"runtime": "python3.12", "handler": "app.main.handler", "code": code},
    }
    return FunctionSource(parse_function(manifest), manifest, path)


def test_wisp_dev_unpacks_a_package_and_refuses_a_changed_one(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "src" / "app").mkdir(parents=True)
    (tmp_path / "src" / "app" / "main.py").write_text("def handler(e, c):\n    return 'dev'\n")
    archive = package_folder(tmp_path / "src", tmp_path / "app.zip")
    code = push_archive(
        archive, Repository.parse(registry.repository("dev"), plain_http=True), title="app.zip"
    )
    monkeypatch.setenv("WISP_PACKAGE_PLAIN_HTTP", registry.address)
    workspace = Workspace(tmp_path / "work", tmp_path / "cache")

    prepared = prepare(source({"archive": code}, tmp_path / "f.yaml"), workspace)
    assert not prepared.unsupported
    assert prepared.code_dir is not None
    assert (prepared.code_dir / "app" / "main.py").read_text().endswith("return 'dev'\n")

    blob = registry.blob_file(code["digest"])
    data = bytearray(blob.read_bytes())
    data[60] ^= 0xFF  # inside the compressed main.py
    blob.write_bytes(bytes(data))
    # The same digest, now served changed, on a machine that has not cached it yet.
    refused = prepare(
        source({"archive": code}, tmp_path / "f.yaml"), Workspace(tmp_path / "w2", tmp_path / "c2")
    )
    assert refused.code_dir is None
    assert "cannot get its package: spec.code.archive: the package from" in refused.unsupported
