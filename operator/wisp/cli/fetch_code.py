"""``wisp fetch-code``: the init step of pods whose code is a package (``spec.code.archive``).

Fetches the package by digest (``wisp.packages.fetch``: the node's cache, else its registry or
URL), checks its sha256, and unpacks it into the code folder the runtime then reads. Any failure
ends the step with its reason and message in the container's termination message, which the
operator shows as the Function's ``Ready`` condition: a package that is missing or was changed
never runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path

from wisp.api.checks import SpecError
from wisp.api.package import parse_archive
from wisp.packages.archive import ArchiveError, unpack
from wisp.packages.fetch import PackageError, StoreSettings, fetch_package
from wisp.packages.registry import Credentials, docker_config_credentials
from wisp.resources.deployment import DOCKER_CONFIG_KEY

TERMINATION_LOG = Path("/dev/termination-log")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--digest", required=True, help="sha256:<hex> of the archive")
    parser.add_argument("--repository", help="OCI repository holding it")
    parser.add_argument("--url", help="HTTPS URL of it (instead of a registry)")
    parser.add_argument("--into", required=True, type=Path, help="the (empty) folder to unpack into")
    parser.add_argument("--cache", type=Path, help="the node's package cache (else a temporary folder)")
    parser.add_argument(
        "--plain-http", action="append", default=[], metavar="REGISTRY", help="a registry spoken to over HTTP"
    )
    parser.add_argument(
        "--registry-auth",
        type=Path,
        metavar="FILE",
        help="a docker config (a dockerconfigjson Secret's file) with the registry's credentials",
    )


def credentials(args: argparse.Namespace) -> Credentials:
    """The registry credentials: the docker config's entry for the repository's registry
    (``--registry-auth``), else ``WISP_REGISTRY_USERNAME``/``PASSWORD``, else none (anonymous)."""
    if args.registry_auth is not None and args.repository:
        registry = args.repository.partition("/")[0]
        try:
            found = docker_config_credentials(json.loads(args.registry_auth.read_text()), registry)
        except (OSError, ValueError) as exc:
            raise PackageError(
                "PackageAccessDenied", f"the pull Secret's {DOCKER_CONFIG_KEY} cannot be read: {exc}"
            ) from None
        if found is not None:
            return found
    return Credentials(
        os.environ.get("WISP_REGISTRY_USERNAME", ""), os.environ.get("WISP_REGISTRY_PASSWORD", "")
    )


def run(args: argparse.Namespace) -> int:
    spec = {"digest": args.digest, "repository": args.repository, "url": args.url}
    try:
        settings = StoreSettings(plain_http=frozenset(args.plain_http), credentials=credentials(args))
    except PackageError as exc:
        return _fail(exc.reason, str(exc))
    try:
        archive = parse_archive({k: v for k, v in spec.items() if v is not None})
        if args.cache is not None:
            size = unpack(fetch_package(archive, args.cache, settings), args.into)
        else:
            with tempfile.TemporaryDirectory(dir=os.environ.get("TMPDIR", "/tmp")) as scratch:
                size = unpack(fetch_package(archive, Path(scratch), settings), args.into)
    except PackageError as exc:
        return _fail(exc.reason, str(exc))
    except ArchiveError as exc:
        return _fail("PackageInvalid", f"spec.code.archive: {archive.digest}: {exc}")
    except SpecError as exc:
        return _fail("PackageInvalid", str(exc))
    print(f"wisp: package {archive.digest} unpacked into {args.into} ({size} bytes)", flush=True)
    return 0


def _fail(reason: str, message: str) -> int:
    text = f"{reason}: {message}"
    print(f"wisp: {text}", file=sys.stderr, flush=True)
    # The kubelet mounts the file in a container; elsewhere there is none to write.
    if TERMINATION_LOG.is_file():
        with contextlib.suppress(OSError):
            TERMINATION_LOG.write_text(text)
    return 1
