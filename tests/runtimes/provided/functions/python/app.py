"""A handler run by awslambdaric, the official Python runtime interface client, unmodified."""

import os


def handler(event, context):
    if event.get("op") == "fail":
        raise LookupError(event.get("value", "missing"))
    if event.get("op") == "sleep":
        import time

        time.sleep(event["ms"] / 1000)
    return {
        "event": event,
        "requestId": context.aws_request_id,
        "arn": context.invoked_function_arn,
        "remainingMs": context.get_remaining_time_in_millis(),
        "memory": context.memory_limit_in_mb,
        "pid": os.getpid(),
    }
