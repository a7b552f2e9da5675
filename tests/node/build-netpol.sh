#!/usr/bin/env bash
# Provide the real node's NetworkPolicy engine, built once with the machine's Go through the Go
# module proxy and cached in ~/.cache/wisp/netpol/<version>/. Prints the binary's path.
#
# The engine is kube-router's network policy controller (github.com/cloudnativelabs/kube-router,
# run with only --run-firewall): iptables filter chains and ipsets, which this kernel has.
# kube-network-policies (the one kind ships) needs the nftables `queue` statement, and kernels
# built without CONFIG_NFT_QUEUE (this machine's) refuse it: `nft add rule ... queue` fails with
# "No such file or directory", so it cannot enforce anything here. kube-router also needs the
# Debian package ipset (make deps).
#
# WISP_NETPOL_ENGINE pointing at an executable skips the build.
set -euo pipefail

VERSION="${WISP_KUBE_ROUTER_VERSION:-v2.1.0}"
CACHE_ROOT="${WISP_CACHE_DIR:-$HOME/.cache/wisp}"
DEST="$CACHE_ROOT/netpol/kube-router-$VERSION"

if [[ -n "${WISP_NETPOL_ENGINE:-}" && -x "$WISP_NETPOL_ENGINE" ]]; then echo "$WISP_NETPOL_ENGINE"; exit 0; fi
if [[ -x "$DEST/kube-router" ]]; then echo "$DEST/kube-router"; exit 0; fi

command -v go >/dev/null || { echo "build-netpol: Go is needed to build kube-router (or set WISP_NETPOL_ENGINE)" >&2; exit 1; }

PARTIAL="$DEST.partial.$$"
mkdir -p "$PARTIAL"
trap 'rm -rf "$PARTIAL"' EXIT
echo "build-netpol: building kube-router $VERSION" >&2
GOBIN="$PARTIAL" GOFLAGS="" CGO_ENABLED=0 go install -trimpath -ldflags "-s -w" \
  "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$VERSION" >&2
mkdir -p "$(dirname "$DEST")"
# Another run may have finished the same build meanwhile: keep the first one.
mv -T "$PARTIAL" "$DEST" 2>/dev/null || true
echo "$DEST/kube-router"
