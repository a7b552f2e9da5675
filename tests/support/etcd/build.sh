#!/usr/bin/env bash
# Builds etcd (the server, at the version go.mod pins) from the Go module proxy, once per source
# hash, into ~/.cache/wisp/etcd/. Prints its path. The test suite's control plane runs Debian's
# etcd; bench/wakeups.py runs this one (WISP_ETCD), which kwok's informers need.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${WISP_CACHE:-$HOME/.cache/wisp}/etcd"
HASH="$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/main.go" | sha256sum | cut -c1-16)"
VERSION="$(sed -n 's|.*go.etcd.io/etcd/server/v3 \(v[0-9.]*\).*|\1|p' "$HERE/go.mod")"
DEST="$CACHE/$VERSION-$HASH"
BIN="$DEST/etcd"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "go is not installed: cannot build etcd" >&2; exit 3; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ ! -x "$BIN" ]; then
  echo "building etcd $VERSION (once; cached in $DEST)" >&2
  mkdir -p "$DEST"
  (cd "$HERE" && CGO_ENABLED=0 GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$BIN.partial" .) >&2
  mv -f "$BIN.partial" "$BIN"
fi
echo "$BIN"
