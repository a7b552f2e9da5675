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

// Read at load: Lambda's reserved variables must be set before the handler module loads.
const LAMBDA_VARIABLES = ['AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_EXECUTION_ENV', 'AWS_LAMBDA_FUNCTION_NAME',
  'AWS_LAMBDA_FUNCTION_VERSION', 'AWS_LAMBDA_FUNCTION_MEMORY_SIZE', 'AWS_LAMBDA_LOG_GROUP_NAME',
  'AWS_LAMBDA_LOG_STREAM_NAME', 'AWS_LAMBDA_INITIALIZATION_TYPE', '_HANDLER', 'LAMBDA_TASK_ROOT',
  'LAMBDA_RUNTIME_DIR', 'TZ'];
const ENV_AT_LOAD = Object.fromEntries(LAMBDA_VARIABLES.map((name) => [name, process.env[name] ?? null]));

// Everything Lambda's Node.js context and environment offer, as JSON.
exports.lambda_context = async (event, context) => ({
  awsRequestId: context.awsRequestId,
  functionName: context.functionName,
  functionVersion: context.functionVersion,
  invokedFunctionArn: context.invokedFunctionArn,
  memoryLimitInMB: context.memoryLimitInMB,
  logGroupName: context.logGroupName,
  logStreamName: context.logStreamName,
  remainingMs: context.getRemainingTimeInMillis(),
  clientContext: context.clientContext === undefined ? null : {
    client: context.clientContext.client ? { installation_id: context.clientContext.client.installation_id } : null,
    custom: context.clientContext.custom,
    env: context.clientContext.env,
  },
  identity: context.identity === undefined ? null : context.identity,
  callbackWaitsForEmptyEventLoop: context.callbackWaitsForEmptyEventLoop,
  env: ENV_AT_LOAD,
});

// -- Lambda code as it is written for AWS -------------------------------------------------------

// AWS's "microservice-http-endpoint" blueprint, its DynamoDB client replaced by a Map.
const table = new Map();
exports.blueprint_microservice = async (event) => {
  console.log('Received event:', JSON.stringify(event, null, 2));

  let body;
  let statusCode = '200';
  const headers = {
    'Content-Type': 'application/json',
  };

  try {
    switch (event.httpMethod) {
      case 'GET':
        body = { Items: [...table.values()], Query: event.queryStringParameters || {} };
        break;
      case 'POST': {
        const item = JSON.parse(event.body);
        table.set(item.id, item);
        body = {};
        break;
      }
      default:
        throw new Error(`Unsupported method "${event.httpMethod}"`);
    }
  } catch (err) {
    statusCode = '400';
    body = err.message;
  } finally {
    body = JSON.stringify(body);
  }

  return {
    statusCode,
    body,
    headers,
  };
};

// What Powertools' HTTP API resolvers read of a payload 2.0 event and return.
exports.http_api_resolver = async (event) => {
  const { method } = event.requestContext.http;
  let path = event.rawPath;
  const { stage } = event.requestContext;
  if (stage !== '$default' && path.startsWith(`/${stage}`)) path = path.slice(stage.length + 1);
  if (method !== 'GET' || path !== '/todos/7') return { statusCode: 404, body: JSON.stringify({ message: 'Not found' }) };
  return {
    statusCode: 200,
    headers: { 'Content-Type': 'application/json' },
    cookies: ['session=abc; Path=/; HttpOnly', 'theme=dark'],
    body: JSON.stringify({
      todo: event.pathParameters.id,
      cookies: event.cookies ?? null,
      query: event.queryStringParameters ?? null,
      sourceIp: event.requestContext.http.sourceIp,
      userAgent: event.requestContext.http.userAgent,
      host: event.headers.host,
      wisp: Object.keys(event.headers).filter((h) => h.startsWith('x-wisp-')).sort(),
    }),
    isBase64Encoded: false,
  };
};

// The callback form as database-backed Lambda code writes it: something keeps the event loop
// busy (a pool's keep-alive timer), so it asks not to wait for an empty loop.
exports.callback_busy_loop = (event, context, callback) => {
  context.callbackWaitsForEmptyEventLoop = false;
  const keepAlive = setTimeout(() => {}, 60_000);
  callback(null, { statusCode: '201', body: JSON.stringify({ pending: Boolean(keepAlive) }) });
};

// Prints two lines of what it is told, then a last one (Lambda's log tail).
exports.echo_log = async (event) => {
  console.log('saying', event.say);
  console.log('saying', event.say);
  console.log('end of call');
  return { ok: true };
};

exports.trace_context = async (event, context) => ({
  traceId: context.traceId ?? null,
  traceparent: context.traceparent ?? null,
  xray: process.env._X_AMZN_TRACE_ID ?? null,
});

exports.leveled_logs = async (event) => {
  const { marker } = event;
  console.debug(`debug ${marker}`);
  console.info(`info ${marker}`);
  console.log('printed', marker);
  console.warn(`warn ${marker}`);
  console.error(`error ${marker}`);
  return { ok: true };
};
