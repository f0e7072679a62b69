"""Ending the helper servers the tests start, by their own process group."""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import suppress


def stop_process_group(proc: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM the process group `proc` leads; SIGKILL it if it outlives `timeout`."""
    if proc.poll() is not None:
        return
    with suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
