#!/usr/bin/env bash
# Builds the tracing tests' OpenTelemetry Collector (the collector's own OTLP
# receiver, batch processor, debug and OTLP/HTTP exporters, at the versions go.mod pins)
# from the Go module proxy, once per source hash, into ~/.cache/wisp/otelcol/. Prints its path.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CACHE="${WISP_CACHE:-$HOME/.cache/wisp}/otelcol"
HASH="$(cat "$HERE/go.mod" "$HERE/go.sum" "$HERE/main.go" | sha256sum | cut -c1-16)"
VERSION="$(sed -n 's|.*go.opentelemetry.io/collector/otelcol \(v[0-9.]*\).*|\1|p' "$HERE/go.mod")"
DEST="$CACHE/$VERSION-$HASH"
BIN="$DEST/wisp-otelcol"
if [ -x "$BIN" ]; then echo "$BIN"; exit 0; fi
command -v go >/dev/null || { echo "go is not installed: cannot build the OpenTelemetry Collector" >&2; exit 3; }
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if [ ! -x "$BIN" ]; then
  echo "building the OpenTelemetry Collector $VERSION (once; cached in $DEST)" >&2
  mkdir -p "$DEST"
  (cd "$HERE" && GOFLAGS=-mod=readonly go build -trimpath -ldflags "-s -w" -o "$BIN.partial" .) >&2
  mv -f "$BIN.partial" "$BIN"
fi
echo "$BIN"
