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
GOFLAGS="" exec bash "$(dirname "$0")/../support/go-install.sh" kube-router "netpol/kube-router-$VERSION" \
  "github.com/cloudnativelabs/kube-router/v2/cmd/kube-router@$VERSION" kube-router "${WISP_NETPOL_ENGINE:-}"
