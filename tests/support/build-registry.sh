#!/usr/bin/env bash
# Provide a pinned upstream CNCF distribution registry (the OCI registry wisp stores code
# packages in) for the tests, built once with the machine's Go through the Go module proxy and
# cached in ~/.cache/wisp/registry/<version>/. Prints the path of the binary.
#
# WISP_REGISTRY_BINARY pointing at an existing registry binary skips the build.
set -euo pipefail

REGISTRY_VERSION="${WISP_REGISTRY_VERSION:-v3.1.2}"
CACHE_ROOT="${WISP_CACHE_DIR:-$HOME/.cache/wisp}"
DEST="$CACHE_ROOT/registry/$REGISTRY_VERSION"

if [[ -n "${WISP_REGISTRY_BINARY:-}" && -x "${WISP_REGISTRY_BINARY}" ]]; then echo "$WISP_REGISTRY_BINARY"; exit 0; fi
if [[ -x "$DEST/registry" ]]; then echo "$DEST/registry"; exit 0; fi

command -v go >/dev/null || { echo "build-registry: Go is needed to build distribution $REGISTRY_VERSION (or set WISP_REGISTRY_BINARY)" >&2; exit 1; }

mkdir -p "$DEST"
# Concurrent test runs wait for one build instead of racing.
exec 9>"$DEST.lock"
flock 9
if [[ -x "$DEST/registry" ]]; then echo "$DEST/registry"; exit 0; fi

echo "build-registry: building distribution $REGISTRY_VERSION (a cold build takes a few minutes)" >&2
export GOFLAGS="-mod=mod" CGO_ENABLED=0
GOBIN="$DEST.partial" go install -trimpath -ldflags "-s -w" \
  "github.com/distribution/distribution/v3/cmd/registry@$REGISTRY_VERSION" >&2
mv "$DEST.partial/registry" "$DEST/registry"
rmdir "$DEST.partial" 2>/dev/null || true
echo "$DEST/registry"
