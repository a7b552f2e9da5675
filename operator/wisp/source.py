"""Function and Trigger manifests read from files and folders (``wisp dev``, ``wisp deploy``).

Two layouts are understood:

* a YAML file holding one or more Function / Trigger documents, code inline or in
  ``code.files`` (``examples/hello.yaml``);
* a function folder: ``function.yaml`` beside the code. When its Function sets no
  ``spec.code``, the code comes from the folder: the one source file becomes ``code.inline``,
  several become ``code.files``, sub-folders included (``src/app/models.py``; tests,
  ``README.md``, dot-files, ``node_modules``, virtual environments and build output are left
  out). ``wisp dev`` runs such a function from
  the folder itself, so edits to any file there reload it.

Every manifest is checked with ``wisp.api`` (the CRD's own rules), so a bad file is reported as
``path: field: message`` before anything runs or reaches the API server.
"""

from __future__ import annotations

import copy
import fnmatch
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from wisp.api.codepaths import check_code_path, config_map_data
from wisp.api.defaults import MAX_CODE_BYTES, code_size
from wisp.api.function import Function, SpecError, handler_source_file, parse_function
from wisp.api.trigger import Trigger, parse_trigger

FUNCTION_FILE = "function.yaml"
YAML_SUFFIXES = (".yaml", ".yml")
_LEFT_OUT = (
    "function.yaml",
    "function.yml",
    "README*",
    "readme*",
    "test_*.py",
    "*_test.py",
    "*.test.js",
    "*.spec.js",
    "*.test.mjs",
    "conftest.py",
    "*.pyc",
    "*.class",
    "*.jar",
    "package-lock.json",
    "pom.xml",
    "Dockerfile",
    ".*",
)
# Folders that are never code: installed dependencies (the init step installs them again),
# virtual environments, build output and tests.
_LEFT_OUT_FOLDERS = frozenset({"node_modules", "__pycache__", "venv", "target", "tests", "__tests__"})


class SourceError(Exception):
    """A file that cannot be used; ``str()`` is the one line shown to the user. ``packable``: the
    folder's code cannot be files in a ConfigMap (too large, or binary) but can be a package."""

    def __init__(self, path: Path, message: str, field: str = "", *, packable: bool = False) -> None:
        self.path = path
        self.field = field
        self.message = message
        self.packable = packable
        where = f"{field}: " if field else ""
        super().__init__(f"{display(path)}: {where}{message}")


@dataclass(frozen=True)
class FunctionSource:
    """A Function as read from disk: the completed manifest and where its code lives."""

    function: Function
    manifest: Mapping[str, Any]
    path: Path  # the file it was read from
    folder: Path | None = None  # set for functions read from a folder's function.yaml
    code_from_folder: bool = False  # spec.code was built from the folder's files

    @property
    def key(self) -> str:
        return self.function.key


@dataclass(frozen=True)
class TriggerSource:
    trigger: Trigger
    manifest: Mapping[str, Any]
    path: Path


@dataclass
class Loaded:
    """Everything one file gave: what parsed, and one error per document that did not."""

    functions: list[FunctionSource]
    triggers: list[TriggerSource]
    errors: list[SourceError]


