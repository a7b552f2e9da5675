#!/usr/bin/env bash
# Builds etcd (the server, at the version go.mod pins) from the Go module proxy, once per source
# hash, into ~/.cache/wisp/etcd/. Prints its path. The test suite's control plane runs Debian's
# etcd; bench/wakeups.py runs this one (WISP_ETCD), which kwok's informers need.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
CGO_ENABLED=0 exec bash "$HERE/../go-build.sh" "$HERE" etcd etcd go.etcd.io/etcd/server/v3 etcd
