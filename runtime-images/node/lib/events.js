'use strict';
// Requests to events and handler results to responses: pure functions, no I/O.
// `json` events are the request body; `http` events are API Gateway proxy events, payload format
// 1.0 or 2.0. A result of the shape {statusCode: 200 | '200', ...} shapes the HTTP response
// (`cookies` and `multiValueHeaders` included); anything else becomes JSON.

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

const PAYLOAD_FORMATS = new Set(['1.0', '2.0']);
const STAGE = '$default';
const API_ID = 'wisp';
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

// An API Gateway proxy event, payload format 1.0 (REST API) or 2.0 (HTTP API, function URL) as
// X-Wisp-Payload-Format says, built from the request and the gateway's X-Wisp-* headers, which
// the handler never sees.
// parts: {method, path, query, rawHeaders: [name, value, ...], body: Uint8Array, requestId,
// peer, protocol}; account: the ARN's account part; now: epoch milliseconds of the request.
function httpEvent(parts, account, now) {
  const wisp = {};
  const pairs = [];
  const raw = parts.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (name.startsWith('x-wisp-')) wisp[name] = raw[i + 1];
    else pairs.push(name, raw[i + 1]);
  }
  const version = (wisp['x-wisp-payload-format'] || '1.0').trim() || '1.0';
  if (!PAYLOAD_FORMATS.has(version)) {
    throw new EventError('InvalidPayloadFormat', 'X-Wisp-Payload-Format must be 1.0 or 2.0');
  }
  const request = callerRequest(parts, wisp, pairs, now);
  return version === '2.0' ? eventV2(parts, request, account) : eventV1(parts, request, account);
}

