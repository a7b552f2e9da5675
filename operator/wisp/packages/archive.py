"""Zip and tar.gz code packages: made from a folder, unpacked safely.

``make_zip`` is reproducible (sorted entries, fixed timestamps and modes): the same files give the
same bytes, so the same digest, and a redeploy of unchanged code changes nothing. ``unpack``
refuses what could escape the target folder (absolute paths, ``..``, links pointing out, devices)
and archives that unpack to more than the limit (Lambda's is 250 MB), naming the entry.
"""

from __future__ import annotations

import enum
import os
import stat
import tarfile
import zipfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

MAX_UNPACKED_BYTES = 250 * 1024 * 1024  # as Lambda's unzipped deployment package
MAX_ENTRIES = 100_000
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest a zip can say


class ArchiveError(Exception):
    """An archive that cannot be unpacked; ``str()`` says which entry and why."""


class ArchiveFormat(enum.Enum):
    ZIP = "zip"
    TAR_GZ = "tar.gz"


def detect_format(path: Path) -> ArchiveFormat:
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        return ArchiveFormat.ZIP
    if magic[:2] == b"\x1f\x8b":
        return ArchiveFormat.TAR_GZ
    raise ArchiveError("the package is neither a zip nor a gzip-compressed tar archive")


def folder_files(folder: Path, left_out: Iterable[str] = ()) -> list[str]:
    """Relative paths of the regular files under ``folder``, sorted; folders named in ``left_out``
    and dot-files are not packaged."""
    skip = set(left_out)
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in skip and not d.startswith("."))
        for name in files:
            if name.startswith("."):
                continue
            full = Path(root) / name
            if full.is_file():
                found.append(full.relative_to(folder).as_posix())
    return sorted(found)


def make_zip(folder: Path, files: Iterable[str], target: Path) -> None:
    """A reproducible zip of ``files`` (paths relative to ``folder``) at ``target``."""
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=6) as archive:
        for name in sorted(files):
            source = folder / name
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            executable = os.access(source, os.X_OK)
            info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with source.open("rb") as src, archive.open(info, "w") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)


def _checked_name(name: str) -> PurePosixPath:
    path = PurePosixPath(name)
    if path.is_absolute() or ".." in path.parts or "\\" in name or not name.strip("/"):
        raise ArchiveError(f"entry {name!r}: paths must stay inside the package (no '/' start, no '..')")
    return path


def unpack(archive: Path, target: Path, *, max_bytes: int = MAX_UNPACKED_BYTES) -> int:
    """Unpack ``archive`` (zip or tar.gz) into the existing folder ``target``; the bytes unpacked."""
    fmt = detect_format(archive)
    if fmt is ArchiveFormat.ZIP:
        return _unpack_zip(archive, target, max_bytes)
    return _unpack_tar(archive, target, max_bytes)


def _too_big(total: int, max_bytes: int) -> ArchiveError:
    return ArchiveError(f"the package unpacks to {total} bytes, more than the limit of {max_bytes}")


def _unpack_zip(archive: Path, target: Path, max_bytes: int) -> int:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            if len(infos) > MAX_ENTRIES:
                raise ArchiveError(f"the package has {len(infos)} entries, more than {MAX_ENTRIES}")
            total = sum(info.file_size for info in infos)
            if total > max_bytes:
                raise _too_big(total, max_bytes)
            for info in infos:
                rel = _checked_name(info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    raise ArchiveError(f"entry {info.filename!r}: symbolic links are not unpacked from zips")
                dest = target.joinpath(*rel.parts)
                if info.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                written = 0
                with zf.open(info) as src, dest.open("wb") as dst:
                    while chunk := src.read(1 << 20):
                        written += len(chunk)
                        if written > info.file_size:  # a header that lies about the size
                            raise ArchiveError(f"entry {info.filename!r} is larger than its header says")
                        dst.write(chunk)
                dest.chmod(0o755 if mode & 0o111 else 0o644)
            return total
    except zipfile.BadZipFile as exc:
        raise ArchiveError(f"the package is not a readable zip: {exc}") from None


def _unpack_tar(archive: Path, target: Path, max_bytes: int) -> int:
    try:
        with tarfile.open(archive, "r:gz") as tf:
            members = tf.getmembers()
            if len(members) > MAX_ENTRIES:
                raise ArchiveError(f"the package has {len(members)} entries, more than {MAX_ENTRIES}")
            total = sum(m.size for m in members if m.isfile())
            if total > max_bytes:
                raise _too_big(total, max_bytes)
            for member in members:
                _checked_name(member.name)
            # The "data" filter refuses links out of the target, devices and absolute paths, and
            # clears set-uid bits and ownership.
            tf.extractall(target, filter="data")
            return total
    except tarfile.FilterError as exc:
        raise ArchiveError(f"entry refused: {exc}") from None
    except (tarfile.TarError, EOFError, OSError) as exc:
        if isinstance(exc, (PermissionError, FileNotFoundError)):
            raise
        raise ArchiveError(f"the package is not a readable tar.gz: {exc}") from None
