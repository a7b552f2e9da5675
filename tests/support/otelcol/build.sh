#!/usr/bin/env bash
# Builds the tracing tests' OpenTelemetry Collector (the collector's own OTLP
# receiver, batch processor, debug and OTLP/HTTP exporters, at the versions go.mod pins)
# from the Go module proxy, once per source hash, into ~/.cache/wisp/otelcol/. Prints its path.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
exec bash "$HERE/../go-build.sh" "$HERE" otelcol wisp-otelcol go.opentelemetry.io/collector/otelcol \
  "the OpenTelemetry Collector"
