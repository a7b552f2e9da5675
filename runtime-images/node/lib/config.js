'use strict';
// The runtime's settings, read once from the WISP_* environment (docs/runtime-contract.md).

const fs = require('node:fs');
const path = require('node:path');
const { logSettings } = require('./logs');

const HEADERS = Object.freeze({
  event: 'x-wisp-event',
  requestId: 'x-wisp-request-id',
  deadline: 'x-wisp-deadline-ms',
  duration: 'X-Wisp-Duration-Ms',
  error: 'X-Wisp-Error',
  throttled: 'X-Wisp-Throttled',
  // Lambda's optional invocation facts, base64-encoded JSON (as Lambda's Invoke API takes them).
  clientContext: 'x-wisp-client-context',
  identity: 'x-wisp-identity',
  // '1': answer the handler's return value as JSON, never shaped into an HTTP response.
  rawResult: 'x-wisp-raw-result',
  // '1': answer with the call's log lines too (base64 of their last 4 KB, in the same header).
  logTail: 'x-wisp-log-tail',
});

const PATHS = Object.freeze({ health: '/healthz', liveness: '/livez', metrics: '/metrics' });

// Announced on stdout once the server listens, so a local launcher learns the port and the
// handler's state without polling.
const LISTENING_EVENT = 'wisp.runtime.listening';

// Where a container's last words go: the kubelet shows this file's text as the terminated
// container's `message` in the pod's status (the Kubernetes default terminationMessagePath).
const TERMINATION_LOG = '/dev/termination-log';

class SettingsError extends Error {}

function flag(env, name) {
  return ['1', 'true', 'yes'].includes((env[name] || 'false').trim().toLowerCase());
}

function number(env, name, fallback, { integer, minimum }) {
  const raw = (env[name] || '').trim();
  if (raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || (integer && !Number.isInteger(value))) {
    throw new SettingsError(`${name}=${JSON.stringify(raw)} is not a valid ${integer ? 'integer' : 'number'}`);
  }
  if (value < minimum) throw new SettingsError(`${name}=${JSON.stringify(raw)} must be at least ${minimum}`);
  return value;
}

function loadSettings(env = process.env) {
  return Object.freeze({
    functionName: env.WISP_FUNCTION_NAME || 'function',
    functionNamespace: env.WISP_FUNCTION_NAMESPACE || 'default',
    functionVersion: env.WISP_FUNCTION_VERSION || '$LATEST',
    handler: (env.WISP_HANDLER || '').trim(),
    codeDir: path.resolve(env.WISP_CODE_DIR || '/var/wisp/code'),
    depsDir: path.resolve(env.WISP_DEPS_DIR || '/tmp/wisp-deps'),
    // Lambda's layout (docs/lambda.md): layers' contents under /opt, and the node_modules of the
    // AWS SDK the image ships, searched last so that a function's own copy wins.
    layersDir: path.resolve(env.WISP_LAYERS_DIR || '/opt'),
    awsSdkDir: (env.WISP_AWS_SDK_DIR || '').trim(),
    timeoutMs: number(env, 'WISP_TIMEOUT_SECONDS', 30, { integer: false, minimum: 0.001 }) * 1000,
    memoryMb: number(env, 'WISP_MEMORY_MB', 256, { integer: true, minimum: 1 }),
    concurrency: number(env, 'WISP_CONCURRENCY', 100, { integer: true, minimum: 1 }),
    maxBodyBytes: number(env, 'WISP_MAX_BODY_BYTES', 6 * 1024 * 1024, { integer: true, minimum: 0 }),
    stackTraces: flag(env, 'WISP_STACK_TRACES'),
    // In a pod: a handler that fails to load ends the runtime (exit 1, the reason as the pod's
    // termination message) so the kubelet restarts it and the pod's status says why.
    exitOnLoadFailure: flag(env, 'WISP_EXIT_ON_LOAD_FAILURE'),
    host: env.WISP_HOST || '0.0.0.0',
    port: number(env, 'WISP_PORT', 8080, { integer: true, minimum: 0 }),
    workers: number(env, 'WISP_NODE_WORKERS', 1, { integer: true, minimum: 1 }),
    // Lambda parity (docs/lambda.md): the region reported to handlers and in ARNs, and the ARN's
    // account part (the namespace unless an account id is configured).
    region: (env.WISP_REGION || env.AWS_REGION || 'us-east-1').trim(),
    account: (env.WISP_ACCOUNT_ID || '').trim() || env.WISP_FUNCTION_NAMESPACE || 'default',
    // spec.logging (docs/logging.md): the format and the levels below which lines are dropped.
    logging: Object.freeze(logSettings(env)),
  });
}

// The node_modules folders bare imports resolve from after the code's own, in Lambda's order:
// installed dependencies, the layers' nodejs/node<major>/node_modules and nodejs/node_modules,
// the AWS SDK. Only those that exist.
function moduleDirs(settings) {
  const major = process.versions.node.split('.')[0];
  const layers = path.join(settings.layersDir, 'nodejs');
  const dirs = [
    path.join(settings.depsDir, 'node_modules'),
    path.join(layers, `node${major}`, 'node_modules'),
    path.join(layers, 'node_modules'),
  ];
  if (settings.awsSdkDir) dirs.push(path.resolve(settings.awsSdkDir));
  return dirs.filter((dir) => fs.existsSync(dir));
}

module.exports = { HEADERS, PATHS, LISTENING_EVENT, TERMINATION_LOG, SettingsError, loadSettings, moduleDirs };
