"""The OCI distribution API, as much as code packages need: push a blob and the manifest that
keeps it, open a blob by digest. Standard library only (it runs in every pod's init step).

Registries that ask for a token (``WWW-Authenticate: Bearer realm=...``, Docker Hub, GHCR,
Harbor, distribution with token auth) get one from their realm, with the username and password
when given; others take HTTP basic auth or none. ``plain_http`` talks HTTP instead of HTTPS
(ORAS's ``--plain-http``), for a registry inside the cluster or on a test host.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from wisp.api.package import EMPTY_CONFIG, EMPTY_CONFIG_DIGEST, MANIFEST_MEDIA_TYPE, archive_manifest

TIMEOUT = 60.0
_CHALLENGE = re.compile(r'(\w+)="([^"]*)"')


class RegistryError(Exception):
    """A registry answered with an error or not at all; ``status`` is its HTTP status (0: none)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = ""


def _registry_of(key: str) -> str:
    """A docker config ``auths`` key as a registry host[:port]: ``https://reg:5000/v1/`` -> ``reg:5000``."""
    return urllib.parse.urlsplit(key).netloc if "://" in key else key.partition("/")[0]


def docker_config_credentials(config: Any, registry: str) -> Credentials | None:
    """The credentials a docker config (a ``kubernetes.io/dockerconfigjson`` Secret's
    ``.dockerconfigjson``, or ``~/.docker/config.json``) holds for ``registry``, or None. An entry
    has ``auth`` (base64 of ``user:password``) or ``username`` and ``password``; ValueError for an
    entry that is neither, or a config that is not one."""
    if not isinstance(config, Mapping) or not isinstance(config.get("auths", {}), Mapping):
        raise ValueError("not a docker config: no auths map")
    for key, entry in config.get("auths", {}).items():
        if _registry_of(str(key)) != registry:
            continue
        if not isinstance(entry, Mapping):
            raise ValueError(f"the entry for {key} is not an object")
        if entry.get("auth"):
            try:
                pair = base64.b64decode(str(entry["auth"]), validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                raise ValueError(f"the auth of {key} is not base64 of user:password") from None
            username, sep, password = pair.partition(":")
            if not sep:
                raise ValueError(f"the auth of {key} is not base64 of user:password")
            return Credentials(username, password)
        if entry.get("username") is not None:
            return Credentials(str(entry["username"]), str(entry.get("password") or ""))
        raise ValueError(f"the entry for {key} has neither auth nor username")
    return None


@dataclass(frozen=True)
class Repository:
    """``host[:port]/path``: where packages are pushed and fetched."""

    registry: str
    path: str
    plain_http: bool = False

    @classmethod
    def parse(cls, text: str, *, plain_http: bool = False) -> Repository:
        registry, _, path = text.partition("/")
        if not registry or not path:
            raise ValueError(f"{text!r} is not a repository (host[:port]/path)")
        return cls(registry=registry, path=path, plain_http=plain_http)

    @property
    def base(self) -> str:
        scheme = "http" if self.plain_http else "https"
        return f"{scheme}://{self.registry}/v2/{self.path}"

    def __str__(self) -> str:
        return f"{self.registry}/{self.path}"


class RegistryClient:
    def __init__(self, repository: Repository, credentials: Credentials | None = None) -> None:
        self.repository = repository
        self.credentials = credentials or Credentials()
        self._token: str | None = None

    # -- requests ---------------------------------------------------------------------------
    def _authorization(self) -> dict[str, str]:
        if self._token:
            return {"Authorization": f"Bearer {self._token}"}
        if self.credentials.username:
            pair = f"{self.credentials.username}:{self.credentials.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {}

    def _login(self, challenge: str) -> bool:
        """A token from the realm a 401's ``Bearer`` challenge names; False for other schemes."""
        if not challenge.lower().startswith("bearer "):
            return False
        params = dict(_CHALLENGE.findall(challenge))
        realm = params.pop("realm", "")
        if not realm.startswith(("https://", "http://")):
            return False
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(params)
        headers: dict[str, str] = {}
        if self.credentials.username:
            pair = f"{self.credentials.username}:{self.credentials.password}".encode()
            headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        try:
            token_request = urllib.request.Request(url, headers=headers)  # noqa: S310 - http(s) checked above
            with urllib.request.urlopen(token_request, timeout=TIMEOUT) as resp:  # noqa: S310
                body = json.load(resp)
        except (urllib.error.URLError, ValueError) as exc:
            raise RegistryError(f"{self.repository}: no token from {realm}: {exc}") from None
        self._token = str(body.get("token") or body.get("access_token") or "")
        return bool(self._token)

    def request(
        self,
        method: str,
        url: str,
        *,
        body: bytes | IO[bytes] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """The open response (the caller closes it); RegistryError for an error status."""
        for attempt in (1, 2):
            # Every URL here starts with Repository.base: http(s)://registry/v2/...
            request = urllib.request.Request(  # noqa: S310
                url, data=body, method=method, headers={**(headers or {}), **self._authorization()}
            )
            try:
                return urllib.request.urlopen(request, timeout=TIMEOUT)  # noqa: S310
            except urllib.error.HTTPError as exc:
                challenge = exc.headers.get("WWW-Authenticate", "")
                if exc.code == 401 and attempt == 1 and self._login(challenge):
                    if hasattr(body, "seek"):
                        body.seek(0)  # type: ignore[union-attr]
                    continue
                raise RegistryError(f"{method} {url}: {exc.code} {_error_text(exc)}", exc.code) from None
            except (urllib.error.URLError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                raise RegistryError(
                    f"{self.repository}: cannot reach {self.repository.registry}: {reason}"
                ) from None
        raise AssertionError("unreachable")

    # -- blobs ------------------------------------------------------------------------------
    def has_blob(self, digest: str) -> bool:
        try:
            self.request("HEAD", f"{self.repository.base}/blobs/{digest}").close()
        except RegistryError as exc:
            if exc.status == 404:
                return False
            raise
        return True

    def open_blob(self, digest: str) -> Any:
        """The blob's response, to read as a stream. RegistryError(status=404) when it is not there."""
        return self.request("GET", f"{self.repository.base}/blobs/{digest}")

    def push_blob(self, digest: str, source: Path | bytes) -> None:
        """A monolithic upload (POST, then PUT with the digest), skipped when the blob is there."""
        if self.has_blob(digest):
            return
        with self.request("POST", f"{self.repository.base}/blobs/uploads/", body=b"") as started:
            location = started.headers["Location"]
        url = urllib.parse.urljoin(f"{self.repository.base}/", location)
        url += ("&" if "?" in url else "?") + urllib.parse.urlencode({"digest": digest})
        size = source.stat().st_size if isinstance(source, Path) else len(source)
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        if isinstance(source, Path):
            with source.open("rb") as handle:
                self.request("PUT", url, body=handle, headers=headers).close()
        else:
            self.request("PUT", url, body=source, headers=headers).close()

    def push_package(self, archive: Path, digest: str, media_type: str, title: str) -> str:
        """The archive as an ORAS-style artifact, tagged ``sha256-<hex>``; the manifest's digest."""
        self.push_blob(EMPTY_CONFIG_DIGEST, EMPTY_CONFIG)
        self.push_blob(digest, archive)
        manifest = archive_manifest(digest, archive.stat().st_size, media_type, title)
        body = json.dumps(manifest, separators=(",", ":"), sort_keys=True).encode()
        tag = digest.replace(":", "-")
        with self.request(
            "PUT",
            f"{self.repository.base}/manifests/{tag}",
            body=body,
            headers={"Content-Type": MANIFEST_MEDIA_TYPE},
        ) as resp:
            return str(resp.headers.get("Docker-Content-Digest", ""))


def _error_text(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
        errors = body.get("errors") or []
        return "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors) or exc.reason
    except (ValueError, OSError, AttributeError):
        return str(exc.reason)
