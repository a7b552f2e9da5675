#!/usr/bin/env python3
"""Generate the chart README's table of values from the comments in ``values.yaml``.

A value is documented by a ``# -- text`` comment directly above its key (continued by further
``#`` lines); an optional ``(type)`` right after ``--`` overrides the type shown. Documenting a
map documents everything under it. Defaults come from the parsed YAML, so the table cannot
disagree with the file.

The table replaces what lies between ``<!-- values-table:start -->`` and
``<!-- values-table:end -->`` in the chart's README.md. ``--check`` (in ``make lint``) changes
nothing and exits 1 when a value is undocumented or the README's table is out of date.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

CHART = Path(__file__).resolve().parent / "wisp"
START = "<!-- values-table:start -->"
END = "<!-- values-table:end -->"

_KEY = re.compile(r"^(?P<indent> *)(?P<key>[A-Za-z0-9_.-]+):(?:\s|$)")
_DOC = re.compile(r"^\s*# --(?:\s+\((?P<type>[^)]+)\))?\s?(?P<text>.*)$")
_CONTINUATION = re.compile(r"^\s*#\s?(?P<text>.*)$")


@dataclass(frozen=True)
class ValueDoc:
    """One documented value: its dotted path, the comment's text and an optional type."""

    path: str
    description: str
    type_override: str | None = None


def parse_docs(text: str) -> list[ValueDoc]:
    """The documented keys of a values file, in file order."""
    docs: list[ValueDoc] = []
    stack: list[tuple[int, str]] = []
    pending: list[str] | None = None
    pending_type: str | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped:
            pending = None
            continue
        if stripped.startswith("#"):
            doc = _DOC.match(line)
            if doc:
                pending, pending_type = [doc["text"].strip()], doc["type"]
            elif pending is not None:
                cont = _CONTINUATION.match(line)
                pending.append(cont["text"].strip() if cont else "")
            continue
        key = _KEY.match(line)
        if not key:
            pending = None  # a list item or a continued scalar: never documents a key
            continue
        indent = len(key["indent"])
        while stack and stack[-1][0] >= indent:
            stack.pop()
        path = ".".join([k for _, k in stack] + [key["key"]])
        stack.append((indent, key["key"]))
        if pending is not None:
            docs.append(ValueDoc(path, " ".join(p for p in pending if p), pending_type))
        pending = None
    return docs


def leaf_paths(values: Any, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every value that is not a non-empty map."""
    if isinstance(values, dict) and values:
        for key, child in values.items():
            yield from leaf_paths(child, f"{prefix}.{key}" if prefix else str(key))
    elif prefix:
        yield prefix


def lookup(values: Any, path: str) -> Any:
    node = values
    for part in path.split("."):
        node = node[part]
    return node


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "list"
    if isinstance(value, dict):
        return "object"
    return "null"


def problems(values: Any, docs: list[ValueDoc]) -> list[str]:
    """Undocumented values and comments that document no existing value."""
    documented = {d.path for d in docs}
    found: list[str] = []
    for path in leaf_paths(values):
        parts = path.split(".")
        if not any(".".join(parts[:i]) in documented for i in range(1, len(parts) + 1)):
            found.append(f"{path}: undocumented (add a '# -- ...' comment above it)")
    for doc in docs:
        try:
            lookup(values, doc.path)
        except (KeyError, TypeError):
            found.append(f"{doc.path}: documented but not a value")
    return found


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def render_table(values: Any, docs: list[ValueDoc]) -> str:
    rows = ["| Key | Type | Default | Description |", "|-----|------|---------|-------------|"]
    for doc in docs:
        value = lookup(values, doc.path)
        default = json.dumps(value, separators=(",", ":"))
        kind = doc.type_override or type_name(value)
        rows.append(f"| `{doc.path}` | {kind} | `{_cell(default)}` | {_cell(doc.description)} |")
    return "\n".join(rows) + "\n"


def replace_table(readme: str, table: str) -> str:
    start, end = readme.find(START), readme.find(END)
    if start < 0 or end < start:
        raise ValueError(f"README.md lacks the markers {START} ... {END}")
    return readme[: start + len(START)] + "\n" + table + readme[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chart", type=Path, default=CHART, help="chart directory")
    parser.add_argument("--check", action="store_true", help="exit 1 if the README is stale")
    args = parser.parse_args(argv)
    values_text = (args.chart / "values.yaml").read_text()
    values = yaml.safe_load(values_text) or {}
    docs = parse_docs(values_text)
    issues = problems(values, docs)
    for issue in issues:
        print(f"gen-values-table: values.yaml: {issue}", file=sys.stderr)
    if issues:
        return 1
    readme_path = args.chart / "README.md"
    readme = readme_path.read_text()
    updated = replace_table(readme, render_table(values, docs))
    if args.check:
        if updated != readme:
            print(
                "gen-values-table: README.md's values table is out of date; "
                "run deploy/helm/gen-values-table.py",
                file=sys.stderr,
            )
            return 1
        return 0
    if updated != readme:
        readme_path.write_text(updated)
        print(f"gen-values-table: updated {readme_path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
