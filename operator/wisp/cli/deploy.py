"""``wisp deploy [PATH]``: apply a function folder or a YAML file, wait until Ready, print the URL.

A folder's ``function.yaml`` without ``spec.code`` gets its code from the folder (one source
file inline, several as ``code.files``, sub-folders included; see ``wisp.source``); ``--image``
deploys an image instead. ``--package`` (or a folder whose code cannot be a ConfigMap: over
~1 MiB, or binary files) zips the folder and ``--zip FILE`` takes a zip or tar.gz as it is; either
is pushed to ``--repository`` (an OCI registry, ``WISP_PACKAGE_REPOSITORY``) and the Function's
``spec.code.archive`` names it by digest (``wisp.packages``). ``--layer [NAME=]FOLDER`` writes
the folder as a layer ConfigMap (named after the folder unless NAME is given) and adds it to
each Function's ``spec.layers``. Everything is checked locally with the CRD's rules first, then
written with server-side apply (field manager ``wisp-cli``): layers, Functions, then Triggers.
The wait shows the Ready condition's reason as it changes.
"""

from __future__ import annotations

import argparse
import copy
import os
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from wisp.api import names
from wisp.api.codepaths import config_map_data
from wisp.api.function import NAME_RE, SpecError, parse_function
from wisp.cli import kube
from wisp.cli.errors import CliError
from wisp.cli.output import emit
from wisp.packages.archive import ArchiveError
from wisp.packages.push import package_folder, push_archive
from wisp.packages.registry import Credentials, RegistryError, Repository
from wisp.source import FUNCTION_FILE, FunctionSource, Loaded, SourceError, layer_files, load_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "path", nargs="?", default=".", help="a function folder (with function.yaml) or a YAML file (.)"
    )
    parser.add_argument("--image", help="deploy this image as the function's code (code.image)")
    parser.add_argument(
        "--zip",
        metavar="FILE",
        type=Path,
        help="deploy this zip or tar.gz as the function's code (code.archive)",
    )
    parser.add_argument(
        "--package",
        action="store_true",
        help="package the folder as a zip (code.archive); done anyway when its code cannot be a ConfigMap",
    )
    parser.add_argument(
        "--repository",
        default=os.environ.get("WISP_PACKAGE_REPOSITORY", ""),
        help="OCI repository (host[:port]/path) packages are pushed to ($WISP_PACKAGE_REPOSITORY)",
    )
    parser.add_argument(
        "--plain-http",
        action="store_true",
        default=os.environ.get("WISP_PACKAGE_PLAIN_HTTP", "").lower() in ("1", "true", "yes"),
        help="speak HTTP, not HTTPS, to the repository's registry ($WISP_PACKAGE_PLAIN_HTTP)",
    )
    parser.add_argument(
        "--layer",
        action="append",
        default=[],
        metavar="[NAME=]FOLDER",
        help="publish FOLDER as a layer (its files under /opt) and add it to the Functions' spec.layers",
    )
    parser.add_argument("--no-wait", action="store_true", help="apply and return at once")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for Ready (120)")
    kube.add_arguments(parser, output=True)


def manifest_path(path: Path) -> Path:
    if path.is_dir():
        if not (path / FUNCTION_FILE).is_file():
            raise CliError(
                f"{path} has no {FUNCTION_FILE}: create one with `wisp init NAME`, "
                "or pass a Function YAML file"
            )
        return path / FUNCTION_FILE
    if not path.is_file():
        raise CliError(f"{path} does not exist: pass a function folder or a Function YAML file")
    return path


def with_image(source: FunctionSource, image: str) -> dict[str, Any]:
    manifest = copy.deepcopy(dict(source.manifest))
    manifest["spec"]["code"] = {"image": image}
    try:
        parse_function(manifest)
    except SpecError as exc:
        raise CliError(f"--image: {exc}") from None
    return manifest


def parse_layer(text: str) -> tuple[str, Path]:
    """``NAME=FOLDER`` or ``FOLDER`` (named after the folder) → (name, folder)."""
    name, sep, folder_text = text.partition("=")
    folder = Path(folder_text if sep else text)
    if not sep:
        name = folder.resolve().name.lower().replace("_", "-")
    if not NAME_RE.match(name) or len(name) > 63:
        raise CliError(
            f"--layer {text}: the layer's name {name!r} must be a DNS label; give one as NAME=FOLDER"
        )
    if not folder.is_dir():
        raise CliError(f"--layer {text}: {folder} is not a folder")
    return name, folder


def layer_config_map(name: str, folder: Path) -> dict[str, Any]:
    try:
        files = layer_files(folder)
    except SourceError as exc:
        raise CliError(f"--layer: {exc}") from None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "wisp", names.LAYER_LABEL: name},
        },
        "data": config_map_data(files),
    }


def with_layers(manifest: dict[str, Any], layers: list[str]) -> dict[str, Any]:
    """``manifest`` with the named layers appended to ``spec.layers`` (those not yet there)."""
    spec = manifest["spec"]
    listed = list(spec.get("layers") or [])
    have = {(item.get("configMapRef") or {}).get("name") for item in listed if isinstance(item, dict)}
    listed += [{"configMapRef": {"name": name}} for name in layers if name not in have]
    spec["layers"] = listed
    try:
        parse_function(manifest)
    except SpecError as exc:
        raise CliError(f"--layer: {exc}") from None
    return manifest


