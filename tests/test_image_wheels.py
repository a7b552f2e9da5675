"""tools/image-wheels.py picks wheels for the image's interpreter, not the host's: a Debian base
with another Python version or C library gets wheels it can install."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def image_wheels() -> ModuleType:
    spec = importlib.util.spec_from_file_location("image_wheels", ROOT / "tools" / "image-wheels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def environment(python: str, libc: str) -> dict[str, str]:
    return {
        "implementation_name": "cpython",
        "python_version": python,
        "platform_machine": "x86_64",
        "wisp_libc": libc,
    }


@pytest.mark.parametrize(
    ("python", "libc", "abi", "newest", "oldest"),
    [
        ("3.14", "glibc 2.42", "cp314", "manylinux_2_42_x86_64", "manylinux1_x86_64"),  # forky
        ("3.13", "glibc 2.41", "cp313", "manylinux_2_41_x86_64", "manylinux1_x86_64"),  # trixie
        ("3.11", "glibc 2.36", "cp311", "manylinux_2_36_x86_64", "manylinux1_x86_64"),  # bookworm
    ],
)
def test_wheels_are_for_the_images_python_and_glibc(
    python: str, libc: str, abi: str, newest: str, oldest: str
) -> None:
    options = image_wheels().target_options(environment(python, libc))
    assert options[options.index("--python-version") + 1] == python
    assert abi in options and "abi3" in options and "none" in options
    platforms = [options[i + 1] for i, option in enumerate(options) if option == "--platform"]
    assert platforms[0] == newest
    assert {"manylinux2014_x86_64", "manylinux_2_17_x86_64", oldest} <= set(platforms)
    assert "linux_x86_64" in platforms


def test_no_manylinux_without_glibc() -> None:
    options = image_wheels().target_options(environment("3.14", " "))
    platforms = [options[i + 1] for i, option in enumerate(options) if option == "--platform"]
    assert platforms == ["linux_x86_64"]
