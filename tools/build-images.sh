#!/usr/bin/env bash
# Build wisp's images from the project's own Dockerfiles: the wisp image (operator, gateway,
# CLI), the runtime images (runtime-provided on top of runtime-python) and the custom-runtime
# example, with docker when a docker daemon
# answers and with buildah otherwise.
#
# The base image of every Dockerfile is a build argument (BASE_IMAGE); users get the official
# bases (python:*-slim, node:*-slim, ...). Where those cannot be pulled (no registry reachable)
# and are not in the builder's storage, the bases are made from Debian packages with mmdebstrap
# for every runtime version a Debian suite this machine reaches carries
# (runtime-images/debian-bases.txt),
# cached, and passed in; a Redis image for the chart and the pod sandbox ("pause") image are made
# the same way. Python packages are then installed offline from wheels downloaded on the host for
# the base's own Python (the build has no network).
#
# With buildah, every image is also written as an OCI archive into $WISP_IMAGES_OUT (for
# `ctr images import` on a node that pulls nothing): the names are the chart's defaults
# (docker.io/wisp/wisp:<tag>, docker.io/wisp/runtime-python:<version>, ...).
#
# Environment: REGISTRY (wisp), IMAGE_TAG (dev), WISP_IMAGE_BUILDER (docker|buildah, default:
# docker if its daemon answers), WISP_IMAGES (names to build, default all this builder can),
# WISP_BASES=debian|official (default: official with docker, debian with buildah),
# WISP_DEBIAN_RUNTIMES (with Debian bases: the runtime versions to build, e.g. "python:3.13
# java:21", or "all"; default those runtime-images/debian-bases.txt marks "default").
# Prints the OCI archive directory (buildah) on its last line.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
CACHE_ROOT="${WISP_CACHE_DIR:-$HOME/.cache/wisp}"
REGISTRY="${REGISTRY:-wisp}"
IMAGE_TAG="${IMAGE_TAG:-dev}"
OUT="${WISP_IMAGES_OUT:-$CACHE_ROOT/images/oci}"
BASES_DIR="$CACHE_ROOT/images/bases"
WHEELS_DIR="$CACHE_ROOT/images/wheels"
log() { echo "build-images: $*" >&2; }

if [[ -z "${WISP_IMAGE_BUILDER:-}" ]]; then
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then WISP_IMAGE_BUILDER=docker
  elif command -v buildah >/dev/null; then WISP_IMAGE_BUILDER=buildah
  else log "neither a docker daemon nor buildah (apt-get install buildah)"; exit 1; fi
fi
BASES="${WISP_BASES:-$([[ $WISP_IMAGE_BUILDER == docker ]] && echo official || echo debian)}"

