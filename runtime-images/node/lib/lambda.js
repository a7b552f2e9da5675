'use strict';
// What Lambda code expects of its process: the function's identity (ARN, log names, memory as
// Lambda's string), which every context repeats, and Lambda's reserved environment variables
// (AWS_REGION, AWS_LAMBDA_FUNCTION_NAME, _HANDLER, LAMBDA_TASK_ROOT, ...), set in process.env
// before the handler worker starts, so module-level code finds them. docs/lambda.md lists them.

const path = require('node:path');

const LATEST = '$LATEST';
// Set only when the function's own environment does not: a Function may name the region its
// AWS clients talk to, or its time zone.
const OVERRIDABLE = new Set(['AWS_REGION', 'AWS_DEFAULT_REGION', 'TZ']);

// now: epoch milliseconds, which dates the log stream; host: the pod, which names it (as Lambda
// names it after the execution environment).
function functionIdentity(settings, now, host) {
  const name = settings.functionName;
  const version = settings.functionVersion || LATEST;
  const qualified = version === LATEST ? name : `${name}:${version}`;
  const day = new Date(now).toISOString().slice(0, 10).replaceAll('-', '/');
  return Object.freeze({
    name,
    namespace: settings.functionNamespace,
    version,
    arn: `arn:aws:lambda:${settings.region}:${settings.account}:function:${qualified}`,
    memoryMb: String(settings.memoryMb),
    logGroup: `/aws/lambda/${name}`,
    logStream: `${day}/[${version}]${host}`,
  });
}

function lambdaEnvironment(settings, identity) {
  return {
    AWS_REGION: settings.region,
    AWS_DEFAULT_REGION: settings.region,
    TZ: ':UTC',
    AWS_EXECUTION_ENV: `AWS_Lambda_nodejs${process.versions.node.split('.', 1)[0]}.x`,
    AWS_LAMBDA_FUNCTION_NAME: identity.name,
    AWS_LAMBDA_FUNCTION_VERSION: identity.version,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: identity.memoryMb,
    AWS_LAMBDA_LOG_GROUP_NAME: identity.logGroup,
    AWS_LAMBDA_LOG_STREAM_NAME: identity.logStream,
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    _HANDLER: settings.handler,
    LAMBDA_TASK_ROOT: settings.codeDir,
    LAMBDA_RUNTIME_DIR: path.dirname(__dirname),
  };
}

function applyEnvironment(variables, env = process.env) {
  for (const [name, value] of Object.entries(variables)) {
    if (!OVERRIDABLE.has(name) || env[name] === undefined) env[name] = value;
  }
}

module.exports = { functionIdentity, lambdaEnvironment, applyEnvironment };
