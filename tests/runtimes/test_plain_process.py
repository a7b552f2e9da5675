"""The runtimes as plain processes, started the way their images start them (no launcher)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.runtimes.languages import NODE, PYTHON, Language

REPO = Path(__file__).resolve().parents[2]
COMMANDS = {
    "python": [sys.executable, "-m", "wisp_runtime"],
    "node": ["node", str(REPO / "runtime-images" / "node" / "index.js")],
}


@pytest.mark.parametrize("language", [PYTHON, NODE], ids=str)
async def test_relative_code_dir(language: Language) -> None:
    """A relative WISP_CODE_DIR is relative to where the runtime was started."""
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO / "runtime-images" / "python"),
        "WISP_CODE_DIR": os.path.relpath(language.handlers_dir, REPO),
        "WISP_HANDLER": language.handler("echo"),
        "WISP_HOST": "127.0.0.1",
        "WISP_PORT": "0",
    }
    process = await asyncio.create_subprocess_exec(
        *COMMANDS[language.name], env=env, cwd=REPO, stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            while True:
                record = json.loads(await process.stdout.readline())
                if record.get("event") == "wisp.runtime.listening":
                    break
        assert record["handlerLoaded"] is True, record
    finally:
        process.terminate()
        assert await process.wait() == 0
