"""The provided runtime's pure parts: the invocation queue and finding the bootstrap."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from wisp_provided.invocations import Broker, Invocation, Outcome, OutcomeKind
from wisp_provided.settings import ProvidedSettings, bootstrap_command
from wisp_runtime.config import SettingsError


def _invocation(request_id: str) -> Invocation:
    return Invocation(request_id, b"{}", deadline_ms=0, trace_id="Root=1-0-0")


async def test_calls_are_handed_out_one_at_a_time_in_order() -> None:
    broker = Broker()
    first, second = _invocation("a"), _invocation("b")
    broker.submit(first)
    broker.submit(second)
    assert await broker.next() is first
    assert broker.queued == 1
    assert broker.answer("b", Outcome(OutcomeKind.RESPONSE)) is False  # not the one in flight
    assert broker.answer("a", Outcome(OutcomeKind.RESPONSE, body=b"1")) is True
    assert first.future.result().body == b"1"
    assert await broker.next() is second


async def test_a_next_without_an_answer_fails_the_call_in_flight() -> None:
    broker = Broker()
    call = _invocation("a")
    broker.submit(call)
    await broker.next()
    waiting = asyncio.create_task(broker.next())
    await asyncio.sleep(0)
    assert call.future.result().error_type == "Runtime.NoResponse"
    waiting.cancel()


async def test_a_waiting_next_is_released_when_its_bootstrap_is_gone() -> None:
    broker = Broker()
    waiting = asyncio.create_task(broker.next())
    await asyncio.sleep(0)
    broker.bootstrap_gone(Outcome(OutcomeKind.FAILED, error_type="Runtime.ExitError"))
    assert await waiting is None
    call = _invocation("a")
    broker.submit(call)  # the next bootstrap gets it
    assert await broker.next() is call


async def test_calls_given_up_on_are_skipped() -> None:
    broker = Broker()
    gone, kept = _invocation("a"), _invocation("b")
    broker.submit(gone)
    broker.submit(kept)
    gone.settle(Outcome(OutcomeKind.NOT_STARTED))
    assert await broker.next() is kept
    assert broker.withdraw(kept) is True  # its caller timed out while the bootstrap had it
    assert broker.current is None


def test_the_bootstrap_is_found_as_lambda_finds_it(tmp_path: Path) -> None:
    assert bootstrap_command("h", str(tmp_path), "")[1].startswith("no bootstrap")
    bootstrap = tmp_path / "bootstrap"
    bootstrap.write_text("#!/bin/sh -e\nexit 0\n")
    assert bootstrap_command("h", str(tmp_path), "") == (("/bin/sh", "-e", str(bootstrap)), "")
    bootstrap.chmod(0o755)
    assert bootstrap_command("h", str(tmp_path), "") == ((str(bootstrap),), "")
    named = tmp_path / "run.sh"
    named.write_text("#!/bin/sh\n")
    named.chmod(0o755)
    assert bootstrap_command("run.sh", str(tmp_path), "") == ((str(named),), "")
    assert bootstrap_command("h", str(tmp_path), "python3 -m awslambdaric app.handler")[0] == (
        "python3",
        "-m",
        "awslambdaric",
        "app.handler",
    )
    assert bootstrap_command("h", str(tmp_path), json.dumps(["a b", "c"]))[0] == ("a b", "c")
    with pytest.raises(SettingsError):
        bootstrap_command("h", str(tmp_path), "[1]")


def test_settings_take_the_command_after_the_separator() -> None:
    env = {"WISP_HANDLER": "app.handler", "WISP_RUNTIME_API": "127.0.0.1:0"}
    settings = ProvidedSettings.from_env(["--", "python3", "-m", "awslambdaric", "app.handler"], env)
    assert settings.bootstrap == ("python3", "-m", "awslambdaric", "app.handler")
    assert (settings.api_host, settings.api_port) == ("127.0.0.1", 0)
    assert ProvidedSettings.from_env([], {}).api_port == 9001
    with pytest.raises(SettingsError, match="WISP_RUNTIME_API"):
        ProvidedSettings.from_env([], {"WISP_RUNTIME_API": "9001"})


def test_a_provided_function_parses_and_gets_its_image() -> None:
    from wisp.api import Runtime
    from wisp.api.function import SpecError, parse_function
    from wisp.resources.deployment import ImageSettings

    manifest = {
        "apiVersion": "wisp.dev/v1alpha1",
        "kind": "Function",
        "metadata": {"name": "script", "namespace": "default"},
        "spec": {"runtime": "provided", "handler": "function.handler", "code": {"inline": "#!/bin/sh\n"}},
    }
    fn = parse_function(manifest)
    assert fn.spec.runtime is Runtime.PROVIDED
    assert fn.spec.code_files() == {"bootstrap": "#!/bin/sh\n"}  # inline code is the bootstrap
    assert ImageSettings().for_runtime(Runtime.PROVIDED, source_code=True) == "wisp/runtime-provided:latest"
    manifest["spec"]["handler"] = "two words"  # type: ignore[index]
    with pytest.raises(SpecError, match=r"without spaces"):
        parse_function(manifest)


def test_the_operator_takes_the_provided_image_from_the_chart() -> None:
    from wisp.api import Runtime
    from wisp.controller.settings import OperatorSettings

    # WISP_IMAGE_PROVIDED is the chart's runtimeImages.provided; unset, the image make images builds.
    default = OperatorSettings.from_env({}).deployment.images
    assert default.for_runtime(Runtime.PROVIDED) == "wisp/runtime-provided:latest"
    chosen = OperatorSettings.from_env({"WISP_IMAGE_PROVIDED": "registry.example/provided:1"})
    assert chosen.deployment.images.for_runtime(Runtime.PROVIDED) == "registry.example/provided:1"
