#!/usr/bin/env bash
# Provide the pinned binaries of the real test node, built once with the machine's Go through
# the Go module proxy and cached in ~/.cache/wisp/node/<k8s version>/ (like the control plane's
# tests/cluster/build-controlplane.sh). Prints the directory holding them:
#
#   kubelet, kube-scheduler, kube-proxy   k8s.io/kubernetes, the same release as the API server
#   containerd, containerd-shim-runc-v2, ctr   containerd 2.x (Debian's 1.6 lacks the CRI
#                                         RuntimeConfig call that kubelet 1.37 requires)
#   crictl                                sigs.k8s.io/cri-tools
#   coredns                               cluster DNS for Service names in pods
#
# runc, the CNI plugins, buildah, mmdebstrap and iptables are Debian packages (make deps).
# WISP_NODE_ASSETS pointing at a directory that already holds all of them skips the build.
set -euo pipefail

K8S_VERSION="${WISP_K8S_VERSION:-v1.36.3}"
CONTAINERD_VERSION="${WISP_CONTAINERD_VERSION:-v2.3.7}"
CRICTL_VERSION="${WISP_CRICTL_VERSION:-v1.37.0}"
COREDNS_VERSION="${WISP_COREDNS_VERSION:-v1.15.0}"
CACHE_ROOT="${WISP_CACHE_DIR:-$HOME/.cache/wisp}"
DEST="$CACHE_ROOT/node/$K8S_VERSION"
K8S_BINARIES=(kubelet kube-scheduler kube-proxy)
ALL=("${K8S_BINARIES[@]}" containerd containerd-shim-runc-v2 ctr crictl coredns)

have_all() {
  local dir="$1" b
  for b in "${ALL[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
}
if [[ -n "${WISP_NODE_ASSETS:-}" ]] && have_all "$WISP_NODE_ASSETS"; then echo "$WISP_NODE_ASSETS"; exit 0; fi
if have_all "$DEST"; then echo "$DEST"; exit 0; fi

command -v go >/dev/null || { echo "build-node: Go is needed to build the node (or set WISP_NODE_ASSETS)" >&2; exit 1; }

PARTIAL="$DEST.partial"
mkdir -p "$PARTIAL"
[[ -d "$DEST" ]] && cp -n "$DEST"/* "$PARTIAL"/ 2>/dev/null || true
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
# Go >= 1.27 turns on the jsonv2 experiment, which breaks the API machinery's OpenAPI.
export GOEXPERIMENT=nojsonv2 CGO_ENABLED=0

# -- kubelet, kube-scheduler, kube-proxy: k8s.io/kubernetes as a dependency, staging modules pinned
STAGING=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
  cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice
  externaljwt kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl
  kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin
  sample-controller streaming)
need_k8s=0
for b in "${K8S_BINARIES[@]}"; do [[ -x "$PARTIAL/$b" ]] || need_k8s=1; done
if (( need_k8s )); then
  mkdir -p "$WORK/k8s"
  (
    cd "$WORK/k8s"
    {
      echo "module wisp.dev/node-build"; echo; echo "go 1.26.0"; echo
      echo "require k8s.io/kubernetes $K8S_VERSION"; echo
      for m in "${STAGING[@]}"; do echo "replace k8s.io/$m => k8s.io/$m v0.${K8S_VERSION#v1.}"; done
    } > go.mod
    cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
)
GO
    export GOFLAGS="-mod=mod"
    echo "build-node: resolving k8s.io/kubernetes $K8S_VERSION" >&2
    go mod tidy -e >&2 2>&1 || true
    go mod download >&2
    LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#v1.}"
    for b in "${K8S_BINARIES[@]}"; do
      [[ -x "$PARTIAL/$b" ]] && continue
      echo "build-node: building $b $K8S_VERSION" >&2
      go build -tags tools -trimpath -ldflags "$LDFLAGS" -o "$PARTIAL/$b" "k8s.io/kubernetes/cmd/$b" >&2
    done
  )
fi

# -- containerd 2.x, its runc shim and ctr (graph drivers the node does not use left out)
if [[ ! -x "$PARTIAL/containerd" || ! -x "$PARTIAL/containerd-shim-runc-v2" || ! -x "$PARTIAL/ctr" ]]; then
  echo "build-node: building containerd $CONTAINERD_VERSION" >&2
  GOBIN="$PARTIAL" GOFLAGS="" go install -trimpath -ldflags "-s -w" -tags "no_btrfs no_devmapper no_zfs no_aufs" \
    "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/ctr@$CONTAINERD_VERSION" >&2
fi
if [[ ! -x "$PARTIAL/crictl" ]]; then
  echo "build-node: building crictl $CRICTL_VERSION" >&2
  GOBIN="$PARTIAL" GOFLAGS="" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/cri-tools/cmd/crictl@$CRICTL_VERSION" >&2
fi
if [[ ! -x "$PARTIAL/coredns" ]]; then
  echo "build-node: building coredns $COREDNS_VERSION" >&2
  GOBIN="$PARTIAL" GOFLAGS="" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION" >&2
fi

have_all "$PARTIAL" || { echo "build-node: incomplete build in $PARTIAL" >&2; exit 1; }
rm -rf "$DEST"
mv "$PARTIAL" "$DEST"
echo "$DEST"
