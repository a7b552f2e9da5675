// Handlers the runtime contract tests call (one file, one export per behaviour).

exports.echo = async (event) => event;

exports.sync_echo = (event) => event;

exports.callback_echo = (event, context, callback) => {
  setTimeout(() => callback(null, event), 1);
};

exports.value = async (event) => event.value;

const pick = (event, keys) => Object.fromEntries(keys.map((k) => [k, event[k]]));

exports.http_echo = async (event) => ({
  statusCode: 201,
  headers: { 'content-type': 'application/json', 'x-handler': 'http_echo' },
  body: JSON.stringify(pick(event, ['httpMethod', 'path', 'headers', 'queryStringParameters',
    'multiValueQueryStringParameters', 'body', 'isBase64Encoded', 'requestContext'])),
});

exports.binary_echo = async (event) => ({
  statusCode: 200,
  headers: { 'content-type': 'application/octet-stream' },
  body: event.body,
  isBase64Encoded: event.isBase64Encoded,
});

exports.boom = async (event) => {
  if (event.fail) throw new RangeError(`boom: ${event.why || 'no reason'}`);
  return { ok: true };
};

// Blocks its thread with a busy loop: only terminating the worker stops it.
exports.sleep = (event) => {
  const end = Date.now() + (event.seconds ?? 5) * 1000;
  while (Date.now() < end) { /* spin */ }
  return { slept: true };
};

exports.async_sleep = async (event) => {
  await new Promise((resolve) => setTimeout(resolve, (event.seconds ?? 5) * 1000));
  return { slept: true };
};

exports.context_fields = async (event, context) => ({
  requestId: context.requestId,
  awsRequestId: context.awsRequestId,
  functionName: context.functionName,
  functionNamespace: context.functionNamespace,
  memoryLimitInMB: context.memoryLimitInMB,
  remainingMs: context.getRemainingTimeInMillis(),
});

exports.logs = async (event, context) => {
  console.log('printed', event.marker);
  context.log(`logged ${event.marker}`);
  await new Promise((resolve) => setTimeout(resolve, 1));
  console.warn(`library ${event.marker}`);
  return { ok: true };
};
