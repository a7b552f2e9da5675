"""The console's JSON API against a dev-mode console with real runtime processes."""

from __future__ import annotations

import argparse
import asyncio
import csv
import datetime
import io
import json
from typing import Any

import pytest
import yaml

from tests.console.harness import PRICE, DevConsole
from tests.support import wait
from wisp.api.defaults import FUNCTION_DEFAULTS
from wisp.api.runtimes import Operation, Runtime, check_apply, deprecation_warning, newest
from wisp.console.dev import NO_VERSIONS

HANDLER = """def handler(event, context):
    context.logger.info("greeting %s", event.get("name"))
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"hello": event.get("name")}
"""


def manifest(name: str = "greeter", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": name},
        "spec": {
            "runtime": "python3.12",
            "handler": "main.handler",
            "code": {"inline": HANDLER},
            "memory": "128Mi",
            "timeout": "10s",
            **spec,
        },
    }


async def put(console: DevConsole, body: dict[str, Any], name: str = "greeter") -> tuple[int, Any]:
    async with console.session.put(console.url(f"/ui/api/functions/default/{name}"), json=body) as resp:
        return resp.status, await resp.json()


async def invoke(console: DevConsole, event: Any, name: str = "greeter") -> dict[str, Any]:
    async with console.session.post(
        console.url(f"/ui/api/functions/default/{name}/invoke"), json={"event": event}
    ) as resp:
        assert resp.status == 200
        result: dict[str, Any] = await resp.json()
        return result


