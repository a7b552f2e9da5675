#!/usr/bin/env bash
# Provide a pinned upstream nats-server (JetStream) for the tests, built once through the Go
# module proxy and cached in ~/.cache/wisp/nats/<version>/. Prints the path of the binary.
#
# WISP_NATS_SERVER pointing at an existing nats-server binary skips the build.
set -euo pipefail
VERSION="${WISP_NATS_VERSION:-v2.15.3}"
GOFLAGS="-mod=mod" exec bash "$(dirname "$0")/go-install.sh" nats-server "nats/$VERSION" \
  "github.com/nats-io/nats-server/v2@$VERSION" nats-server "${WISP_NATS_SERVER:-}"