def display(path: Path) -> str:
    """A path as the user typed it (relative to the working directory when below it)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def discover(directory: Path) -> list[Path]:
    """The manifest files of a directory: ``*.yaml`` in it and ``*/function.yaml`` below it."""
    found: list[Path] = []
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_file() and entry.suffix in YAML_SUFFIXES:
            found.append(entry)
        elif entry.is_dir() and (entry / FUNCTION_FILE).is_file():
            found.append(entry / FUNCTION_FILE)
    return found


def is_folder_manifest(path: Path) -> bool:
    return path.name == FUNCTION_FILE


def code_files(folder: Path) -> dict[str, str]:
    """The folder's code as ``code.files`` would hold it, sub-folders included (paths with
    ``/``); SourceError if it cannot."""
    files: dict[str, str] = {}
    for entry in _code_entries(folder):
        path = entry.relative_to(folder).as_posix()
        try:
            check_code_path(path, "")
        except SpecError:
            raise SourceError(
                entry, "cannot be stored: file and folder names are letters, digits, '.', '_', '-'"
            ) from None
        data = entry.read_bytes()
        try:
            files[path] = data.decode("utf-8")
        except UnicodeDecodeError:
            raise SourceError(
                entry,
                "is not UTF-8 text; deploy the folder as a package (--package) "
                "or put it in an image (--image)",
                packable=True,
            ) from None
    if not files:
        raise SourceError(folder, "holds no code files")
    # The operator's limit, counted as it counts (the ConfigMap's keys and contents): refused
    # here, before anything reaches the API server.
    total = code_size(config_map_data(files))
    if total > MAX_CODE_BYTES:
        largest = sorted(files, key=lambda p: len(files[p].encode()), reverse=True)[:3]
        sizes = ", ".join(f"{p} ({len(files[p].encode())} bytes)" for p in largest)
        raise SourceError(
            folder,
            f"holds {total} bytes of code, more than the {MAX_CODE_BYTES} a Function's code can be "
            f"(it is stored in a ConfigMap); the largest files: {sizes}. Deploy the folder as a "
            "package (--package, with --repository), install dependencies from "
            "requirements.txt/package.json instead of copying them, move shared files to a layer "
            "(--layer), or build an image (--image)",
            packable=True,
        )
    return files


def layer_files(folder: Path) -> dict[str, str]:
    """A layer folder's files as its ConfigMap holds them (every file but dot-files and
    byte-code, paths as under /opt: ``python/mylib/__init__.py``); SourceError if it cannot."""
    files: dict[str, str] = {}
    for entry in sorted(p for p in folder.rglob("*") if p.is_file()):
        path = entry.relative_to(folder).as_posix()
        if any(part.startswith(".") or part == "__pycache__" for part in path.split("/")) or path.endswith(
            ".pyc"
        ):
            continue
        try:
            check_code_path(path, "")
        except SpecError:
            raise SourceError(
                entry, "cannot be stored: file and folder names are letters, digits, '.', '_', '-'"
            ) from None
        try:
            files[path] = entry.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise SourceError(
                entry, "is not UTF-8 text; a layer with binary files belongs in an image"
            ) from None
    if not files:
        raise SourceError(folder, "holds no files for a layer")
    total = code_size(config_map_data(files))
    if total > MAX_CODE_BYTES:
        raise SourceError(
            folder,
            f"holds {total} bytes, more than the {MAX_CODE_BYTES} a layer can be (a ConfigMap holds it)",
        )
    return files


def _code_entries(folder: Path) -> list[Path]:
    """The files of the folder and its sub-folders that are code, in path order."""
    found: list[Path] = []
    for entry in sorted(folder.iterdir()):
        if any(fnmatch.fnmatch(entry.name, p) for p in _LEFT_OUT):
            continue
        if entry.is_dir() and not entry.is_symlink():
            if entry.name not in _LEFT_OUT_FOLDERS:
                found += _code_entries(entry)
        elif entry.is_file():
            found.append(entry)
    return found


def with_folder_code(manifest: Mapping[str, Any], folder: Path) -> dict[str, Any]:
    """``manifest`` with ``spec.code`` built from ``folder`` when the manifest sets none."""
    completed = copy.deepcopy(dict(manifest))
    spec = completed.get("spec")
    if not isinstance(spec, dict) or spec.get("code"):
        return completed
    files = code_files(folder)
    runtime_text = spec.get("runtime")
    handler = spec.get("handler")
    inline_name = None
    try:
        from wisp.api.runtimes import Runtime

        if isinstance(handler, str):
            inline_name = handler_source_file(Runtime(str(runtime_text)), handler)
    except ValueError:
        pass  # parse_function names the bad runtime
    if len(files) == 1 and inline_name in files:
        spec["code"] = {"inline": files[inline_name]}
    else:
        spec["code"] = {"files": files}
    return completed


def read_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a file (empty ones dropped); SourceError when it does not parse."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(path, f"cannot be read: {exc}") from None
    try:
        documents = [doc for doc in yaml.safe_load_all(text) if doc is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SourceError(path, f"is not valid YAML{where}: {problem}") from None
    for doc in documents:
        if not isinstance(doc, dict):
            raise SourceError(path, "holds a YAML document that is not a mapping")
    return documents


CodeFor = Callable[[Mapping[str, Any], "Path | None"], "dict[str, Any] | None"]


def load_file(path: Path, *, namespace: str | None = None, code_for: CodeFor | None = None) -> Loaded:
    """Parse every Function and Trigger in ``path``; ``namespace`` overrides unset namespaces.

    ``code_for(document, folder)``, when given, may return a Function's ``spec.code`` in place of
    the one it has or its folder would give (``wisp deploy --package`` makes it a package)."""
    loaded = Loaded([], [], [])
    try:
        documents = read_documents(path)
    except SourceError as exc:
        loaded.errors.append(exc)
        return loaded
    folder = path.parent if is_folder_manifest(path) else None
    for doc in documents:
        kind = doc.get("kind")
        if namespace is not None:
            doc["metadata"] = {**(doc.get("metadata") or {}), "namespace": namespace}
        try:
            if kind == "Function":
                code = code_for(doc, folder) if code_for is not None else None
                if code is not None:
                    doc["spec"] = {**(doc.get("spec") or {}), "code": code}
                manifest = with_folder_code(doc, folder) if folder is not None else doc
                filled = folder is not None and not _sets_code(doc)
                fn = parse_function(manifest)
                loaded.functions.append(FunctionSource(fn, manifest, path, folder, filled))
            elif kind == "Trigger":
                loaded.triggers.append(TriggerSource(parse_trigger(doc), doc, path))
            else:
                raise SourceError(path, f"must be Function or Trigger, got {kind!r}", "kind")
        except SpecError as exc:
            loaded.errors.append(SourceError(path, exc.message, exc.field))
        except SourceError as exc:
            loaded.errors.append(exc)
    return loaded


def _sets_code(doc: Mapping[str, Any]) -> bool:
    spec = doc.get("spec")
    return not isinstance(spec, Mapping) or bool(spec.get("code"))
