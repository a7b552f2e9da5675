"""Handlers the runtime contract tests call (one module, one function per behaviour)."""

import asyncio
import logging
import time


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


def _json(value):
    import json

    return json.dumps(value)
