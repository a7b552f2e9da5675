#!/usr/bin/env bash
# Provide a pinned upstream CNCF distribution registry (the OCI registry wisp stores code
# packages in) for the tests, built once through the Go module proxy and cached in
# ~/.cache/wisp/registry/<version>/. Prints the path of the binary.
#
# WISP_REGISTRY_BINARY pointing at an existing registry binary skips the build.
set -euo pipefail
VERSION="${WISP_REGISTRY_VERSION:-v3.1.2}"
GOFLAGS="-mod=mod" exec bash "$(dirname "$0")/go-install.sh" "the distribution registry" "registry/$VERSION" \
  "github.com/distribution/distribution/v3/cmd/registry@$VERSION" registry "${WISP_REGISTRY_BINARY:-}"
