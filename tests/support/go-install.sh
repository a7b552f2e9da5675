#!/usr/bin/env bash
# Provide a pinned upstream Go program for the tests: built once with the machine's Go through the
# Go module proxy, cached under ~/.cache/wisp/<dir>/, its path printed. Concurrent runs wait for
# one build instead of racing. The caller's GOFLAGS reach the build.
#
#   go-install.sh NAME DIR PACKAGE@VERSION BINARY [OVERRIDE]
#
# NAME is what the messages call it; an executable OVERRIDE is printed instead of building.
set -euo pipefail

NAME="$1" DEST="${WISP_CACHE_DIR:-$HOME/.cache/wisp}/$2" PACKAGE="$3" BINARY="$4" OVERRIDE="${5:-}"

if [[ -n "$OVERRIDE" && -x "$OVERRIDE" ]]; then echo "$OVERRIDE"; exit 0; fi
if [[ -x "$DEST/$BINARY" ]]; then echo "$DEST/$BINARY"; exit 0; fi

command -v go >/dev/null || { echo "Go is needed to build $NAME (${PACKAGE#*@}), or point the override at a binary" >&2; exit 1; }

mkdir -p "$DEST"
exec 9>"$DEST.lock"
flock 9
if [[ -x "$DEST/$BINARY" ]]; then echo "$DEST/$BINARY"; exit 0; fi

echo "building $NAME ${PACKAGE#*@} (a cold build takes a few minutes)" >&2
rm -rf "$DEST.partial"
CGO_ENABLED=0 GOBIN="$DEST.partial" go install -trimpath -ldflags "-s -w" "$PACKAGE" >&2
mv "$DEST.partial/$BINARY" "$DEST/$BINARY"
rmdir "$DEST.partial" 2>/dev/null || true
echo "$DEST/$BINARY"
