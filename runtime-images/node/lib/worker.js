'use strict';
// A handler worker (worker_threads): loads the user's handler once, then runs the calls the
// main thread sends, many at a time (handlers are asynchronous). The main thread owns the HTTP
// server and the timeouts; when a call blocks this thread past its timeout the main thread
// terminates the whole worker and starts a fresh one.
//
// Everything the handler writes (console.*, process.stdout/stderr, context.log) is sent to the
// main thread as log messages tagged with the request id of the call that wrote it, which
// AsyncLocalStorage follows across awaits, timers and callbacks.
//
// In a warm pool pod (lib/generic.js) the worker boots with the pod, before there is a function:
// workerData.waiting is true and workerData.settings are the pool pod's. It warms the per-call
// machinery, says 'waiting', and loads the handler only when the main thread sends
// {type: 'specialise', settings, env}: the function's settings and the environment its code
// sees (a worker has its own copy of process.env).

const { parentPort, workerData } = require('node:worker_threads');
const { AsyncLocalStorage } = require('node:async_hooks');
const path = require('node:path');
const util = require('node:util');
const { loadHandler } = require('./loader');
const { moduleDirs } = require('./config');
const tracing = require('./tracing');
const { levelValue } = require('./logs');
const streaming = require('./streaming');

// ./events (requests to events, results to responses) is loaded once the handler is, after
// 'loaded' is sent (main()): it is not needed before the first call.
let events;

// The function's settings, and what follows from them (configure()): the pool pod's until a
// waiting worker is specialised.
let settings;
let appLevel;
let identity; // lib/lambda.js
const calls = new AsyncLocalStorage();
const orphanLines = { stdout: '', stderr: '' };

function post(message, transfer) {
  parentPort.postMessage(message, transfer);
}

function emit(level, message, stream) {
  const store = calls.getStore();
  post({ type: 'log', level, message, requestId: store ? store.requestId : undefined, stream });
}

// Output below the Function's application level (spec.logging) is dropped here, before it
// costs a message to the main thread; lib/logs.js drops the rest (process.stdout writes).
const quiet = () => {};

