"""``spec.code.archive``: a code package (zip or tar.gz) named by the sha256 of its bytes.

A package is an OCI artifact in a registry (ORAS's conventions: one layer, the archive, in a
manifest whose ``artifactType`` is ``ARTIFACT_TYPE``) or a file behind an HTTPS URL. Either way
the Function names it by ``digest``, so what runs is exactly what was packaged: the pods' init
step fetches the bytes, checks their sha256 against ``digest`` and refuses anything else
(``wisp.packages``). ``repository`` defaults to the installation's package store.

Pure: parsed by ``wisp.api.function`` for the operator, ``wisp deploy`` and ``wisp dev`` alike.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from wisp.api.checks import SpecError, _require, _typed

DIGEST_RE = re.compile(r"^sha256:[a-f0-9]{64}$")
# An OCI repository: registry host[:port] then one or more path components (distribution's grammar,
# without tags or digests: the digest is its own field).
REPOSITORY_RE = re.compile(
    r"^[a-zA-Z0-9]([a-zA-Z0-9.-]*[a-zA-Z0-9])?(:[0-9]{1,5})?(/[a-z0-9]+([._-][a-z0-9]+)*)+$"
)
URL_RE = re.compile(r"^https://[^\s/]+/\S*$")
SECRET_NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")
MAX_SECRET_NAME = 253
MAX_REPOSITORY = 255
MAX_URL = 2048

ARTIFACT_TYPE = "application/vnd.wisp.function.package.v1"
ZIP_MEDIA_TYPE = "application/zip"
TAR_GZIP_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
EMPTY_CONFIG_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"


@dataclass(frozen=True)
class ArchiveSpec:
    """Where a package is and what its bytes must hash to."""

    digest: str  # sha256:<64 hex>, of the archive's bytes
    repository: str | None = None  # an OCI repository; None: the installation's package store
    url: str | None = None  # an HTTPS URL instead of a registry
    # A kubernetes.io/dockerconfigjson Secret in the Function's namespace (as imagePullSecrets
    # name): the registry credentials the init step fetches with. None: the installation's.
    pull_secret: str | None = None

    @property
    def hex(self) -> str:
        return self.digest.removeprefix("sha256:")


def parse_archive(value: Any, path: str = "spec.code.archive") -> ArchiveSpec:
    _typed(value, Mapping, path, "an object")
    digest = _typed(_require(value, "digest", path), str, f"{path}.digest", "a string")
    if not DIGEST_RE.match(digest):
        raise SpecError(f"{path}.digest", f"must be sha256: and 64 lowercase hex digits, got {digest!r}")
    repository = value.get("repository")
    url = value.get("url")
    if repository is not None and url is not None:
        raise SpecError(path, "sets repository or url, not both")
    if repository is not None:
        _typed(repository, str, f"{path}.repository", "a string")
        if len(repository) > MAX_REPOSITORY or not REPOSITORY_RE.match(repository):
            raise SpecError(
                f"{path}.repository",
                "must be an OCI repository such as registry.example.com:5000/team/packages, "
                f"got {repository!r}",
            )
    if url is not None:
        _typed(url, str, f"{path}.url", "a string")
        if len(url) > MAX_URL or not URL_RE.match(url):
            raise SpecError(f"{path}.url", f"must be an https:// URL, got {url!r}")
    pull_secret = value.get("pullSecret")
    if pull_secret is not None:
        _typed(pull_secret, str, f"{path}.pullSecret", "a string")
        if len(pull_secret) > MAX_SECRET_NAME or not SECRET_NAME_RE.match(pull_secret):
            raise SpecError(f"{path}.pullSecret", f"must be the name of a Secret, got {pull_secret!r}")
        if url is not None:
            raise SpecError(
                f"{path}.pullSecret", "holds registry credentials: it goes with a repository, not a url"
            )
    return ArchiveSpec(digest=digest, repository=repository, url=url, pull_secret=pull_secret)


def archive_manifest(digest: str, size: int, media_type: str, title: str) -> dict[str, Any]:
    """The ORAS-style manifest that keeps a pushed package in its repository (a registry's garbage
    collector deletes blobs no manifest names)."""
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": ARTIFACT_TYPE,
        "config": {
            "mediaType": EMPTY_CONFIG_MEDIA_TYPE,
            "digest": EMPTY_CONFIG_DIGEST,
            "size": 2,
        },
        "layers": [
            {
                "mediaType": media_type,
                "digest": digest,
                "size": size,
                "annotations": {"org.opencontainers.image.title": title},
            }
        ],
    }


EMPTY_CONFIG = b"{}"
EMPTY_CONFIG_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
