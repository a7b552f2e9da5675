"""Code files with folders, stored in ConfigMaps whose keys cannot hold a ``/``.

A Function's ``code.files`` and a layer's files are named by relative paths (``app.py``,
``src/orders/models.py``, ``python/requests/__init__.py``). A ConfigMap key is a plain file name,
so a package with folders is stored under flat keys plus one more key, ``LAYOUT_KEY``, mapping
each key to its path; a pod mounts it with a ``configMap`` volume's ``items`` list, which puts
each key at its path. Code without folders keeps plain keys and no layout, as it always had.

Pure functions: ``wisp.source`` (folders read by ``wisp deploy``), ``wisp.resources`` (the
operator's ConfigMaps and volumes) and ``wisp dev`` use them alike.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from wisp.api.checks import SpecError

LAYOUT_KEY = ".wisp-layout.json"
MAX_PATH_LENGTH = 240
_SEGMENT = r"[A-Za-z0-9_.-]+"
PATH_RE = re.compile(rf"^({_SEGMENT}/)*{_SEGMENT}$")
_DOT_SEGMENT = re.compile(r"(^|/)\.\.?(/|$)")
_KEY_RE = re.compile(r"^[A-Za-z0-9_.-]+$")


def check_code_path(path: object, field: str) -> str:
    """``path`` if it names a file below the code dir (folders separated by ``/``)."""
    if (
        not isinstance(path, str)
        or not PATH_RE.match(path)
        or _DOT_SEGMENT.search(path)
        or len(path) > MAX_PATH_LENGTH
        or path == LAYOUT_KEY
    ):
        raise SpecError(
            field,
            "must be a relative file path: names of letters, digits, '.', '_', '-' separated by '/', "
            f"without '.' or '..' parts, at most {MAX_PATH_LENGTH} characters",
        )
    return path


def is_nested(paths: Iterable[str]) -> bool:
    return any("/" in path for path in paths)


def flat_keys(paths: list[str]) -> dict[str, str]:
    """path → ConfigMap key: a path without folders is its own key; a nested one has its ``/``
    written as ``.``, with a number added if that name is taken."""
    keys: dict[str, str] = {path: path for path in paths if "/" not in path}
    taken = set(keys.values()) | {LAYOUT_KEY}
    for path in sorted(p for p in paths if "/" in p):
        key = path.replace("/", ".")
        candidate, n = key, 1
        while candidate in taken:
            n += 1
            candidate = f"{key}.{n}"
        keys[path] = candidate
        taken.add(candidate)
    return keys


def config_map_data(files: Mapping[str, str]) -> dict[str, str]:
    """The ``data`` of a ConfigMap holding ``files`` (path → content), sorted by key."""
    if not is_nested(files):
        return dict(sorted(files.items()))
    keys = flat_keys(list(files))
    data = {keys[path]: content for path, content in files.items()}
    data[LAYOUT_KEY] = json.dumps({keys[path]: path for path in sorted(files)}, sort_keys=True)
    return dict(sorted(data.items()))


def config_map_paths(data: Mapping[str, str]) -> dict[str, str]:
    """key → path of every file a ConfigMap's ``data`` holds (the layout's, else key = path).

    A layout that does not parse, or names a key that is missing or a path that is not
    allowed, raises ``SpecError`` naming the layout key."""
    raw = data.get(LAYOUT_KEY)
    if raw is None:
        return {key: key for key in data if _KEY_RE.match(key)}
    try:
        layout = json.loads(raw)
    except ValueError:
        raise SpecError(LAYOUT_KEY, "is not JSON") from None
    if not isinstance(layout, dict):
        raise SpecError(LAYOUT_KEY, "must map ConfigMap keys to file paths")
    for key, path in layout.items():
        if key not in data:
            raise SpecError(f"{LAYOUT_KEY}[{key}]", "names a key the ConfigMap does not have")
        check_code_path(path, f"{LAYOUT_KEY}[{key}]")
    return dict(sorted(layout.items()))


def volume_items(data: Mapping[str, str]) -> list[dict[str, str]] | None:
    """A ``configMap`` volume's ``items`` for a ConfigMap with folders; None without a layout
    (every key is then mounted as the file of that name)."""
    if LAYOUT_KEY not in data:
        return None
    return [{"key": key, "path": path} for key, path in config_map_paths(data).items()]