// What both formats are built from: the caller's side of the request.
function callerRequest(parts, wisp, pairs, now) {
  const first = {};
  for (let i = 0; i < pairs.length; i += 2) if (!(pairs[i] in first)) first[pairs[i]] = pairs[i + 1];
  let host = wisp['x-wisp-host'] || (first['x-forwarded-host'] || '').split(',')[0].trim();
  if (host) {
    let found = false;
    for (let i = 0; i < pairs.length; i += 2) {
      if (pairs[i] === 'host') {
        pairs[i + 1] = host;
        found = true;
      }
    }
    if (!found) pairs.unshift('host', host);
  } else {
    host = first.host || '';
  }
  const forwarded = (first['x-forwarded-for'] || '').split(',');
  const sourceIp = wisp['x-wisp-source-ip'] || forwarded[forwarded.length - 1].trim() || parts.peer || '';
  let route = (wisp['x-wisp-route'] || '').trim() || STAGE;
  if (route !== STAGE && !route.includes(' ')) route = `ANY ${route}`;
  const resource = route === STAGE ? parts.path : route.slice(route.indexOf(' ') + 1);
  let pathParameters = null;
  if (wisp['x-wisp-path-params']) pathParameters = Object.fromEntries(new URLSearchParams(wisp['x-wisp-path-params']));
  let body = null;
  let isBase64Encoded = false;
  if (parts.body.byteLength > 0) {
    body = isTextual(first['content-type']) ? utf8OrNull(parts.body) : null;
    if (body === null) {
      body = Buffer.from(parts.body.buffer, parts.body.byteOffset, parts.body.byteLength).toString('base64');
      isBase64Encoded = true;
    }
  }
  const d = new Date(now);
  const two = (n) => String(n).padStart(2, '0');
  const time = `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
  return { pairs, host, sourceIp, route, resource, pathParameters, body, isBase64Encoded, time, timeEpoch: now };
}

function eventV1(parts, request, account) {
  const headers = {};
  const multiValueHeaders = {};
  const { pairs } = request;
  for (let i = 0; i < pairs.length; i += 2) {
    headers[pairs[i]] = pairs[i + 1];
    (multiValueHeaders[pairs[i]] ||= []).push(pairs[i + 1]);
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
  return {
    version: '1.0',
    resource: request.resource,
    path: parts.path,
    httpMethod: parts.method,
    headers,
    multiValueHeaders,
    queryStringParameters,
    multiValueQueryStringParameters,
    pathParameters: request.pathParameters,
    stageVariables: null,
    requestContext: {
      accountId: account,
      apiId: API_ID,
      domainName: request.host,
      domainPrefix: request.host.split('.', 1)[0],
      extendedRequestId: parts.requestId,
      httpMethod: parts.method,
      identity: {
        accessKey: null,
        accountId: null,
        caller: null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: request.sourceIp,
        user: null,
        userAgent: headers['user-agent'] ?? null,
        userArn: null,
      },
      path: parts.path,
      protocol: parts.protocol || 'HTTP/1.1',
      requestId: parts.requestId,
      requestTime: request.time,
      requestTimeEpoch: request.timeEpoch,
      resourceId: null,
      resourcePath: request.resource,
      stage: STAGE,
    },
    body: request.body,
    isBase64Encoded: request.isBase64Encoded,
  };
}

// As HTTP APIs do: repeated headers and query parameters joined with commas, the Cookie header
// moved into `cookies`, absent parts left out.
function eventV2(parts, request, account) {
  const headers = {};
  const cookies = [];
  const { pairs } = request;
  for (let i = 0; i < pairs.length; i += 2) {
    const name = pairs[i];
    const value = pairs[i + 1];
    if (name === 'cookie') {
      for (const cookie of value.split(';')) if (cookie.trim()) cookies.push(cookie.trim());
    } else headers[name] = name in headers ? `${headers[name]},${value}` : value;
  }
  let queryStringParameters;
  if (parts.query) {
    for (const [name, value] of new URLSearchParams(parts.query)) {
      queryStringParameters ||= {};
      queryStringParameters[name] = name in queryStringParameters ? `${queryStringParameters[name]},${value}` : value;
    }
  }
  const event = { version: '2.0', routeKey: request.route, rawPath: parts.path, rawQueryString: parts.query || '' };
  if (cookies.length) event.cookies = cookies;
  event.headers = headers;
  if (queryStringParameters) event.queryStringParameters = queryStringParameters;
  event.requestContext = {
    accountId: account,
    apiId: API_ID,
    domainName: request.host,
    domainPrefix: request.host.split('.', 1)[0],
    http: {
      method: parts.method,
      path: parts.path,
      protocol: parts.protocol || 'HTTP/1.1',
      sourceIp: request.sourceIp,
      userAgent: headers['user-agent'] || '',
    },
    requestId: parts.requestId,
    routeKey: request.route,
    stage: STAGE,
    time: request.time,
    timeEpoch: request.timeEpoch,
  };
  if (request.body !== null) event.body = request.body;
  if (request.pathParameters !== null) event.pathParameters = request.pathParameters;
  event.isBase64Encoded = request.isBase64Encoded;
  return event;
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
  if (value !== null && typeof value === 'object') {
    const status = statusOf(value.statusCode);
    if (status !== undefined) return proxyResponse(value, status);
  }
  return { status: 200, headers: null, body: toJson(value) };
}

// The answer of a call that wants the return value itself (X-Wisp-Raw-Result: Lambda's Invoke
// API): always 200 JSON, even for a value shaped like {statusCode, body}.
function rawResponse(value) {
  return { status: 200, headers: null, body: toJson(value) };
}

// A number status, or a numeric string one ('200', as AWS's own blueprints return).
function statusOf(code) {
  if (Number.isInteger(code)) return code;
  if (typeof code === 'string' && /^\s*\d+\s*$/.test(code)) return Number(code);
  return undefined;
}

function proxyResponse(value, status) {
  if (status < 100 || status > 599) throw new ResponseError(`statusCode ${status} is not an HTTP status`);
  const pairs = Object.entries(value.headers || {});
  for (const [name, values] of Object.entries(value.multiValueHeaders || {})) {
    for (const item of [].concat(values)) pairs.push([name, item]);
  }
  for (const cookie of [].concat(value.cookies || [])) pairs.push(['Set-Cookie', cookie]);
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

module.exports = {
  EventError, ResponseError, jsonEvent, httpEvent, isTextual, shapeResponse, rawResponse, errorBody,
};
