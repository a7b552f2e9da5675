"""The ConfigMap that carries a Function's inline or files code."""

from __future__ import annotations

from typing import Any

from wisp.api.codepaths import config_map_data
from wisp.api.defaults import MAX_CODE_BYTES, code_size
from wisp.api.function import Function, SpecError
from wisp.resources.names import Names, child_metadata


class CodeTooLarge(SpecError):
    """Inline/files code that cannot fit in a ConfigMap."""


def make_code_configmap(fn: Function) -> dict[str, Any] | None:
    """The code ConfigMap, or None when the code comes from an image or the user's ConfigMap."""
    files = fn.spec.code_files()
    if not files:
        return None
    data = config_map_data(files)
    size = code_size(data)
    if size > MAX_CODE_BYTES:
        raise CodeTooLarge(
            "spec.code",
            f"the code is {size} bytes, more than the {MAX_CODE_BYTES} a ConfigMap can hold; "
            "install dependencies from requirements.txt/package.json, move shared files to a layer "
            "(spec.layers), or build an image and use spec.code.image",
        )
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": child_metadata(fn, Names.of(fn).configmap),
        "data": data,
    }
