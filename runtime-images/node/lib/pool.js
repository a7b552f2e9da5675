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
const fs = require('node:fs');
const { Worker } = require('node:worker_threads');

const PING_GRACE_MS = 250;
const TERMINATE_GRACE_MS = 5000;

class WorkerPool {
  constructor(settings, log, metrics) {
    this.settings = settings;
    this.log = log;
    this.metrics = metrics;
    this.slots = [];
    this.seq = 0;
    this.stuck = 0;
    this.stopping = false;
    this.env = workerEnv(settings);
  }

  // Resolves {ok: true} once every worker loaded the handler, or with the load error.
  start() {
    const loads = [];
    for (let i = 0; i < this.settings.workers; i += 1) loads.push(this.spawn().loaded);
    return Promise.all(loads).then((results) => results.find((r) => !r.ok) || { ok: true });
  }

  spawn() {
    const worker = new Worker(path.join(__dirname, 'worker.js'), {
      workerData: { settings: this.settings },
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
    const slot = { worker, inflight: new Map(), pingSeq: 0, lastPong: 0, checking: false, gone: false };
    slot.loaded = new Promise((resolve) => {
      slot.resolveLoaded = resolve;
    });
    worker.on('message', (message) => this.onMessage(slot, message));
    worker.on('error', (err) => this.replace(slot, `it crashed: ${err && err.message}`));
    worker.on('exit', (code) => {
      slot.resolveLoaded({ ok: false, errorType: 'WorkerExited', errorMessage: `the handler worker exited with code ${code}` });
      if (!slot.gone) this.replace(slot, `it exited with code ${code}`);
    });
    this.slots.push(slot);
    return slot;
  }

  onMessage(slot, message) {
    switch (message.type) {
      case 'result': {
        const pending = slot.inflight.get(message.id);
        if (pending) {
          slot.inflight.delete(message.id);
          clearTimeout(pending.timer);
          pending.resolve(message);
        }
        break;
      }
      case 'log':
        this.log.log(message.level, message.message, message.requestId, message.fields || (message.stream && { stream: message.stream }));
        break;
      case 'pong':
        slot.lastPong = Math.max(slot.lastPong, message.n);
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

  // Runs one call; resolves with the worker's reply, {outcome: 'timeout'} or {outcome: 'crashed'}.
  invoke(message, timeoutMs) {
    let slot = this.slots[0];
    if (!slot) {
      return Promise.resolve({ outcome: 'crashed', errorType: 'NoWorker', errorMessage: 'no handler worker is running' });
    }
    for (const candidate of this.slots) if (candidate.inflight.size < slot.inflight.size) slot = candidate;
    return new Promise((resolve) => {
      const id = ++this.seq;
      const pending = { resolve, timer: setTimeout(() => this.timedOut(slot, id), timeoutMs) };
      slot.inflight.set(id, pending);
      message.id = id;
      slot.worker.postMessage(message, message.body ? [message.body.buffer] : undefined);
    });
  }

  timedOut(slot, id) {
    const pending = slot.inflight.get(id);
    if (!pending) return;
    slot.inflight.delete(id);
    pending.resolve({ outcome: 'timeout' });
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
    for (const pending of slot.inflight.values()) {
      clearTimeout(pending.timer);
      pending.resolve({
        outcome: 'crashed',
        errorType: 'WorkerRestarted',
        errorMessage: `the worker running this call was restarted: ${reason}`,
      });
    }
    slot.inflight.clear();
    if (this.stopping) return;
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

function workerEnv(settings) {
  const modules = path.join(settings.depsDir, 'node_modules');
  if (!fs.existsSync(modules)) return process.env;
  const existing = process.env.NODE_PATH;
  return { ...process.env, NODE_PATH: existing ? `${modules}${path.delimiter}${existing}` : modules };
}

module.exports = { WorkerPool };
