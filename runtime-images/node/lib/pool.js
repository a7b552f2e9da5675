'use strict';
// The handler workers, seen from the main thread: dispatch, per-call timeouts, replacement.
//
// Why worker_threads: a synchronous busy loop in a handler blocks the thread it runs on, and
// nothing can interrupt JavaScript on the main thread from outside. The main thread therefore
// keeps only the HTTP server and the timers; handlers run in workers. When a call times out the
// main thread answers 504 at once and pings the call's worker: a worker that does not answer
// within PING_GRACE_MS is blocked, so it is terminated (Worker.terminate() stops even a busy
// loop), the other calls it was running fail with 500 WorkerRestarted, and a fresh worker loads
// the handler again. A worker whose termination does not complete is counted as stuck, which
// fails /livez so the pod is restarted.

const path = require('node:path');
const { moduleDirs } = require('./config');
const { Worker } = require('node:worker_threads');

const PING_GRACE_MS = 250;
const TERMINATE_GRACE_MS = 5000;

// The messages of a call, the only ones sent once per request, are flat arrays rather than
// objects: fewer values for the structured clone to write and read on each side.
//
//   to the worker:  [id, requestId, deadline, body, eventType, method, path, query, rawHeaders,
//                    peer, protocol, clientContext, identity, raw]
//                   body: a string (a small JSON body, decoded) or a Uint8Array whose buffer is
//                   transferred; method to protocol only for eventType 'http' (undefined
//                   otherwise); clientContext and identity: the X-Wisp-Client-Context and
//                   X-Wisp-Identity headers, when sent; raw: X-Wisp-Raw-Result is 1 (the return
//                   value is the answer, never shaped). deadline: epoch milliseconds.
//   to the main thread, when the call is over:
//                   [id, 'returned', durationMs, status, headers, body]
//                     headers: a flat [name, value, ...] array, or null for a JSON response
//                     (Content-Type: application/json only); body: a string or a Uint8Array
//                   [id, outcome, durationMs, errorType, errorMessage, stackTrace]
//                     outcome 'rejected' (the request is not a valid event), 'invalid' (the
//                     result cannot be a response) or 'raised' (the handler failed)
//
// The other messages (logs, pings, 'loaded', and the stream-* messages of a streamed answer,
// lib/streaming.js) are objects with a `type`. A call whose answer streams leaves `inflight` (and
// its timeout: the gateway bounds a stream by the Function's spec.streaming) at its
// 'stream-head', for `streams`, until its 'stream-end' or 'stream-error'; its `stream*` methods
// get them, and it is given a function that tells the worker the caller went away.
//
// A call's reply is passed to its `settle(reply)` as {outcome, durationMs, status, headers, body}
// or {outcome, durationMs, errorType, errorMessage, stackTrace}; the pool itself settles a call
// with {outcome: 'timeout'} or {outcome: 'crashed', errorType, errorMessage}.
//
// A warm pool pod's pool (lib/generic.js) boots its workers before there is a function: boot()
// starts them waiting (lib/worker.js), specialise() gives them the function and they load its
// handler. Booting a worker is the slow part of a Node.js start; this way it is not paid on
// the first call.

// What a worker reads from its environment only while it boots: a waiting worker cannot take on
// a function whose values differ, so a fresh worker is started for it instead.
const BOOT_ENV = ['NODE_PATH', 'TZ'];

class WorkerPool {
  constructor(settings, log, metrics) {
    this.settings = settings;
    this.log = log;
    this.metrics = metrics;
    this.slots = [];
    this.seq = 0;
    this.stuck = 0;
    this.stopping = false;
    this.waiting = false; // workers boot with no function (boot(), until specialise())
    this.env = workerEnv(settings);
  }

  // A pool pod's workers, booted with its settings and waiting for a function. Resolves
  // {ok: true} once each is ready to be given one.
  boot() {
    this.waiting = true;
    this.env = { ...this.env }; // as it is now: specialise() compares the function's with it
    const ready = [];
    for (let i = 0; i < this.settings.workers; i += 1) ready.push(this.spawn().ready);
    return Promise.all(ready).then((results) => results.find((r) => !r.ok) || { ok: true });
  }

