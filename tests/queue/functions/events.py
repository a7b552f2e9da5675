"""Handlers the queue tests deploy on the real Python runtime.

Each call appends one JSON line to ``$RECORD_FILE`` so tests can count deliveries exactly.
"""

import json
import os
import time
from pathlib import Path


def _record(kind, event, **extra):
    line = json.dumps({"kind": kind, "event": event, "pid": os.getpid(), **extra}) + "\n"
    with open(os.environ["RECORD_FILE"], "a") as out:
        out.write(line)


def record(event, context):
    _record("done", event)
    return {"ok": True, "requestId": context.request_id}


def flaky(event, context):
    """Fails the first $FAIL_TIMES calls for each event id (counted in files), then succeeds."""
    key = str(event.get("id") or event.get("key")).replace("/", "_").replace(":", "_")
    counter = Path(os.environ["COUNTER_DIR"]) / key
    calls = int(counter.read_text()) + 1 if counter.exists() else 1
    counter.write_text(str(calls))
    if calls <= int(os.environ.get("FAIL_TIMES", "1")):
        _record("failed", event, call=calls)
        raise ValueError(f"planned failure {calls}")
    _record("done", event, call=calls)
    return {"calls": calls}


def slow(event, context):
    _record("start", event)
    time.sleep(float(os.environ.get("SLOW_SECONDS", "1")))
    _record("done", event)
    return {"ok": True}


def noop(event, context):
    return None


def gated(event, context):
    """Answers once the file $GATE_FILE exists: the test decides when a call ends."""
    _record("start", event)
    gate = Path(os.environ["GATE_FILE"])
    while not gate.exists():
        time.sleep(0.01)
    _record("done", event)
    return {"ok": True}


def context_record(event, context):
    """Records the event with what the runtime's context tells of the call."""
    client = context.client_context
    _record("done", event, custom=client.custom if client is not None else None)
    return {"ok": True}


def fails(event, context):
    _record("failed", event)
    raise ValueError("planned failure")


def fixable(event, context):
    """Fails until the file $FIXED_FILE exists: a bug, then its fix."""
    if not Path(os.environ["FIXED_FILE"]).exists():
        _record("failed", event)
        raise ValueError("not fixed yet")
    _record("done", event)
    return {"fixed": True}


def batch(event, context):
    """Records each batch; reports items whose data says fail (on their first attempt) as
    Lambda's batchItemFailures."""
    records = event["Records"]
    _record("batch", event, items=[[r["id"], r["attempt"]] for r in records])
    failures = [{"itemIdentifier": r["id"]} for r in records if r["data"].get("fail") and r["attempt"] == 1]
    return {"batchItemFailures": failures}
