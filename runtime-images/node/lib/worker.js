'use strict';
// A handler worker (worker_threads): loads the user's handler once, then runs the calls the
// main thread sends, many at a time (handlers are asynchronous). The main thread owns the HTTP
// server and the timeouts; when a call blocks this thread past its timeout the main thread
// terminates the whole worker and starts a fresh one.
//
// Everything the handler writes (console.*, process.stdout/stderr, context.log) is sent to the
// main thread as log messages tagged with the request id of the call that wrote it, which
// AsyncLocalStorage follows across awaits, timers and callbacks.

const { parentPort, workerData } = require('node:worker_threads');
const { AsyncLocalStorage } = require('node:async_hooks');
const fs = require('node:fs');
const path = require('node:path');
const util = require('node:util');
const { loadHandler } = require('./loader');

// ./events (requests to events, results to responses) is loaded once the handler is, after
// 'loaded' is sent (main()): it is not needed before the first call.
let events;

const settings = workerData.settings;
const calls = new AsyncLocalStorage();
const orphanLines = { stdout: '', stderr: '' };

function post(message) {
  parentPort.postMessage(message);
}

function emit(level, message, stream) {
  const store = calls.getStore();
  post({ type: 'log', level, message, requestId: store ? store.requestId : undefined, stream });
}

function captureConsole() {
  const to = (level) => (...args) => emit(level, util.format(...args));
  console.log = to('INFO');
  console.info = to('INFO');
  console.debug = to('DEBUG');
  console.warn = to('WARN');
  console.error = to('ERROR');
  console.trace = (...args) => {
    const trace = new Error(util.format(...args));
    trace.name = 'Trace';
    emit('ERROR', trace.stack);
  };
  for (const [name, level] of [['stdout', 'INFO'], ['stderr', 'ERROR']]) {
    process[name].write = (chunk, encoding, callback) => {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      const store = calls.getStore();
      const pending = (store ? store.pending[name] || '' : orphanLines[name]) + text;
      const lines = pending.split('\n');
      const rest = lines.pop();
      if (store) store.pending[name] = rest;
      else orphanLines[name] = rest;
      for (const line of lines) emit(level, line, name);
      const done = typeof encoding === 'function' ? encoding : callback;
      if (typeof done === 'function') process.nextTick(done);
      return true;
    };
  }
}

function flushPending(store) {
  for (const [name, rest] of Object.entries(store.pending)) {
    if (rest) emit(name === 'stderr' ? 'ERROR' : 'INFO', rest, name);
  }
}

function makeContext(message) {
  const log = (...args) => emit('INFO', util.format(...args));
  const logger = {
    log,
    info: log,
    debug: (...args) => emit('DEBUG', util.format(...args)),
    warn: (...args) => emit('WARN', util.format(...args)),
    error: (...args) => emit('ERROR', util.format(...args)),
  };
  return {
    awsRequestId: message.requestId,
    requestId: message.requestId,
    functionName: settings.functionName,
    functionNamespace: settings.functionNamespace,
    functionVersion: '$LATEST',
    invokedFunctionArn: `wisp:${settings.functionNamespace}:${settings.functionName}`,
    memoryLimitInMB: settings.memoryMb,
    logGroupName: `/wisp/${settings.functionNamespace}/${settings.functionName}`,
    logStreamName: '',
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
    log,
    logger,
  };
}

// Promise of the handler's result for both forms: async (event, context) and the callback form
// (event, context, callback), plus the legacy context.succeed/fail/done.
function callHandler(fn, event, context) {
  return new Promise((resolve, reject) => {
    const callback = (err, result) => (err !== undefined && err !== null ? reject(err) : resolve(result));
    context.done = callback;
    context.succeed = (result) => resolve(result);
    context.fail = (err) => reject(err);
    let returned;
    try {
      returned = fn.length >= 3 ? fn(event, context, callback) : fn(event, context);
    } catch (err) {
      reject(err);
      return;
    }
    if (fn.length >= 3 && (returned === undefined || typeof returned.then !== 'function')) return;
    Promise.resolve(returned).then(resolve, reject);
  });
}

function errorType(err) {
  if (err instanceof Error) {
    const ctor = err.constructor && err.constructor.name;
    return err.name && err.name !== 'Error' ? err.name : ctor || 'Error';
  }
  return typeof err;
}