  // The function the booted workers take on: settings as start()'s pool would have, env the
  // environment its code sees. Resolves as start() does, once each worker loaded the handler.
  specialise(settings, env) {
    this.waiting = false;
    this.settings = settings;
    const booted = this.env;
    this.env = workerEnv(settings, env);
    const waiting = this.slots;
    if (BOOT_ENV.some((name) => booted[name] !== this.env[name])) {
      this.slots = [];
      for (const slot of waiting) {
        slot.gone = true;
        slot.worker.terminate();
      }
      return this.start();
    }
    for (const slot of waiting.slice(settings.workers)) {
      slot.gone = true;
      this.slots = this.slots.filter((s) => s !== slot);
      slot.worker.terminate();
    }
    const loads = [];
    for (const slot of this.slots) {
      slot.worker.postMessage({ type: 'specialise', settings, env: this.env });
      loads.push(slot.loaded);
    }
    while (loads.length < settings.workers) loads.push(this.spawn().loaded);
    return Promise.all(loads).then((results) => results.find((r) => !r.ok) || { ok: true });
  }

  // Resolves {ok: true} once every worker loaded the handler, or with the load error.
  start() {
    const loads = [];
    for (let i = 0; i < this.settings.workers; i += 1) loads.push(this.spawn().loaded);
    return Promise.all(loads).then((results) => results.find((r) => !r.ok) || { ok: true });
  }

  spawn() {
    const worker = new Worker(path.join(__dirname, 'worker.js'), {
      workerData: { settings: this.settings, waiting: this.waiting },
      env: this.env,
      // The worker's stdout and stderr carry only what gets past worker.js's capture (output
      // before it is installed). They are passed on to ours here, after the thread started:
      // `stdout: false` would pipe them inside the constructor, which creates process.stdout and
      // process.stderr and delays the thread's start by milliseconds.
      stdout: true,
      stderr: true,
    });
    worker.stdout.on('data', (chunk) => process.stdout.write(chunk));
    worker.stderr.on('data', (chunk) => process.stderr.write(chunk));
    const slot = { worker, inflight: new Map(), streams: new Map(), pingSeq: 0, lastPong: 0, checking: false, gone: false };
    slot.loaded = new Promise((resolve) => {
      slot.resolveLoaded = resolve;
    });
    slot.ready = new Promise((resolve) => {
      slot.resolveReady = resolve;
    });
    worker.on('message', (message) => this.onMessage(slot, message));
    worker.on('error', (err) => this.replace(slot, `it crashed: ${err && err.message}`));
    worker.on('exit', (code) => {
      const exited = { ok: false, errorType: 'WorkerExited', errorMessage: `the handler worker exited with code ${code}` };
      slot.resolveReady(exited);
      slot.resolveLoaded(exited);
      if (!slot.gone) this.replace(slot, `it exited with code ${code}`);
    });
    this.slots.push(slot);
    return slot;
  }

  onMessage(slot, message) {
    if (Array.isArray(message)) {
      // [id, outcome, durationMs, ...]: the end of a call (see the top of this file).
      const call = slot.inflight.get(message[0]);
      if (call === undefined) return; // it timed out, and was answered, already
      slot.inflight.delete(message[0]);
      clearTimeout(call.timer);
      call.timer = undefined;
      const outcome = message[1];
      call.settle(outcome === 'returned'
        ? { outcome, durationMs: message[2], status: message[3], headers: message[4], body: message[5] }
        : { outcome, durationMs: message[2], errorType: message[3], errorMessage: message[4], stackTrace: message[5] });
      return;
    }
    switch (message.type) {
      case 'log':
        this.log.app(message.level, message.message, message.requestId, message.fields || (message.stream && { stream: message.stream }));
        break;
      case 'stream-head':
      case 'stream-chunk':
      case 'stream-end':
      case 'stream-error':
        this.onStream(slot, message);
        break;
      case 'pong':
        slot.lastPong = Math.max(slot.lastPong, message.n);
        break;
      case 'waiting':
        slot.resolveReady({ ok: true });
        break;
      case 'loaded':
        if (!message.ok) {
          slot.gone = true;
          this.slots = this.slots.filter((s) => s !== slot);
          slot.worker.terminate();
        }
        slot.resolveLoaded(message);
        break;
      default:
        break;
    }
  }

