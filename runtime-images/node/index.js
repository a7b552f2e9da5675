'use strict';
// wisp's Node.js runtime server (docs/runtime-contract.md): `node index.js`.
//
// The main thread serves HTTP (lib/server.js); handlers run in worker threads (lib/pool.js
// explains why). The socket opens once the handler has loaded, and the `listening` line says
// whether it did.
//
// Cold start: booting a worker (a V8 isolate plus Node's bootstrap, which Node runs from scratch
// for a worker rather than from its startup snapshot) is the longest step of a start, longer
// than everything the main thread does. So the worker is started first, with only what that
// needs loaded (settings, logs, metrics, the pool), and the main thread loads the HTTP side
// while the worker boots, on another core when there is one.

const { SettingsError, loadSettings } = require('./lib/config');
const { applyEnvironment, functionIdentity, lambdaEnvironment } = require('./lib/lambda');
const { LogWriter } = require('./lib/logs');
const { RuntimeMetrics } = require('./lib/metrics');
const { WorkerPool } = require('./lib/pool');
const { SpecialiseError, takeCode, takePoolToken } = require('./lib/generic');

async function main() {
  let settings;
  try {
    takeCode(process.env); // a pod without a code volume: its code is in its environment
    settings = loadSettings();
  } catch (err) {
    if (!(err instanceof SettingsError || err instanceof SpecialiseError || err.code)) throw err;
    process.stderr.write(JSON.stringify({ level: 'ERROR', message: `invalid configuration: ${err.message}` }) + '\n');
    process.exit(2);
  }
  // Never seen by a function's code through process.env (lib/generic.js).
  let token;
  try {
    token = takePoolToken(process.env);
  } catch (err) {
    process.stderr.write(JSON.stringify({ level: 'ERROR', message: `invalid configuration: ${err.message}` }) + '\n');
    process.exit(2);
  }
  if (token && !settings.handler) return generic(settings, token);
  const identity = functionIdentity(settings, Date.now(), require('node:os').hostname());
  // Before the worker starts (it gets a copy of process.env): module-level code reads these.
  applyEnvironment(lambdaEnvironment(settings, identity));
  settings = Object.freeze({ ...settings, identity });
  // As Lambda does: relative paths in the handler find the function's files.
  if (require('node:fs').existsSync(settings.codeDir)) process.chdir(settings.codeDir);
  const log = new LogWriter(settings.functionName, undefined, settings.logging);
  const metrics = new RuntimeMetrics();
  const pool = new WorkerPool(settings, log, metrics);
  const loading = pool.start();
  // Only now, while the worker boots: the HTTP server and its modules, and stdout.
  const { Runtime } = require('./lib/server');
  log.open();
  const runtime = new Runtime(settings, log, metrics, pool);
  let stopping = false;
  let started = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    if (!started) process.exit(0);
    runtime.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (!(await runtime.start(loading))) process.exit(1); // the handler failed to load, in a pod
  started = true;
}

// A warm pool pod: listening with no function until the gateway specialises it. Its handler
// worker boots now, with the pod, and waits (lib/pool.js): specialisation writes the code,
// applies the function's environment and has the worker load the handler.
async function generic(settings, token) {
  const { functionEnvironment, writeCode } = require('./lib/generic');
  const os = require('node:os');
  // The time zone every function gets unless its environment names one (lib/lambda.js), so that
  // the booted worker's matches.
  applyEnvironment({ TZ: lambdaEnvironment(settings, functionIdentity(settings, 0, '')).TZ });
  const booted = Object.freeze({ ...settings, identity: functionIdentity(settings, Date.now(), os.hostname()) });
  const log = new LogWriter(settings.functionName);
  const metrics = new RuntimeMetrics();
  const pool = new WorkerPool(booted, log, metrics);
  const ready = pool.boot();
  const specialise = async (wanted) => {
    const codeDir = writeCode(wanted.files, require('node:path').dirname(settings.depsDir));
    const env = functionEnvironment(wanted.env, process.env, codeDir);
    const next = loadSettings(env);
    log.settings = next.logging; // the function's spec.logging
    Object.assign(process.env, env);
    const identity = functionIdentity(next, Date.now(), os.hostname());
    applyEnvironment(lambdaEnvironment(next, identity));
    process.chdir(codeDir);
    const full = Object.freeze({ ...next, identity });
    return { settings: full, pool, loaded: await pool.specialise(full, { ...process.env }) };
  };
  const { Runtime } = require('./lib/server');
  log.open();
  const runtime = new Runtime(booted, log, metrics, pool, { token, specialise });
  runtime.failure = { errorType: 'NotSpecialised', errorMessage: 'no function yet (a pool pod)' };
  const stop = () => runtime.stop().then(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // The socket opens once the worker waits: a Ready pool pod specialises without booting one.
  if (!(await runtime.start(ready))) process.exit(1);
}

main().catch((err) => {
  process.stderr.write(`${err && err.stack}\n`);
  process.exit(1);
});