async def get_json(console: DevConsole, path: str, **params: str) -> Any:
    async with console.session.get(console.url(path), params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def test_static_app_is_served(dev_console: DevConsole) -> None:
    async with dev_console.session.get(dev_console.url("/ui"), allow_redirects=False) as resp:
        assert resp.status == 302 and resp.headers["Location"] == "/ui/"
    async with dev_console.session.get(dev_console.url("/ui/")) as resp:
        assert resp.status == 200 and "<title>wisp console</title>" in await resp.text()
    async with dev_console.session.get(dev_console.url("/ui/assets/app.js")) as resp:
        assert resp.status == 200 and "javascript" in resp.headers["Content-Type"]
    info = await get_json(dev_console, "/ui/api/info")
    assert info["mode"] == "dev" and info["namespaces"] == ["default"]
    assert info["pricePerGbSecond"] == PRICE
    offered = {r["runtime"]: r for r in info["runtimes"]}
    today = datetime.date.today()
    assert info["runtimes"][0]["runtime"] == newest("python", today).value  # the default first
    assert newest("node", today).value in offered
    assert not any(deprecation_warning(name, today) and "warning" not in r for name, r in offered.items())
    assert all(check_apply(Runtime(name), Operation.CREATE, today).refusal is None for name in offered)
    assert info["defaults"] == FUNCTION_DEFAULTS.by_crd_path()


async def test_a_new_function_on_a_deprecated_runtime_is_refused(dev_console: DevConsole) -> None:
    status, body = await put(dev_console, manifest(runtime="nodejs20", handler="index.handler"))
    assert status == 422 and body["errors"][0]["field"] == "spec.runtime"
    assert "2026-04-30" in body["errors"][0]["message"] and "nodejs24" in body["errors"][0]["message"]
    assert list(dev_console.folder.iterdir()) == []  # nothing written


async def test_invalid_function_is_refused_with_the_field_named(dev_console: DevConsole) -> None:
    status, body = await put(dev_console, manifest(memory="lots"))
    assert status == 422
    assert [e["field"] for e in body["errors"]] == ["spec.memory"]
    assert list(dev_console.folder.iterdir()) == []  # nothing written
    status, body = await put(dev_console, manifest(handler="no-dot"))
    assert status == 422 and body["errors"][0]["field"] == "spec.handler"


async def test_deploy_invoke_logs_and_delete(dev_console: DevConsole) -> None:
    status, body = await put(dev_console, manifest())
    assert status == 200 and body["file"] == "greeter.yaml"
    on_disk = yaml.safe_load((dev_console.folder / "greeter.yaml").read_text())
    assert on_disk["spec"]["code"]["inline"] == HANDLER
    assert "inline: |" in (dev_console.folder / "greeter.yaml").read_text()  # readable block style

    listed = (await get_json(dev_console, "/ui/api/functions"))["functions"]
    assert [(f["name"], f["runtime"], f["replicas"]["ready"]) for f in listed] == [
        ("greeter", "python3.12", 0)
    ]

    first = await invoke(dev_console, {"name": "ada"})
    assert first["status"] == 200 and first["coldStart"] is True
    assert json.loads(first["body"]) == {"hello": "ada"}
    assert first["headers"]["X-Wisp-Request-Id"] == first["requestId"]
    lines = await dev_console.wait_for_log("greeter", first["requestId"], "greeting ada")
    assert "greeting ada" in [line["message"] for line in lines]
    assert {line["requestId"] for line in lines} == {first["requestId"]}

    second = await invoke(dev_console, {"name": "bob", "fail": True})
    assert second["status"] == 500 and second["coldStart"] is False
    assert "asked to fail" in second["body"]
    # The filter keeps each call's lines apart.
    lines = await dev_console.wait_for_log("greeter", second["requestId"], "greeting bob")
    assert "greeting ada" not in [line["message"] for line in lines]
    assert any("asked to fail" in line["message"] for line in lines) or lines

    # The level filter keeps the records at or above it: the failed call's error, no INFO line.
    async def error_lines() -> list[dict[str, Any]]:
        got = await get_json(dev_console, "/ui/api/functions/default/greeter/logs", level="error")
        lines: list[dict[str, Any]] = got["lines"]
        return lines if any("asked to fail" in line["message"] for line in lines) else []

    errors = await wait.eventually(error_lines, "the failed call's ERROR record")
    assert {line["level"] for line in errors} == {"ERROR"}
    async with dev_console.session.get(
        dev_console.url("/ui/api/functions/default/greeter/logs"), params={"level": "LOUD"}
    ) as resp:
        assert resp.status == 400
        assert "level" in (await resp.json())["error"]

    row = (await get_json(dev_console, "/ui/api/functions"))["functions"][0]
    assert (row["invocations"], row["errors"], row["errorRate"]) == (2, 1, 0.5)
    assert row["replicas"]["ready"] == 1 and row["lastCall"] is not None

    got = await get_json(dev_console, "/ui/api/functions/default/greeter")
    assert got["manifest"]["spec"]["memory"] == "128Mi" and got["file"] == "greeter.yaml"

    async with dev_console.session.delete(dev_console.url("/ui/api/functions/default/greeter")) as resp:
        assert resp.status == 200
    assert not (dev_console.folder / "greeter.yaml").exists()
    assert (await get_json(dev_console, "/ui/api/functions"))["functions"] == []
    async with dev_console.session.get(dev_console.url("/ui/api/functions/default/greeter")) as resp:
        assert resp.status == 404


async def test_series_and_usage_count_each_call(dev_console: DevConsole) -> None:
    await put(dev_console, manifest())
    for name in ("a", "b", "c"):
        assert (await invoke(dev_console, {"name": name}))["status"] == 200
    points = (await get_json(dev_console, "/ui/api/functions/default/greeter/series", minutes="5"))["points"]
    assert len(points) == 5
    assert sum(p["invocations"] for p in points) == 3
    last_busy = [p for p in points if p["invocations"]][-1]
    assert last_busy["p95Ms"] is not None and last_busy["replicasReady"] == 1

    stats = dev_console.parts.registry.upstreams["greeter.default"].stats
    usage = await get_json(dev_console, "/ui/api/usage", period="hour")
    assert [(r["function"], r["invocations"]) for r in usage["rows"]] == [("greeter", 3)]
    assert abs(usage["totals"]["gbSeconds"] - stats.gb_seconds) < 1e-6
    assert abs(usage["totals"]["cost"] - stats.gb_seconds * PRICE) < 1e-9
    assert [(n["namespace"], n["invocations"]) for n in usage["namespaces"]] == [("default", 3)]
    elsewhere = await get_json(dev_console, "/ui/api/usage", period="hour", namespace="team-b")
    assert (elsewhere["rows"], elsewhere["namespaces"], elsewhere["totals"]["invocations"]) == ([], [], 0)

    async with dev_console.session.get(
        dev_console.url("/ui/api/usage"), params={"period": "day", "function": "greeter", "format": "csv"}
    ) as resp:
        assert resp.status == 200 and resp.content_type == "text/csv"
        assert 'filename="wisp-usage-day-greeter-' in resp.headers["Content-Disposition"]
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [(r["function"], r["period"], r["invocations"]) for r in rows] == [("greeter", "day", "3")]
    assert abs(float(rows[0]["gb_seconds"]) - stats.gb_seconds) < 1e-6

    async with dev_console.session.get(dev_console.url("/ui/api/usage"), params={"period": "week"}) as resp:
        assert resp.status == 400


async def test_saved_test_events_live_beside_the_functions(dev_console: DevConsole) -> None:
    await put(dev_console, manifest())
    base = dev_console.url("/ui/api/functions/default/greeter/events")
    async with dev_console.session.put(f"{base}/ada", json={"name": "ada"}) as resp:
        assert resp.status == 200
    async with dev_console.session.put(f"{base}/bad%20name", json={}) as resp:
        assert resp.status == 422
    assert (await get_json(dev_console, "/ui/api/functions/default/greeter/events"))["events"] == {
        "ada": {"name": "ada"}
    }
    assert (dev_console.folder / ".wisp" / "events" / "greeter.json").is_file()
    async with dev_console.session.delete(f"{base}/ada") as resp:
        assert resp.status == 200
    async with dev_console.session.delete(f"{base}/ada") as resp:
        assert resp.status == 404
    assert (await get_json(dev_console, "/ui/api/functions/default/greeter/events"))["events"] == {}


async def test_wisp_usage_prints_the_same_table_and_csv(
    dev_console: DevConsole, capsys: pytest.CaptureFixture[str]
) -> None:
    from wisp.cli import usage

    await put(dev_console, manifest())
    await invoke(dev_console, {"name": "ada"})
    parser = argparse.ArgumentParser()
    usage.add_arguments(parser)
    base = dev_console.url("/").rstrip("/")
    capsys.readouterr()
    assert await asyncio.to_thread(usage.run, parser.parse_args(["--console", base, "--period", "day"])) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["FUNCTION", "NAMESPACE", "DAY", "INVOCATIONS", "GB-SECONDS", "COST", "(USD)"]
    assert out[1].split()[:2] == ["greeter", "default"] and out[1].split()[3] == "1"
    assert out[2].startswith("TOTAL") and "0.0000166667" in out[3]
    assert await asyncio.to_thread(usage.run, parser.parse_args(["--console", base, "--csv"])) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("function,namespace,period") and lines[1].startswith("greeter,default,hour,")


async def test_names_that_would_escape_the_folder_are_refused(dev_console: DevConsole) -> None:
    outside = dev_console.folder.parent / "outside.json"
    outside.write_text('{"kept": true}')
    base = dev_console.url("/ui/api/functions/default")
    # aiohttp's client would normalise "..", so the path goes on the wire as written.
    for escaped in ("..%2foutside", "..%2F..%2Ffunctions%2Fx", "UPPER", "a.b"):
        async with dev_console.session.put(f"{base}/{escaped}/events/e", json={"evil": 1}) as resp:
            assert resp.status == 400, (escaped, await resp.text())
            assert "not a Kubernetes name" in (await resp.json())["error"]
        async with dev_console.session.get(f"{base}/{escaped}/events") as resp:
            assert resp.status == 400
    assert outside.read_text() == '{"kept": true}'
    assert not (dev_console.folder.parent / "x.json").exists()
    assert not (dev_console.folder / ".wisp").exists()


async def test_the_api_takes_only_json_bodies(dev_console: DevConsole) -> None:
    url = dev_console.url("/ui/api/functions/default/greeter")
    body = json.dumps(manifest())
    for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data"):
        async with dev_console.session.put(url, data=body, headers={"Content-Type": content_type}) as resp:
            assert resp.status == 415, await resp.text()
            assert "application/json" in (await resp.json())["error"]
    async with dev_console.session.post(
        f"{url}/invoke", data=json.dumps({"event": {}}), headers={"Content-Type": "text/plain"}
    ) as resp:
        assert resp.status == 415
    assert not list(dev_console.folder.glob("*.yaml"))  # nothing was written
    status, _ = await put(dev_console, manifest())
    assert status == 200


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"metadata": "x"}, "metadata"),
        ({"metadata": []}, "metadata"),
        ({"spec": "abc"}, "spec"),
        ({"metadata": {"annotations": "x"}}, "metadata.annotations"),
        ({"metadata": {"labels": [1]}}, "metadata.labels"),
    ],
)
async def test_a_body_of_the_wrong_shape_is_refused_with_the_field_named(
    dev_console: DevConsole, body: dict[str, Any], field: str
) -> None:
    status, answer = await put(dev_console, body)
    assert status == 422, answer
    assert [e["field"] for e in answer["errors"]] == [field]
    assert not list(dev_console.folder.glob("*.yaml"))


async def test_wisp_dev_says_it_has_no_versions(dev_console: DevConsole) -> None:
    assert (await put(dev_console, manifest()))[0] == 200
    async with dev_console.session.get(dev_console.url("/ui/api/functions/default/greeter/versions")) as resp:
        assert resp.status == 200
        assert await resp.json() == {"supported": False, "reason": NO_VERSIONS}
    url = dev_console.url("/ui/api/functions/default/greeter/aliases/prod")
    async with dev_console.session.put(url, json={"version": 1}) as resp:
        assert resp.status == 409 and (await resp.json())["error"] == NO_VERSIONS
    async with dev_console.session.put(url, json={"version": 0}) as resp:
        assert resp.status == 422  # checked before the source is asked
        assert [e["field"] for e in (await resp.json())["errors"]] == ["spec.aliases.prod.version"]