  onStream(slot, message) {
    const { id } = message;
    if (message.type === 'stream-head') {
      const call = slot.inflight.get(id);
      if (call === undefined) { // it timed out before its head: nobody reads this stream
        slot.worker.postMessage({ type: 'stream-cancel', id });
        return;
      }
      slot.inflight.delete(id);
      clearTimeout(call.timer);
      call.timer = undefined;
      slot.streams.set(id, call);
      call.streamHead(message.status, message.headers, () => {
        if (slot.streams.delete(id) && !slot.gone) slot.worker.postMessage({ type: 'stream-cancel', id });
      });
      return;
    }
    const call = slot.streams.get(id);
    if (call === undefined) return;
    if (message.type === 'stream-chunk') {
      call.streamChunk(message.chunk);
      return;
    }
    slot.streams.delete(id);
    if (message.type === 'stream-end') call.streamEnd();
    else call.streamError(message);
  }

  // Runs one call in the least busy worker. call: an object with a settle(reply) method, called
  // once with the reply (above), and a `timer` property the pool uses. The message is the array
  // described at the top of this file, without its id (its first element is overwritten); a
  // Uint8Array body's buffer is transferred.
  invoke(message, timeoutMs, call) {
    let slot = this.slots[0];
    if (!slot) {
      call.settle({ outcome: 'crashed', errorType: 'NoWorker', errorMessage: 'no handler worker is running' });
      return;
    }
    for (let i = 1; i < this.slots.length; i += 1) {
      if (this.slots[i].inflight.size < slot.inflight.size) slot = this.slots[i];
    }
    const id = ++this.seq;
    message[0] = id;
    const body = message[3];
    slot.worker.postMessage(message, typeof body === 'string' ? undefined : [body.buffer]);
    // After posting: the worker starts on the call while this thread sets up its timeout.
    call.timer = setTimeout(onTimeout, timeoutMs, this, slot, id);
    slot.inflight.set(id, call);
  }

  timedOut(slot, id) {
    const call = slot.inflight.get(id);
    if (!call) return;
    slot.inflight.delete(id);
    call.timer = undefined;
    call.settle({ outcome: 'timeout' });
    if (slot.checking || slot.gone) return;
    slot.checking = true;
    const n = ++slot.pingSeq;
    slot.worker.postMessage({ type: 'ping', n });
    setTimeout(() => {
      slot.checking = false;
      if (slot.lastPong < n && !slot.gone) this.replace(slot, 'a call blocked it past its timeout');
    }, PING_GRACE_MS).unref();
  }

  replace(slot, reason) {
    if (slot.gone) return;
    slot.gone = true;
    this.slots = this.slots.filter((s) => s !== slot);
    const calls = [...slot.inflight.values()];
    slot.inflight.clear();
    const streams = [...slot.streams.values()];
    slot.streams.clear();
    for (const call of streams) {
      call.streamError({ errorType: 'WorkerRestarted', errorMessage: `the worker running this call was restarted: ${reason}` });
    }
    if (!this.stopping) this.restart(slot, reason);
    // Answered after the restart is logged (settle() answers and logs at once).
    for (const call of calls) {
      clearTimeout(call.timer);
      call.timer = undefined;
      call.settle({
        outcome: 'crashed',
        errorType: 'WorkerRestarted',
        errorMessage: `the worker running this call was restarted: ${reason}`,
      });
    }
  }

  restart(slot, reason) {
    this.metrics.workerRestarts += 1;
    this.log.log('WARN', `handler worker replaced: ${reason}`, undefined, { event: 'wisp.runtime.worker_restarted' });
    const stuckTimer = setTimeout(() => {
      this.stuck += 1;
      this.log.log('ERROR', 'a terminated handler worker did not stop; the runtime needs a restart');
    }, TERMINATE_GRACE_MS);
    stuckTimer.unref();
    slot.worker.terminate().finally(() => {
      clearTimeout(stuckTimer);
    });
    this.spawn();
  }

  get live() {
    return this.stuck === 0;
  }

  stop() {
    this.stopping = true;
    return Promise.all(this.slots.map((slot) => {
      slot.gone = true;
      return slot.worker.terminate();
    }));
  }
}

// A call's timer (setTimeout's extra arguments, rather than a closure per call).
function onTimeout(pool, slot, id) {
  pool.timedOut(slot, id);
}

function workerEnv(settings, env = process.env) {
  const dirs = moduleDirs(settings);
  if (!dirs.length) return env;
  const existing = env.NODE_PATH;
  return { ...env, NODE_PATH: [...dirs, ...(existing ? [existing] : [])].join(path.delimiter) };
}

module.exports = { WorkerPool };
