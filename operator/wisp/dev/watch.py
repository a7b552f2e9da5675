"""Noticing edits under the ``wisp dev`` directory by polling (no extra dependency).

``scan`` fingerprints every manifest source (a YAML file; a function folder with all its files)
and ``changes`` compares two scans: both are pure apart from ``stat``, so the supervisor's loop
is "scan every half second, reload what ``changes`` names".
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from wisp.source import discover, is_folder_manifest

Fingerprint = tuple[tuple[str, int, int], ...]
Scan = dict[Path, Fingerprint]

_SKIPPED_DIRS = frozenset({"node_modules", "__pycache__", ".git", ".venv", ".mypy_cache", ".pytest_cache"})
_MAX_FILES = 2000


@dataclass(frozen=True)
class Changes:
    added: tuple[Path, ...] = ()
    changed: tuple[Path, ...] = ()
    removed: tuple[Path, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.changed or self.removed)


def fingerprint(manifest: Path) -> Fingerprint:
    """(name, mtime_ns, size) of the file, or of every file in a function's folder."""
    if not is_folder_manifest(manifest):
        return _stat(manifest, manifest.name)
    rows: list[tuple[str, int, int]] = []
    folder = manifest.parent
    # A Maven project's target/ is the build's output (wisp dev's own build writes it): an edit
    # is a change of its sources, not of what was built from them.
    skipped = _SKIPPED_DIRS | {"target"} if (folder / "pom.xml").is_file() else _SKIPPED_DIRS
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in skipped and not d.startswith("."))
        for name in sorted(files):
            path = Path(root) / name
            rows.extend(_stat(path, str(path.relative_to(folder))))
            if len(rows) >= _MAX_FILES:
                return tuple(rows)
    return tuple(rows)


def _stat(path: Path, name: str) -> Fingerprint:
    try:
        st = path.stat()
    except OSError:
        return ()
    return ((name, st.st_mtime_ns, st.st_size),)


def scan(directory: Path) -> Scan:
    try:
        manifests = discover(directory)
    except OSError:
        return {}
    return {path: fingerprint(path) for path in manifests}


def changes(before: Scan, after: Scan) -> Changes:
    return Changes(
        added=tuple(p for p in after if p not in before),
        changed=tuple(p for p in after if p in before and before[p] != after[p]),
        removed=tuple(p for p in before if p not in after),
    )
