"""Handlers the runtime contract tests call (one module, one function per behaviour)."""

import asyncio
import json
import logging
import os
import time

# Read at import: Lambda's reserved variables must be set before the handler module loads.
LAMBDA_VARIABLES = (
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "_HANDLER",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
    "TZ",
)
ENV_AT_IMPORT = {name: os.environ.get(name) for name in LAMBDA_VARIABLES}


def echo(event, context):
    return event


async def async_echo(event, context):
    await asyncio.sleep(0)
    return event


def value(event, context):
    return event["value"]


def http_echo(event, context):
    return {
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-handler": "http_echo"},
        "body": _json(
            {
                k: event[k]
                for k in (
                    "httpMethod",
                    "path",
                    "headers",
                    "queryStringParameters",
                    "multiValueQueryStringParameters",
                    "body",
                    "isBase64Encoded",
                    "requestContext",
                )
            }
        ),
    }


def binary_echo(event, context):
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/octet-stream"},
        "body": event["body"],
        "isBase64Encoded": event["isBase64Encoded"],
    }


def boom(event, context):
    if event.get("fail"):
        raise ValueError("boom: " + str(event.get("why", "no reason")))
    return {"ok": True}


def sleep(event, context):
    """Blocks its thread: the runtime cannot interrupt it."""
    time.sleep(event.get("seconds", 5))
    return {"slept": True}


async def async_sleep(event, context):
    await asyncio.sleep(event.get("seconds", 5))
    return {"slept": True}


def context_fields(event, context):
    return {
        "requestId": context.request_id,
        "awsRequestId": context.aws_request_id,
        "functionName": context.function_name,
        "functionNamespace": context.function_namespace,
        "memoryLimitInMB": context.memory_limit_in_mb,
        "remainingMs": context.get_remaining_time_in_millis(),
    }


def logs(event, context):
    print("printed", event["marker"])
    context.logger.info("logged %s", event["marker"])
    logging.getLogger("some.library").warning("library %s", event["marker"])
    return {"ok": True}


def lambda_context(event, context):
    """Everything Lambda's Python context and environment offer, as JSON."""
    client = context.client_context
    identity = context.identity
    return {
        "awsRequestId": context.aws_request_id,
        "functionName": context.function_name,
        "functionVersion": context.function_version,
        "invokedFunctionArn": context.invoked_function_arn,
        "memoryLimitInMB": context.memory_limit_in_mb,
        "logGroupName": context.log_group_name,
        "logStreamName": context.log_stream_name,
        "remainingMs": context.get_remaining_time_in_millis(),
        "clientContext": None
        if client is None
        else {
            "client": {"installation_id": client.client.installation_id} if client.client else None,
            "custom": client.custom,
            "env": client.env,
        },
        "identity": None
        if identity is None
        else {
            "cognitoIdentityId": identity.cognito_identity_id,
            "cognitoIdentityPoolId": identity.cognito_identity_pool_id,
        },
        "env": ENV_AT_IMPORT,
    }


# -- Lambda code as it is written for AWS --------------------------------------------------


def loop_styles(event, context):
    """The event-loop idioms of synchronous Lambda handlers (Mangum, older SDK wrappers)."""

    async def double(n):
        await asyncio.sleep(0)
        return n * 2

    if event.get("style") == "run":
        return {"result": asyncio.run(double(event["n"]))}
    loop = asyncio.get_event_loop()
    return {"result": loop.run_until_complete(double(event["n"]))}


# AWS's "microservice-http-endpoint-python" blueprint, its DynamoDB client replaced by a dict.
class _Table:
    def __init__(self):
        self.items = {}

    def scan(self, **query):
        return {"Items": sorted(self.items.values(), key=str), "Query": query}

    def put_item(self, **item):
        self.items[item["id"]] = item
        return {}


dynamo = _Table()


def respond(err, res=None):
    return {
        "statusCode": "400" if err else "200",
        "body": str(err) if err else json.dumps(res),
        "headers": {
            "Content-Type": "application/json",
        },
    }


def blueprint_microservice(event, context):
    print("Received event: " + json.dumps(event, indent=2))

    operations = {
        "GET": lambda dynamo, x: dynamo.scan(**(x or {})),
        "POST": lambda dynamo, x: dynamo.put_item(**x),
    }

    operation = event["httpMethod"]
    if operation in operations:
        payload = event["queryStringParameters"] if operation == "GET" else json.loads(event["body"])
        return respond(None, operations[operation](dynamo, payload))
    else:
        return respond(ValueError(f'Unsupported method "{operation}"'))


# What Powertools' APIGatewayHttpResolver reads of a payload 2.0 event and returns.
def http_api_resolver(event, context):
    method = event["requestContext"]["http"]["method"]
    path = event["rawPath"]
    stage = event["requestContext"]["stage"]
    if stage != "$default" and path.startswith(f"/{stage}"):
        path = path[len(stage) + 1 :]
    if (method, path) != ("GET", "/todos/7"):
        return {"statusCode": 404, "body": json.dumps({"message": "Not found"})}
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "cookies": ["session=abc; Path=/; HttpOnly", "theme=dark"],
        "body": json.dumps(
            {
                "todo": event["pathParameters"]["id"],
                "cookies": event.get("cookies"),
                "query": event.get("queryStringParameters"),
                "sourceIp": event["requestContext"]["http"]["sourceIp"],
                "userAgent": event["requestContext"]["http"]["userAgent"],
                "host": event["headers"]["host"],
                "wisp": sorted(h for h in event["headers"] if h.startswith("x-wisp-")),
            }
        ),
        "isBase64Encoded": False,
    }


def _json(value):
    return json.dumps(value)


def echo_log(event, context):
    """Prints two lines of what it is told, then a last one (Lambda's log tail)."""
    print("saying", event.get("say"))
    print("saying", event.get("say"))
    print("end of call")
    return {"ok": True}


def trace_context(event, context):
    return {
        "traceId": context.trace_id,
        "traceparent": context.traceparent,
        "xray": os.environ.get("_X_AMZN_TRACE_ID"),
    }


def leveled_logs(event, context):
    marker = event["marker"]
    app = logging.getLogger("app")
    app.debug("debug %s", marker)
    app.info("info %s", marker)
    print("printed", marker)
    app.warning("warn %s", marker)
    app.error("error %s", marker)
    return {"ok": True}
