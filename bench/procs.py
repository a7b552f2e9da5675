"""What every benchmark does with the processes it starts: ports, CPU time, stopping."""

from __future__ import annotations

import os
from pathlib import Path

from tests.support.net import free_port
from tests.support.process import stop_process as stop

__all__ = ["cpu_seconds", "free_port", "stop"]

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) process ``pid`` used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK
