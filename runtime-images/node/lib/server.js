'use strict';
// The runtime's HTTP side, on the main thread: probes (/healthz, /livez, /metrics), admission
// (concurrency, body size, deadline) and the response of each call, which a handler worker
// (lib/pool.js) runs. index.js loads this module while the first worker boots.

const http = require('node:http');
const { Duplex } = require('node:stream');
const { timingSafeEqual } = require('node:crypto');
const { HEADERS, PATHS, LISTENING_EVENT, SettingsError, TERMINATION_LOG } = require('./config');
const { SPECIALISE_PATH, SpecialiseError, parseSpecialisation } = require('./generic');
const { errorBody } = require('./events');
const { tailHeader } = require('./logs');

const OK_BODY = '{"status":"ok"}';
const JSON_TYPE = 'application/json';

// node:crypto's, loaded by the first call that comes without an X-Wisp-Request-Id (the gateway
// always sends one), not by every start.
let randomUUID;

function newRequestId() {
  if (!randomUUID) ({ randomUUID } = require('node:crypto'));
  return randomUUID();
}

// A process's first listen() and first request take milliseconds more than later ones: V8
// compiles node:http's listen and request paths, and the runtime's, on first use (and the first
// listen() loads node:dns and node:cluster). That would come after the handler loaded, so the
// runtime does both once while the worker boots: a throwaway server listens on an ephemeral
// loopback port and closes at once, and one GET /healthz goes through the real server over an
// in-memory connection (no socket), its answer thrown away.
function warmUpHttp(server) {
  const throwaway = http.createServer();
  throwaway.once('error', () => {}); // then the real listen() is merely not sped up
  throwaway.listen(0, '127.0.0.1', () => throwaway.close());
  const connection = new Duplex({
    read() {},
    write(chunk, encoding, callback) {
      callback();
    },
    // The server ends its side after answering (Connection: close); closing ours frees the parser.
    final(callback) {
      callback();
      connection.destroy();
    },
  });
  server.emit('connection', connection);
  connection.push('GET /healthz HTTP/1.1\r\nHost: warm-up\r\nConnection: close\r\n\r\n');
}

const MAX_HEAD_BYTES = 64 * 1024; // request line + headers, as in the Python runtime
const DRAIN_MS = 1000; // how long a refused body is read and dropped before the 413
// JSON bodies up to this size are sent to the worker as text, larger ones as bytes (Call.run).
const TEXT_BODY_MAX = 8 * 1024;

