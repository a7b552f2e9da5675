#!/usr/bin/env bash
# Provide pinned upstream kube-apiserver and kube-controller-manager binaries for the test
# harness, built once with the machine's Go through the Go module proxy and cached in
# ~/.cache/wisp/k8s/<version>/. Prints the directory holding the binaries.
#
# WISP_K8S_ASSETS (or KUBEBUILDER_ASSETS) pointing at a directory that already holds both
# binaries skips the build: users with internet and no Go can use released binaries.
set -euo pipefail

K8S_VERSION="${WISP_K8S_VERSION:-v1.36.3}"
CACHE_ROOT="${WISP_CACHE_DIR:-$HOME/.cache/wisp}"
DEST="$CACHE_ROOT/k8s/$K8S_VERSION"
BINARIES=(kube-apiserver kube-controller-manager kubectl)

have_all() {
  local dir="$1" b
  for b in "${BINARIES[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
}

# Given binaries need only the two servers; kubectl then comes from PATH.
for assets in "${WISP_K8S_ASSETS:-}" "${KUBEBUILDER_ASSETS:-}"; do
  if [[ -n "$assets" && -x "$assets/kube-apiserver" && -x "$assets/kube-controller-manager" ]]; then
    echo "$assets"; exit 0
  fi
done
if have_all "$DEST"; then echo "$DEST"; exit 0; fi

command -v go >/dev/null || { echo "build-controlplane: Go is needed to build $K8S_VERSION (or set WISP_K8S_ASSETS)" >&2; exit 1; }

# The staging modules k8s.io/kubernetes requires at v0.0.0; each is pinned to v0.<minor>.<patch>.
STAGING=(api apiextensions-apiserver apimachinery apiserver cli-runtime client-go cloud-provider
  cluster-bootstrap code-generator component-base component-helpers controller-manager cri-api
  cri-client cri-streaming csi-translation-lib dynamic-resource-allocation endpointslice
  externaljwt kms kube-aggregator kube-controller-manager kube-proxy kube-scheduler kubectl
  kubelet metrics mount-utils pod-security-admission sample-apiserver sample-cli-plugin
  sample-controller streaming)
STAGING_VERSION="v0.${K8S_VERSION#v1.}"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$DEST.partial"
# Keep what an earlier, interrupted or smaller build already made.
[[ -d "$DEST" ]] && cp -n "$DEST"/* "$DEST.partial"/ 2>/dev/null || true
cd "$WORK"
{
  echo "module wisp.dev/controlplane-build"
  echo
  echo "go 1.26.0"
  echo
  echo "require k8s.io/kubernetes $K8S_VERSION"
  echo
  for m in "${STAGING[@]}"; do echo "replace k8s.io/$m => k8s.io/$m $STAGING_VERSION"; done
} > go.mod
cat > tools.go <<'GO'
//go:build tools

package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO

# Go >= 1.27 turns on the jsonv2 experiment, which breaks the API server's /openapi/v2.
export GOEXPERIMENT=nojsonv2 GOFLAGS="-mod=mod" CGO_ENABLED=0
echo "build-controlplane: resolving k8s.io/kubernetes $K8S_VERSION" >&2
go mod tidy -e >&2 2>&1 || true
go mod download >&2
LDFLAGS="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=${K8S_VERSION#v1.}"
for b in "${BINARIES[@]}"; do
  [[ -x "$DEST.partial/$b" ]] && continue
  echo "build-controlplane: building $b (a cold build takes several minutes)" >&2
  go build -tags tools -trimpath -ldflags "$LDFLAGS" -o "$DEST.partial/$b" "k8s.io/kubernetes/cmd/$b" >&2
done
rm -rf "$DEST"
mv "$DEST.partial" "$DEST"
echo "$DEST"
