'use strict';
// Finds and loads the user's handler (WISP_HANDLER=file.export) from the code directory.
// CommonJS files are required; ES modules (.mjs, or "type": "module") are imported. Failures
// become a LoadError whose type and message /healthz and every invocation report.

const fs = require('node:fs');
const path = require('node:path');

const EXTENSIONS = ['.js', '.mjs', '.cjs'];

class LoadError extends Error {
  constructor(errorType, message, stack) {
    super(message);
    this.errorType = errorType;
    this.detail = stack;
  }
}

function resolveFile(codeDir, file) {
  const base = path.resolve(codeDir, file);
  const candidates = EXTENSIONS.includes(path.extname(base)) ? [base] : EXTENSIONS.map((ext) => base + ext);
  return candidates.find((candidate) => {
    try {
      return fs.statSync(candidate).isFile();
    } catch {
      return false;
    }
  });
}

function fileUrl(file) {
  return require('node:url').pathToFileURL(file).href; // only ES modules need it: loaded then
}

async function importModule(file) {
  if (file.endsWith('.mjs')) return import(fileUrl(file));
  try {
    return require(file);
  } catch (err) {
    if (err && (err.code === 'ERR_REQUIRE_ESM' || err.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
      return import(fileUrl(file));
    }
    throw err;
  }
}

function syntaxLocation(err) {
  // V8 puts "file:line" on the first line of a SyntaxError's stack for CommonJS code.
  const first = String(err.stack || '').split('\n', 1)[0];
  return /:\d+$/.test(first) ? first : '';
}

async function loadHandler(handler, codeDir) {
  if (!handler) throw new LoadError('HandlerNotConfigured', 'WISP_HANDLER is not set');
  const dot = handler.lastIndexOf('.');
  if (dot <= 0 || dot === handler.length - 1) {
    throw new LoadError('InvalidHandler', `handler ${JSON.stringify(handler)} must be file.export, e.g. index.handler`);
  }
  const fileName = handler.slice(0, dot);
  const exportName = handler.slice(dot + 1);
  const file = resolveFile(codeDir, fileName);
  if (!file) {
    throw new LoadError('HandlerNotFound', `no file ${fileName}(.js|.mjs|.cjs) in ${codeDir} (handler ${JSON.stringify(handler)})`);
  }
  let mod;
  try {
    mod = await importModule(file);
  } catch (err) {
    if (err instanceof SyntaxError) {
      const where = syntaxLocation(err) || path.relative(codeDir, file);
      throw new LoadError('SyntaxError', `${err.message} (${path.relative(codeDir, where) || where})`, err.stack);
    }
    const type = (err && err.code === 'MODULE_NOT_FOUND') || (err && err.code === 'ERR_MODULE_NOT_FOUND')
      ? 'ModuleNotFoundError'
      : (err && err.name) || typeof err;
    throw new LoadError(type, `loading ${path.relative(codeDir, file)}: ${err && err.message ? err.message : String(err)}`, err && err.stack);
  }
  let fn = mod ? mod[exportName] : undefined;
  if (fn === undefined && mod && mod.default && typeof mod.default === 'object') fn = mod.default[exportName];
  if (fn === undefined) {
    throw new LoadError('HandlerNotFound', `${path.relative(codeDir, file)} does not export ${JSON.stringify(exportName)}`);
  }
  if (typeof fn !== 'function') {
    throw new LoadError('HandlerNotFound', `${JSON.stringify(handler)} is a ${typeof fn}, not a function`);
  }
  return fn;
}

module.exports = { LoadError, loadHandler };
