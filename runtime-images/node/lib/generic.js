'use strict';
// Generic mode: a warm pool pod's runtime, started with no function, waiting to be given one
// (docs/warm-pool.md; the Python runtime's wisp_runtime/generic.py is the same contract).
//
// With a pool token and no WISP_HANDLER the runtime boots its handler worker with no
// function (lib/pool.js), then listens: /healthz says ok and calls get 503 NotSpecialised. POST
// /_wisp/specialise with `Authorization: Bearer <token>` and {"env": {...}, "files": {...}}
// gives it its function: the files are written to a fresh directory under /tmp, the environment
// applied, and the waiting worker loads the handler. Once in a life: a second request gets 409,
// whatever became of the first, unless it is the same request again (byte for byte: two gateway
// replicas handing the pod the same function in one burst), which gets the first's answer. The
// token is the pod's own: in the file WISP_POOL_TOKEN_FILE names (the pod's init step derives it
// from the pool's key and the pod's uid), or, outside a pod, in WISP_POOL_TOKEN. This module is
// the pure part.

const fs = require('node:fs');
const path = require('node:path');

const SPECIALISE_PATH = '/_wisp/specialise';
const TOKEN_ENV = 'WISP_POOL_TOKEN';
const TOKEN_FILE_ENV = 'WISP_POOL_TOKEN_FILE';
// A function pod without a code volume (small code: the operator's choice, docs/warm-pool.md) has
// its files here, as the JSON object of file name to content a specialisation carries.
const CODE_ENV = 'WISP_CODE';
// Where the runtime listens is the pod's; the code directory is the one the runtime writes.
const KEPT = new Set(['WISP_HOST', 'WISP_PORT', 'WISP_CODE_DIR', 'WISP_DEPS_DIR', CODE_ENV, TOKEN_ENV, TOKEN_FILE_ENV]);
// The image's settings a function keeps unless it sets them itself, as in its own pod.
const IMAGE_DEFAULTS = ['WISP_AWS_SDK_DIR'];

// The pool token ('' for none), taken out of env so that no function code finds it there.
// Throws when the token file named cannot be read.
function takePoolToken(env) {
  let token = env[TOKEN_ENV] || '';
  const file = env[TOKEN_FILE_ENV] || '';
  delete env[TOKEN_ENV];
  delete env[TOKEN_FILE_ENV];
  if (file && !token) {
    token = fs.readFileSync(file, 'utf8').trim();
    if (!token) throw new Error(`the pool token file ${file} is empty`);
  }
  return token;
}

class SpecialiseError extends Error {
  constructor(field, message) {
    super(`${field}: ${message}`);
    this.field = field;
  }
}

function plainName(name) {
  return name !== '' && name !== '.' && name !== '..' && !/[/\\\0]/.test(name);
}

function parseSpecialisation(body) {
  let data;
  try {
    data = JSON.parse(body.toString('utf8'));
  } catch (err) {
    throw new SpecialiseError('body', `is not JSON: ${err.message}`);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) throw new SpecialiseError('body', 'must be a JSON object');
  const { env, files } = data;
  if (env === null || typeof env !== 'object' || Array.isArray(env) || !Object.values(env).every((v) => typeof v === 'string')) {
    throw new SpecialiseError('env', 'must be an object of string values');
  }
  if (!(env.WISP_HANDLER || '').trim()) throw new SpecialiseError('env.WISP_HANDLER', 'is required');
  return { env, files: checkFiles(files, 'files') };
}

function checkFiles(files, field) {
  if (files === null || typeof files !== 'object' || Array.isArray(files) || Object.keys(files).length === 0) {
    throw new SpecialiseError(field, 'must be an object of file name to content, not empty');
  }
  for (const [name, content] of Object.entries(files)) {
    if (!plainName(name)) throw new SpecialiseError(`${field}[${name}]`, 'must be a plain file name');
    if (typeof content !== 'string') throw new SpecialiseError(`${field}[${name}]`, 'must be a string');
  }
  return files;
}

// Writes the code a pod got in CODE_ENV to a fresh directory under /tmp and points
// WISP_CODE_DIR there; the variable is taken out of env, so no function code finds its own
// source there. Nothing to do without it. Throws a SpecialiseError naming the field.
function takeCode(env) {
  const text = env[CODE_ENV] || '';
  delete env[CODE_ENV];
  if (!text) return;
  let data;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new SpecialiseError(CODE_ENV, `is not JSON: ${err.message}`);
  }
  const files = checkFiles(data, CODE_ENV);
  env.WISP_CODE_DIR = writeCode(files, env.WISP_DEPS_DIR ? path.dirname(env.WISP_DEPS_DIR) : '/tmp');
}

function writeCode(files, parent) {
  const dir = fs.mkdtempSync(path.join(parent, 'wisp-code-'));
  for (const [name, content] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), content);
  return dir;
}

function functionEnvironment(requested, current, codeDir) {
  const env = {};
  for (const [name, value] of Object.entries(requested)) if (!KEPT.has(name)) env[name] = value;
  for (const name of ['WISP_HOST', 'WISP_PORT', 'WISP_DEPS_DIR']) if (current[name] !== undefined) env[name] = current[name];
  // The image's own settings the function's pod would have too, unless the function sets them:
  // without its AWS SDK directory, a function that requires @aws-sdk would fail in a pool pod
  // only (and the booted worker, whose NODE_PATH has it, would be replaced by a slower one).
  for (const name of IMAGE_DEFAULTS) if (env[name] === undefined && current[name] !== undefined) env[name] = current[name];
  env.WISP_CODE_DIR = codeDir;
  return env;
}

module.exports = { SPECIALISE_PATH, TOKEN_ENV, CODE_ENV, takeCode, takePoolToken, SpecialiseError, parseSpecialisation, writeCode, functionEnvironment };
