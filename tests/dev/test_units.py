"""The pure parts of ``wisp dev`` and the CLI: reading folders and files, noticing edits, the
banner, and turning API errors into one line."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kubernetes.client.rest import ApiException

from tests.dev.process import ROOT
from wisp.api.defaults import MAX_CODE_BYTES
from wisp.api.trigger import parse_trigger
from wisp.cli.kube import api_error
from wisp.dev.banner import log_line, trigger_route
from wisp.dev.watch import changes, scan
from wisp.source import SourceError, code_files, discover, layer_files, load_file


def test_every_example_parses() -> None:
    for path in discover(ROOT / "examples"):
        loaded = load_file(path)
        assert not loaded.errors, loaded.errors
        assert loaded.functions or loaded.triggers


def test_a_folder_gives_inline_code_for_one_file_and_files_for_several(tmp_path: Path) -> None:
    (tmp_path / "function.yaml").write_text(
        "kind: Function\nmetadata: {name: f}\nspec: {runtime: python3.12, handler: main.handler}\n"
    )
    (tmp_path / "main.py").write_text("def handler(e, c):\n    return 1\n")
    (tmp_path / "test_main.py").write_text("left out")
    (tmp_path / "README.md").write_text("left out")
    one = load_file(tmp_path / "function.yaml").functions[0]
    assert one.function.spec.code.inline == "def handler(e, c):\n    return 1\n"
    assert one.code_from_folder and one.folder == tmp_path

    (tmp_path / "util.py").write_text("X = 1\n")
    several = load_file(tmp_path / "function.yaml").functions[0]
    assert sorted(several.function.spec.code.files or {}) == ["main.py", "util.py"]
    assert code_files(tmp_path) == several.function.spec.code.files


def test_a_folders_sub_folders_are_code_too(tmp_path: Path) -> None:
    """A ``src/`` layout deploys whole; installed packages, caches and tests stay behind."""
    (tmp_path / "function.yaml").write_text(
        "kind: Function\nmetadata: {name: f}\nspec: {runtime: python3.12, handler: app.main.handler}\n"
    )
    for path in ("app/__init__.py", "app/main.py", "app/orders/models.py", "requirements.txt"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(path)
    for left_out in (
        "node_modules/x/index.js",
        "app/__pycache__/main.cpython-312.pyc",
        "tests/test_app.py",
        ".venv/lib/site.py",
        "venv/bin/activate",
        "app/test_main.py",
    ):
        (tmp_path / left_out).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / left_out).write_text("left out")
    fn = load_file(tmp_path / "function.yaml").functions[0]
    assert sorted(fn.function.spec.code.files or {}) == [
        "app/__init__.py",
        "app/main.py",
        "app/orders/models.py",
        "requirements.txt",
    ]


def test_too_much_code_says_how_much_and_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "main.py").write_text("x = 1\n")
    (tmp_path / "vendor").mkdir()
    (tmp_path / "vendor" / "big.py").write_text("#" * MAX_CODE_BYTES)
    with pytest.raises(SourceError) as info:
        code_files(tmp_path)
    message = str(info.value)
    assert f"more than the {MAX_CODE_BYTES}" in message
    assert f"vendor/big.py ({MAX_CODE_BYTES} bytes)" in message
    assert "requirements.txt" in message and "--layer" in message and "--image" in message
    assert "--package" in message


def test_a_bad_file_name_below_the_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "my module.py").write_text("")
    with pytest.raises(SourceError) as info:
        code_files(tmp_path)
    assert "my module.py" in str(info.value)


def test_a_layer_folder_keeps_everything_but_caches(tmp_path: Path) -> None:
    for path in ("python/shared/__init__.py", "python/shared/__pycache__/x.pyc", "bin/tool", ".git/HEAD"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text(path)
    assert sorted(layer_files(tmp_path)) == ["bin/tool", "python/shared/__init__.py"]


def test_bad_documents_name_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "two.yaml"
    path.write_text(
        "kind: Function\nmetadata: {name: ok}\nspec: {runtime: nodejs20, handler: index.h, "
        "code: {inline: x}}\n---\nkind: Trigger\nmetadata: {name: t}\nspec: {function: ok}\n"
    )
    loaded = load_file(path)
    assert [f.function.name for f in loaded.functions] == ["ok"]
    assert [str(e).split(": ", 1)[1] for e in loaded.errors] == [
        "spec: a Trigger sets exactly one of spec.http, spec.queue, spec.schedule"
    ]


def test_changes_name_added_changed_and_removed_sources(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("a")
    folder = tmp_path / "fn"
    folder.mkdir()
    (folder / "function.yaml").write_text("f")
    (folder / "main.py").write_text("1")
    before = scan(tmp_path)
    assert set(before) == {tmp_path / "a.yaml", folder / "function.yaml"}

    (folder / "main.py").write_text("22")  # a code edit changes the folder's source
    os.utime(folder / "main.py", ns=(1, 1))
    (tmp_path / "b.yml").write_text("b")
    (tmp_path / "a.yaml").unlink()
    (tmp_path / "notes.txt").write_text("ignored")
    diff = changes(before, scan(tmp_path))
    assert diff.added == (tmp_path / "b.yml",)
    assert diff.changed == (folder / "function.yaml",)
    assert diff.removed == (tmp_path / "a.yaml",)
    assert not changes(scan(tmp_path), scan(tmp_path))


def test_trigger_routes_and_log_lines_read_well() -> None:
    http = parse_trigger(
        {
            "metadata": {"name": "t"},
            "spec": {"function": "f", "http": {"path": "/orders", "methods": ["GET"]}},
        }
    )
    cron = parse_trigger(
        {"metadata": {"name": "c"}, "spec": {"function": "f", "schedule": {"cron": "*/5 * * * *"}}}
    )
    assert trigger_route(http) == "/orders [GET]"
    assert trigger_route(cron) == "schedule */5 * * * * (UTC)"
    line = '{"time": "t", "level": "INFO", "requestId": "0123456789", "message": "hi"}'
    assert log_line("hello-1", line) == "       hello-1 | INFO [01234567] hi"
    assert log_line("hello-1", '{"event": "wisp.runtime.listening", "port": 1}') is None
    assert log_line("hello-1", "plain text") == "       hello-1 | plain text"


def test_api_errors_become_one_line_with_what_to_do() -> None:
    missing_crd = ApiException(status=404, reason="Not Found")
    missing_crd.body = "404 page not found"
    assert "wisp CRDs are not installed" in str(api_error(missing_crd, "function x", "ns"))
    missing = ApiException(status=404, reason="Not Found")
    missing.body = '{"kind": "Status", "reason": "NotFound", "details": {"name": "x"}}'
    assert str(api_error(missing, "function x", "ns")).startswith("function x not found in namespace ns")
    invalid = ApiException(status=422, reason="Unprocessable Entity")
    invalid.body = '{"kind": "Status", "message": "Function.wisp.dev \\"x\\" is invalid: spec.memory"}'
    assert str(api_error(invalid, "Function x", "ns")) == (
        'the API server rejected Function x: Function.wisp.dev "x" is invalid: spec.memory'
    )


def test_only_loopback_peers_count_as_this_machine() -> None:
    from wisp.dev.access import is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("127.8.0.3") and is_loopback("::1")
    assert not is_loopback("10.0.0.7") and not is_loopback("192.168.1.2")
    assert not is_loopback(None) and not is_loopback("") and not is_loopback("not-an-address")


def test_dev_security_is_public_by_default_and_leaves_the_console_to_the_loopback_check() -> None:
    from wisp.dev.access import dev_security_settings

    settings = dev_security_settings({})
    assert settings.public_by_default
    assert "/system/" in settings.admin_prefixes
    assert "/ui/" not in settings.admin_prefixes and "/invocations/" not in settings.admin_prefixes
    assert not dev_security_settings({"WISP_PUBLIC_BY_DEFAULT": "false"}).public_by_default


def test_a_namespace_that_is_no_kubernetes_name_never_becomes_a_directory(tmp_path: Path) -> None:
    import pytest

    from wisp.dev.workspace import Workspace, prepare
    from wisp.source import SourceError

    path = tmp_path / "fn.yaml"
    path.write_text(
        "kind: Function\nmetadata: {name: fn, namespace: ../../escaped}\n"
        "spec: {runtime: python3.12, handler: main.handler, code: {inline: 'x = 1'}}\n"
    )
    source = load_file(path).functions[0]
    work = tmp_path / "a" / "b" / "work"
    with pytest.raises(SourceError, match=r"metadata.namespace: must be a DNS label"):
        prepare(source, Workspace(work, tmp_path / "a" / "b" / "cache"))
    assert not (tmp_path / "a" / "b" / "escaped").exists() and not work.exists()


def test_a_local_jvm_sizes_its_heap_from_the_functions_memory() -> None:
    import pytest

    from wisp.api import Runtime
    from wisp.launcher import LaunchError, runtime_command

    try:
        command = runtime_command(Runtime.JAVA17, memory_mb=256)
    except LaunchError as exc:  # the runtime's jar is not built here
        pytest.skip(str(exc))
    # As a container's limit would: after the image's flags, before the user's WISP_JAVA_OPTS.
    assert "-XX:MaxRAM=256m" in command and command.index("-XX:MaxRAM=256m") < command.index("-jar")
    assert not any(part.startswith("-XX:MaxRAM=") for part in runtime_command(Runtime.JAVA17))