# -- builders --------------------------------------------------------------------------------
BUILDAH=(buildah --root "$CACHE_ROOT/buildah/root" --runroot "$CACHE_ROOT/buildah/runroot" --storage-driver overlay)
export BUILDAH_ISOLATION=chroot
have_image() { # name
  if [[ $WISP_IMAGE_BUILDER == docker ]]; then docker image inspect "$1" >/dev/null 2>&1
  else "${BUILDAH[@]}" inspect --type image "$1" >/dev/null 2>&1; fi
}
build() { # name context dockerfile [--build-arg ...]
  local name=$1 context=$2 dockerfile=$3; shift 3
  local started=$SECONDS
  if [[ $WISP_IMAGE_BUILDER == docker ]]; then
    docker build -q -t "$name" -f "$dockerfile" "$@" "$context" >/dev/null
  else
    local ignore=()
    [[ -f "$dockerfile.dockerignore" ]] && ignore=(--ignorefile "$dockerfile.dockerignore")
    "${BUILDAH[@]}" bud --quiet --pull-never --layers --isolation chroot "${ignore[@]}" \
      -f "$dockerfile" -t "$name" "$@" "$context" >/dev/null
    mkdir -p "$OUT"
    local archive="$OUT/$(echo "${name#docker.io/}" | tr '/:' '__').oci.tar"
    rm -f "$archive"
    "${BUILDAH[@]}" push --quiet "$name" "oci-archive:$archive:$name" >/dev/null
  fi
  log "$name in $((SECONDS - started)) s"
}

# -- bases from Debian packages (cached) -------------------------------------------------------
SLIM=(--dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright' --dpkgopt='path-exclude=/usr/share/locale/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  # Without man pages, update-alternatives (OpenJDK's postinst) still links into man1.
  --setup-hook='mkdir -p "$1"/usr/share/man/man1'
  # The mirror serves testing (forky) from a snapshot whose Release files are past Valid-Until.
  --aptopt='Acquire::Check-Valid-Until "false"')
debian_base() { # name suite packages (comma-separated) [extra buildah config args]
  local name=$1 suite=$2 packages=$3; shift 3
  have_image "$name" && return 0
  mkdir -p "$BASES_DIR"
  local tar="$BASES_DIR/$(echo "$name" | tr '/:' '__').tar"
  if [[ ! -e $tar ]]; then  # a directory: mmdebstrap makes one for a name it does not know as an archive
    command -v mmdebstrap >/dev/null || { log "mmdebstrap is needed for Debian bases (make deps)"; exit 1; }
    log "making base $name from Debian $suite ($packages)"
    rm -rf "$tar.partial"  # what an interrupted run left
    local made=$SECONDS
    # Like the official images: Python's own pip may install into the system Python.
    mmdebstrap --quiet --variant=minbase --include="$packages" "${SLIM[@]}" \
      --customize-hook='rm -f "$1"/usr/lib/python3*/EXTERNALLY-MANAGED; rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
      "$suite" "$tar.partial"
    mv "$tar.partial" "$tar"
    log "base $name made in $((SECONDS - made)) s"
  fi
  local c
  c=$("${BUILDAH[@]}" from scratch)
  "${BUILDAH[@]}" add --quiet "$c" "$tar" /
  "${BUILDAH[@]}" config --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --env LANG=C.UTF-8 --cmd '["/bin/sh"]' "$@" "$c"
  "${BUILDAH[@]}" commit --quiet "$c" "$name" >/dev/null
  "${BUILDAH[@]}" rm "$c" >/dev/null
}

# -- wheels for an offline pip install ---------------------------------------------------------
# The hashed requirement files the Dockerfiles install (exported from uv.lock), as wheels for the
# base's Python (markers evaluated by that interpreter, tools/image-wheels.py), fetched by the
# host's pip. The build then installs with --no-index from them: no network in the build.
# A base's Python must be the version its tag names (a suite's default python3 may move on).
wheels() { # base python-version [--runtime-only] -> directory of wheels
  local base=$1 version=$2 dir c environment f files requirements=()
  files="runtime-images/python/requirements.txt runtime-images/python/build-requirements.txt runtime-images/python/aws-sdk-requirements.txt"
  [[ ${3:-} == --runtime-only ]] || files="deploy/requirements.txt $files"
  for f in $files; do
    [[ -f "$ROOT/$f" ]] && requirements+=("$ROOT/$f")
  done
  c=$("${BUILDAH[@]}" from --pull-never "$base")
  environment=$("${BUILDAH[@]}" run --isolation chroot -v "$ROOT/tools:/wisp-tools:ro" "$c" \
    python /wisp-tools/image-wheels.py --print-environment)
  "${BUILDAH[@]}" rm "$c" >/dev/null
  [[ $environment == *"\"python_version\": \"$version\""* ]] || {
    log "$base: its python is not $version: $environment"; exit 1; }
  dir="$WHEELS_DIR/$(echo "$base" | tr '/:' '__')"
  mkdir -p "$dir"
  local py="$ROOT/.venv/bin/python"; [[ -x $py ]] || py=python3
  "$py" "$ROOT/tools/image-wheels.py" --environment "$environment" --dest "$dir" "${requirements[@]}" >&2 || {
    log "no wheels for $base"; exit 1; }
  echo "$dir"
}

# -- the AWS SDK for JavaScript for an offline Node.js image build ----------------------------
# `npm ci` from the image's lock on the host (integrity checked), cached by the lock's hash; the
# build copies the result (the SDK is plain JavaScript, the same on every platform).
node_sdk() { # -> directory holding node_modules
  local lock="$ROOT/runtime-images/node/aws-sdk/package-lock.json" dir
  dir="$CACHE_ROOT/images/aws-sdk-node/$(sha256sum "$lock" | cut -c1-16)"
  if [[ ! -d $dir/node_modules ]]; then
    rm -rf "$dir.partial"; mkdir -p "$dir.partial"
    cp "$ROOT/runtime-images/node/aws-sdk/package.json" "$lock" "$dir.partial/"
    (cd "$dir.partial" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --silent) >&2
    rm -rf "$dir"; mv "$dir.partial" "$dir"
  fi
  echo "$dir"
}

# -- what to build ---------------------------------------------------------------------------
ALL_IMAGES="wisp runtime-python runtime-provided runtime-node runtime-java custom-example"
if [[ $BASES == debian ]]; then ALL_IMAGES+=" java-hello go-lambda redis pause"; fi
IMAGES="${WISP_IMAGES:-$ALL_IMAGES}"
want() { [[ " $IMAGES " == *" $1 "* ]]; }
R="$REGISTRY"; [[ $WISP_IMAGE_BUILDER == buildah && $R != */* && $R != localhost ]] && R="docker.io/$R"

# The runtime table (wisp.api.runtimes) names the versions, hence the image tags, of each language.
tags() { # language
  local py="$ROOT/.venv/bin/python"; [[ -x $py ]] || py=python3
  PYTHONPATH="$ROOT/operator" "$py" -c 'import sys; from wisp.api.runtimes import image_tags; print(*image_tags(sys.argv[1]))' "$1"
}

if [[ $BASES == official ]]; then
  want wisp && build "$R/wisp:$IMAGE_TAG" "$ROOT" "$ROOT/deploy/Dockerfile"
  if want runtime-python; then
    for v in $(tags python); do build "$R/runtime-python:$v" "$ROOT/runtime-images/python" "$ROOT/runtime-images/python/Dockerfile" --build-arg "PYTHON_VERSION=$v"; done
  fi
  if want runtime-provided; then
    # On the newest Python runtime image (the runtime table's last version), built above.
    newest="$(tags python | tr ' ' '\n' | tail -n 1)"
    build "$R/runtime-provided:latest" "$ROOT/runtime-images/provided" "$ROOT/runtime-images/provided/Dockerfile" \
      --build-arg "BASE_IMAGE=$R/runtime-python:$newest"
  fi
  if want runtime-node; then
    for v in $(tags node); do build "$R/runtime-node:$v" "$ROOT/runtime-images/node" "$ROOT/runtime-images/node/Dockerfile" --build-arg "NODE_VERSION=$v"; done
  fi
  if want runtime-java; then
    for v in $(tags java); do
      build "$R/runtime-java:$v" "$ROOT/runtime-images/java" "$ROOT/runtime-images/java/Dockerfile" --build-arg "JAVA_VERSION=$v"
      build "$R/runtime-java:$v-jdk" "$ROOT/runtime-images/java" "$ROOT/runtime-images/java/Dockerfile" --build-arg "JAVA_VERSION=$v" --build-arg JAVA_IMAGE=jdk
    done
  fi
  want custom-example && build "$R/greeter:$IMAGE_TAG" "$ROOT/runtime-images/custom-example" "$ROOT/runtime-images/custom-example/Dockerfile"
else
  # The Debian suite whose packages carry each runtime version (runtime-images/debian-bases.txt).
  # The node tests use Python 3.11 (also the wisp image's base), Node.js 20 and Java 17 for every
  # Function, and each version built for tests/node/test_runtimes.py.
  runtimes() { # language -> "version:suite" of each runtime version to build
    local language version suite default wanted=${WISP_DEBIAN_RUNTIMES:-}
    while read -r language version suite default; do
      [[ $language == "$1" ]] || continue
      if [[ $wanted == all || " $wanted " == *" $language:$version "* || (-z $wanted && $default == default) ]]; then
        echo "$version:$suite"
      fi
    done < <(grep -v '^#' "$ROOT/runtime-images/debian-bases.txt")
  }
  PY_BASE=localhost/wisp-base/python:3.11-bookworm
  python_base() { # version suite
    debian_base "localhost/wisp-base/python:$1-$2" "$2" "python$1,python3-venv,python3-pip,python-is-python3,passwd"
  }
  if want wisp || want custom-example; then
    python_base 3.11 bookworm
    W="$(wheels "$PY_BASE" 3.11)"
    OFFLINE=(--volume "$W:/wheels:ro" --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels)
  fi
  want wisp && build "$R/wisp:$IMAGE_TAG" "$ROOT" "$ROOT/deploy/Dockerfile" --build-arg "BASE_IMAGE=$PY_BASE" "${OFFLINE[@]}"
  if want runtime-python; then
    for entry in $(runtimes python); do
      v=${entry%%:*} suite=${entry#*:} base="localhost/wisp-base/python:${entry%%:*}-${entry#*:}"
      python_base "$v" "$suite"
      W="$(wheels "$base" "$v" --runtime-only)"
      build "$R/runtime-python:$v" "$ROOT/runtime-images/python" "$ROOT/runtime-images/python/Dockerfile" \
        --build-arg "BASE_IMAGE=$base" --volume "$W:/wheels:ro" --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/wheels
    done
  fi
  # On the runtime-python:3.11 just built (it must be built with it, or be in storage already).
  want runtime-provided && build "$R/runtime-provided:latest" "$ROOT/runtime-images/provided" "$ROOT/runtime-images/provided/Dockerfile" \
    --build-arg "BASE_IMAGE=$R/runtime-python:3.11"
  if want go-lambda; then
    # examples/go-lambda as its README builds it (the bootstrap by go build on the host, Go
    # modules through the proxy or the module cache, then the image FROM runtime-provided).
    command -v go >/dev/null || { log "go is needed for examples/go-lambda (https://go.dev/dl)"; exit 1; }
    (cd "$ROOT/examples/go-lambda" && CGO_ENABLED=0 GOOS=linux go build -mod=readonly -trimpath -tags lambda.norpc -o bootstrap . >&2)
    build "$R/go-lambda:$IMAGE_TAG" "$ROOT/examples/go-lambda" "$ROOT/examples/go-lambda/Dockerfile" \
      --build-arg "RUNTIME_IMAGE=$R/runtime-provided:latest"
  fi
  if want runtime-node; then
    SDK="$(node_sdk)"
    for entry in $(runtimes node); do
      v=${entry%%:*} suite=${entry#*:} base="localhost/wisp-base/node:${entry%%:*}-${entry#*:}"
      debian_base "$base" "$suite" nodejs,passwd
      build "$R/runtime-node:$v" "$ROOT/runtime-images/node" "$ROOT/runtime-images/node/Dockerfile" --build-arg "BASE_IMAGE=$base" \
        --volume "$SDK:/aws-sdk:ro" --build-arg AWS_SDK_MODULES=/aws-sdk/node_modules
    done
  fi
  want custom-example && build "$R/greeter:$IMAGE_TAG" "$ROOT/runtime-images/custom-example" "$ROOT/runtime-images/custom-example/Dockerfile" \
    --build-arg "BASE_IMAGE=$PY_BASE"
  if want runtime-java || want java-hello; then
    # Debian's OpenJDK; the jars are built on the host (Maven Central through the proxy, or the
    # local repository offline) and taken by the Dockerfile's JARS=prebuilt.
    bash "$ROOT/runtime-images/java/build.sh" >&2
    mkdir -p "$ROOT/runtime-images/java/prebuilt"
    cp "$ROOT/runtime-images/java/runtime/target/wisp-runtime.jar" "$ROOT/runtime-images/java/api/target/wisp-runtime-api-0.1.0.jar" \
      "$ROOT/runtime-images/java/prebuilt/"
  fi
  if want runtime-java; then
    for entry in $(runtimes java); do
      v=${entry%%:*} suite=${entry#*:}
      debian_base "localhost/wisp-base/java:$v-jre-$suite" "$suite" "openjdk-$v-jre-headless,passwd"
      build "$R/runtime-java:$v" "$ROOT/runtime-images/java" "$ROOT/runtime-images/java/Dockerfile" \
        --build-arg "JAVA_VERSION=$v" --build-arg JARS=prebuilt --build-arg "BASE_IMAGE=localhost/wisp-base/java:$v-jre-$suite"
      # The JDK variant serves Java given as sources (compiled when the pod starts).
      debian_base "localhost/wisp-base/java:$v-jdk-$suite" "$suite" "openjdk-$v-jdk-headless,passwd"
      build "$R/runtime-java:$v-jdk" "$ROOT/runtime-images/java" "$ROOT/runtime-images/java/Dockerfile" \
        --build-arg "JAVA_VERSION=$v" --build-arg JARS=prebuilt --build-arg "BASE_IMAGE=localhost/wisp-base/java:$v-jdk-$suite"
    done
  fi
  if want java-hello; then
    # examples/java-hello as its README builds it (mvn package, then the image FROM the runtime).
    (cd "$ROOT/examples/java-hello" && { mvn -B -q -o -DskipTests package >&2 2>/dev/null || mvn -B -q -DskipTests package >&2; })
    build "$R/java-hello:$IMAGE_TAG" "$ROOT/examples/java-hello" "$ROOT/examples/java-hello/Dockerfile" \
      --build-arg JAVA_VERSION=17 --build-arg JAR=prebuilt --build-arg "RUNTIME_IMAGE=$R/runtime-java:17"
  fi
  if want redis; then
    # Debian's redis-server for the chart's Redis (which runs it as uid 999 with /data).
    debian_base "$R/redis:7.0-debian" bookworm redis-server,redis-tools --user 999:999 --workingdir /data \
      --cmd '["redis-server"]'
    build_archive() { mkdir -p "$OUT"; local a="$OUT/$(echo "${1#docker.io/}" | tr '/:' '__').oci.tar"; rm -f "$a"
      "${BUILDAH[@]}" push --quiet "$1" "oci-archive:$a:$1" >/dev/null; }
    build_archive "$R/redis:7.0-debian"
  fi
  if want pause; then
    # The pod sandbox: a static process that sleeps and reaps (no registry.k8s.io/pause here).
    if ! have_image localhost/wisp/pause:1; then
      tmp="$(mktemp -d)"
      gcc -Os -static -o "$tmp/pause" "$ROOT/tests/node/pause.c" && strip "$tmp/pause"
      c=$("${BUILDAH[@]}" from scratch)
      "${BUILDAH[@]}" copy --quiet "$c" "$tmp/pause" /pause
      "${BUILDAH[@]}" config --entrypoint '["/pause"]' --user 65535:65535 "$c"
      "${BUILDAH[@]}" commit --quiet "$c" localhost/wisp/pause:1 >/dev/null
      "${BUILDAH[@]}" rm "$c" >/dev/null; rm -rf "$tmp"
    fi
    mkdir -p "$OUT"; rm -f "$OUT/pause.oci.tar"
    "${BUILDAH[@]}" push --quiet localhost/wisp/pause:1 "oci-archive:$OUT/pause.oci.tar:localhost/wisp/pause:1" >/dev/null
  fi
fi
[[ $WISP_IMAGE_BUILDER == buildah ]] && echo "$OUT"
exit 0
