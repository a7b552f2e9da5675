"""Starter handlers the console's editor offers for a new function, per language."""

from __future__ import annotations

import datetime
from typing import Any

from wisp.api.runtimes import Phase, lifecycle_phase, newest, supported, warning_message

PYTHON_HELLO = """def handler(event, context):
    name = event.get("name", "world") if isinstance(event, dict) else "world"
    context.logger.info("greeting %s", name)
    return {"hello": name}
"""

PYTHON_HTTP = """import json


def handler(event, context):
    # An HTTP Trigger's event: httpMethod, path, headers, queryStringParameters, body.
    query = event.get("queryStringParameters") or {}
    context.logger.info("%s %s", event.get("httpMethod"), event.get("path"))
    return {
        "statusCode": 200,
        "headers": {"Content-Type": "application/json"},
        "body": json.dumps({"path": event.get("path"), "query": query}),
    }
"""

NODE_HELLO = """exports.handler = async (event, context) => {
  const name = (event && event.name) || "world";
  console.log(`greeting ${name}`);
  return { hello: name };
};
"""

NODE_HTTP = """exports.handler = async (event, context) => {
  // An HTTP Trigger's event: httpMethod, path, headers, queryStringParameters, body.
  console.log(`${event.httpMethod} ${event.path}`);
  return {
    statusCode: 200,
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ path: event.path, query: event.queryStringParameters }),
  };
};
"""

_BY_LANGUAGE = {
    "python": {"handler": "main.handler", "templates": {"hello": PYTHON_HELLO, "http": PYTHON_HTTP}},
    "node": {"handler": "index.handler", "templates": {"hello": NODE_HELLO, "http": NODE_HTTP}},
}


def editor_runtimes(today: datetime.date) -> list[dict[str, Any]]:
    """The runtimes a new function can be written in the browser for on ``today`` (from the
    runtime table: deprecated ones are left out, those about to be carry their ``warning``),
    with their starters; the newest Python first, the default."""
    default = newest("python", today)
    out = []
    for runtime in sorted(supported(today), key=lambda r: r is not default):
        spec = _BY_LANGUAGE.get(runtime.language)
        if spec is not None and runtime.versioned:
            entry: dict[str, Any] = {"runtime": runtime.value, "language": runtime.language, **spec}
            if lifecycle_phase(runtime, today) is not Phase.SUPPORTED:
                entry["warning"] = warning_message(runtime)
            out.append(entry)
    return out
