#!/usr/bin/env bash
# Provide a pinned kwok (sigs.k8s.io/kwok: fake nodes whose pods it marks running, against a real
# API server) for the scale benches, built once through the Go module proxy and cached in
# ~/.cache/wisp/kwok/<version>/. Prints the path of the binary.
#
# WISP_KWOK pointing at an existing kwok binary skips the build.
set -euo pipefail
VERSION="${WISP_KWOK_VERSION:-v0.8.0}"
GOFLAGS="-mod=mod" exec bash "$(dirname "$0")/go-install.sh" kwok "kwok/$VERSION" \
  "sigs.k8s.io/kwok/cmd/kwok@$VERSION" kwok "${WISP_KWOK:-}"
