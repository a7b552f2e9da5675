#!/usr/bin/env bash
# Builds the Go program in DIR (its main.go, with the versions its go.mod and go.sum pin) from the
# Go module proxy, once per source hash, into ~/.cache/wisp/NAME/<version>-<hash>/BINARY, the
# version being VERSION_OF's in go.mod. Concurrent runs wait for one build. Prints its path.
#
#   go-build.sh DIR NAME BINARY VERSION_OF WHAT
#
# WHAT is what the messages call it; the caller's environment (CGO_ENABLED) reaches the build.
set -euo pipefail
HERE="$1" NAME="$2" BINARY="$3" VERSION_OF="$4" WHAT="$5"
CACHE="${WISP_CACHE:-$HOME/.cache/wisp}/$NAME"
HASH="$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/main.go" | sha256sum | cut -c1-16)"
VERSION="$(sed -n "s|.*$VERSION_OF \(v[0-9.]*\).*|\1|p" "$HERE/go.mod")"
DEST="$CACHE/$VERSION-$HASH"
BIN="$DEST/$BINARY"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "go is not installed: cannot build $WHAT" >&2; exit 3; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ ! -x "$BIN" ]; then
  echo "building $WHAT $VERSION (once; cached in $DEST)" >&2
  mkdir -p "$DEST"
  (cd "$HERE" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$BIN.partial" .) >&2
  mv -f "$BIN.partial" "$BIN"
fi
echo "$BIN"
