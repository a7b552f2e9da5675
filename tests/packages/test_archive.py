"""Packages made from folders and unpacked: reproducible, folders kept, nothing escapes."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from pathlib import Path

import pytest

from wisp.packages.archive import ArchiveError, make_zip, unpack
from wisp.packages.push import package_folder


def tree(root: Path, files: dict[str, bytes]) -> Path:
    for name, data in files.items():
        target = root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return root


APP = {
    "main.py": b"def handler(e, c):\n    return e\n",
    "vendor/lib/__init__.py": b"",
    "vendor/lib/data.bin": bytes(range(256)) * 10,
    "bin/tool": b"#!/bin/sh\necho hi\n",
    "function.yaml": b"kind: Function\n",
    ".git/config": b"x",
    "lib/__pycache__/m.cpython-312.pyc": b"x",
}


def test_a_folder_packs_to_the_same_bytes_every_time_and_unpacks_with_its_folders(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", APP)
    os.chmod(src / "bin/tool", 0o755)
    first = package_folder(src, tmp_path / "a.zip")
    os.utime(src / "main.py", (1e9, 1e9))  # a touched file is the same package
    second = package_folder(src, tmp_path / "b.zip")
    assert first.read_bytes() == second.read_bytes()

    out = tmp_path / "out"
    out.mkdir()
    unpack(first, out)
    got = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert got == ["bin/tool", "main.py", "vendor/lib/__init__.py", "vendor/lib/data.bin"]
    assert (out / "vendor/lib/data.bin").read_bytes() == APP["vendor/lib/data.bin"]
    assert os.access(out / "bin/tool", os.X_OK) and not os.access(out / "main.py", os.X_OK)


def test_a_tar_gz_unpacks_with_its_folders(tmp_path: Path) -> None:
    archive = tmp_path / "app.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in {"main.py": b"x = 1\n", "pkg/sub/mod.py": b"y = 2\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    out = tmp_path / "out"
    out.mkdir()
    unpack(archive, out)
    assert (out / "pkg/sub/mod.py").read_text() == "y = 2\n"


def zip_with(tmp_path: Path, name: str, data: bytes = b"x", mode: int = 0o100644) -> Path:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        info = zipfile.ZipInfo(name)
        info.external_attr = mode << 16
        zf.writestr(info, data)
    return archive


def tar_with(tmp_path: Path, info: tarfile.TarInfo) -> Path:
    archive = tmp_path / "bad.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        tf.addfile(info, io.BytesIO(b"x" * info.size) if info.isfile() else None)
    return archive


def link(name: str, target: str) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


def regular(name: str, size: int = 1) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    return info


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: zip_with(p, "../escape.py"), "'../escape.py'"),
        (lambda p: zip_with(p, "/etc/cron.d/x"), "'/etc/cron.d/x'"),
        (lambda p: zip_with(p, "a/../../x"), "'a/../../x'"),
        (lambda p: zip_with(p, "ln", b"/etc/passwd", 0o120777), "symbolic links"),
        (lambda p: tar_with(p, regular("../escape.py")), "'../escape.py'"),
        (lambda p: tar_with(p, link("ln", "/etc/passwd")), "refused"),
        (lambda p: tar_with(p, link("ln", "../../outside")), "refused"),
        (lambda p: (p / "x.zip").write_bytes(b"not an archive") and p / "x.zip", "neither a zip"),
    ],
)
def test_what_could_escape_the_code_folder_is_refused(tmp_path: Path, make: object, words: str) -> None:
    archive = make(tmp_path)  # type: ignore[operator]
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ArchiveError) as info:
        unpack(archive, out)
    assert words in str(info.value)
    assert not (tmp_path / "escape.py").exists()


def test_a_package_that_unpacks_beyond_the_limit_is_refused_before_writing(tmp_path: Path) -> None:
    src = tree(tmp_path / "src", {"big.bin": b"\0" * 200_000})
    archive = tmp_path / "big.zip"
    make_zip(src, ["big.bin"], archive)
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(ArchiveError) as info:
        unpack(archive, out, max_bytes=100_000)
    assert "200000 bytes, more than the limit of 100000" in str(info.value)
    assert not any(out.iterdir())
