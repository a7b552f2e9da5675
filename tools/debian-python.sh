#!/usr/bin/env bash
# A local interpreter of a Python version the machine lacks, from Debian's packages, for
# `wisp dev` and the runtime contract tests (WISP_PYTHON_X_Y): Python 3.14 from Debian forky on a
# bookworm host, for instance.
#
# The suite's packages are unpacked into a root file system with mmdebstrap (cached under
# ~/.cache/wisp/python-runtimes/<version>-<suite>/root); its interpreter is made to run on the host
# by pointing its ELF interpreter and library path at the root's own dynamic loader and libraries
# (patchelf: the root's glibc is newer than the host's, so the host's loader cannot run it). Its
# standard library is found next to it, as usual. A virtual environment on it gets pip (the
# root's own wheel) and the runtime's requirements (runtime-images/python/requirements.txt,
# hashes checked), like the runtime image.
#
# Usage: tools/debian-python.sh VERSION [SUITE]
#   (SUITE defaults to the one runtime-images/debian-bases.txt names for the version)
# Prints the interpreter's path on its last line:
#   export WISP_PYTHON_3_14="$(tools/debian-python.sh 3.14 | tail -1)"
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE_ROOT="${WISP_CACHE_DIR:-$HOME/.cache/wisp}"
log() { echo "debian-python: $*" >&2; }

version=${1:?usage: $0 VERSION [SUITE]}
suite=${2:-$(awk -v v="$version" '$1 == "python" && $2 == v { print $3 }' "$ROOT/runtime-images/debian-bases.txt")}
[[ -n $suite ]] || { log "no Debian suite for Python $version in runtime-images/debian-bases.txt"; exit 1; }
dir="$CACHE_ROOT/python-runtimes/$version-$suite"
root="$dir/root"
venv="$dir/venv"
requirements="$ROOT/runtime-images/python/requirements.txt"
stamp="$venv/.requirements-$(sha256sum "$requirements" | cut -c1-16)"

if [[ -f $stamp ]] && "$venv/bin/python" -c 'import httptools, uvloop' 2>/dev/null; then
  echo "$venv/bin/python"
  exit 0
fi

if [[ ! -d $root ]]; then
  command -v mmdebstrap >/dev/null || { log "mmdebstrap is needed (apt-get install mmdebstrap)"; exit 1; }
  log "unpacking Python $version from Debian $suite into $root"
  rm -rf "$root.partial"
  mmdebstrap --quiet --variant=minbase --include="python$version,python$version-venv" \
    --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-exclude=/usr/share/info/*' \
    --aptopt='Acquire::Check-Valid-Until "false"' \
    "$suite" "$root.partial"
  mv "$root.partial" "$root"
fi

python="$root/usr/bin/python$version"
command -v patchelf >/dev/null || { log "patchelf is needed (apt-get install patchelf)"; exit 1; }
# The root's own loader (the path the binary names, inside the root; already there on a rerun)
# and the directory of its libc.
loader="$root$(patchelf --print-interpreter "$python" | sed "s|^$root||")"
libraries="$(dirname "$(find "$root/usr/lib" -maxdepth 2 -name libc.so.6 | head -1)")"
# DT_RPATH (not RUNPATH): it also applies to what the standard library's extension modules load.
patchelf --set-interpreter "$loader" --force-rpath --set-rpath "$libraries" "$python"
"$python" -c 'import ssl, sqlite3, zlib, ctypes' || { log "$python does not run here"; exit 1; }

rm -rf "$venv"
"$python" -m venv --without-pip "$venv"
# Debian's ensurepip looks for its wheels at an absolute path (the host's, of another pip).
pip_wheel="$(ls "$root"/usr/share/python-wheels/pip-*.whl | head -1)"
"$venv/bin/python" "$pip_wheel/pip" install --quiet --no-index --disable-pip-version-check "$pip_wheel"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --require-hashes -r "$requirements"
touch "$stamp"
log "Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())') from Debian $suite"
echo "$venv/bin/python"
