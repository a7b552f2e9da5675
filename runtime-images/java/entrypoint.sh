#!/bin/sh
# The Java runtime image's entrypoint. A JVM cannot set environment variables for itself, so
# Lambda's reserved ones (docs/lambda.md, "Environment variables") are set here, from the
# contract's WISP_* settings, before the runtime starts; then the runtime, with the shipped JVM
# flags, its start-up cache (the AOT cache the image made on JDK 25+, else its class-data-sharing
# archive) and WISP_JAVA_OPTS last (so they win).
#
# AWS_REGION, AWS_DEFAULT_REGION and TZ keep a value the Function's env gives; the others are
# always the runtime's. WISP_JAVA_DIR (default /opt/wisp) is where the jar, flags and archive are.
# `entrypoint.sh -- COMMAND...` sets the same environment and runs COMMAND instead: how the
# launcher (wisp dev, tests) starts a local runtime, whose jar and flags lie elsewhere.
set -eu

dir="${WISP_JAVA_DIR:-/opt/wisp}"
name="${WISP_FUNCTION_NAME:-function}"
# A published version's pods serve its number (WISP_FUNCTION_VERSION, e.g. 3); a Function's own, $LATEST.
version="${WISP_FUNCTION_VERSION:-\$LATEST}"
region="${WISP_REGION:-${AWS_REGION:-us-east-1}}"
host="${HOSTNAME:-$(cat /proc/sys/kernel/hostname 2>/dev/null || echo localhost)}"

export AWS_REGION="${AWS_REGION:-$region}"
export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-$region}"
export TZ="${TZ:-:UTC}"
export AWS_EXECUTION_ENV="AWS_Lambda_java${WISP_JAVA_FEATURE:-}"
export AWS_LAMBDA_FUNCTION_NAME="$name"
export AWS_LAMBDA_FUNCTION_VERSION="$version"
export AWS_LAMBDA_FUNCTION_MEMORY_SIZE="${WISP_MEMORY_MB:-256}"
export AWS_LAMBDA_LOG_GROUP_NAME="/aws/lambda/$name"
export AWS_LAMBDA_LOG_STREAM_NAME="$(date -u +%Y/%m/%d)/[$version]$host"
export AWS_LAMBDA_INITIALIZATION_TYPE=on-demand
export _HANDLER="${WISP_HANDLER:-}"
export LAMBDA_TASK_ROOT="${WISP_CODE_DIR:-/var/wisp/code}"
export LAMBDA_RUNTIME_DIR="$dir"

if [ "${1:-}" = "--" ]; then
    shift
    exec "$@"
fi

if [ -f "$dir/wisp-runtime.aot" ]; then
    cache="-XX:AOTCache=$dir/wisp-runtime.aot"
else
    cache="-XX:SharedArchiveFile=$dir/wisp-runtime.jsa"
fi

# WISP_JAVA_OPTS is split into words on purpose: it holds JVM flags.
# shellcheck disable=SC2086
exec java @"$dir/jvm.options" "$cache" ${WISP_JAVA_OPTS:-} -jar "$dir/wisp-runtime.jar"
