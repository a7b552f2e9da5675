#!/usr/bin/env bash
# Provide a pinned upstream nats-server (JetStream) for the tests, built once with the machine's
# Go through the Go module proxy and cached in ~/.cache/wisp/nats/<version>/. Prints the path of
# the binary.
#
# WISP_NATS_SERVER pointing at an existing nats-server binary skips the build.
set -euo pipefail

NATS_VERSION="${WISP_NATS_VERSION:-v2.15.3}"
CACHE_ROOT="${WISP_CACHE_DIR:-$HOME/.cache/wisp}"
DEST="$CACHE_ROOT/nats/$NATS_VERSION"

if [[ -n "${WISP_NATS_SERVER:-}" && -x "${WISP_NATS_SERVER}" ]]; then echo "$WISP_NATS_SERVER"; exit 0; fi
if [[ -x "$DEST/nats-server" ]]; then echo "$DEST/nats-server"; exit 0; fi

command -v go >/dev/null || { echo "build-nats: Go is needed to build nats-server $NATS_VERSION (or set WISP_NATS_SERVER)" >&2; exit 1; }

mkdir -p "$DEST"
# Concurrent test runs wait for one build instead of racing.
exec 9>"$DEST.lock"
flock 9
if [[ -x "$DEST/nats-server" ]]; then echo "$DEST/nats-server"; exit 0; fi

echo "build-nats: building nats-server $NATS_VERSION (a cold build takes a few minutes)" >&2
export GOFLAGS="-mod=mod" CGO_ENABLED=0
GOBIN="$DEST.partial" go install -trimpath -ldflags "-s -w" "github.com/nats-io/nats-server/v2@$NATS_VERSION" >&2
mv "$DEST.partial/nats-server" "$DEST/nats-server"
rmdir "$DEST.partial" 2>/dev/null || true
echo "$DEST/nats-server"