class Packager:
    """``code_for`` of ``load_file``: each Function's code as a pushed package, when asked."""

    def __init__(self, args: argparse.Namespace, scratch: Path) -> None:
        self.args = args
        self.scratch = scratch
        if not args.repository:
            raise CliError(
                "packages go to an OCI registry: pass --repository host[:port]/path "
                "(or set WISP_PACKAGE_REPOSITORY)"
            )
        try:
            self.repository = Repository.parse(args.repository, plain_http=args.plain_http)
        except ValueError as exc:
            raise CliError(f"--repository: {exc}") from None
        self.credentials = Credentials(
            os.environ.get("WISP_REGISTRY_USERNAME", ""), os.environ.get("WISP_REGISTRY_PASSWORD", "")
        )

    def __call__(self, doc: Mapping[str, Any], folder: Path | None) -> dict[str, Any] | None:
        name = str((doc.get("metadata") or {}).get("name") or "function")
        if self.args.zip is not None:
            archive, title = self.args.zip, self.args.zip.name
            if not archive.is_file():
                raise CliError(f"--zip {archive}: no such file")
        elif folder is not None and not (doc.get("spec") or {}).get("code"):
            archive, title = self.scratch / f"{name}.zip", f"{name}.zip"
            try:
                package_folder(folder, archive)
            except ValueError as exc:
                raise CliError(str(exc)) from None
        else:
            return None  # a Function whose manifest sets its code keeps it
        try:
            code = push_archive(archive, self.repository, title=title, credentials=self.credentials)
        except ArchiveError as exc:
            raise CliError(f"{archive}: {exc}") from None
        except RegistryError as exc:
            raise CliError(f"pushing the package to {self.repository}: {exc}") from None
        if not self.args.output:
            size = archive.stat().st_size
            print(f"package {code['digest']} ({size} bytes) pushed to {self.repository}", file=sys.stderr)
        return {"archive": code}


def load(path: Path, args: argparse.Namespace, scratch: Path) -> Loaded:
    """The file's Functions and Triggers; a folder's code as a package when asked or needed."""
    if args.zip is None and not args.package:
        loaded = load_file(path)
        if not loaded.errors or not all(e.packable for e in loaded.errors) or not args.repository:
            return loaded
    return load_file(path, code_for=Packager(args, scratch))


def run(args: argparse.Namespace) -> int:
    path = manifest_path(Path(args.path))
    with tempfile.TemporaryDirectory(prefix="wisp-package-") as scratch:
        return deploy(path, args, Path(scratch))


def deploy(path: Path, args: argparse.Namespace, scratch: Path) -> int:
    if args.zip is not None and args.image:
        raise CliError("--zip and --image both name the code: give one")
    loaded = load(path, args, scratch)
    if loaded.errors:
        for error in loaded.errors[1:]:
            print(f"wisp: {error}", file=sys.stderr)
        raise CliError(str(loaded.errors[0]))
    if not loaded.functions and not loaded.triggers:
        raise CliError(f"{path} holds no Function or Trigger")
    for flag, given in (("--image", args.image), ("--zip", args.zip)):
        if given and len(loaded.functions) != 1:
            raise CliError(f"{flag} needs exactly one Function in {path}, found {len(loaded.functions)}")
    layers = [parse_layer(text) for text in args.layer]
    layer_maps = [layer_config_map(name, folder) for name, folder in layers]
    cluster = kube.connect(args)
    manifests = [
        with_image(s, args.image) if args.image else copy.deepcopy(dict(s.manifest)) for s in loaded.functions
    ]
    if layers:
        manifests = [with_layers(m, [name for name, _ in layers]) for m in manifests]
    for layer in layer_maps:
        cluster.apply_config_map(layer)
        if not args.output:
            print(f"layer/{layer['metadata']['name']} applied (namespace {cluster.namespace})")
    manifests += [dict(t.manifest) for t in loaded.triggers]
    applied = []
    for manifest in manifests:
        obj = cluster.apply(manifest)
        applied.append(obj)
        if not args.output:
            print(
                f"{manifest['kind'].lower()}/{manifest['metadata']['name']} applied "
                f"(namespace {cluster.namespace})"
            )
    functions = [obj for obj in applied if obj.get("kind") == "Function"]
    if not args.no_wait:
        functions = [wait_ready(cluster, obj, args.timeout, quiet=bool(args.output)) for obj in functions]
    if args.output:
        emit(functions + [obj for obj in applied if obj.get("kind") != "Function"], args.output)
        return 0
    for obj in functions:
        url = (obj.get("status") or {}).get("url")
        name = obj["metadata"]["name"]
        if url:
            print(f"{name}: {url}")
        print(f"call it:  wisp invoke {name} -n {cluster.namespace} --data '{{}}'")
    return 0


def _progress(obj: dict[str, Any]) -> tuple[bool, str]:
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    ready = kube.condition(obj, "Ready")
    if not status or ready is None:
        return False, "waiting for the operator (no status yet: is `wisp operator` running?)"
    if (status.get("observedGeneration") or 0) < (meta.get("generation") or 0):
        return False, "waiting for the operator to see the new spec"
    if ready.get("status") == "True":
        return True, "Ready"
    reason = ready.get("reason") or "NotReady"
    message = ready.get("message") or ""
    return False, f"{reason}: {message}" if message else reason


def wait_ready(cluster: kube.Cluster, obj: dict[str, Any], timeout: float, *, quiet: bool) -> dict[str, Any]:
    name = obj["metadata"]["name"]
    deadline = time.monotonic() + timeout
    shown = ""
    while True:
        done, text = _progress(obj)
        if text != shown and not quiet:
            print(f"{name}: {text}", file=sys.stderr, flush=True)
            shown = text
        if done:
            return obj
        if time.monotonic() > deadline:
            raise CliError(
                f"{name} was not Ready within {timeout:g}s ({text}); "
                f"`wisp describe {name} -n {cluster.namespace}` shows why"
            )
        time.sleep(0.5)
        obj = cluster.get(names.FUNCTIONS, name)
