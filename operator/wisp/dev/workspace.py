"""Where a ``wisp dev`` function's code and dependencies live on disk, and what starts it.

A folder function runs from its folder (edits there are live on the next start); inline and
``code.files`` code is written to ``<work>/code/<namespace>/<name>/<revision>``. Dependencies
(``requirements.txt``, ``package.json``) are installed by the runtime's own init step into
``<cache>/deps/<namespace>/<name>``, which keeps a stamp so a restart skips an unchanged install.
A Java function whose code is an image runs locally from ``<folder>/target``: with a JDK and
Maven on the machine ``wisp dev`` builds the jar there itself (``javabuild``), without them a
jar already built is served, else ``unsupported`` says what to install. A package
(``code.archive``) is fetched by digest as a pod's init step does, kept in ``<cache>/packages``,
and unpacked once into ``<work>/packages/<hex>`` (``WISP_PACKAGE_REPOSITORY`` and
``WISP_PACKAGE_PLAIN_HTTP`` as for the operator). Anything else in an
image cannot run without a container engine, and ``PreparedCode.unsupported`` says so.
Layers (``spec.layers``) come from the folders given with ``wisp dev --layer NAME=FOLDER``: a
function's layers are copied, in order, into ``<work>/layers/<namespace>/<name>``, which the
runtime uses as its ``/opt`` (``WISP_LAYERS_DIR``), as a pod has them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path

from wisp.api import contract
from wisp.api.function import NAME_RE, Function
from wisp.api.package import ArchiveSpec
from wisp.dev.javabuild import JavaBuild, missing_toolchain, toolchain
from wisp.packages.archive import ArchiveError, unpack
from wisp.packages.fetch import PackageError, StoreSettings, fetch_package
from wisp.source import FunctionSource, SourceError


@dataclass(frozen=True)
class Workspace:
    work_dir: Path  # per run: generated code
    cache_dir: Path  # across runs: installed dependencies
    layers: Mapping[str, Path] = dataclass_field(default_factory=dict)  # wisp dev --layer NAME=FOLDER

    @classmethod
    def default(cls, work_dir: Path, layers: Mapping[str, Path] | None = None) -> Workspace:
        cache = os.environ.get("WISP_DEV_CACHE") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "wisp", "dev"
        )
        return cls(work_dir, Path(cache), dict(layers or {}))


@dataclass(frozen=True)
class PreparedCode:
    code_dir: Path | None
    deps_dir: Path
    unsupported: str = ""  # why the function cannot run locally (empty: it can)
    build: JavaBuild | None = None  # run before the first replica starts, like an install
    layers_dir: Path | None = None  # the function's /opt: its layers, merged
    aws_sdk_dir: Path | None = None  # the locked AWS SDK, for code that imports it (wisp.dev.awssdk)

    def environment(self, fn: Function) -> dict[str, str]:
        """The runtime's ``WISP_*`` variables plus the spec's plain ``env`` values."""
        env = contract.runtime_environment(
            fn,
            code_dir=str(self.code_dir),
            deps_dir=str(self.deps_dir),
            host="127.0.0.1",
            port=0,
            # As the operator does, from its own settings: here the environment wisp dev runs in.
            region=os.environ.get("WISP_REGION", "").strip(),
            account_id=os.environ.get("WISP_ACCOUNT_ID", "").strip(),
        )
        if self.layers_dir is not None:
            env["WISP_LAYERS_DIR"] = str(self.layers_dir)
        if self.aws_sdk_dir is not None:
            env["WISP_AWS_SDK_DIR"] = str(self.aws_sdk_dir)
        for item in fn.spec.env:
            if "value" in item:
                env[str(item["name"])] = str(item["value"])
        return env

    @property
    def has_dependencies(self) -> bool:
        return self.code_dir is not None and any(
            (self.code_dir / name).is_file() for name in ("requirements.txt", "package.json")
        )


def prepare(source: FunctionSource, workspace: Workspace) -> PreparedCode:
    """Where ``source`` runs from; ``SourceError`` if its names cannot be directory names."""
    code = _prepare_code(source, workspace)
    if code.code_dir is None:
        return code
    fn = source.function
    missing = [layer.config_map for layer in fn.spec.layers if layer.config_map not in workspace.layers]
    if missing:
        flags = " ".join(f"--layer {name}=FOLDER" for name in missing)
        return PreparedCode(
            None, code.deps_dir, f"uses the layers {', '.join(missing)}: give their folders ({flags})"
        )
    layers_dir = workspace.work_dir / "layers" / fn.namespace / fn.name
    shutil.rmtree(layers_dir, ignore_errors=True)
    layers_dir.mkdir(parents=True)
    for layer in fn.spec.layers:  # a later layer's file replaces an earlier one's, as in a pod
        shutil.copytree(workspace.layers[layer.config_map], layers_dir, dirs_exist_ok=True)
    return dataclasses.replace(code, layers_dir=layers_dir)


def _prepare_code(source: FunctionSource, workspace: Workspace) -> PreparedCode:
    fn = source.function
    for field, value in (("metadata.namespace", fn.namespace), ("metadata.name", fn.name)):
        # Both become directories under the work and cache folders: never '..' or a '/'.
        if len(value) > 63 or not NAME_RE.match(value):
            raise SourceError(source.path, "must be a DNS label (lowercase letters, digits, '-')", field)
    deps_dir = workspace.cache_dir / "deps" / fn.namespace / fn.name
    code = fn.spec.code
    if code.image is not None:
        if fn.spec.runtime.language == "java" and source.folder is not None:
            target = source.folder / "target"
            has_pom = (source.folder / "pom.xml").is_file()
            java_version = fn.spec.runtime.value.removeprefix("java")
            missing = missing_toolchain(java_version, toolchain()) if has_pom else "no pom.xml"
            if not missing:
                return PreparedCode(target, deps_dir, build=JavaBuild(source.folder))
            if any(target.glob("*.jar")):
                return PreparedCode(target, deps_dir)
            if has_pom:
                return PreparedCode(None, deps_dir, f"runs from image {code.image} and {missing}")
            return PreparedCode(
                None,
                deps_dir,
                f"runs from image {code.image}; put its jar in {target} to run it locally",
            )
        if fn.spec.runtime.language == "provided" and source.folder is not None:
            # A compiled bootstrap (Go, Rust) ships in an image; locally it runs from the folder.
            if (source.folder / "bootstrap").is_file():
                return PreparedCode(source.folder, deps_dir)
            return PreparedCode(
                None,
                deps_dir,
                f"runs from image {code.image}; build its bootstrap in {source.folder} to run it locally",
            )
        return PreparedCode(None, deps_dir, f"runs from image {code.image}, which wisp dev cannot run")
    if code.archive is not None:
        return _unpacked_package(code.archive, workspace, deps_dir)
    if code.config_map is not None:
        return PreparedCode(
            None, deps_dir, f"takes its code from ConfigMap {code.config_map}, which exists only in a cluster"
        )
    if source.folder is not None and source.code_from_folder:
        return PreparedCode(source.folder, deps_dir)
    files = fn.spec.code_files()
    digest = hashlib.sha256(repr(sorted(files.items())).encode()).hexdigest()[:12]
    code_dir = workspace.work_dir / "code" / fn.namespace / fn.name / digest
    if not code_dir.is_dir():
        staging = code_dir.with_suffix(".staging")
        shutil.rmtree(staging, ignore_errors=True)
        for name, content in files.items():
            target = staging / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content, encoding="utf-8")
        staging.rename(code_dir)
    return PreparedCode(code_dir, deps_dir)


def _unpacked_package(archive: ArchiveSpec, workspace: Workspace, deps_dir: Path) -> PreparedCode:
    code_dir = workspace.work_dir / "packages" / archive.hex
    if code_dir.is_dir():
        return PreparedCode(code_dir, deps_dir)
    settings = StoreSettings(
        repository=os.environ.get("WISP_PACKAGE_REPOSITORY", "").strip(),
        plain_http=frozenset(
            h.strip() for h in os.environ.get("WISP_PACKAGE_PLAIN_HTTP", "").split(",") if h.strip()
        ),
    )
    staging = code_dir.with_suffix(".staging")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        unpack(fetch_package(archive, workspace.cache_dir / "packages", settings), staging)
    except (PackageError, ArchiveError) as exc:
        shutil.rmtree(staging, ignore_errors=True)
        return PreparedCode(None, deps_dir, f"cannot get its package: {exc}")
    staging.rename(code_dir)
    return PreparedCode(code_dir, deps_dir)
