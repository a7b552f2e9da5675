"""Packages in a real OCI registry (CNCF distribution): pushed as ``wisp deploy`` pushes them,
fetched, checked and unpacked by ``wisp fetch-code`` as a pod's init step runs it, with the
node's cache. A package changed in the registry, or in the cache, never gets unpacked."""

from __future__ import annotations

import base64
import functools
import http.server
import json
import os
import ssl
import subprocess
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.registry import Registry
from wisp.api.package import ARTIFACT_TYPE, MANIFEST_MEDIA_TYPE, ZIP_MEDIA_TYPE
from wisp.packages.fetch import sha256_file
from wisp.packages.push import package_folder, push_archive
from wisp.packages.registry import Credentials, RegistryError, Repository

pytestmark = [pytest.mark.registry, pytest.mark.timeout(300)]

ROOT = Path(__file__).resolve().parents[2]
WISP = str(ROOT / ".venv" / "bin" / "wisp")
MB = 1024 * 1024


def app_folder(root: Path, *, size: int = MB, marker: str = "one") -> Path:
    """A handler, a nested vendored package and ``size`` incompressible bytes."""
    (root / "vendor" / "deep" / "er").mkdir(parents=True)
    (root / "main.py").write_text(f"def handler(e, c):\n    return {marker!r}\n")
    (root / "vendor" / "deep" / "er" / "mod.py").write_text("VALUE = 42\n")
    (root / "vendor" / "blob.bin").write_bytes(os.urandom(size))
    return root


def pushed(tmp_path: Path, registry: Registry, **kwargs: Any) -> dict[str, Any]:
    archive = package_folder(app_folder(tmp_path / "app", **kwargs), tmp_path / "app.zip")
    repository = Repository.parse(registry.repository(), plain_http=True)
    return push_archive(archive, repository, title="app.zip")


def fetch_code(registry: Registry, into: Path, *args: str) -> subprocess.CompletedProcess[str]:
    into.mkdir(parents=True, exist_ok=True)
    return subprocess.run(
        [WISP, "fetch-code", "--into", str(into), "--plain-http", registry.address, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in os.environ.items() if k != "WISP_TERMINATION_LOG"},
    )


def test_a_50_mb_package_is_pushed_as_an_oras_artifact_and_unpacked_by_digest(
    tmp_path: Path, registry: Registry
) -> None:
    code = pushed(tmp_path, registry, size=50 * MB)
    assert os.path.getsize(tmp_path / "app.zip") >= 50 * MB
    tag = code["digest"].replace(":", "-")
    request = urllib.request.Request(
        f"http://{registry.address}/v2/wisp/packages/manifests/{tag}", headers={"Accept": MANIFEST_MEDIA_TYPE}
    )
    with urllib.request.urlopen(request, timeout=10) as resp:
        manifest = json.load(resp)
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert [(layer["mediaType"], layer["digest"]) for layer in manifest["layers"]] == [
        (ZIP_MEDIA_TYPE, code["digest"])
    ]

    cache = tmp_path / "cache"
    done = fetch_code(
        registry,
        tmp_path / "code",
        "--digest",
        code["digest"],
        "--repository",
        code["repository"],
        "--cache",
        str(cache),
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "code" / "main.py").read_text().endswith("return 'one'\n")
    assert (tmp_path / "code" / "vendor/deep/er/mod.py").read_text() == "VALUE = 42\n"
    assert (tmp_path / "code" / "vendor/blob.bin").read_bytes() == (
        tmp_path / "app/vendor/blob.bin"
    ).read_bytes()
    assert (cache / "sha256" / code["digest"].removeprefix("sha256:")).is_file()


def test_a_package_changed_in_the_registry_is_refused_and_nothing_is_unpacked(
    tmp_path: Path, registry: Registry
) -> None:
    code = pushed(tmp_path, registry, marker="tampered")
    blob = registry.blob_file(code["digest"])
    data = bytearray(blob.read_bytes())
    data[100] ^= 0xFF  # one byte inside the first entry
    blob.write_bytes(bytes(data))

    cache = tmp_path / "cache"
    done = fetch_code(
        registry,
        tmp_path / "code",
        "--digest",
        code["digest"],
        "--repository",
        code["repository"],
        "--cache",
        str(cache),
    )
    assert done.returncode == 1
    assert "PackageDigestMismatch: spec.code.archive: the package from" in done.stderr
    assert f"not {code['digest']}" in done.stderr
    assert not any((tmp_path / "code").iterdir())
    assert not any(p.is_file() for p in cache.rglob("*"))


def test_a_package_missing_from_the_registry_is_named(tmp_path: Path, registry: Registry) -> None:
    digest = "sha256:" + "5a" * 32
    done = fetch_code(registry, tmp_path / "code", "--digest", digest, "--repository", registry.repository())
    assert done.returncode == 1
    assert (
        f"PackageNotFound: spec.code.archive: package {digest} is not in {registry.repository()}"
        in done.stderr
    )