function captureConsole() {
  const to = (level) => (levelValue(level) < appLevel ? quiet : (...args) => emit(level, util.format(...args)));
  console.log = to('INFO');
  console.info = to('INFO');
  console.debug = to('DEBUG');
  console.warn = to('WARN');
  console.error = to('ERROR');
  // As Lambda's Node.js runtime: console.trace is the TRACE level, with its stack.
  console.trace = levelValue('TRACE') < appLevel ? quiet : (...args) => {
    const trace = new Error(util.format(...args));
    trace.name = 'Trace';
    emit('TRACE', trace.stack);
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

// The partial lines a call's output left: tagged with the call's own id, whatever the
// AsyncLocalStorage context of the code that ended the call.
function flushPending(call) {
  const { pending, requestId } = call;
  if (pending.stdout) post({ type: 'log', level: 'INFO', message: pending.stdout, requestId, stream: 'stdout' });
  if (pending.stderr) post({ type: 'log', level: 'ERROR', message: pending.stderr, requestId, stream: 'stderr' });
}

// context.log and context.logger's methods. emit() finds the call they run in, so they hold
// nothing of a call's own and serve every call.
const emitter = (level) => (levelValue(level) < appLevel ? quiet : (...args) => emit(level, util.format(...args)));
let contextLog;
let contextDebug;
let contextWarn;
let contextError;

function configure(given) {
  settings = given;
  appLevel = settings.logging.appLevel;
  identity = settings.identity;
  contextLog = emitter('INFO');
  contextDebug = emitter('DEBUG');
  contextWarn = emitter('WARN');
  contextError = emitter('ERROR');
}

// The function's environment in place of the pool pod's (a waiting worker's specialisation).
function replaceEnvironment(env) {
  for (const name of Object.keys(process.env)) if (!Object.hasOwn(env, name)) delete process.env[name];
  Object.assign(process.env, env);
}

// A waiting worker's function: the first 'specialise' message.
function specialisation() {
  return new Promise((resolve) => {
    const take = (message) => {
      if (message === null || typeof message !== 'object' || message.type !== 'specialise') return;
      parentPort.off('message', take);
      resolve(message);
    };
    parentPort.on('message', take);
  });
}

// message: the call's (lib/pool.js), whose [11] and [12] are the client-context and identity
// headers when the call has them. As in Lambda, context.clientContext and context.identity are
// undefined without them.
function makeContext(call, message) {
  const { deadline, trace } = call;
  return {
    traceId: trace === undefined ? undefined : trace.traceId,
    traceparent: trace === undefined ? undefined : trace.traceparent,
    awsRequestId: call.requestId,
    requestId: call.requestId,
    functionName: identity.name,
    functionNamespace: identity.namespace,
    functionVersion: identity.version,
    invokedFunctionArn: identity.arn,
    memoryLimitInMB: identity.memoryMb,
    logGroupName: identity.logGroup,
    logStreamName: identity.logStream,
    clientContext: message[11] === undefined ? undefined : decodeObject('X-Wisp-Client-Context', message[11]),
    identity: message[12] === undefined ? undefined : decodeObject('X-Wisp-Identity', message[12]),
    callbackWaitsForEmptyEventLoop: true,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    log: contextLog,
    logger: { log: contextLog, info: contextLog, debug: contextDebug, warn: contextWarn, error: contextError },
  };
}

// The JSON object a base64 header carries (a plain JSON object is accepted too).
function decodeObject(header, value) {
  const text = value.trim();
  let parsed;
  try {
    parsed = JSON.parse(text.startsWith('{') ? text : Buffer.from(text, 'base64').toString('utf8'));
  } catch (err) {
    throw new events.EventError('InvalidContextHeader', `${header} is not base64-encoded JSON: ${err.message}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new events.EventError('InvalidContextHeader', `${header} must hold a JSON object`);
  }
  return parsed;
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

// message: [id, requestId, deadline, body, eventType, method, path, query, rawHeaders, peer,
// protocol, ...] (lib/pool.js)
function buildEvent(message) {
  if (message[4] === 'http') {
    return events.httpEvent({
      method: message[5],
      path: message[6],
      query: message[7],
      rawHeaders: message[8],
      body: message[3],
      requestId: message[1],
      peer: message[9],
      protocol: message[10],
    }, settings.account, Date.now());
  }
  return events.jsonEvent(message[3]);
}

// A call in this worker, and the AsyncLocalStorage store of its callbacks: emit() tags output
// with its requestId, process.stdout/stderr.write keep a partial line per stream in `pending`.
class Call {
  // message: [id, requestId, deadline, ...] (lib/pool.js)
  constructor(message) {
    this.id = message[0];
    this.requestId = message[1];
    this.deadline = message[2];
    this.raw = message[13] === true; // X-Wisp-Raw-Result: the return value is the answer, as JSON
    this.trace = tracing.parse(message[14], message[15]); // the call's W3C trace context, if any
    this.pending = {};
    this.started = 0;
    this.settled = false;
  }
}

// Runs a call and posts its result. Callbacks and one promise reaction rather than async
// functions: with AsyncLocalStorage on, every promise also runs Node's promise hooks, and all of
// that is paid by every call.
function invoke(fn, message) {
  const call = new Call(message);
  calls.run(call, start, fn, message, call);
}

// In the call's AsyncLocalStorage context. The handler's result comes from whichever comes
// first: the promise it returns, or (the callback form, `fn.length >= 3`) the callback; the
// legacy context.succeed/fail/done settle it too.
function start(fn, message, call) {
  call.started = performance.now();
  let event;
  let context;
  try {
    event = buildEvent(message);
    context = makeContext(call, message);
  } catch (err) {
    finish(call, true, err);
    return;
  }
  if (call.trace !== undefined) {
    // Lambda's variable for the AWS SDKs and X-Ray; with an OpenTelemetry API loaded by the
    // handler, the handler runs in the caller's context (lib/tracing.js).
    process.env._X_AMZN_TRACE_ID = tracing.xray(call.trace);
    const otel = tracing.openTelemetry(call.trace);
    if (otel !== undefined) {
      otel.api.context.with(otel.context, run, undefined, fn, event, context, call);
      return;
    }
  } else if (process.env._X_AMZN_TRACE_ID !== undefined) {
    delete process.env._X_AMZN_TRACE_ID; // no earlier call's trace for a call without one
  }
  run(fn, event, context, call);
}

function run(fn, event, context, call) {
  const succeed = (result) => settle(call, false, result);
  const fail = (err) => settle(call, true, err);
  const callback = (err, result) => (err !== undefined && err !== null ? fail(err) : succeed(result));
  context.done = callback;
  context.succeed = succeed;
  context.fail = fail;
  call.started = performance.now();
  if (streaming.isStreaming(fn)) {
    startStream(fn, event, context, call);
    return;
  }
  const withCallback = fn.length >= 3;
  let returned;
  let thenable;
  try {
    returned = withCallback ? fn(event, context, callback) : fn(event, context);
    // A function of the callback form that returns no promise answers through the callback.
    thenable = !withCallback || (returned !== undefined && typeof returned.then === 'function');
  } catch (err) {
    fail(err);
    return;
  }
  if (thenable) Promise.resolve(returned).then(succeed, fail);
}

// A streamifyResponse handler: its answer is what it writes to the response stream (lib/
// streaming.js). One that fails before writing anything is answered like any failed call; after
// that, the stream is cut. One whose promise resolves with the stream still open has it ended.
function startStream(fn, event, context, call) {
  const responseStream = new streaming.ResponseStream(call.id, post);
  call.settled = true;
  const failed = (err) => {
    flushPending(call);
    if (!responseStream.headSent) {
      responseStream.destroy();
      const { errorType: type, errorMessage, stackTrace } = describe(err);
      post([call.id, 'raised', performance.now() - call.started, type, errorMessage, stackTrace]);
      return;
    }
    responseStream.fail(err, describe);
    responseStream.destroy();
  };
  let returned;
  try {
    returned = fn(event, responseStream, context);
  } catch (err) {
    failed(err);
    return;
  }
  Promise.resolve(returned).then(() => {
    flushPending(call);
    if (!responseStream.writableEnded && !responseStream.destroyed) responseStream.end();
  }, failed);
}

// The first outcome of a call ends it; callback, context.* and the returned promise may all
// come later, and from code outside the call's context: the result is then shaped in the call's
// context anyway (shaping may run the handler's code: toJSON methods, getters).
function settle(call, failed, value) {
  if (call.settled) return;
  call.settled = true;
  if (calls.getStore() === call) finish(call, failed, value);
  else calls.run(call, finish, call, failed, value);
}

// Posts the result: [id, 'returned', durationMs, status, headers, body] or
// [id, outcome, durationMs, errorType, errorMessage, stackTrace] (lib/pool.js).
// value: the handler's result, or what it threw (failed).
function finish(call, failed, value) {
  call.settled = true;
  const durationMs = performance.now() - call.started;
  let reply;
  let err = value;
  if (!failed && !call.raw) {
    const streamed = streaming.streamedBody(value);
    if (streamed !== undefined) {
      flushPending(call);
      streaming.pipeReadable(streamed.source, streamed.meta, new streaming.ResponseStream(call.id, post), describe);
      return;
    }
  }
  if (!failed) {
    try {
      const shaped = call.raw ? events.rawResponse(value) : events.shapeResponse(value);
      reply = [call.id, 'returned', durationMs, shaped.status, shaped.headers, shaped.body];
    } catch (shapeErr) {
      err = shapeErr;
    }
  }
  if (reply === undefined) {
    if (err instanceof events.EventError) {
      reply = [call.id, 'rejected', durationMs, err.errorType, err.message, undefined];
    } else if (err instanceof events.ResponseError) {
      reply = [call.id, 'invalid', durationMs, 'InvalidHandlerResponse', err.message, undefined];
    } else {
      const { errorType: type, errorMessage, stackTrace } = describe(err);
      reply = [call.id, 'raised', durationMs, type, errorMessage, stackTrace];
    }
  }
  flushPending(call);
  post(reply);
}

// Runs the per-call machinery once (AsyncLocalStorage, event parsing, response shaping), so its
// lazy initialisation is paid before the runtime reports ready rather than by the first call.
async function warmUp() {
  const call = new Call([0, 'warm-up', Date.now()]);
  await calls.run(call, async () => {
    const event = buildEvent([0, 'warm-up', 0, '{"warm":true}', 'json']);
    makeContext(call, []).getRemainingTimeInMillis();
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

// Lets ES module handlers import packages installed by the deps step, from layers and from the
// AWS SDK (CommonJS uses NODE_PATH).
function registerDepsResolution() {
  const dirs = moduleDirs(settings);
  if (!dirs.length) return;
  const nodeModule = require('node:module');
  if (typeof nodeModule.register !== 'function') return;
  const { pathToFileURL } = require('node:url');
  // A file beside each node_modules folder: resolving from it searches that folder.
  const parentURLs = dirs.map((dir) => pathToFileURL(path.join(path.dirname(dir), 'index.js')).href);
  nodeModule.register(pathToFileURL(path.join(__dirname, 'esm-deps-hooks.mjs')).href, {
    data: { parentURLs },
  });
}

async function main() {
  configure(workerData.settings);
  registerDepsResolution();
  globalThis.awslambda = streaming.awslambda; // as Lambda's runtime defines it, before the handler loads
  // An error thrown outside any awaited promise (a timer callback, an event emitter) must not
  // take down the calls of other requests sharing this worker.
  process.on('uncaughtException', (err) => reportStray('uncaught exception', err));
  process.on('unhandledRejection', (err) => reportStray('unhandled promise rejection', err));
  if (workerData.waiting) {
    // A pool pod's worker: everything but the handler now, so that specialisation is its load.
    // The module resolution registered above is the function's too: lib/pool.js boots a fresh
    // worker for a function whose module folders differ from the pool pod's.
    events = require('./events');
    await warmUp();
    const given = specialisation();
    post({ type: 'waiting' });
    const wanted = await given;
    replaceEnvironment(wanted.env);
    configure(wanted.settings);
  }
  captureConsole();
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
    if (Array.isArray(message)) invoke(fn, message); // a call (lib/pool.js)
    else if (message.type === 'ping') post({ type: 'pong', n: message.n });
    else if (message.type === 'stream-cancel') streaming.cancel(message.id);
  });
  post({ type: 'loaded', ok: true });
  if (events !== undefined) return; // warmed up while waiting
  // After 'loaded', so that this runs while the main thread opens the socket. warmUp() only
  // awaits promises, so it is over before this thread takes the first message.
  events = require('./events');
  await warmUp();
}

main();
