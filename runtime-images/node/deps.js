'use strict';
// `node deps.js`: the init step that installs a function's dependencies.
//
// If package.json is in WISP_CODE_DIR, `npm install --omit=dev` (or `npm ci` when a lock file
// is present) runs in a staging copy of WISP_DEPS_DIR, which replaces WISP_DEPS_DIR only when
// the install succeeded. The runtime puts WISP_DEPS_DIR/node_modules on NODE_PATH (CommonJS)
// and resolves ES module imports there too. A stamp with the hash of the manifest and lock lets
// a repeated run skip the install.

const fs = require('node:fs');
const path = require('node:path');
const crypto = require('node:crypto');
const { spawnSync } = require('node:child_process');
const { LogWriter } = require('./lib/logs');

const STAMP = '.wisp-package.sha256';
const LOCK_FILES = ['package-lock.json', 'npm-shrinkwrap.json'];

// Makes `target` hold what `staging` holds, even if `target` is a mount point.
function replaceDir(staging, target) {
  try {
    fs.rmSync(target, { recursive: true, force: true });
  } catch {
    // A mount point cannot be removed; its contents are gone, which is what matters.
  }
  try {
    fs.renameSync(staging, target);
    return;
  } catch {
    fs.mkdirSync(target, { recursive: true });
    for (const name of fs.readdirSync(staging)) fs.renameSync(path.join(staging, name), path.join(target, name));
    fs.rmSync(staging, { recursive: true, force: true });
  }
}

function main() {
  const codeDir = process.env.WISP_CODE_DIR || '/var/wisp/code';
  const depsDir = process.env.WISP_DEPS_DIR || '/tmp/wisp-deps';
  const log = new LogWriter(process.env.WISP_FUNCTION_NAME || 'function');
  const manifest = path.join(codeDir, 'package.json');
  if (!fs.existsSync(manifest)) {
    log.log('INFO', 'no package.json: nothing to install');
    return 0;
  }
  const files = ['package.json', ...LOCK_FILES.filter((name) => fs.existsSync(path.join(codeDir, name)))];
  const hash = crypto.createHash('sha256');
  for (const name of files) hash.update(name).update(fs.readFileSync(path.join(codeDir, name)));
  const digest = hash.digest('hex');
  const stamp = path.join(depsDir, STAMP);
  if (fs.existsSync(stamp) && fs.readFileSync(stamp, 'utf8').trim() === digest) {
    log.log('INFO', `dependencies already installed in ${depsDir}`);
    return 0;
  }
  const staging = `${depsDir.replace(/\/+$/, '')}.staging-${process.pid}`;
  fs.rmSync(staging, { recursive: true, force: true });
  fs.mkdirSync(staging, { recursive: true });
  for (const name of files) fs.copyFileSync(path.join(codeDir, name), path.join(staging, name));
  const npm = process.env.WISP_NPM || 'npm';
  const args = [files.length > 1 ? 'ci' : 'install', '--omit=dev', '--no-audit', '--no-fund',
    '--no-update-notifier', '--loglevel=warn'];
  log.log('INFO', `installing ${manifest} into ${depsDir}`, undefined, { command: [npm, ...args] });
  const result = spawnSync(npm, args, { cwd: staging, encoding: 'utf8' });
  const output = `${result.stdout || ''}${result.stderr || ''}`;
  for (const line of output.split('\n')) {
    if (line.trim()) log.log(result.status === 0 ? 'INFO' : 'ERROR', line, undefined, { stream: 'npm' });
  }
  if (result.error || result.status !== 0) {
    fs.rmSync(staging, { recursive: true, force: true });
    log.log('ERROR', `npm failed: ${result.error ? result.error.message : `exit code ${result.status}`}`);
    return result.status || 1;
  }
  fs.writeFileSync(path.join(staging, STAMP), `${digest}\n`);
  replaceDir(staging, depsDir);
  log.log('INFO', `dependencies installed in ${depsDir}`);
  return 0;
}

process.exitCode = main();