def test_the_node_cache_serves_a_package_and_a_changed_cache_entry_is_fetched_anew(
    tmp_path: Path, registry: Registry
) -> None:
    code = pushed(tmp_path, registry, marker="cached")
    cache = tmp_path / "cache"
    args = ("--digest", code["digest"], "--repository", code["repository"], "--cache", str(cache))
    assert fetch_code(registry, tmp_path / "first", *args).returncode == 0
    entry = cache / "sha256" / code["digest"].removeprefix("sha256:")
    entry.write_bytes(b"PK\x03\x04 not the package")  # changed on the node
    again = fetch_code(registry, tmp_path / "second", *args)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "second" / "main.py").read_text().endswith("return 'cached'\n")
    assert entry.read_bytes() == (tmp_path / "app.zip").read_bytes()

    # Gone from the registry: a node that has it keeps starting pods from its cache.
    registry.blob_file(code["digest"]).unlink()
    third = fetch_code(registry, tmp_path / "third", *args)
    assert third.returncode == 0, third.stderr


# -- a package behind an HTTPS URL --------------------------------------------------------------
@pytest.fixture
def https_files(tmp_path: Path) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """An HTTPS file server on 127.0.0.1 with a certificate of its own; the env that trusts it."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    served = tmp_path / "served"
    served.mkdir()
    handler = functools.partial(Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"https://127.0.0.1:{server.server_address[1]}", served, {**os.environ, "SSL_CERT_FILE": str(cert)}
    server.shutdown()
    server.server_close()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_package_behind_an_https_url_is_checked_against_its_digest(
    tmp_path: Path, https_files: tuple[str, Path, dict[str, str]]
) -> None:
    base, served, env = https_files
    archive = package_folder(app_folder(tmp_path / "app", marker="url"), served / "app.zip")
    digest = sha256_file(archive)

    def fetch(into: str) -> subprocess.CompletedProcess[str]:
        (tmp_path / into).mkdir()
        return subprocess.run(
            [WISP, "fetch-code", "--into", str(tmp_path / into), "--digest", digest,
             "--url", f"{base}/app.zip"],
            capture_output=True, text=True, timeout=120, env=env,
        )  # fmt: skip

    done = fetch("ok")
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "ok" / "main.py").read_text().endswith("return 'url'\n")

    archive.write_bytes(archive.read_bytes() + b"\0")  # replaced on the server
    refused = fetch("refused")
    assert refused.returncode == 1
    assert "PackageDigestMismatch" in refused.stderr and not any((tmp_path / "refused").iterdir())


def docker_config(registry: Registry, user: str, password: str) -> dict[str, Any]:
    """What ``kubectl create secret docker-registry`` puts in ``.dockerconfigjson``."""
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"auths": {registry.address: {"username": user, "password": password, "auth": auth}}}


def test_a_registry_that_needs_credentials_gets_them_from_the_pull_secrets_file(tmp_path: Path) -> None:
    server = Registry(tmp_path / "private", user=("ci", "s3cret")).start()
    try:
        repository = Repository.parse(server.repository(), plain_http=True)
        archive = package_folder(app_folder(tmp_path / "app"), tmp_path / "app.zip")
        with pytest.raises(RegistryError) as anonymous:
            push_archive(archive, repository, title="app.zip")
        assert anonymous.value.status == 401
        code = push_archive(archive, repository, title="app.zip", credentials=Credentials("ci", "s3cret"))
        named = ["--digest", code["digest"], "--repository", code["repository"]]

        # Without credentials, or with wrong ones: refused, saying where credentials go.
        refused = fetch_code(server, tmp_path / "anon", *named)
        assert refused.returncode != 0 and "PackageAccessDenied" in refused.stderr, refused.stderr
        assert "anonymously" in refused.stderr and "spec.code.archive.pullSecret" in refused.stderr
        wrong = tmp_path / "wrong.json"
        wrong.write_text(json.dumps(docker_config(server, "ci", "guess")))
        refused = fetch_code(server, tmp_path / "wrong", *named, "--registry-auth", str(wrong))
        assert "PackageAccessDenied" in refused.stderr and "with the credentials given" in refused.stderr
        assert not list((tmp_path / "wrong").iterdir())

        # The Secret's file, as the init step has it mounted: fetched, checked, unpacked.
        right = tmp_path / "config.json"
        right.write_text(json.dumps(docker_config(server, "ci", "s3cret")))
        done = fetch_code(server, tmp_path / "code", *named, "--registry-auth", str(right))
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "code" / "vendor" / "deep" / "er" / "mod.py").read_text() == "VALUE = 42\n"

        # A file that is not a docker config says so.
        broken = tmp_path / "broken.json"
        broken.write_text("[]")
        refused = fetch_code(server, tmp_path / "broken", *named, "--registry-auth", str(broken))
        assert refused.returncode != 0 and ".dockerconfigjson cannot be read" in refused.stderr
    finally:
        server.stop()
