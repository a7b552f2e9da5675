"""Function manifests as the console edits them: cleaning API objects, checking names, and
reading/writing the Function YAML files of a ``wisp dev`` folder.

A folder's Functions are the ``kind: Function`` documents of its ``*.yaml``/``*.yml`` files
(hidden directories skipped). Saving replaces the document in the file it came from, or writes
``<name>.yaml`` for a new function, with code blocks in YAML's literal style so the file stays
readable.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from wisp.api.function import NAME_RE
from wisp.api.names import API_VERSION

EVENT_NAME = re.compile(r"^[-._a-zA-Z0-9]{1,253}$")
NAME_RULE = (
    "a Kubernetes name: at most 63 lowercase letters, digits and '-', starting and ending alphanumeric"
)


def is_name(value: object) -> bool:
    """Whether ``value`` is a DNS label, as Function names and namespaces are. Check it before a
    name becomes part of a path: it holds no '/', '.', '..' nor anything else to escape with."""
    return isinstance(value, str) and len(value) <= 63 and NAME_RE.match(value) is not None


_SERVER_FIELDS = (
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "managedFields",
    "selfLink",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "ownerReferences",
    "finalizers",
)
_LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def shape_problems(obj: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(field, message) for the parts of a Function body that must be objects and are not."""
    problems = []
    meta = obj.get("metadata")
    for field, value in (("metadata", meta), ("spec", obj.get("spec"))):
        if value is not None and not isinstance(value, Mapping):
            problems.append((field, "must be an object"))
    if isinstance(meta, Mapping):
        for key in ("labels", "annotations"):
            value = meta.get(key)
            if value is not None and not isinstance(value, Mapping):
                problems.append((f"metadata.{key}", "must be an object"))
    return problems


def editable(obj: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a Function a user edits: apiVersion, kind, metadata (no server fields), spec."""
    meta = {k: v for k, v in (obj.get("metadata") or {}).items() if k not in _SERVER_FIELDS}
    annotations = {k: v for k, v in (meta.get("annotations") or {}).items() if k != _LAST_APPLIED}
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    return {
        "apiVersion": obj.get("apiVersion") or API_VERSION,
        "kind": "Function",
        "metadata": meta,
        "spec": dict(obj.get("spec") or {}),
    }


class _Dumper(yaml.SafeDumper):
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(docs: list[Any]) -> str:
    return yaml.dump_all(docs, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


class FunctionFiles:
    """The Function documents of a ``wisp dev`` folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def files(self) -> Iterator[Path]:
        for pattern in ("*.yaml", "*.yml"):
            for path in sorted(self.folder.rglob(pattern)):
                rel = path.relative_to(self.folder)
                if not any(part.startswith(".") for part in rel.parts):
                    yield path

    def find(self, namespace: str, name: str) -> tuple[Path, list[Any], int] | None:
        """The file holding the Function, all its documents, and the Function's index."""
        for path in self.files():
            try:
                docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
            except (yaml.YAMLError, OSError, UnicodeDecodeError):
                continue
            for index, doc in enumerate(docs):
                if _is_function(doc, namespace, name):
                    return path, docs, index
        return None

    def save(self, body: Mapping[str, Any]) -> Path:
        meta = body["metadata"]
        found = self.find(meta.get("namespace") or "default", meta["name"])
        if found is None:
            path = self.folder / f"{meta['name']}.yaml"
            if path.exists():
                path = self.folder / f"{meta['name']}.function.yaml"
            docs: list[Any] = [dict(body)]
        else:
            path, docs, index = found
            docs[index] = dict(body)
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(dump(docs), encoding="utf-8")
        tmp.replace(path)  # readers (a folder watcher) never see half a file
        return path

    def remove(self, namespace: str, name: str) -> bool:
        found = self.find(namespace, name)
        if found is None:
            return False
        path, docs, index = found
        rest = [d for i, d in enumerate(docs) if i != index and d is not None]
        if rest:
            path.write_text(dump(rest), encoding="utf-8")
        else:
            path.unlink()
        return True


def _is_function(doc: Any, namespace: str, name: str) -> bool:
    if not isinstance(doc, dict) or doc.get("kind") != "Function":
        return False
    meta = doc.get("metadata") or {}
    return bool(meta.get("name") == name and (meta.get("namespace") or "default") == namespace)
