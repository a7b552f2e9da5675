"""Make a package from a folder or take an archive as it is, and push it to a registry: what
``wisp deploy --package`` and ``--zip`` do before they apply the Function.

A folder's package holds what the pods need beside the handler: vendored dependencies
(``node_modules``, a ``pip install -t`` folder), jars, binary files. Left out: ``function.yaml``,
dot-files and byte-code caches. The result is ``spec.code.archive`` naming the package by digest.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from wisp.api.package import TAR_GZIP_MEDIA_TYPE, ZIP_MEDIA_TYPE
from wisp.packages.archive import ArchiveFormat, detect_format, folder_files, make_zip
from wisp.packages.fetch import sha256_file
from wisp.packages.registry import Credentials, RegistryClient, Repository

LEFT_OUT_FOLDERS = ("__pycache__", "venv")
LEFT_OUT_FILES = ("function.yaml", "function.yml")


def package_folder(folder: Path, target: Path) -> Path:
    """A reproducible zip of ``folder`` at ``target``."""
    files = [
        name
        for name in folder_files(folder, LEFT_OUT_FOLDERS)
        if name not in LEFT_OUT_FILES and not name.endswith(".pyc")
    ]
    if not files:
        raise ValueError(f"{folder} holds no files to package")
    make_zip(folder, files, target)
    return target


def push_archive(
    archive: Path, repository: Repository, *, title: str, credentials: Credentials | None = None
) -> dict[str, Any]:
    """Push ``archive`` (zip or tar.gz) as an OCI artifact; its ``spec.code.archive``."""
    fmt = detect_format(archive)
    media_type = ZIP_MEDIA_TYPE if fmt is ArchiveFormat.ZIP else TAR_GZIP_MEDIA_TYPE
    digest = sha256_file(archive)
    RegistryClient(repository, credentials).push_package(archive, digest, media_type, title)
    return {"digest": digest, "repository": str(repository)}
