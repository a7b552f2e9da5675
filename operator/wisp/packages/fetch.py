"""Get a code package's bytes by digest, check them, keep them on the node: the one fetch seam.

``fetch_package`` looks in the cache first (``<cache>/sha256/<hex>``, the node's when the pod
mounts one), and checks a cached file's sha256 again before using it: a cache entry that was
changed is deleted and fetched anew, never used. Otherwise it streams the archive from its
registry (``spec.code.archive.repository``, else the installation's store) or its HTTPS URL into
the cache, hashing as it goes, and keeps it only when the hash is the digest. Every failure is a
``PackageError`` whose ``reason`` is one word (the Function's condition reason) and whose message
names the field, the package and what to do.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wisp.api.package import ArchiveSpec
from wisp.packages.registry import Credentials, RegistryClient, RegistryError, Repository

FIELD = "spec.code.archive"
_CHUNK = 1 << 20


class PackageError(Exception):
    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{FIELD}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class StoreSettings:
    """Where packages are and how to reach them (the operator's settings, passed to the init step)."""

    repository: str = ""  # the installation's package store; "" = none
    plain_http: frozenset[str] = frozenset()  # registries (host[:port]) spoken to over HTTP
    credentials: Credentials = field(default_factory=Credentials)

    def repository_of(self, archive: ArchiveSpec) -> Repository:
        text = archive.repository or self.repository
        if not text:
            raise PackageError(
                "PackageStoreNotSet",
                f"{archive.digest} names no repository and the installation has no package store "
                "(the chart's functions.packages.repository)",
            )
        registry = text.partition("/")[0]
        return Repository.parse(text, plain_http=registry in self.plain_http)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return "sha256:" + digest.hexdigest()


def cached_path(cache_dir: Path, archive: ArchiveSpec) -> Path:
    return cache_dir / "sha256" / archive.hex


def fetch_package(archive: ArchiveSpec, cache_dir: Path, settings: StoreSettings) -> Path:
    """The verified archive in ``cache_dir``; PackageError when it cannot be had as named."""
    target = cached_path(cache_dir, archive)
    if target.is_file():
        if sha256_file(target) == archive.digest:
            return target
        target.unlink(missing_ok=True)  # changed on the node: fetched again, never used
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{archive.hex}.{os.getpid()}.partial")
    try:
        with _open_source(archive, settings) as (source, where):
            try:
                got = _copy_hashing(source, partial)
            except OSError as exc:  # the connection broke off, or the disk is full
                raise PackageError("PackageUnreachable", f"reading from {where} failed: {exc}") from None
        if got != archive.digest:
            raise PackageError(
                "PackageDigestMismatch",
                f"the package from {where} hashes to {got}, not {archive.digest}: it was changed "
                "after it was packaged, so it is refused (deploy it again to get its new digest)",
            )
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


@contextlib.contextmanager
def _open_source(archive: ArchiveSpec, settings: StoreSettings) -> Iterator[tuple[Any, str]]:
    if archive.url is not None:
        try:
            response = urllib.request.urlopen(archive.url, timeout=60)  # noqa: S310 - https:// (parse_archive)
        except urllib.error.HTTPError as exc:
            reason = "PackageNotFound" if exc.code in (403, 404, 410) else "PackageUnreachable"
            raise PackageError(reason, f"{archive.url} answered {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError) as exc:
            raise PackageError(
                "PackageUnreachable", f"cannot reach {archive.url}: {getattr(exc, 'reason', exc)}"
            ) from None
        with response:
            yield response, archive.url
        return
    repository = settings.repository_of(archive)
    client = RegistryClient(repository, settings.credentials)
    try:
        response = client.open_blob(archive.digest)
    except RegistryError as exc:
        if exc.status == 404:
            raise PackageError(
                "PackageNotFound",
                f"package {archive.digest} is not in {repository}: push it with wisp deploy",
            ) from None
        if exc.status in (401, 403):
            named = "with the credentials given" if settings.credentials.username else "anonymously"
            raise PackageError(
                "PackageAccessDenied",
                f"{repository} refused to give package {archive.digest} {named} ({exc.status}): "
                "name a kubernetes.io/dockerconfigjson Secret with its credentials in "
                "spec.code.archive.pullSecret (or the chart's functions.packages.pullSecret)",
            ) from None
        raise PackageError("PackageUnreachable", str(exc)) from None
    with response:
        yield response, str(repository)


def _copy_hashing(source: Any, target: Path) -> str:
    digest = hashlib.sha256()
    with target.open("wb") as out:
        while chunk := source.read(_CHUNK):
            digest.update(chunk)
            out.write(chunk)
    return "sha256:" + digest.hexdigest()