function describe(err) {
  const message = err instanceof Error ? err.message : String(err);
  const frames = err instanceof Error && err.stack ? String(err.stack).split('\n').slice(1).map((l) => l.trim()) : [];
  // The runtime's own frames (below the handler) say nothing to the function's author.
  const ours = frames.findIndex((frame) => frame.includes(__dirname));
  const stack = ours >= 0 ? frames.slice(0, ours) : frames;
  return { errorType: errorType(err), errorMessage: message, stackTrace: stack };
}

function buildEvent(message) {
  if (message.eventType === 'http') {
    return events.httpEvent({
      method: message.method,
      path: message.path,
      query: message.query,
      rawHeaders: message.rawHeaders,
      body: message.body,
      requestId: message.requestId,
    });
  }
  return events.jsonEvent(message.body);
}

async function invoke(fn, message) {
  const store = { requestId: message.requestId, pending: {} };
  await calls.run(store, async () => {
    let reply;
    let started = performance.now();
    try {
      const event = buildEvent(message);
      const context = makeContext(message);
      started = performance.now();
      const result = await callHandler(fn, event, context);
      const durationMs = performance.now() - started;
      const shaped = events.shapeResponse(result);
      reply = { outcome: 'returned', durationMs, status: shaped.status, headers: shaped.headers, body: shaped.body };
    } catch (err) {
      const durationMs = performance.now() - started;
      if (err instanceof events.EventError) {
        reply = { outcome: 'rejected', durationMs, errorType: err.errorType, errorMessage: err.message };
      } else if (err instanceof events.ResponseError) {
        reply = { outcome: 'invalid', durationMs, errorType: 'InvalidHandlerResponse', errorMessage: err.message };
      } else {
        reply = { outcome: 'raised', durationMs, ...describe(err) };
      }
    }
    flushPending(store);
    reply.type = 'result';
    reply.id = message.id;
    post(reply);
  });
}

// Runs the per-call machinery once (AsyncLocalStorage, event parsing, response shaping), so its
// lazy initialisation is paid before the runtime reports ready rather than by the first call.
async function warmUp() {
  const store = { requestId: 'warm-up', pending: {} };
  await calls.run(store, async () => {
    const event = buildEvent({ eventType: 'json', body: new TextEncoder().encode('{"warm":true}') });
    makeContext({ requestId: 'warm-up', deadline: Date.now() }).getRemainingTimeInMillis();
    await Promise.resolve(event);
    events.shapeResponse({ statusCode: 200, body: util.format('%s', 'ok') });
    events.shapeResponse(event);
  });
  performance.now();
}

function reportStray(kind, err) {
  const { errorType: type, errorMessage, stackTrace } = describe(err);
  const store = calls.getStore();
  post({
    type: 'log',
    level: 'ERROR',
    message: `${kind}: ${type}: ${errorMessage}`,
    requestId: store ? store.requestId : undefined,
    fields: { errorType: type, stackTrace: stackTrace.join('\n') },
  });
}

// Lets ES module handlers import packages installed by the deps step (CommonJS uses NODE_PATH).
function registerDepsResolution() {
  const modules = path.join(settings.depsDir, 'node_modules');
  if (!fs.existsSync(modules)) return;
  const nodeModule = require('node:module');
  if (typeof nodeModule.register !== 'function') return;
  const { pathToFileURL } = require('node:url');
  nodeModule.register(pathToFileURL(path.join(__dirname, 'esm-deps-hooks.mjs')).href, {
    data: { parentURL: pathToFileURL(path.join(settings.depsDir, 'index.js')).href },
  });
}

async function main() {
  captureConsole();
  registerDepsResolution();
  // An error thrown outside any awaited promise (a timer callback, an event emitter) must not
  // take down the calls of other requests sharing this worker.
  process.on('uncaughtException', (err) => reportStray('uncaught exception', err));
  process.on('unhandledRejection', (err) => reportStray('unhandled promise rejection', err));
  let fn;
  try {
    fn = await loadHandler(settings.handler, settings.codeDir);
  } catch (err) {
    post({
      type: 'loaded',
      ok: false,
      errorType: err.errorType || errorType(err),
      errorMessage: err.message,
      stack: err.detail || err.stack || '',
    });
    return;
  }
  parentPort.on('message', (message) => {
    if (message.type === 'invoke') invoke(fn, message);
    else if (message.type === 'ping') post({ type: 'pong', n: message.n });
  });
  post({ type: 'loaded', ok: true });
  // After 'loaded', so that this runs while the main thread opens the socket. warmUp() only
  // awaits promises, so it is over before this thread takes the first message.
  events = require('./events');
  await warmUp();
}

main();
