"""Starting the bootstrap process: kept apart so ``main`` can start it before importing asyncio."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping


def spawn(command: tuple[str, ...], env: Mapping[str, str], cwd: str | None) -> subprocess.Popen[bytes]:
    """Starts the bootstrap in a session (process group) of its own, output on pipes."""
    return subprocess.Popen(
        command,
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
