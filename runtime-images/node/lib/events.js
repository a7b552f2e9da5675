'use strict';
// Requests to events and handler results to responses: pure functions, no I/O.
// `json` events are the request body; `http` events are API-Gateway-proxy shaped. A result of
// the shape {statusCode: number, ...} shapes the HTTP response; anything else becomes JSON.

const TEXT_TYPES = new Set([
  'application/json',
  'application/xml',
  'application/javascript',
  'application/x-www-form-urlencoded',
  'application/graphql',
  'application/yaml',
]);
const JSON_TYPE = 'application/json';
const FRAMING_HEADERS = new Set(['content-length', 'transfer-encoding']);
// RFC 9110 field names (tokens) and values (no control characters); checked here rather than with
// node:http's validators so the worker does not load the HTTP stack.
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const decoder = new TextDecoder('utf-8', { fatal: true });

class EventError extends Error {
  constructor(errorType, message) {
    super(message);
    this.errorType = errorType;
  }
}

class ResponseError extends Error {}

// body: the request body, as text or bytes (UTF-8).
function jsonEvent(body) {
  const text = typeof body === 'string'
    ? body
    : Buffer.from(body.buffer, body.byteOffset, body.byteLength).toString('utf8');
  if (text.trim() === '') return {};
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new EventError('InvalidEventJSON', `the request body is not JSON: ${err.message}`);
  }
}

function isTextual(contentType) {
  const media = (contentType || '').split(';', 1)[0].trim().toLowerCase();
  if (!media) return false;
  return media.startsWith('text/') || TEXT_TYPES.has(media) || media.endsWith('+json') || media.endsWith('+xml');
}

// parts: {method, path, query, rawHeaders: [name, value, ...], body: Uint8Array, requestId}
function httpEvent(parts) {
  const headers = {};
  const multiValueHeaders = {};
  const raw = parts.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    headers[name] = raw[i + 1];
    (multiValueHeaders[name] ||= []).push(raw[i + 1]);
  }
  let queryStringParameters = null;
  let multiValueQueryStringParameters = null;
  if (parts.query) {
    for (const [name, value] of new URLSearchParams(parts.query)) {
      queryStringParameters ||= {};
      multiValueQueryStringParameters ||= {};
      queryStringParameters[name] = value;
      (multiValueQueryStringParameters[name] ||= []).push(value);
    }
  }
  let body = null;
  let isBase64Encoded = false;
  if (parts.body.byteLength > 0) {
    body = isTextual(headers['content-type']) ? utf8OrNull(parts.body) : null;
    if (body === null) {
      body = Buffer.from(parts.body.buffer, parts.body.byteOffset, parts.body.byteLength).toString('base64');
      isBase64Encoded = true;
    }
  }
  return {
    resource: parts.path,
    path: parts.path,
    httpMethod: parts.method,
    headers,
    multiValueHeaders,
    queryStringParameters,
    multiValueQueryStringParameters,
    pathParameters: null,
    stageVariables: null,
    body,
    isBase64Encoded,
    requestContext: { requestId: parts.requestId, httpMethod: parts.method, path: parts.path },
  };
}

function utf8OrNull(bytes) {
  try {
    return decoder.decode(bytes);
  } catch {
    return null;
  }
}

// The response for a handler's return value: {status, headers, body: string|Uint8Array}, headers
// a flat [name, value, ...] array, or null for the plain JSON response (Content-Type:
// application/json only), which the main thread builds itself.
function shapeResponse(value) {
  if (value !== null && typeof value === 'object' && Number.isInteger(value.statusCode)) {
    return proxyResponse(value);
  }
  return { status: 200, headers: null, body: toJson(value) };
}

function proxyResponse(value) {
  const status = value.statusCode;
  if (status < 100 || status > 599) throw new ResponseError(`statusCode ${status} is not an HTTP status`);
  const pairs = Object.entries(value.headers || {});
  for (const [name, values] of Object.entries(value.multiValueHeaders || {})) {
    for (const item of [].concat(values)) pairs.push([name, item]);
  }
  const headers = [];
  for (const [name, raw] of pairs) {
    const text = String(raw);
    if (!HEADER_NAME.test(name) || INVALID_HEADER_VALUE.test(text)) {
      throw new ResponseError(`header ${JSON.stringify(name)} has an invalid name or value`);
    }
    // The server frames the body itself.
    if (!FRAMING_HEADERS.has(name.toLowerCase())) headers.push(name, text);
  }
  let body;
  if (value.body === undefined || value.body === null) body = '';
  else if (typeof value.body === 'string') {
    body = value.isBase64Encoded ? decodeBase64(value.body) : value.body;
  } else if (value.body instanceof Uint8Array) body = new Uint8Array(value.body); // exact-size copy
  else body = toJson(value.body);
  if (body.length > 0 && !hasContentType(headers)) headers.push('Content-Type', JSON_TYPE);
  return { status, headers, body };
}

function hasContentType(headers) {
  for (let i = 0; i < headers.length; i += 2) {
    if (headers[i].toLowerCase() === 'content-type') return true;
  }
  return false;
}

function decodeBase64(text) {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text.replace(/\s+/g, ''))) {
    throw new ResponseError('body is flagged isBase64Encoded but is not base64');
  }
  // A copy of exact size: small Buffers are views into a shared pool, which a structured clone
  // to the main thread would copy whole.
  return new Uint8Array(Buffer.from(text, 'base64'));
}

function toJson(value) {
  let text;
  try {
    text = JSON.stringify(value === undefined ? null : value);
  } catch (err) {
    throw new ResponseError(`the handler's return value is not JSON serializable: ${err.message}`);
  }
  return text === undefined ? 'null' : text;
}

function errorBody(errorType, errorMessage, requestId, stackTrace) {
  const body = { errorType, errorMessage };
  if (requestId) body.requestId = requestId;
  if (stackTrace) body.stackTrace = stackTrace;
  return JSON.stringify(body);
}

module.exports = { EventError, ResponseError, jsonEvent, httpEvent, isTextual, shapeResponse, errorBody };
