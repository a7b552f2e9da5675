'use strict';
// The trace context of a call (W3C traceparent/tracestate sent by the gateway), handed to the
// handler the ways Lambda code and OpenTelemetry look for it: _X_AMZN_TRACE_ID in X-Ray's format
// (set per call, as Lambda does), context.traceId/context.traceparent, and, when the handler's
// code registered an OpenTelemetry SDK, the active OpenTelemetry context, so the spans the
// handler starts are children of the caller's. OpenTelemetry is never loaded here: the API
// registers its global under a well-known symbol, which is all this reads.

const HEX = /^[0-9a-f]+$/;
const OTEL_API = Symbol.for('opentelemetry.js.api.1');
const GETTER = {
  get: (carrier, key) => carrier[key],
  keys: (carrier) => Object.keys(carrier),
};

// { traceparent, traceId, spanId, flags, tracestate }, or undefined when absent or malformed.
function parse(traceparent, tracestate) {
  if (typeof traceparent !== 'string' || traceparent === '') return undefined;
  const text = traceparent.trim().toLowerCase();
  const parts = text.split('-');
  if (parts.length < 4 || (parts[0] === '00' && parts.length !== 4)) return undefined;
  const [version, traceId, spanId, flags] = parts;
  if (version.length !== 2 || version === 'ff' || traceId.length !== 32 || spanId.length !== 16 || flags.length !== 2) {
    return undefined;
  }
  if (!HEX.test(version + traceId + spanId + flags)) return undefined;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceparent: text, traceId, spanId, flags: parseInt(flags, 16), tracestate: (tracestate || '').trim() };
}

function xray(trace) {
  const sampled = trace.flags & 1 ? 1 : 0;
  return `Root=1-${trace.traceId.slice(0, 8)}-${trace.traceId.slice(8)};Parent=${trace.spanId};Sampled=${sampled}`;
}

// { api, context } to run the handler in, when an OpenTelemetry SDK registered a context manager
// and a propagator; else undefined.
function openTelemetry(trace) {
  const api = globalThis[OTEL_API];
  if (api === undefined || api.context === undefined || api.propagation === undefined) return undefined;
  const carrier = { traceparent: trace.traceparent };
  if (trace.tracestate) carrier.tracestate = trace.tracestate;
  try {
    return { api, context: api.propagation.extract(api.context.active(), carrier, GETTER) };
  } catch {
    return undefined;
  }
}

module.exports = { parse, xray, openTelemetry };