// Node's own answer to a request it cannot parse is a bare 400 or 431; the contract's is JSON.
function onClientError(err, socket) {
  if (err.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const status = tooLarge ? '431 Request Header Fields Too Large' : '400 Bad Request';
  const body = tooLarge
    ? errorBody('RequestHeadersTooLarge', `the request line and headers are larger than ${MAX_HEAD_BYTES} bytes`)
    : errorBody('BadRequest', `malformed HTTP request: ${err.code || err.message}`);
  socket.end(`HTTP/1.1 ${status}\r\nContent-Type: ${JSON_TYPE}\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
}

function send(res, status, body, headers) {
  const flat = headers || [];
  flat.push('Content-Length', String(Buffer.byteLength(body)));
  res.writeHead(status, flat);
  res.end(body);
}

// [status, body] of a runtime error answered with no request id (the specialisation's).
function failed(status, errorType, errorMessage) {
  return [status, JSON.stringify({ status: 'error', errorType, errorMessage })];
}

function sendError(res, status, errorType, errorMessage, requestId, extra) {
  const headers = ['Content-Type', JSON_TYPE, 'X-Wisp-Request-Id', requestId];
  if (extra) headers.push(...extra);
  send(res, status, errorBody(errorType, errorMessage, requestId, undefined), headers);
}

// One invocation, from its request to its response. The steps are callbacks and methods of one
// object rather than async functions and promises: every promise, await or closure on the way is
// a small cost that every call pays, on the thread that serves all of them.
class Call {
  constructor(runtime, req, res, path, query, requestId) {
    this.runtime = runtime;
    this.req = req;
    this.res = res;
    this.path = path;
    this.query = query;
    this.requestId = requestId;
    this.chunks = [];
    this.size = 0;
    this.receiving = true; // until the body is complete, refused, or the client went away
    this.timeoutMs = 0;
    this.started = 0;
    this.timer = undefined; // the pool's
  }

  // Reads the request body, then runs the call (run()).
  receive() {
    const { req } = this;
    if (Number(req.headers['content-length']) > this.runtime.settings.maxBodyBytes) {
      this.receiving = false;
      this.guard(this.tooLarge);
      return;
    }
    req.on('data', (chunk) => this.onData(chunk));
    req.on('end', () => this.onEnd());
    req.on('error', () => this.clientGone());
    // A client that goes away mid-body: settle, so the call leaves the in-flight count.
    req.on('close', () => {
      if (!req.complete) this.clientGone();
    });
  }

  onData(chunk) {
    if (!this.receiving) return;
    this.size += chunk.length;
    if (this.size > this.runtime.settings.maxBodyBytes) {
      // Refuse once the client has sent the rest (read and dropped, up to DRAIN_MS): a close
      // while it is still sending resets the connection and it never reads the 413.
      this.receiving = false;
      const { req } = this;
      req.removeAllListeners('data');
      let answered = false;
      const answer = () => {
        if (answered) return;
        answered = true;
        clearTimeout(timer);
        this.guard(this.tooLarge);
      };
      const timer = setTimeout(answer, DRAIN_MS);
      req.on('end', answer);
      req.resume();
      return;
    }
    this.chunks.push(chunk);
  }

  onEnd() {
    if (!this.receiving) return;
    this.receiving = false;
    const { chunks } = this;
    this.chunks = null;
    this.guard(this.run, chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
  }

  clientGone() {
    if (!this.receiving) return;
    this.receiving = false;
    this.finish(499, 0); // nobody to answer
  }

  tooLarge() {
    const { maxBodyBytes } = this.runtime.settings;
    sendError(this.res, 413, 'RequestTooLarge', `the request body is larger than ${maxBodyBytes} bytes`, this.requestId,
      ['Connection', 'close']);
    this.finish(413, 0);
  }

  run(body) {
    const { req, res, requestId, runtime } = this;
    const eventType = (req.headers[HEADERS.event] || 'json').trim().toLowerCase();
    if (eventType !== 'json' && eventType !== 'http') {
      sendError(res, 400, 'InvalidEventType', 'X-Wisp-Event must be json or http', requestId);
      this.finish(400, 0);
      return;
    }
    let timeoutMs = runtime.settings.timeoutMs;
    const deadlineHeader = Number(req.headers[HEADERS.deadline]);
    if (deadlineHeader > 0) timeoutMs = Math.min(timeoutMs, deadlineHeader - Date.now());
    if (timeoutMs <= 0) {
      sendError(res, 504, 'TimeoutError', "the caller's deadline passed before the call started", requestId,
        ['X-Wisp-Error', 'Timeout']);
      this.finish(504, 0);
      return;
    }
    this.timeoutMs = timeoutMs;
    if (req.headers[HEADERS.logTail] === '1') runtime.log.tails.set(requestId, []);
    this.started = performance.now();
    const http = eventType === 'http';
    // The message lib/pool.js describes. A small JSON body goes as text: the worker parses text
    // anyway, and cloning a short string costs less than moving a buffer. Other bodies go as an
    // exact-size copy, moved (not cloned) to the worker: a received chunk is usually a view into
    // a larger socket buffer, which a structured clone would copy whole; and decoding a large
    // body here would hold up every other request.
    const { headers } = req;
    runtime.pool.invoke([0, requestId, Date.now() + timeoutMs,
      !http && body.length <= TEXT_BODY_MAX ? body.toString('utf8') : new Uint8Array(body), eventType,
      http ? req.method : undefined, http ? this.path : undefined, http ? this.query : undefined,
      http ? req.rawHeaders : undefined, http ? req.socket.remoteAddress : undefined,
      http ? `HTTP/${req.httpVersion}` : undefined, headers[HEADERS.clientContext], headers[HEADERS.identity],
      headers[HEADERS.rawResult] === '1', headers.traceparent, headers.tracestate],
    timeoutMs, this);
  }

  // The pool's answer (lib/pool.js): the worker's reply, a timeout or a crash.
  settle(reply) {
    this.guard(this.answer, reply);
  }

  answer(reply) {
    const { status, durationMs } = this.runtime.respond(this.res, reply, this.requestId, this.timeoutMs,
      performance.now() - this.started);
    this.finish(status, durationMs);
  }

  // A streamed answer (lib/pool.js): the head, chunks as the handler writes them, its end. The
  // caller going away (the gateway closes the connection) cancels the handler's stream.
  streamHead(status, headers, cancel) {
    const { res } = this;
    this.streamStatus = status;
    this.streamOver = false;
    headers.push('X-Wisp-Stream', '1', 'X-Wisp-Request-Id', this.requestId);
    res.writeHead(status, headers);
    res.flushHeaders();
    res.on('close', () => {
      if (this.streamOver) return;
      this.streamOver = true;
      cancel();
      this.finish(status, performance.now() - this.started);
    });
  }

  streamChunk(chunk) {
    if (!this.streamOver) this.res.write(chunk);
  }

  streamEnd() {
    if (this.streamOver) return;
    this.streamOver = true;
    this.res.end();
    this.finish(this.streamStatus, performance.now() - this.started);
  }

  // The handler failed mid-stream (or its worker was replaced): the answer is cut without its
  // terminating chunk, so no client takes it for a complete one.
  streamError(reply) {
    if (this.streamOver) return;
    this.streamOver = true;
    const { runtime } = this;
    runtime.metrics.errors += 1;
    runtime.log.log('ERROR', `${reply.errorType}: ${reply.errorMessage}`, this.requestId,
      { errorType: reply.errorType, stackTrace: (reply.stackTrace || []).join('\n') });
    this.res.destroy();
    this.finish(this.streamStatus, performance.now() - this.started);
  }

  // Counts and logs the call once it is answered (res.end() has written the response).
  finish(status, durationMs) {
    const { runtime } = this;
    const { metrics } = runtime;
    metrics.count(status);
    runtime.log.tails.delete(this.requestId);
    runtime.log.log('INFO', 'invocation finished', this.requestId,
      { status, durationMs: Math.round(durationMs * 1000) / 1000 });
    metrics.inflight -= 1;
  }

  // Runs a step that answers the request; what it throws is a bug of the runtime's own, not
  // the handler's: logged, answered with a 500 if nothing was sent, and the call ends uncounted.
  guard(step, arg) {
    try {
      step.call(this, arg);
    } catch (err) {
      this.failed(err);
    }
  }

  failed(err) {
    const { runtime } = this;
    runtime.internalError(this.res, err);
    runtime.log.tails.delete(this.requestId);
    runtime.metrics.inflight -= 1;
  }
}

class Runtime {
  // pool: a started WorkerPool (a booted one in a warm pool pod); log and metrics: the ones it
  // was given. generic (a warm pool pod, lib/generic.js): {token, specialise(wanted) ->
  // {settings, pool, loaded}}, the runtime then has no function until POST /_wisp/specialise
  // gives it one.
  constructor(settings, log, metrics, pool, generic) {
    this.settings = settings;
    this.log = log;
    this.metrics = metrics;
    this.pool = pool;
    this.failure = null;
    this.generic = generic || null;
    this.taken = null; // {body, answer}: the specialisation it took and its answer to come
  }

  onRequest(req, res) {
    const url = req.url || '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (this.generic !== null && path === SPECIALISE_PATH) {
      this.specialise(req, res).catch((err) => this.internalError(res, err));
      return undefined;
    }
    if ((req.method === 'GET' || req.method === 'HEAD') && req.headers[HEADERS.event] === undefined) {
      if (path === PATHS.health) return this.health(res);
      if (path === PATHS.liveness) return this.liveness(res);
      if (path === PATHS.metrics) {
        return send(res, 200, this.metrics.render(), ['Content-Type', 'text/plain; version=0.0.4; charset=utf-8']);
      }
    }
    try {
      this.invocation(req, res, path, q < 0 ? '' : url.slice(q + 1));
    } catch (err) {
      this.internalError(res, err);
    }
    return undefined;
  }

  internalError(res, err) {
    this.log.log('ERROR', `invocation failed inside the runtime: ${err && err.stack}`);
    if (!res.headersSent) sendError(res, 500, 'RuntimeError', String(err && err.message), '');
  }

  // Whether it may still take a function: a pool pod's runtime that has taken none.
  get specialisable() {
    return this.generic !== null && this.taken === null;
  }

  async specialise(req, res) {
    const answer = ([status, text]) => send(res, status, text, ['Content-Type', JSON_TYPE]);
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    if (req.method !== 'POST') return answer(failed(405, 'MethodNotAllowed', `${SPECIALISE_PATH} takes POST`));
    const given = Buffer.from(req.headers.authorization || '');
    const expected = Buffer.from(`Bearer ${this.generic.token}`);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return answer(failed(401, 'Unauthorized', 'a valid pool token is required'));
    }
    const body = Buffer.concat(chunks);
    if (!this.specialisable) {
      // The same request again (two gateway replicas handing the pod the same function in one
      // burst) gets the first one's answer, once there is one.
      if (this.taken && this.taken.body.equals(body)) return answer(await this.taken.answer);
      return answer(failed(409, 'AlreadySpecialised', 'this runtime was given a function already'));
    }
    // Once in a life, whatever comes of it.
    this.taken = { body, answer: this.specialiseOnce(body) };
    return answer(await this.taken.answer);
  }

  // [status, JSON text] of the specialisation `body` asks for.
  async specialiseOnce(body) {
    let wanted;
    try {
      wanted = parseSpecialisation(body);
    } catch (err) {
      if (!(err instanceof SpecialiseError)) throw err;
      return failed(400, 'InvalidSpecialisation', err.message);
    }
    const started = process.hrtime.bigint();
    let done;
    try {
      done = await this.generic.specialise(wanted);
    } catch (err) {
      if (!(err instanceof SettingsError) && !(err && err.code)) throw err;
      return failed(400, 'InvalidSpecialisation', err.message);
    }
    this.settings = done.settings;
    this.pool = done.pool;
    this.log.functionName = done.settings.functionName;
    if (!done.loaded.ok) {
      this.failure = { errorType: done.loaded.errorType, errorMessage: done.loaded.errorMessage };
      return failed(500, done.loaded.errorType, `the handler did not load: ${done.loaded.errorMessage}`);
    }
    this.failure = null;
    this.log.log('INFO', `specialised as ${done.settings.functionName}`, undefined, {
      event: 'wisp.runtime.specialised',
      handler: done.settings.handler,
      loadMs: Number(process.hrtime.bigint() - started) / 1e6,
    });
    return [200, OK_BODY];
  }

  health(res) {
    if (this.specialisable) return send(res, 200, OK_BODY, ['Content-Type', JSON_TYPE]);
    if (this.failure) {
      const { errorType, errorMessage } = this.failure;
      return send(res, 503, JSON.stringify({ status: 'error', errorType, errorMessage }), ['Content-Type', JSON_TYPE]);
    }
    return send(res, 200, OK_BODY, ['Content-Type', JSON_TYPE]);
  }

  liveness(res) {
    if (this.pool.live) return send(res, 200, OK_BODY, ['Content-Type', JSON_TYPE]);
    const body = { status: 'error', errorType: 'StuckWorker', errorMessage: 'a handler worker could not be stopped; restart the runtime' };
    return send(res, 503, JSON.stringify(body), ['Content-Type', JSON_TYPE]);
  }

  invocation(req, res, path, query) {
    const { settings, metrics } = this;
    const requestId = req.headers[HEADERS.requestId] || newRequestId();
    if (this.failure) {
      metrics.count(503);
      metrics.errors += 1;
      sendError(res, 503, this.failure.errorType, this.failure.errorMessage, requestId);
      return;
    }
    if (metrics.inflight >= settings.concurrency) {
      metrics.count(429);
      sendError(res, 429, 'TooManyRequests', `more than ${settings.concurrency} calls in flight`, requestId,
        ['Retry-After', '1', 'X-Wisp-Throttled', 'runtime']);
      return;
    }
    metrics.inflight += 1;
    new Call(this, req, res, path, query, requestId).receive();
  }

  respond(res, reply, requestId, timeoutMs, elapsedMs) {
    const durationMs = reply.durationMs === undefined ? elapsedMs : reply.durationMs;
    const timing = ['X-Wisp-Duration-Ms', durationMs.toFixed(3)];
    const tail = this.log.tails.get(requestId);
    if (tail !== undefined) timing.push('X-Wisp-Log-Tail', tailHeader(tail));
    const { metrics } = this;
    if (reply.outcome === 'rejected') {
      sendError(res, 400, reply.errorType, reply.errorMessage, requestId);
      return { status: 400, durationMs: 0 };
    }
    metrics.observe(durationMs / 1000);
    if (reply.outcome === 'returned') {
      const headers = reply.headers === null ? ['Content-Type', JSON_TYPE] : reply.headers;
      headers.push('X-Wisp-Request-Id', requestId, ...timing);
      send(res, reply.status, reply.body, headers);
      return { status: reply.status, durationMs };
    }
    metrics.errors += 1;
    if (reply.outcome === 'timeout') {
      const message = `the handler did not finish within ${timeoutMs / 1000} seconds`;
      this.log.log('ERROR', message, requestId, { errorType: 'TimeoutError' });
      sendError(res, 504, 'TimeoutError', message, requestId, ['X-Wisp-Error', 'Timeout', ...timing]);
      return { status: 504, durationMs };
    }
    const stack = reply.stackTrace || [];
    this.log.log('ERROR', `${reply.errorType}: ${reply.errorMessage}`, requestId,
      { errorType: reply.errorType, stackTrace: stack.join('\n') });
    const body = errorBody(reply.errorType, reply.errorMessage, requestId,
      this.settings.stackTraces && reply.outcome === 'raised' ? stack : undefined);
    send(res, 500, body, ['Content-Type', JSON_TYPE, 'X-Wisp-Request-Id', requestId, 'X-Wisp-Error', 'Unhandled', ...timing]);
    return { status: 500, durationMs };
  }

  // loading: the pool's start(), {ok: true} or the load error once the worker(s) loaded the
  // handler. The socket opens only then (docs/runtime-contract.md: import, then listen), so a
  // 200 from /healthz means the handler is loaded, as it does in the Python runtime. False when
  // the handler failed to load and the settings say to exit then (in a pod).
  async start(loading) {
    const server = http.createServer({ keepAliveTimeout: 3_600_000, maxHeaderSize: MAX_HEAD_BYTES },
      (req, res) => this.onRequest(req, res));
    server.on('clientError', onClientError);
    server.headersTimeout = 60_000;
    server.requestTimeout = 0;
    this.server = server;
    warmUpHttp(server);
    const loaded = await loading;
    if (!loaded.ok) {
      this.failure = { errorType: loaded.errorType, errorMessage: loaded.errorMessage };
      this.log.log('ERROR', `the handler ${JSON.stringify(this.settings.handler)} could not be loaded: ` +
        `${loaded.errorType}: ${loaded.errorMessage}`, undefined, { errorType: loaded.errorType, stackTrace: loaded.stack });
      if (this.settings.exitOnLoadFailure) {
        lastWords(`the handler ${JSON.stringify(this.settings.handler)} could not be loaded: ` +
          `${loaded.errorType}: ${loaded.errorMessage}`);
        return false;
      }
    }
    await new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.settings.port, this.settings.host, resolve);
    });
    const { port } = server.address();
    this.log.log('INFO', `listening on ${this.settings.host}:${port}`, undefined,
      { event: LISTENING_EVENT, port, handlerLoaded: loaded.ok, generic: this.specialisable });
    return true;
  }

  async stop() {
    this.log.log('INFO', 'stopping: finishing calls in flight', undefined, { inflight: this.metrics.inflight });
    const closed = new Promise((resolve) => this.server.close(resolve));
    this.server.closeIdleConnections();
    const deadline = setTimeout(() => this.server.closeAllConnections(), this.settings.timeoutMs + 1000);
    await closed;
    clearTimeout(deadline);
    await this.pool.stop();
    this.log.log('INFO', 'stopped');
  }
}

// The container's termination message, when there is a place for it (not outside a pod).
function lastWords(message) {
  try {
    require('node:fs').writeFileSync(TERMINATION_LOG, message.slice(-4096));
  } catch {
    // no termination log: the log line says it too
  }
}

module.exports = { Runtime };
