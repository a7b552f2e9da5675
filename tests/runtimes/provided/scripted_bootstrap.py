"""A bootstrap speaking Lambda's Runtime API with the standard library only, step by step.

The provided runtime's protocol tests run it (fast: no build, no client library). The event's
``op`` picks what it does with the invocation; ``SCRIPTED_INIT`` makes it fail its init
(``error``: post ``/init/error`` then exit; ``exit``: exit at once; ``hang``: never ask).
"""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request

API = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime/"


def post(path: str, body: object, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(
        API + path, data=json.dumps(body).encode(), method="POST", headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def main() -> None:
    init = os.environ.get("SCRIPTED_INIT", "")
    if init == "error":
        post("init/error", {"errorType": "Custom.InitBroken", "errorMessage": "no config"})
        sys.exit(1)
    if init == "exit":
        sys.exit(4)
    if init == "hang":
        time.sleep(3600)
    while True:
        with urllib.request.urlopen(API + "invocation/next") as response:
            request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
            headers = {k: v for k, v in response.headers.items() if k.lower().startswith("lambda-runtime-")}
            event = json.loads(response.read())
        op = event.get("op") if isinstance(event, dict) else None
        print(f"handling {op}", flush=True)
        if op == "error":
            post(
                f"invocation/{request_id}/error",
                {"errorMessage": "it broke", "errorType": "Custom.Broken", "stackTrace": ["at line 1"]},
                {"Lambda-Runtime-Function-Error-Type": "Custom.Broken"},
            )
            continue
        if op == "exit":
            sys.exit(3)
        if op == "sleep":
            time.sleep(event["ms"] / 1000)
        if op == "chatty":  # many lines, the last on stderr, just before the answer
            for i in range(event["lines"]):
                print(f"line {i} of the call", flush=True)
            print("last words", file=sys.stderr, flush=True)
        if op == "wrong-id":
            status = post("invocation/not-this-one/response", {})
            post(f"invocation/{request_id}/response", {"wrongIdStatus": status})
            continue
        if op == "raw":
            request = urllib.request.Request(
                API + f"invocation/{request_id}/response", data=event["body"].encode(), method="POST"
            )
            urllib.request.urlopen(request).read()
            continue
        answer = {
            "event": event,
            "headers": headers,
            "pid": os.getpid(),
            "env": {
                name: os.environ.get(name)
                for name in (
                    "_HANDLER",
                    "LAMBDA_TASK_ROOT",
                    "AWS_LAMBDA_FUNCTION_NAME",
                    "AWS_LAMBDA_FUNCTION_VERSION",
                    "AWS_LAMBDA_LOG_STREAM_NAME",
                    "AWS_REGION",
                    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
                    "AWS_LAMBDA_LOG_GROUP_NAME",
                    "AWS_EXECUTION_ENV",
                )
            },
        }
        if op == "proxy":
            answer = {"statusCode": 202, "headers": {"X-Scripted": "yes"}, "body": "accepted"}
        post(f"invocation/{request_id}/response", answer)


if __name__ == "__main__":
    main()
