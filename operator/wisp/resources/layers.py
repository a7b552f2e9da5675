"""Lambda's layers in a pod: the files of a Function's ``spec.layers`` under ``/opt``.

Each layer is a ConfigMap (``wisp deploy --layer`` makes one from a folder, with the layout of
``wisp.api.codepaths``). One projected volume merges them, a later layer's file replacing an
earlier one's at the same path as on Lambda, and each top-level folder of the result is mounted
at ``/opt/<folder>`` (``/opt/python``, ``/opt/nodejs``, ``/opt/java``, ``/opt/bin``, ...): the
image's own ``/opt/wisp`` stays visible, so that name is refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from wisp.api.codepaths import config_map_paths
from wisp.api.function import SpecError

LAYERS_DIR = "/opt"
VOLUME = "layers"
RESERVED = frozenset({"wisp"})


@dataclass(frozen=True)
class LayerData:
    """A layer as the operator read it: its ConfigMap's name and data."""

    config_map: str
    data: Mapping[str, str]


def merged_files(layers: Sequence[LayerData]) -> dict[str, tuple[str, str]]:
    """path → (ConfigMap, key) of every file the layers give, later layers winning."""
    files: dict[str, tuple[str, str]] = {}
    for i, layer in enumerate(layers):
        try:
            paths = config_map_paths(layer.data)
        except SpecError as exc:
            raise SpecError(f"spec.layers[{i}]", f"ConfigMap {layer.config_map}: {exc}") from None
        for key, path in paths.items():
            top = path.split("/", 1)[0]
            if top in RESERVED:
                raise SpecError(
                    f"spec.layers[{i}]",
                    f"ConfigMap {layer.config_map}: {path}: /opt/{top} is the runtime's own",
                )
            files[path] = (layer.config_map, key)
    return files


def layers_volume(layers: Sequence[LayerData]) -> dict[str, Any] | None:
    files = merged_files(layers)
    if not files:
        return None
    sources = []
    for layer in layers:
        items = [
            {"key": key, "path": path} for path, (cm, key) in sorted(files.items()) if cm == layer.config_map
        ]
        if items:
            sources.append({"configMap": {"name": layer.config_map, "items": items}})
    return {"name": VOLUME, "projected": {"sources": sources}}


def layers_mounts(layers: Sequence[LayerData]) -> list[dict[str, Any]]:
    tops = sorted({path.split("/", 1)[0] for path in merged_files(layers)})
    return [
        {"name": VOLUME, "mountPath": f"{LAYERS_DIR}/{top}", "subPath": top, "readOnly": True} for top in tops
    ]
